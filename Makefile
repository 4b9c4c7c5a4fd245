# Two entry points on a fresh machine (Python 3.11 or 3.12 on PATH as python3):
#   make run   -- set up .venv and run the main job (CPU, offline logging)
#   make test  -- set up .venv and run the test suite
# Both install the pinned versions of requirements/lock-py3XX.txt for the running Python, then this
# package without dependencies; a change of the lock reinstalls. `make lock` regenerates the locks.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d%d" % sys.version_info[:2])' 2>/dev/null)
LOCK ?= requirements/lock-py$(PYVER).txt
UV ?= uv
# the locks are resolved for Linux on x86_64 (the CI machines and the GPU image)
UV_COMPILE := $(UV) pip compile pyproject.toml --no-header --python-platform x86_64-unknown-linux-gnu --quiet

.PHONY: run test lint lock clean

$(VENV)/.installed: pyproject.toml $(wildcard $(LOCK))
	@test -f "$(LOCK)" || { echo "no lock for Python $(PYVER): $(LOCK) (supported: 3.11, 3.12; or make lock)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

run: $(VENV)/.installed
	WANDB_MODE=offline $(VENV)/bin/rnnntk experiment=convergence scale=quick

# The suite on every core (pytest-xdist), one test file per worker at a time so that a module's
# shared fixtures are built once; TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= auto
test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed
	$(PY) -m ruff check rnnntk experiments tests scripts
	$(PY) -m ruff format --check rnnntk experiments tests scripts

# Regenerate the locks from pyproject.toml (needs uv: pip install uv). Python 3.12 and the GPU
# image are constrained to the 3.11 versions, so every environment runs the same JAX and NumPy.
# Keeps the current pins where they still satisfy pyproject.toml; `make lock UV_FLAGS=--upgrade`
# moves to the newest versions (then raise the floors in pyproject.toml to them).
lock:
	$(UV_COMPILE) $(UV_FLAGS) --extra dev --python-version 3.11 -o requirements/lock-py311.txt
	$(UV_COMPILE) $(UV_FLAGS) --extra dev --python-version 3.12 -c requirements/lock-py311.txt \
		-o requirements/lock-py312.txt
	$(UV_COMPILE) $(UV_FLAGS) --extra dev --extra cuda --python-version 3.12 -c requirements/lock-py311.txt \
		-o requirements/lock-py312-cuda.txt
	@for f in requirements/lock-py311.txt requirements/lock-py312.txt requirements/lock-py312-cuda.txt; do \
		{ echo "# Pinned environment, generated from pyproject.toml by \`make lock\` (uv pip compile):"; \
		  echo "# $$f: see the lock target in the Makefile for the exact command. Do not edit by hand."; \
		  grep -v '^# Pinned environment\|^# requirements/lock-' $$f; } > $$f.tmp && mv $$f.tmp $$f; \
	done

clean:
	rm -rf $(VENV) outputs multirun

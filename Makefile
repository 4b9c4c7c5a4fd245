# Two entry points on a fresh machine (Python >= 3.11 on PATH as python3):
#   make run   -- set up .venv and run the main job (CPU, offline logging)
#   make test  -- set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	WANDB_MODE=offline $(VENV)/bin/rnnntk experiment=convergence scale=quick

test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check rnnntk experiments tests scripts

clean:
	rm -rf $(VENV) outputs multirun

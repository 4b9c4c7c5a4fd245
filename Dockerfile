# rnnntk on NVIDIA GPUs.
#
#   docker build -t rnnntk .
#   docker run --rm --gpus all rnnntk                      # smoke check (see CMD)
#   docker run --rm --gpus all -v "$PWD/outputs:/opt/rnnntk/outputs" rnnntk \
#       rnnntk experiment=convergence scale=paper
#
# The host needs an NVIDIA driver >= 525.60.13 (CUDA 12) and the NVIDIA Container Toolkit
# (`--gpus`). CUDA, cuDNN and NCCL come from the pip wheels of `jax[cuda12]` (the `cuda` extra),
# as the JAX installation guide recommends; the base image adds only the CUDA 12 runtime basics
# and the labels the container toolkit reads. Its LD_LIBRARY_PATH lists the driver's directories
# only, so it does not shadow the wheels' CUDA libraries.
FROM nvidia/cuda:12.6.3-base-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    WANDB_MODE=offline

# Python 3.12 (Ubuntu 24.04) in a virtual environment; make for `make test`
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv make ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV VENV=/opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv && python -m pip install --quiet --upgrade pip

WORKDIR /opt/rnnntk

# Dependencies first, in their own layer, exactly the pinned versions of the lock (Python 3.12,
# Linux, the `dev` and `cuda` extras): rebuilt only when the lock changes. Then the sources and the
# package itself without dependencies (scripts/check_docker_steps.sh replays these steps).
COPY requirements/lock-py312-cuda.txt requirements/
RUN python -m pip install --quiet -r requirements/lock-py312-cuda.txt

COPY . .
RUN python -m pip install --quiet --no-deps -e .
# `make test` finds the environment set up (VENV=/opt/venv, LOCK the image's lock, marker newer
# than pyproject.toml and the lock); the import is a build-time check (on the build machine's CPU)
# that the package and JAX load.
ENV LOCK=requirements/lock-py312-cuda.txt
RUN touch /opt/venv/.installed \
    && python -c "import jax, rnnntk; print('rnnntk', rnnntk.__version__, 'jax', jax.__version__)"

# Smoke check: the devices JAX sees, one tiny experiment on them, then the test suite on the CPU
# backend (its float64 tolerances and its multi-device test use the CPU's host devices).
CMD ["sh", "-c", "python -c 'import jax; print(\"devices:\", jax.devices())' && rnnntk experiment=kernel scale=tiny logger=none progress=false && JAX_PLATFORMS=cpu make test"]

"""Test configuration: float64 references, strict promotion, no writes outside tmp dirs, and one
persistent compilation cache (the test processes and their ``rnnntk`` subprocesses)."""

import os
import tempfile

import pytest

# The suite compiles with LLVM's backend optimisation at level 1 (XLA's default: 3): its programs run
# for milliseconds and compile for seconds. On a cold cache, 2 idle cores, level 1 cut the suite's
# compilation from 607 to 516 CPU-seconds (about 3400 programs) and `make test` from 9 min 37 s to
# 8 min 53 s, while the programs that do run for seconds (the Monte Carlo of wide Elman networks) stay
# as fast (level 0 made them 4x slower). XLA's own passes (fusion, layout, algebraic simplification)
# are those of a user's run and fast-math stays off, so a result can differ from the optimised
# program's only in the last bits (whether a multiply and an add are fused into one FMA), well inside
# every tolerance here, which all allow for roundoff. The compilation cache keys its entries by the
# flags. XLA_FLAGS already setting the level keeps the caller's (the benchmarks in scripts/ run with
# XLA's defaults).
_LEVEL = "--xla_backend_optimization_level"
_flags = os.environ.get("XLA_FLAGS", "")
if _LEVEL not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} {_LEVEL}=1".strip()

import jax  # noqa: E402  (after XLA_FLAGS: the backend reads them once)

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
# No implicit dtype promotion (as equinox and diffrax test): mixing float32 with float64, or an
# integer array with a float array, is an error unless the library casts explicitly.
jax.config.update("jax_numpy_dtype_promotion", "strict")

# Keep every artefact of the suite (W&B, matplotlib caches, Hydra outputs) out of the checkout
# and the home directory.
_TMP = tempfile.mkdtemp(prefix="rnnntk-tests-")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ["WANDB_DIR"] = _TMP
os.environ["WANDB_CACHE_DIR"] = os.path.join(_TMP, "wandb-cache")
os.environ["WANDB_CONFIG_DIR"] = os.path.join(_TMP, "wandb-config")
os.environ["WANDB_DATA_DIR"] = os.path.join(_TMP, "wandb-data")
os.environ["MPLCONFIGDIR"] = os.path.join(_TMP, "mpl")
os.environ["MPLBACKEND"] = "Agg"

# One persistent compilation cache in the system's temporary directory, kept between sessions:
# the test process, the workers of `make test` and the `rnnntk` subprocesses the tests start
# (`subprocess_env.COMPILE_CACHE`, passed as compile_cache=...) load a program another one compiled
# instead of compiling the same shapes again (most of the suite's time is compilation). Entries are
# keyed by the program, the JAX version and the compile options, so a changed program never reuses a
# stale one. RNNNTK_TEST_COMPILE_CACHE=<dir> puts it elsewhere (an empty directory: a cold run). The
# run's own compile_cache (out_root/.jax_cache, under the working directory) is not written.
_DEFAULT_CACHE = os.path.join(tempfile.gettempdir(), f"rnnntk-tests-jax-cache-{os.getuid()}")
COMPILE_CACHE = os.environ.setdefault("RNNNTK_TEST_COMPILE_CACHE", _DEFAULT_CACHE)
os.makedirs(COMPILE_CACHE, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", COMPILE_CACHE)
# every program, however small: the suite compiles about 3400 programs, 1900 of them in under 0.05 s
# (eager operations on new shapes), and reading all of them back took a warm `make test` from 4 min
# 37 s (programs of 0.1 s and more cached) to 3 min 48 s on 2 idle cores; a worker of `make test -n 2`
# also loads what the other one compiled
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


@pytest.fixture(autouse=True, scope="session")
def _session_compile_cache():
    """``rnnntk.run.cli.run`` would point the cache at ``compile_cache`` (default ``outputs/.jax_cache``
    under the working directory): keep the tests' cache."""
    import rnnntk.run.cli

    real = rnnntk.run.cli._compile_cache
    rnnntk.run.cli._compile_cache = lambda cfg: None
    yield
    rnnntk.run.cli._compile_cache = real


@pytest.fixture
def key():
    return jax.random.key(20230814)

"""Test configuration: float64 references, strict promotion, and no writes outside tmp dirs."""

import os
import tempfile

import jax
import pytest

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


@pytest.fixture
def key():
    return jax.random.key(20230814)

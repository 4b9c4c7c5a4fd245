"""rnnntk: recurrent networks in the large-width limit.

The finite diagonal RNN trained online on an ergodic sequence (`init_params`, `train_online`,
`predict`, `empirical_ntk`) next to its kernel limit (`limit_kernel`, `limit_predict`), as
specified in the project's model contract (spec sections 1 to 4); the Elman network with a full
recurrent matrix and its infinite-width NTK (`elman_init`, `elman_empirical_ntk`,
`elman_limit_ntk`); one model object per family owning its hyperparameters (`DiagonalRNN`,
`Elman`, `rnnntk.actor_critic.ActorCriticModel`; the limit's numerical options in `LimitOptions`);
data sources, chunked training and the stationary-loss gradient.

The sub-packages show the architecture: three model families (`rnnntk.diagonal`, `rnnntk.elman`,
`rnnntk.actor_critic`, the last imported on demand since it imports diffrax) and the machinery
(`rnnntk.data`: sources and targets; `rnnntk.run`: command line, configs, run context, loggers,
plots, metrics). Each re-exports its public API. The modules every family shares stay here:
`_checks`, `_model`, `gaussian`, `precision`, `divergence`.
"""

import sys as _sys
import types as _types

import jax as _jax

from . import _model, data, diagonal, elman, run
from ._checks import ConfigError, RunError
from ._model import LimitOptions
from .data import AR1, LOB, Delay, ElmanTeacher, FiniteState, Logistic, Npz, Real, SinLag, Teacher, make_dataset
from .diagonal import (
    DiagonalRNN,
    Params,
    TrainState,
    current_params,
    decay_schedule,
    empirical_ntk,
    init_params,
    init_state,
    kernel_flow,
    limit_initial_covariance,
    limit_kernel,
    limit_loss,
    limit_predict,
    predict,
    stationary_gradient,
    train_online,
    train_steps,
)
from .elman import Elman, ElmanParams, elman_apply, elman_empirical_ntk, elman_init, elman_limit_ntk, train_meanfield
from .precision import float64

# The module paths before the sub-packages, kept for compatibility: `import rnnntk.metrics`,
# `from rnnntk.limit import NODE_MEMORY`, `monkeypatch.setattr("rnnntk.study.train_chunk", ...)`
# reach the very module objects of the new paths (patching through an old path patches the real
# module). `rnnntk.data` and `rnnntk.elman` are the sub-packages themselves (they re-export what the
# old modules offered); `rnnntk.models` was split in three and is assembled from them.
_OLD_PATHS = {
    "network": diagonal.network,
    "train": diagonal.train,
    "ensemble": diagonal.ensemble,
    "chunks": diagonal.chunks,
    "limit": diagonal.limit,
    "limit_path": diagonal.limit_path,
    "stationary": diagonal.stationary,
    "ntk": diagonal.ntk,
    "study": diagonal.study,
    "elman_limit": elman.limit,
    "meanfield": elman.meanfield,
    "sources": data.sources,
    "realdata": data.realdata,
    "lob": data.lob,
    "cli": run.cli,
    "config": run.config,
    "runctx": run.runctx,
    "loggers": run.loggers,
    "plots": run.plots,
    "metrics": run.metrics,
    "provenance": run.provenance,
    "aggregate": run.aggregate,
    "slurm": run.slurm,
}
_models = _types.ModuleType(__name__ + ".models", "The old `rnnntk.models`: `_model`, `diagonal.model`, `elman.model`.")
for _name in ("LimitOptions", "_static", "check_agrees", "hyperparameters"):
    setattr(_models, _name, getattr(_model, _name))
_models.DiagonalRNN, _models.Elman = DiagonalRNN, Elman
_OLD_PATHS["models"] = _models
for _old, _module in _OLD_PATHS.items():
    _sys.modules[f"{__name__}.{_old}"] = _module
    globals()[_old] = _module  # `import rnnntk.metrics; rnnntk.metrics.distance` as before
del _old, _module, _name

# A seed must give the same numbers under every JAX the lock or the floors allow. JAX changed the
# default of `jax_threefry_partitionable` (False before 0.5.0, True since), which changes every
# random draw (initial weights, data, Monte Carlo) for a given key; set it explicitly so an older
# or newer JAX reproduces the numbers of the locked one (tests/test_env.py checks a fixed draw).
_jax.config.update("jax_threefry_partitionable", True)

__all__ = [
    "AR1",
    "ConfigError",
    "RunError",
    "Delay",
    "DiagonalRNN",
    "Elman",
    "ElmanTeacher",
    "ElmanParams",
    "FiniteState",
    "LOB",
    "LimitOptions",
    "Logistic",
    "Npz",
    "Params",
    "Real",
    "SinLag",
    "Teacher",
    "TrainState",
    "current_params",
    "decay_schedule",
    "elman_apply",
    "elman_empirical_ntk",
    "elman_init",
    "elman_limit_ntk",
    "empirical_ntk",
    "float64",
    "init_params",
    "init_state",
    "kernel_flow",
    "limit_initial_covariance",
    "limit_kernel",
    "limit_loss",
    "limit_predict",
    "make_dataset",
    "predict",
    "stationary_gradient",
    "train_online",
    "train_meanfield",
    "train_steps",
]

__version__ = "0.1.0"

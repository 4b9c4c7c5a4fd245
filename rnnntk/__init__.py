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

import importlib as _importlib
import sys as _sys
import types as _types
from importlib import abc as _abc, machinery as _machinery, util as _util

import jax as _jax

from . import _model
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
# `from rnnntk.limit import NODE_MEMORY`, `monkeypatch.setattr("rnnntk.study.train_chunk", ...)` and
# `python -m rnnntk.cli` reach the very module objects of the new paths (patching through an old path
# patches the real module). An old path is resolved when it is first imported, so `import rnnntk`
# loads no more than it did (`rnnntk.run.cli` only on demand). `rnnntk.data` and `rnnntk.elman` are
# the sub-packages themselves (they re-export what the old modules offered); `rnnntk.models` was
# split in three (`_model`, `diagonal.model`, `elman.model`) and is assembled from them.
_OLD_PATHS = {
    "network": "diagonal.network",
    "train": "diagonal.train",
    "ensemble": "diagonal.ensemble",
    "chunks": "diagonal.chunks",
    "limit": "diagonal.limit",
    "limit_path": "diagonal.limit_path",
    "stationary": "diagonal.stationary",
    "ntk": "diagonal.ntk",
    "study": "diagonal.study",
    "models": None,
    "elman_limit": "elman.limit",
    "meanfield": "elman.meanfield",
    "sources": "data.sources",
    "realdata": "data.realdata",
    "lob": "data.lob",
    "cli": "run.cli",
    "config": "run.config",
    "runctx": "run.runctx",
    "loggers": "run.loggers",
    "plots": "run.plots",
    "metrics": "run.metrics",
    "provenance": "run.provenance",
    "aggregate": "run.aggregate",
    "slurm": "run.slurm",
}


class _OldSpec(_machinery.ModuleSpec):
    """An old path's spec: its package is the new one (what `python -m rnnntk.cli` resolves against)."""

    @property
    def parent(self):
        return self.real_parent


class _OldPaths(_abc.MetaPathFinder, _abc.Loader):
    """Import `rnnntk.<old>` as the module of its new path (the same object, under both names)."""

    def _new(self, fullname: str) -> str | None:
        pkg, _, old = fullname.rpartition(".")
        if pkg != __name__ or old not in _OLD_PATHS:
            return None
        new = _OLD_PATHS[old]
        return __name__ + ("._model" if new is None else "." + new)

    def find_spec(self, fullname, path=None, target=None):
        new = self._new(fullname)
        if new is None:
            return None
        real = _util.find_spec(new)
        spec = _OldSpec(fullname, self, origin=real.origin)
        spec.real_parent = real.parent
        return spec

    def create_module(self, spec):
        if spec.name == __name__ + ".models":
            models = _types.ModuleType(spec.name, "The old `rnnntk.models`: `_model`, `diagonal.model`, `elman.model`.")
            for name in ("LimitOptions", "_static", "check_agrees", "hyperparameters"):
                setattr(models, name, getattr(_model, name))
            models.DiagonalRNN, models.Elman = DiagonalRNN, Elman
            return models
        module = _importlib.import_module(self._new(spec.name))
        self._real_spec = module.__spec__  # the import machinery overwrites it with the old path's
        return module

    def exec_module(self, module):
        if module.__spec__.name != __name__ + ".models":
            module.__spec__ = self._real_spec

    def get_code(self, fullname):  # `python -m rnnntk.cli`
        real = _util.find_spec(self._new(fullname))
        return real.loader.get_code(real.name)


_sys.meta_path.insert(0, _OldPaths())

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

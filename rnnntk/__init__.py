"""rnnntk: recurrent networks in the large-width limit.

The finite diagonal RNN trained online on an ergodic sequence (`init_params`, `train_online`,
`predict`, `empirical_ntk`) next to its kernel limit (`limit_kernel`, `limit_predict`), as
specified in the project's model contract (spec sections 1 to 4); the Elman network with a full
recurrent matrix and its infinite-width NTK (`elman_init`, `elman_empirical_ntk`,
`elman_limit_ntk`); one model object per family owning its hyperparameters (`DiagonalRNN`,
`Elman`, `rnnntk.actor_critic.ActorCriticModel`; the limit's numerical options in `LimitOptions`);
data sources, chunked training and the stationary-loss gradient.
The online actor-critic lives in `rnnntk.actor_critic` (it imports diffrax).
"""

import jax as _jax

from ._checks import ConfigError, RunError
from .data import AR1, Delay, ElmanTeacher, FiniteState, Logistic, Npz, SinLag, Teacher, make_dataset
from .elman import ElmanParams, elman_apply, elman_empirical_ntk, elman_init
from .elman_limit import elman_limit_ntk
from .limit import kernel_flow, limit_initial_covariance, limit_kernel, limit_loss, limit_predict
from .lob import LOB
from .meanfield import train_meanfield
from .models import DiagonalRNN, Elman, LimitOptions
from .network import Params, init_params, predict
from .ntk import empirical_ntk
from .precision import float64
from .realdata import Real
from .stationary import stationary_gradient
from .train import TrainState, current_params, decay_schedule, init_state, train_online, train_steps

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

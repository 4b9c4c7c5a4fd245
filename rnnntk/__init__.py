"""rnnntk: recurrent networks in the large-width limit.

The finite diagonal RNN trained online on an ergodic sequence (`init_params`, `train_online`,
`predict`, `empirical_ntk`) next to its kernel limit (`limit_kernel`, `limit_predict`), as
specified in the project's model contract (spec sections 1 to 4).
"""

from ._checks import ConfigError as ConfigError
from .data import (
    AR1 as AR1,
)
from .data import (
    ElmanTeacher as ElmanTeacher,
)
from .data import (
    FiniteState as FiniteState,
)
from .data import (
    Logistic as Logistic,
)
from .data import (
    Npz as Npz,
)
from .data import (
    SinLag as SinLag,
)
from .data import (
    Teacher as Teacher,
)
from .data import (
    make_dataset as make_dataset,
)
from .limit import (
    kernel_flow as kernel_flow,
)
from .limit import (
    limit_initial_covariance as limit_initial_covariance,
)
from .limit import (
    limit_kernel as limit_kernel,
)
from .limit import (
    limit_loss as limit_loss,
)
from .limit import (
    limit_predict as limit_predict,
)
from .network import Params as Params
from .network import init_params as init_params
from .network import predict as predict
from .ntk import empirical_ntk as empirical_ntk
from .train import (
    TrainState as TrainState,
)
from .train import (
    current_params as current_params,
)
from .train import (
    init_state as init_state,
)
from .train import (
    train_online as train_online,
)
from .train import (
    train_steps as train_steps,
)

__version__ = "0.1.0"

# The Elman network with a full recurrent matrix (NTK and mean-field parameterisations), its
# infinite-width NTK, and the mean-field network's trainer.
from .elman import ElmanParams as ElmanParams  # noqa: E402
from .elman import elman_apply as elman_apply  # noqa: E402
from .elman import elman_empirical_ntk as elman_empirical_ntk  # noqa: E402
from .elman import elman_init as elman_init  # noqa: E402
from .elman_limit import elman_limit_ntk as elman_limit_ntk  # noqa: E402
from .meanfield import train_meanfield as train_meanfield  # noqa: E402  (the rest: rnnntk.meanfield)

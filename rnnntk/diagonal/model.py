"""The diagonal network's model object `DiagonalRNN` (see `rnnntk._model` for the conventions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_positive, require
from .._model import LimitOptions, _static, check_agrees, hyperparameters


@_static
@dataclass(frozen=True)
class DiagonalRNN:
    """The diagonal RNN of spec section 2: ``b ~ U[-b0, b0]``, ``w ~ N(0, s_w^2 I_d)``, ``c ~ c_dist``.

    Gradients are taken with respect to the parameters as drawn (the seed paper's model; see
    `rnnntk.diagonal.network`). ``activation`` is one of ``tanh``, ``erf`` (the plain error function),
    ``erf_unit``, ``sigmoid``.

    Example:
        >>> m = DiagonalRNN(b0=0.5, s_w=1.5, activation="erf")
        >>> p = m.init(jax.random.key(0), 100, 1)
        >>> K = m.limit_kernel(xs, burn=20, options=LimitOptions(tol=1e-8))
    """

    b0: float = 0.5
    s_w: float = 1.0
    c_dist: str = "rademacher"
    activation: str = "tanh"

    def __post_init__(self):
        from .network import C_SECOND_MOMENT, check_contraction

        object.__setattr__(self, "b0", float(check_contraction(self.b0, self.activation)))  # and the activation
        object.__setattr__(self, "s_w", float(check_positive(self.s_w, "s_w")))
        require(self.c_dist in C_SECOND_MOMENT, "c_dist", self.c_dist, f"one of {sorted(C_SECOND_MOMENT)}")

    @property
    def act(self):
        """The `rnnntk.diagonal.network.Activation`."""
        from .network import get_activation

        return get_activation(self.activation)

    def kwargs(self) -> dict[str, Any]:
        """The hyperparameters as keywords of `init_params` and `limit_kernel`."""
        return hyperparameters(self)

    def init(self, key, width: int, dim: int, *, dtype=None):
        """`rnnntk.diagonal.network.init_params` with this model's initial law."""
        from .network import init_params

        return init_params(key, width, dim, dtype=dtype, **self.kwargs())

    def apply(self, params, xs, *, beta: float, **loose):
        """`rnnntk.diagonal.network.predict`: outputs with frozen parameters from zero memory, ``[K]``."""
        from .network import predict

        check_agrees(self, **loose)
        return predict(params, xs, beta=beta, activation=self.activation)

    predict = apply

    def train(self, params, xs, ys, *, beta: float, alpha: float, grad: str = "rtrl", lr_scale=None, **loose):
        """`rnnntk.diagonal.train.train_online`: ``len(ys)`` online steps; returns the trained parameters."""
        from .train import train_online

        check_agrees(self, **loose)
        return train_online(
            params, xs, ys, beta=beta, alpha=alpha, grad=grad, activation=self.activation, lr_scale=lr_scale
        )

    def train_steps(self, params0, state, xs, ys, *, beta, alpha, grad="rtrl", lr_scale=None, check=True, **loose):
        """`rnnntk.diagonal.train.train_steps`: continue an online run."""
        from .train import train_steps

        check_agrees(self, **loose)
        return train_steps(
            params0, state, xs, ys, beta=beta, alpha=alpha, grad=grad, activation=self.activation,
            lr_scale=lr_scale, check=check,
        )  # fmt: skip

    def empirical_kernel(self, params, xs, *, burn: int, grad: str = "rtrl", chunk: int = 2048, **loose):
        """`rnnntk.diagonal.ntk.empirical_ntk` at frozen parameters, ``[P, P]``."""
        from .ntk import empirical_ntk

        check_agrees(self, **loose)
        return empirical_ntk(params, xs, burn=burn, grad=grad, activation=self.activation, chunk=chunk)

    def limit_kernel(
        self, xs, *, burn: int, grad: str = "rtrl", xs_eval=None, burn_eval=None, options: LimitOptions | None = None,
        **loose,
    ):  # fmt: skip
        """`rnnntk.diagonal.limit.limit_kernel` of this model, ``[P, P]`` (``[Q, P]`` with ``xs_eval``)."""
        from .limit import limit_kernel

        check_agrees(self, **loose)
        opts = (options or LimitOptions()).diagonal_kw()
        return limit_kernel(xs, burn=burn, grad=grad, xs_eval=xs_eval, burn_eval=burn_eval, **self.kwargs(), **opts)

    def limit_initial_covariance(self, xs, *, burn: int, options: LimitOptions | None = None, **loose):
        """`rnnntk.diagonal.limit.limit_initial_covariance`: the covariance of ``h_0`` at ``beta = 1/2``."""
        from .limit import limit_initial_covariance

        check_agrees(self, **loose)
        opts = (options or LimitOptions()).diagonal_kw()
        opts.pop("chunk")
        opts.pop("w_rule")
        return limit_initial_covariance(xs, burn=burn, **self.kwargs(), **opts)

    def limit_predict(self, xs, ys, *, t, alpha: float, burn: int, grad: str = "rtrl", options=None, **kw):
        """`rnnntk.diagonal.limit.limit_predict` of this model (``xs_eval``, ``burn_eval``, ``h0``, ``h0_eval``,
        ``eval_xs`` pass through; hyperparameter keywords must agree with the model)."""
        from .limit import limit_predict

        hp = {k: kw.pop(k) for k in list(kw) if k in hyperparameters(self)}
        check_agrees(self, **hp)
        opts = (options or LimitOptions()).diagonal_kw()
        return limit_predict(xs, ys, t=t, alpha=alpha, burn=burn, grad=grad, **self.kwargs(), **opts, **kw)

"""One model object per family: a frozen, static description that owns its hyperparameters.

In the spirit of neural-tangents' ``(init_fn, apply_fn, kernel_fn)`` triple, a model object offers
the finite network (``init``, ``apply``/``predict``, training), its empirical kernel and its limit
kernel from one definition, so the finite network and its limit cannot be given different
hyperparameters by accident:

- `DiagonalRNN` ``(b0, s_w, c_dist, activation)``: the diagonal network of spec section 2
  (`rnnntk.network`, `rnnntk.train`, `rnnntk.ntk`, `rnnntk.limit`).
- `Elman` ``(var_w, var_u, var_b, var_v, param, activation, pool)``: the Elman network
  (`rnnntk.elman`, `rnnntk.elman_limit`).
- The actor-critic's networks: `rnnntk.actor_critic.ActorCriticModel`.

The limit's numerical options (quadrature or Monte Carlo, tolerance, nodes, samples) are one
`LimitOptions` object, passed as ``options=`` (compare diffrax's ``stepsize_controller=``).

The objects are frozen dataclasses, hashable and registered as static pytrees (no leaves), so they
pass through ``jax.jit`` as static arguments. Their methods are thin: each calls the one function
that implements it (`init_params`, `predict`, `train_online`, `empirical_ntk`, `limit_kernel`, ...),
so the function API and the object API compute the same numbers.

Hyperparameters cannot differ silently between a model and loose keywords: every method that also
accepts a hyperparameter keyword (``activation=``, ``b0=``, ...) checks it against the model and
raises `ConfigError` on a mismatch (`check_agrees`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax

from ._checks import ConfigError, check_positive, check_positive_int, require


def _static(cls):
    """Register a frozen dataclass as a pytree without leaves (a static value under ``jit``)."""
    reg = getattr(jax.tree_util, "register_static", None)
    if reg is not None:
        reg(cls)
    return cls


def hyperparameters(model) -> dict[str, Any]:
    """The model's fields as a dict (its hyperparameters)."""
    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}


def check_agrees(model, **loose) -> None:
    """Raise `ConfigError` when a loose keyword (``activation="tanh"``, ...) names a hyperparameter of
    ``model`` with another value; ``None`` means "not given". Keywords that are not hyperparameters of
    the model are refused too (they would be ignored)."""
    hp = hyperparameters(model)
    name = type(model).__name__
    for k, v in loose.items():
        if v is None:
            continue
        if k not in hp:
            raise ConfigError(f"{k} = {v!r} is not a hyperparameter of {name}: expected one of {sorted(hp)}")
        mine = hp[k]
        same = (float(v) == float(mine)) if isinstance(mine, float) and isinstance(v, (int, float)) else v == mine
        if not same:
            raise ConfigError(
                f"{k} = {v!r} disagrees with the model {name}({k}={mine!r}): the finite network and its limit "
                f"must describe the same model; drop the keyword or build the model with {k}={v!r}"
            )


# --------------------------------------------------------------------------- limit options


@_static
@dataclass(frozen=True)
class LimitOptions:
    """Numerical options of a limit kernel (one object instead of loose keywords).

    ``method``: the diagonal network: ``"auto"`` (quadrature for ``d <= 2``), ``"quadrature"`` or
    ``"monte_carlo"``; the Elman network and the actor-critic: ``"auto"``, ``"closed_form"`` or
    ``"quadrature"``. ``tol``: target relative accuracy of the quadrature (diagonal, actor-critic).
    ``n_w``, ``n_b``, ``w_rule``: the diagonal network's tensor rule. ``samples``, ``seed``: Monte Carlo
    sample size and the seed of its key. ``nodes``: the Elman network's Gauss-Hermite nodes.
    ``chunk``: nodes processed at once (diagonal). ``None`` leaves the family's default.
    """

    method: str = "auto"
    tol: float | None = None
    n_w: int | None = None
    n_b: int | None = None
    w_rule: str = "trapezoid"
    samples: int | None = None
    seed: int = 0
    nodes: int | None = None
    chunk: int = 2048

    def __post_init__(self):
        require(isinstance(self.method, str), "limit.method", self.method, "a method name")
        if self.tol is not None:
            require(0.0 < float(self.tol) < 1.0, "limit.tol", self.tol, "a number in (0, 1)")
        for f in ("n_w", "n_b", "samples", "nodes"):
            if getattr(self, f) is not None:
                check_positive_int(getattr(self, f), f"limit.{f}")
        check_positive_int(self.chunk, "limit.chunk")

    def diagonal_kw(self) -> dict[str, Any]:
        """Keywords of `rnnntk.limit.limit_kernel` (the node options)."""
        self._refuse("the diagonal network", nodes=self.nodes)
        kw = dict(method=self.method, w_rule=self.w_rule, chunk=self.chunk)
        for f in ("tol", "n_w", "n_b", "samples"):
            if getattr(self, f) is not None:
                kw[f] = getattr(self, f)
        if self.seed != 0:
            kw["key"] = jax.random.key(self.seed)
        return kw

    def elman_kw(self) -> dict[str, Any]:
        """Keywords of `rnnntk.elman_limit.elman_limit_ntk`."""
        self._refuse("the Elman network", tol=self.tol, n_w=self.n_w, n_b=self.n_b, samples=self.samples)
        return dict(method=self.method, nodes=self.nodes)

    def actor_critic_kw(self) -> dict[str, Any]:
        """Keywords of `rnnntk.actor_critic.limit_kernel`."""
        self._refuse("the actor-critic", n_w=self.n_w, n_b=self.n_b, samples=self.samples, nodes=self.nodes)
        return dict(method=self.method) | ({} if self.tol is None else {"tol": self.tol})

    def _refuse(self, family: str, **unused) -> None:
        given = sorted(k for k, v in unused.items() if v is not None)
        if given:
            raise ConfigError(f"limit option(s) {given} do not apply to {family}: leave them unset")


# --------------------------------------------------------------------------- the diagonal network


@_static
@dataclass(frozen=True)
class DiagonalRNN:
    """The diagonal RNN of spec section 2: ``b ~ U[-b0, b0]``, ``w ~ N(0, s_w^2 I_d)``, ``c ~ c_dist``.

    Gradients are taken with respect to the parameters as drawn (the seed paper's model; see
    `rnnntk.network`). ``activation`` is one of ``tanh``, ``erf`` (the plain error function),
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
        """The `rnnntk.network.Activation`."""
        from .network import get_activation

        return get_activation(self.activation)

    def kwargs(self) -> dict[str, Any]:
        """The hyperparameters as keywords of `init_params` and `limit_kernel`."""
        return hyperparameters(self)

    def init(self, key, width: int, dim: int, *, dtype=None):
        """`rnnntk.network.init_params` with this model's initial law."""
        from .network import init_params

        return init_params(key, width, dim, dtype=dtype, **self.kwargs())

    def apply(self, params, xs, *, beta: float, **loose):
        """`rnnntk.network.predict`: outputs with frozen parameters from zero memory, ``[K]``."""
        from .network import predict

        check_agrees(self, **loose)
        return predict(params, xs, beta=beta, activation=self.activation)

    predict = apply

    def train(self, params, xs, ys, *, beta: float, alpha: float, grad: str = "rtrl", lr_scale=None, **loose):
        """`rnnntk.train.train_online`: ``len(ys)`` online steps; returns the trained parameters."""
        from .train import train_online

        check_agrees(self, **loose)
        return train_online(
            params, xs, ys, beta=beta, alpha=alpha, grad=grad, activation=self.activation, lr_scale=lr_scale
        )

    def train_steps(self, params0, state, xs, ys, *, beta, alpha, grad="rtrl", lr_scale=None, check=True, **loose):
        """`rnnntk.train.train_steps`: continue an online run."""
        from .train import train_steps

        check_agrees(self, **loose)
        return train_steps(
            params0, state, xs, ys, beta=beta, alpha=alpha, grad=grad, activation=self.activation,
            lr_scale=lr_scale, check=check,
        )  # fmt: skip

    def empirical_kernel(self, params, xs, *, burn: int, grad: str = "rtrl", chunk: int = 2048, **loose):
        """`rnnntk.ntk.empirical_ntk` at frozen parameters, ``[P, P]``."""
        from .ntk import empirical_ntk

        check_agrees(self, **loose)
        return empirical_ntk(params, xs, burn=burn, grad=grad, activation=self.activation, chunk=chunk)

    def limit_kernel(
        self, xs, *, burn: int, grad: str = "rtrl", xs_eval=None, burn_eval=None, options: LimitOptions | None = None,
        **loose,
    ):  # fmt: skip
        """`rnnntk.limit.limit_kernel` of this model, ``[P, P]`` (``[Q, P]`` with ``xs_eval``)."""
        from .limit import limit_kernel

        check_agrees(self, **loose)
        opts = (options or LimitOptions()).diagonal_kw()
        return limit_kernel(xs, burn=burn, grad=grad, xs_eval=xs_eval, burn_eval=burn_eval, **self.kwargs(), **opts)

    def limit_initial_covariance(self, xs, *, burn: int, options: LimitOptions | None = None, **loose):
        """`rnnntk.limit.limit_initial_covariance`: the covariance of ``h_0`` at ``beta = 1/2``."""
        from .limit import limit_initial_covariance

        check_agrees(self, **loose)
        opts = (options or LimitOptions()).diagonal_kw()
        opts.pop("chunk")
        opts.pop("w_rule")
        return limit_initial_covariance(xs, burn=burn, **self.kwargs(), **opts)

    def limit_predict(self, xs, ys, *, t, alpha: float, burn: int, grad: str = "rtrl", options=None, **kw):
        """`rnnntk.limit.limit_predict` of this model (``xs_eval``, ``burn_eval``, ``h0``, ``h0_eval``,
        ``eval_xs`` pass through; hyperparameter keywords must agree with the model)."""
        from .limit import limit_predict

        hp = {k: kw.pop(k) for k in list(kw) if k in hyperparameters(self)}
        check_agrees(self, **hp)
        opts = (options or LimitOptions()).diagonal_kw()
        return limit_predict(xs, ys, t=t, alpha=alpha, burn=burn, grad=grad, **self.kwargs(), **opts, **kw)


# --------------------------------------------------------------------------- the Elman network


@_static
@dataclass(frozen=True)
class Elman:
    """The Elman network of `rnnntk.elman`: entries of ``W, U, b, v`` with variances ``var_*``.

    ``param="ntk"`` is the literature's NTK parameterisation (trained standard normals, each kernel
    block carries its variance); ``"ntk_as_drawn"`` takes gradients with respect to the weights as
    drawn; ``"mean_field"`` has no deterministic limit. ``activation``: ``erf`` (plain), ``erf_unit``,
    ``relu``, ``tanh``. ``pool``: ``"last"`` or ``"mean"``.

    Online training of the Elman network exists only in the mean-field scaling
    (`rnnntk.meanfield.train_meanfield`); this object offers ``init``, ``apply``, the empirical and
    the limit kernel.
    """

    var_w: float = 1.0
    var_u: float = 1.0
    var_b: float = 0.0
    var_v: float = 1.0
    param: str = "ntk"
    activation: str = "erf"
    pool: str = "last"

    def __post_init__(self):
        from .elman import PARAMS, POOLS, check_choice, check_variance, get_elman_activation

        for f in ("var_w", "var_u", "var_b", "var_v"):
            object.__setattr__(self, f, float(check_variance(getattr(self, f), f)))
        check_choice(self.param, "param", PARAMS)
        check_choice(self.pool, "pool", POOLS)
        get_elman_activation(self.activation)

    def variances(self) -> dict[str, float]:
        return {f: getattr(self, f) for f in ("var_w", "var_u", "var_b", "var_v")}

    def init(self, key, width: int, dim: int, *, dtype=None):
        """`rnnntk.elman.elman_init` with this model's variances and parameterisation."""
        from .elman import elman_init

        return elman_init(key, width, dim, param=self.param, dtype=dtype, **self.variances())

    def _check_params(self, params) -> None:
        if params.param != self.param:
            raise ConfigError(
                f"the parameters were drawn with param={params.param!r} but the model has param={self.param!r}: "
                "draw them with model.init"
            )
        if params.variances is not None and tuple(params.variances) != tuple(self.variances().values()):
            raise ConfigError(
                f"the parameters carry variances {tuple(params.variances)} but the model has "
                f"{tuple(self.variances().values())} (var_w, var_u, var_b, var_v): draw them with model.init"
            )

    def apply(self, params, xs, **loose):
        """`rnnntk.elman.elman_apply`: the outputs ``[B]``."""
        from .elman import elman_apply

        check_agrees(self, **loose)
        self._check_params(params)
        return elman_apply(params, xs, pool=self.pool, activation=self.activation)

    predict = apply

    def empirical_kernel(self, params, xs, **loose):
        """`rnnntk.elman.elman_empirical_ntk`: ``[B, B]``."""
        from .elman import elman_empirical_ntk

        check_agrees(self, **loose)
        self._check_params(params)
        return elman_empirical_ntk(params, xs, pool=self.pool, activation=self.activation)

    def limit_kernel(self, xs, *, options: LimitOptions | None = None, **loose):
        """`rnnntk.elman_limit.elman_limit_ntk` of this model: ``[B, B]``."""
        from .elman_limit import elman_limit_ntk

        check_agrees(self, **loose)
        opts = (options or LimitOptions()).elman_kw()
        return elman_limit_ntk(
            xs, pool=self.pool, activation=self.activation, param=self.param, **self.variances(), **opts
        )

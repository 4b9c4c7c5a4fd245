"""One model object per family (the shared part): a frozen description owning its hyperparameters.

In the spirit of neural-tangents' ``(init_fn, apply_fn, kernel_fn)`` triple, a model object offers
the finite network (``init``, ``apply``/``predict``, training), its empirical kernel and its limit
kernel from one definition, so the finite network and its limit cannot be given different
hyperparameters by accident:

- `rnnntk.diagonal.DiagonalRNN` ``(b0, s_w, c_dist, activation)``: the diagonal network of spec
  section 2 (`rnnntk.diagonal.network`, `.train`, `.ntk`, `.limit`).
- `rnnntk.elman.Elman` ``(var_w, var_u, var_b, var_v, param, activation, pool)``: the Elman network
  (`rnnntk.elman.network`, `rnnntk.elman.limit`).
- The actor-critic's networks: `rnnntk.actor_critic.ActorCriticModel`.

The limit's numerical options (quadrature or Monte Carlo, tolerance, nodes, samples) are one
`LimitOptions` object, passed as ``options=`` (compare diffrax's ``stepsize_controller=``).

The objects are frozen dataclasses, hashable and registered as static pytrees (no leaves), so they
pass through ``jax.jit`` as static arguments. Their methods are thin: each calls the one function
that implements it (`init_params`, `predict`, `train_online`, `empirical_ntk`, `limit_kernel`, ...),
so the function API and the object API compute the same numbers.

Hyperparameters cannot differ silently between a model and loose keywords: every method that also
accepts a hyperparameter keyword (``activation=``, ``b0=``, ...) checks it against the model and
raises `ConfigError` on a mismatch (`check_agrees`). This module holds what the families share:
`LimitOptions` (used by all three), `check_agrees`, `hyperparameters` and the static registration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax

from ._checks import ConfigError, _is_real, check_positive_int, require


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


def _check_tol(value: Any, field: str) -> None:
    require(_is_real(value) and 0.0 < float(value) < 1.0, field, value, "a number in (0, 1)")


#: the rule of each numerical field of `LimitOptions`, written once: `LimitOptions` applies it to its
#: fields and the configuration's `validate` to the group ``limit`` before anything compiles (both
#: through `check_limit_fields`). Each rule is ``check(value, field)``, raising `ConfigError` that
#: names the field and the allowed values. ``method`` and ``w_rule`` are names whose allowed values
#: depend on the family; they are checked where the family is known.
LIMIT_FIELD_RULES: dict[str, Callable[[Any, str], Any]] = {
    "tol": _check_tol,
    "n_w": check_positive_int,
    "n_b": check_positive_int,
    "samples": check_positive_int,
    "path_samples": check_positive_int,
    "nodes": check_positive_int,
    "chunk": check_positive_int,
}
#: fields that must hold a value when present (the others: ``None`` leaves the family's default)
LIMIT_FIELDS_REQUIRED = ("chunk",)


def check_limit_fields(values: Mapping[str, Any], group: str = "limit") -> None:
    """Check the fields of `LIMIT_FIELD_RULES` present in ``values`` (a dict or a config node);
    a `ConfigError` names ``<group>.<field>``, its value and the allowed values. A field that is
    absent, or ``None`` (unless in `LIMIT_FIELDS_REQUIRED`), is left alone."""
    for f, check in LIMIT_FIELD_RULES.items():
        if f not in values:
            continue
        v = values[f]
        if v is not None or f in LIMIT_FIELDS_REQUIRED:
            check(v, f"{group}.{f}")


@_static
@dataclass(frozen=True)
class LimitOptions:
    """Numerical options of a limit kernel (one object instead of loose keywords).

    ``method``: the diagonal network: ``"auto"`` (quadrature for ``d <= 2``), ``"quadrature"`` or
    ``"monte_carlo"``; the Elman network and the actor-critic: ``"auto"``, ``"closed_form"`` or
    ``"quadrature"``. ``tol``: target relative accuracy of the quadrature (diagonal, actor-critic).
    ``n_w``, ``n_b``, ``w_rule``: the diagonal network's tensor rule. ``samples``, ``seed``: Monte Carlo
    sample size and the seed of its key. ``path_samples``: Monte Carlo nodes of the diagonal network's
    long-path limit (``limit.law=path``, ``d > 2``). ``nodes``: the Elman network's Gauss-Hermite nodes.
    ``chunk``: nodes processed at once (diagonal). ``None`` leaves the family's default.
    """

    method: str = "auto"
    tol: float | None = None
    n_w: int | None = None
    n_b: int | None = None
    w_rule: str | None = None
    samples: int | None = None
    path_samples: int | None = None
    seed: int = 0
    nodes: int | None = None
    chunk: int = 2048

    def __post_init__(self):
        require(isinstance(self.method, str), "limit.method", self.method, "a method name")
        check_limit_fields({f: getattr(self, f) for f in LIMIT_FIELD_RULES})

    def diagonal_kw(self) -> dict[str, Any]:
        """Keywords of `rnnntk.diagonal.limit.limit_kernel` (the node options)."""
        self._refuse("the diagonal network", nodes=self.nodes)
        kw = dict(method=self.method, chunk=self.chunk)
        for f in ("tol", "n_w", "n_b", "w_rule", "samples"):
            if getattr(self, f) is not None:
                kw[f] = getattr(self, f)
        if self.seed != 0:
            kw["key"] = jax.random.key(self.seed)
        return kw

    def elman_kw(self) -> dict[str, Any]:
        """Keywords of `rnnntk.elman.limit.elman_limit_ntk`."""
        self._refuse(
            "the Elman network",
            tol=self.tol,
            n_w=self.n_w,
            n_b=self.n_b,
            samples=self.samples,
            path_samples=self.path_samples,
        )
        return dict(method=self.method, nodes=self.nodes)

    def actor_critic_kw(self) -> dict[str, Any]:
        """Keywords of `rnnntk.actor_critic.limit_kernel`."""
        self._refuse(
            "the actor-critic",
            n_w=self.n_w,
            n_b=self.n_b,
            samples=self.samples,
            path_samples=self.path_samples,
            nodes=self.nodes,
        )
        return dict(method=self.method) | ({} if self.tol is None else {"tol": self.tol})

    def _refuse(self, family: str, **unused) -> None:
        given = sorted(k for k, v in unused.items() if v is not None)
        if given:
            raise ConfigError(f"limit option(s) {given} do not apply to {family}: leave them unset")

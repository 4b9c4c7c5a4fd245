"""The Elman network's model object `Elman` (see `rnnntk._model` for the conventions)."""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import ConfigError
from .._model import LimitOptions, _static, check_agrees


@_static
@dataclass(frozen=True)
class Elman:
    """The Elman network of `rnnntk.elman`: entries of ``W, U, b, v`` with variances ``var_*``.

    ``param="ntk"`` is the literature's NTK parameterisation (trained standard normals, each kernel
    block carries its variance); ``"ntk_as_drawn"`` takes gradients with respect to the weights as
    drawn; ``"mean_field"`` has no deterministic limit. ``activation``: ``erf`` (plain), ``erf_unit``,
    ``relu``, ``tanh``. ``pool``: ``"last"`` or ``"mean"``.

    Online training of the Elman network exists only in the mean-field scaling
    (`rnnntk.elman.meanfield.train_meanfield`); this object offers ``init``, ``apply``, the empirical and
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
        from .network import PARAMS, POOLS, check_choice, check_variance, get_elman_activation

        for f in ("var_w", "var_u", "var_b", "var_v"):
            object.__setattr__(self, f, float(check_variance(getattr(self, f), f)))
        check_choice(self.param, "param", PARAMS)
        check_choice(self.pool, "pool", POOLS)
        get_elman_activation(self.activation)

    def variances(self) -> dict[str, float]:
        return {f: getattr(self, f) for f in ("var_w", "var_u", "var_b", "var_v")}

    def init(self, key, width: int, dim: int, *, dtype=None):
        """`rnnntk.elman.elman_init` with this model's variances and parameterisation."""
        from .network import elman_init

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
        from .network import elman_apply

        check_agrees(self, **loose)
        self._check_params(params)
        return elman_apply(params, xs, pool=self.pool, activation=self.activation)

    predict = apply

    def empirical_kernel(self, params, xs, **loose):
        """`rnnntk.elman.elman_empirical_ntk`: ``[B, B]``."""
        from .network import elman_empirical_ntk

        check_agrees(self, **loose)
        self._check_params(params)
        return elman_empirical_ntk(params, xs, pool=self.pool, activation=self.activation)

    def limit_kernel(self, xs, *, options: LimitOptions | None = None, **loose):
        """`rnnntk.elman.limit.elman_limit_ntk` of this model: ``[B, B]``."""
        from .limit import elman_limit_ntk

        check_agrees(self, **loose)
        opts = (options or LimitOptions()).elman_kw()
        return elman_limit_ntk(
            xs, pool=self.pool, activation=self.activation, param=self.param, **self.variances(), **opts
        )

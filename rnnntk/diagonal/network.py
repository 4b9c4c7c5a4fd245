"""The finite diagonal RNN of spec section 2: parameters, the memory step and its sensitivities.

Each hidden unit ``i`` has parameters ``theta^i = (c^i, w^i, b^i)`` and a scalar memory::

    z^i_k     = w^i . X_k + b^i S^i_k
    S^i_{k+1} = sigma(z^i_k)
    yhat_k    = N^{-beta} sum_i c^i S^i_{k+1}

and forward sensitivities (real-time recurrent learning, RTRL)::

    J^{w,i}_{k+1} = sigma'(z^i_k) (X_k   + b^i J^{w,i}_k)
    J^{b,i}_{k+1} = sigma'(z^i_k) (S^i_k + b^i J^{b,i}_k)

so that ``grad_{theta^i} yhat_k = N^{-beta} phi^i_k`` with
``phi^i_k = (S^i_{k+1}, c^i J^{w,i}_{k+1}, c^i J^{b,i}_{k+1})``.

Conventions. Gradients (and hence the NTK and the training updates) are taken with respect to
the parameters as drawn, ``theta^i = (c^i, w^i, b^i)`` with ``w ~ N(0, s_w^2 I_d)``: this is the
seed paper's model, the update the network actually makes. A user arriving from neural-tangents'
``parameterization="ntk"`` (trained standard normals ``omega`` with ``w = s_w omega``) would see
the ``w``-block of the kernel multiplied by ``s_w^2``; here it is not. ``activation="erf"`` is
the plain error function ``erf(z)``; ``"erf_unit"`` is ``erf(sqrt(pi) z / 2)`` (slope one at
zero). The network needs a bounded activation with bounded smooth derivatives (``tanh``,
``erf``, ``erf_unit``, ``sigmoid``); ``relu`` is refused.

This module holds the *one* definition of that recursion. The online trainer
(`rnnntk.diagonal.train`), the empirical NTK (`rnnntk.diagonal.ntk`) and the limit kernel (`rnnntk.diagonal.limit`,
where the "units" are quadrature nodes or Monte Carlo samples of the initial law) all call
`memory_step` and `sensitivity_step`, so the finite network and its limit cannot disagree
about what they describe.

Gradient estimators (``grad=``):

- ``"rtrl"``: the exact forward sensitivities above.
- ``"tbptt:tau"``: truncated backpropagation through the last ``tau`` steps; the memory
  ``tau`` steps back is a constant. Computed forward with a buffer of ``tau`` partial sums:
  row ``j`` holds the sensitivity summed over the last ``j + 1`` steps, and the update uses row
  ``tau - 1``. ``tbptt:1`` is ``sigma'(z_k) (X_k, S_k)``, i.e. the ``b J`` terms dropped.
- ``"bptt"``: exact reverse-mode differentiation of the unrolled network with frozen
  parameters (reference only; equals ``rtrl`` when parameters are frozen).

Reference: Lam, Sirignano, Spiliopoulos, "Kernel Limit of Recurrent Neural Networks Trained on
Ergodic Data Sequences", arXiv:2308.14555.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from .._checks import ConfigError, check_positive, check_positive_int, require

Array = jax.Array


class Params(NamedTuple):
    """Parameters of a width-``N`` network with input dimension ``d``."""

    c: Array  # [N]     output weights
    w: Array  # [N, d]  input weights
    b: Array  # [N]     diagonal recurrent weights, |b| <= b0


# --------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class Activation:
    """An activation with its derivative and ``sup |sigma'|``.

    ``bounded_smooth`` is True for the bounded activations with bounded smooth derivatives that
    the diagonal network's kernel limit requires (spec section 2); ``relu`` is not one of them.
    """

    name: str
    fn: Callable[[Array], tuple[Array, Array]]  # z -> (sigma(z), sigma'(z))
    sup_dsigma: float
    bounded_smooth: bool = True


#: ``erf_unit`` is ``erf(ERF_UNIT_SCALE z)``: slope one at zero, like ``tanh``.
ERF_UNIT_SCALE = math.sqrt(math.pi) / 2.0


def _tanh(z):
    s = jnp.tanh(z)
    return s, 1.0 - s * s


def _erf(z):
    # the plain error function, as in jax.scipy.special.erf and neural-tangents' stax.Erf()
    return erf(z), (2.0 / math.sqrt(math.pi)) * jnp.exp(-(z * z))


def _erf_unit(z):
    # sigma(z) = erf(sqrt(pi) z / 2): slope 1 at zero like tanh, values in (-1, 1)
    k = ERF_UNIT_SCALE
    return erf(k * z), jnp.exp(-((k * z) ** 2))


def _sigmoid(z):
    s = jax.nn.sigmoid(z)
    return s, s * (1.0 - s)


def _relu(z):
    return jnp.maximum(z, 0.0), (z > 0).astype(z.dtype)


#: Every activation of the project, by name. ``erf`` is the plain error function (sup|sigma'| =
#: 2/sqrt(pi)); ``erf_unit`` its slope-one rescaling ``erf(sqrt(pi) z / 2)``. Which families
#: accept which: `get_activation` (the diagonal network: bounded and smooth only; the
#: actor-critic: also ``relu``), `rnnntk.elman.ELMAN_ACTIVATIONS` (the Elman network).
ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", _tanh, 1.0),
    "erf": Activation("erf", _erf, 2.0 / math.sqrt(math.pi)),
    "erf_unit": Activation("erf_unit", _erf_unit, 1.0),
    "sigmoid": Activation("sigmoid", _sigmoid, 0.25),
    "relu": Activation("relu", _relu, 1.0, bounded_smooth=False),
}


def get_activation(name: str, *, allow_relu: bool = False) -> Activation:
    """The `Activation` called ``name``.

    The diagonal network (the default, ``allow_relu=False``) takes only bounded activations with
    bounded smooth derivatives: its kernel limit rests on them (spec section 2) and its limit
    quadrature on their analyticity, so ``relu`` is refused with that reason. The actor-critic's
    single-hidden-layer networks pass ``allow_relu=True``.
    """
    allowed = [k for k, a in ACTIVATIONS.items() if allow_relu or a.bounded_smooth]
    if name == "relu" and not allow_relu:
        raise ConfigError(
            "activation = 'relu' is not allowed for the diagonal network: its kernel limit needs a "
            "bounded activation with a bounded, smooth derivative (spec section 2), and relu is "
            f"unbounded with a jump in relu'; expected one of {sorted(allowed)} (relu is available "
            "in the Elman network and the actor-critic)"
        )
    require(name in allowed, "activation", name, f"one of {sorted(allowed)}")
    return ACTIVATIONS[name]


# --------------------------------------------------------------------------- estimators

_GRAD_RE = re.compile(r"^(rtrl|bptt|tbptt:([0-9]+))$")


@dataclass(frozen=True)
class Estimator:
    """A parsed ``grad`` option. ``tau`` is None for exact gradients (rtrl, bptt)."""

    kind: str  # "rtrl" | "tbptt" | "bptt"
    tau: int | None = None

    @property
    def label(self) -> str:
        return f"tbptt:{self.tau}" if self.kind == "tbptt" else self.kind


def parse_grad(grad: str | Estimator, *, allow_bptt: bool = True) -> Estimator:
    """Parse ``"rtrl"``, ``"tbptt:<tau>"`` (``tau >= 1``) or ``"bptt"``."""
    if isinstance(grad, Estimator):
        est = grad
    else:
        m = _GRAD_RE.match(str(grad).strip())
        allowed = '"rtrl", "tbptt:<tau>" with an integer tau >= 1' + (', "bptt"' if allow_bptt else "")
        require(m is not None, "grad", grad, allowed)
        if m.group(2) is not None:
            tau = int(m.group(2))
            require(tau >= 1, "grad", grad, allowed)
            est = Estimator("tbptt", tau)
        else:
            est = Estimator(m.group(1))
    if est.kind == "bptt" and not allow_bptt:
        raise ConfigError(
            'grad = "bptt" is a frozen-parameter reference (empirical NTK, tests); online '
            'training accepts "rtrl" or "tbptt:<tau>"'
        )
    return est


# --------------------------------------------------------------------------- initialisation


def check_contraction(b0: float, activation: str = "tanh") -> float:
    """``b0 * sup|sigma'| < 1`` makes the memory map a contraction (spec section 2)."""
    act = get_activation(activation)
    b0 = check_positive(b0, "b0")
    require(
        b0 * act.sup_dsigma < 1.0,
        "b0",
        b0,
        f"0 < b0 < {1.0 / act.sup_dsigma:g} so that b0 * sup|sigma'| < 1 for "
        f"activation={act.name} (otherwise the memory map is not a contraction)",
    )
    return b0


def init_params(
    key: Array,
    width: int,
    dim: int,
    *,
    b0: float = 0.5,
    s_w: float = 1.0,
    c_dist: str = "rademacher",
    dtype=None,
    activation: str = "tanh",
) -> Params:
    """Draw ``theta^i = (c^i, w^i, b^i)`` i.i.d. from the initial law ``mu_0``.

    Arguments:
        key: a PRNG key.
        width: the number of hidden units ``N``.
        dim: the input dimension ``d``.
        b0: recurrent weights ``b ~ Uniform[-b0, b0]``; requires ``b0 * sup|sigma'| < 1``.
        s_w: input weights ``w ~ N(0, s_w^2 I_d)``.
        c_dist: ``"rademacher"`` (``c = +-1``) or ``"normal"`` (``c ~ N(0, 1)``).
        dtype: floating dtype of the parameters (default: JAX's default float).
        activation: used only to check the contraction condition.

    Returns:
        `Params` with ``c [N]``, ``w [N, d]``, ``b [N]``.

    Example:
        >>> p = init_params(jax.random.key(0), 1000, 1, b0=0.5)
        >>> p.w.shape
        (1000, 1)
    """
    width = check_positive_int(width, "width")
    dim = check_positive_int(dim, "dim")
    check_contraction(b0, activation)
    s_w = check_positive(s_w, "s_w")
    require(c_dist in C_SECOND_MOMENT, "c_dist", c_dist, f"one of {sorted(C_SECOND_MOMENT)}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    kc, kw, kb = jax.random.split(key, 3)
    if c_dist == "rademacher":
        c = jax.random.rademacher(kc, (width,), dtype=dtype)
    else:
        c = jax.random.normal(kc, (width,), dtype=dtype)
    w = s_w * jax.random.normal(kw, (width, dim), dtype=dtype)
    b = jax.random.uniform(kb, (width,), dtype=dtype, minval=-b0, maxval=b0)
    return Params(c, w, b)


#: ``E[c^2]`` under each output-weight law (the limit kernel factors it out).
C_SECOND_MOMENT = {"rademacher": 1.0, "normal": 1.0}


def check_params(params: Params, dim: int | None = None) -> tuple[int, int]:
    """Return ``(N, d)`` after checking that ``c [N]``, ``w [N, d]``, ``b [N]`` agree."""
    c, w, b = (jnp.shape(x) for x in params)
    ok = len(c) == 1 and len(w) == 2 and len(b) == 1 and c[0] == w[0] == b[0]
    if not ok:
        raise ConfigError(f"params shapes c{c}, w{w}, b{b} do not match: expected c [N], w [N, d], b [N]")
    if dim is not None and w[1] != dim:
        raise ConfigError(f"params.w has input dimension {w[1]} but the data has d = {dim}")
    return int(c[0]), int(w[1])


# --------------------------------------------------------------------------- the recursion


#: Input dimensions up to which ``w . x`` is written as an explicit sum over the ``d`` inputs.
_SUM_DIM = 16


def input_drive(w: Array, x: Array) -> Array:
    """``w . x`` for every unit: ``w [..., N, d]``, ``x [d]`` -> ``[..., N]``.

    For ``d <= 16`` an explicit sum ``w[..., 0] x_0 + ... + w[..., d-1] x_{d-1}``: elementwise, so
    XLA fuses it (and a ``w = w_0 + delta_w`` feeding it) into the activation's kernel, where a
    ``dot`` would be a separate kernel reading a materialised ``w``. Larger ``d``: a ``dot``.
    """
    d = w.shape[-1]
    if d > _SUM_DIM:
        return w @ x
    z = w[..., 0] * x[0]
    for j in range(1, d):
        z = z + w[..., j] * x[j]
    return z


def memory_step(w: Array, b: Array, S: Array, x: Array, act: Activation):
    """``z = w . x + b S``; returns ``(sigma(z), sigma'(z))``, each ``[N]``."""
    z = input_drive(w, x) + b * S
    return act.fn(z)


def sensitivity_step(J, a, dv, tau: int | None):
    """One step of forward sensitivities ``J <- dv + a J`` for one parameter block.

    ``a = sigma'(z) b`` (broadcastable to the unit axes of ``J``) and ``dv = sigma'(z) v`` with
    ``v = X_k`` (for ``w``) or ``S_k`` (for ``b``). With ``tau=None`` this is the exact RTRL
    recursion on ``J [N, ...]``. With an integer ``tau`` it updates the truncation buffer
    ``J [tau, N, ...]``: row ``j`` is the sum over the last ``j + 1`` steps, so the new row ``j``
    is ``dv + a * (old row j - 1)`` and row 0 is ``dv`` alone.
    """
    if tau is None:
        return dv + a * J
    shifted = jnp.concatenate([jnp.zeros_like(J[:1]), J[:-1]], axis=0)
    return dv[None] + a[None] * shifted


def init_sensitivities(width: int, dim: int, tau: int | None, dtype):
    """Zero sensitivities: ``(Jw, Jb)`` of shapes ``[N, d], [N]`` or ``[tau, N, d], [tau, N]``."""
    lead = () if tau is None else (tau,)
    return jnp.zeros(lead + (width, dim), dtype), jnp.zeros(lead + (width,), dtype)


def psi_rows(Jw, Jb, tau: int | None):
    """The sensitivities the update uses: the full ones, or the ``tau``-step truncation."""
    return (Jw, Jb) if tau is None else (Jw[-1], Jb[-1])


def step(w, b, S, Jw, Jb, x, act: Activation, tau: int | None):
    """One memory step with its sensitivities: returns ``(S_{k+1}, Jw_{k+1}, Jb_{k+1})``."""
    s, ds = memory_step(w, b, S, x, act)
    a = ds * b
    Jw = sensitivity_step(Jw, a[:, None], ds[:, None] * x[None, :], tau)
    Jb = sensitivity_step(Jb, a, ds * S, tau)
    return s, Jw, Jb


# --------------------------------------------------------------------------- frozen parameters


def check_path(xs, dim: int | None = None, field: str = "xs") -> Array:
    """Check a path ``xs [K, d]`` (a 1-D array is read as ``d = 1``)."""
    xs = jnp.asarray(xs)
    if xs.ndim == 1:
        xs = xs[:, None]
    if xs.ndim != 2:
        raise ConfigError(f"{field} has shape {tuple(xs.shape)}: expected [K, d]")
    if dim is not None and xs.shape[1] != dim:
        raise ConfigError(f"{field} has input dimension {xs.shape[1]} but params.w has d = {dim}")
    from .._checks import check_finite_array

    check_finite_array(xs, field)
    return xs


def _predict(params: Params, xs: Array, beta, act: Activation) -> Array:
    n = params.c.shape[-1]

    def body(S, x):  # the output per step: no [K, N] stack of memories (an ensemble of wide networks)
        s, _ = memory_step(params.w, params.b, S, x, act)
        return s, s @ params.c

    _, ys = jax.lax.scan(body, jnp.zeros_like(params.b), xs.astype(params.b.dtype))
    return jnp.power(jnp.asarray(n, ys.dtype), -beta) * ys


_predict_jit = jax.jit(_predict, static_argnames="act")


def predict(params: Params, xs, *, beta: float, activation: str = "tanh") -> Array:
    """Outputs ``yhat_k = N^{-beta} sum_i c^i S^i_{k+1}`` with frozen parameters from zero memory.

    Arguments:
        params: `Params` of a width-``N`` network.
        xs: the path ``[K, d]``.
        beta: the output scaling exponent in ``[1/2, 1]``.

    Returns:
        ``[K]`` outputs, one per history ending at ``xs[k]``.
    """
    from .._checks import check_beta

    _, d = check_params(params)
    xs = check_path(xs, d)
    return _predict_jit(params, xs, check_beta(beta), get_activation(activation))


class Features(NamedTuple):
    """Per-unit features along a path with frozen parameters (without the factor ``c``).

    ``phi = (S, c Jw, c Jb)`` and ``psi = (S, c Pw, c Pb)``; for ``rtrl`` ``Pw is Jw``.
    """

    S: Array  # [P, U]     S(theta; xi_p)
    Jw: Array  # [P, U, d] exact sensitivities
    Jb: Array  # [P, U]
    Pw: Array  # [P, U, d] sensitivities the update uses (truncated for tbptt)
    Pb: Array  # [P, U]


def unit_features(w: Array, b: Array, xs: Array, *, burn: int, est: Estimator, act: Activation) -> Features:
    """Run the memory and its sensitivities from zero along ``xs`` with frozen ``(w, b)``.

    Returns the features at the histories ending at ``xs[burn:]``. Traceable (no checks).
    """
    U, d = w.shape
    dtype = w.dtype
    xs = xs.astype(dtype)
    tau = est.tau if est.kind == "tbptt" else None
    S0 = jnp.zeros((U,), dtype)
    Jw0, Jb0 = init_sensitivities(U, d, None, dtype)
    Tw0, Tb0 = init_sensitivities(U, d, tau, dtype) if tau is not None else (None, None)

    def body(carry, x):
        S, Jw, Jb, Tw, Tb = carry
        s, Jw, Jb = step(w, b, S, Jw, Jb, x, act, None)
        if tau is None:
            return (s, Jw, Jb, Tw, Tb), (s, Jw, Jb)
        _, Tw, Tb = step(w, b, S, Tw, Tb, x, act, tau)  # same z: XLA shares it
        return (s, Jw, Jb, Tw, Tb), (s, Jw, Jb, Tw[-1], Tb[-1])

    # the burn-in steps produce no output
    carry, _ = jax.lax.scan(lambda c, x: (body(c, x)[0], None), (S0, Jw0, Jb0, Tw0, Tb0), xs[:burn])
    _, out = jax.lax.scan(body, carry, xs[burn:])
    if tau is None:
        S, Jw, Jb = out
        return Features(S, Jw, Jb, Jw, Jb)
    return Features(*out)


def bptt_features(params: Params, xs: Array, *, burn: int, beta, act: Activation) -> Features:
    """Features from reverse-mode gradients of the unrolled network (reference, short paths).

    ``grad_theta yhat_k = N^{-beta} phi_k`` is differentiated with `jax.jacrev` through the
    whole unrolled sequence with frozen parameters; ``c J`` is divided back by ``c`` so that
    the result has the layout of `unit_features` (requires ``c != 0``).
    """
    n = params.c.shape[-1]
    scale = jnp.power(jnp.asarray(n, params.c.dtype), beta)
    g = jax.jacrev(lambda p: _predict(p, xs, beta, act)[burn:])(params)
    S = g.c * scale
    Jw = g.w * scale / params.c[None, :, None]
    Jb = g.b * scale / params.c[None, :]
    return Features(S, Jw, Jb, Jw, Jb)

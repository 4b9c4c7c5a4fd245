r"""The infinite-width NTK of the Elman network (``param="ntk"`` or ``"ntk_as_drawn"``, see `rnnntk.elman`).

For sequences ``x = x_p`` and ``x' = x_q`` of a batch (equal length ``T``) and steps ``t, t'``:

Forward. As ``n -> infinity`` the pre-activations ``h^t_i(x)`` of a unit are jointly Gaussian over
all sequences and steps, i.i.d. over units, with covariance ``Sigma^{t,t'}(x, x')``. With
``s^0 = 0`` (step 1 reads no state), ``X^{t,t'} = <x^t, x'^{t'}> / d`` and
``K^{t,t'} = E[phi(h^t(x)) phi(h^{t'}(x'))]``, ``K^{0,.} = K^{.,0} = 0``::

    Sigma^{t,t'} = var_w K^{t-1,t'-1} + var_u X^{t,t'} + var_b
    K^{t,t'}     = E[phi(u) phi(u')],    K'^{t,t'} = E[phi'(u) phi'(u')],
                   (u, u') ~ N(0, [[Sigma^{t,t}(x,x), Sigma^{t,t'}(x,x')], [., Sigma^{t',t'}(x',x')]])

(the same ``W`` at every step correlates different steps; the recursion runs along the
diagonals ``t' - t = const``).

Backward. The scaled derivatives ``delta^t_i = sqrt(n) df/dh^t_i`` are, in the limit, centred
Gaussian, independent of the forward pass (the backward pass multiplies by ``W`` where the
forward pass multiplies by ``W^T``: the gradient-independence rule, exact here because ``v`` is
drawn independently and used only in the read-out; Yang, "Tensor Programs II", 2020), with
covariance ``Pi^{t,t'}(x, x') = lim (1/n) sum_i delta^t_i(x) delta^{t'}_i(x')``::

    Pi^{t,t'} = K'^{t,t'} (E^{t,t'} + var_w Pi^{t+1,t'+1}),    Pi^{T+1,.} = Pi^{.,T+1} = 0
    E^{t,t'}  = var_v [t = t' = T]   (pool="last"),     var_v / T^2   (pool="mean")

(for ``pool="last"`` and equal lengths ``Pi`` vanishes off ``t = t'``).

The kernel. ``df/dW`` pairs ``s^t`` with ``delta^{t+1}``, ``df/dU`` pairs ``x^t / sqrt(d)`` with
``delta^t``, ``df/db`` is ``sum_t delta^t / sqrt(n)``, ``df/dv`` is the pooled ``s / sqrt(n)``.
With ``K_v = K^{T,T}`` (pool="last") or ``(1/T^2) sum_{t,t'} K^{t,t'}`` (pool="mean")::

    param="ntk":           Theta = sum_{t,t'=1}^T Pi^{t,t'} Sigma^{t,t'} + var_v K_v
                                 = sum Pi^{t,t'} (var_w K^{t-1,t'-1} + var_u X^{t,t'} + var_b) + var_v K_v
    param="ntk_as_drawn":  Theta = sum_{t,t'=1}^T Pi^{t,t'} (K^{t-1,t'-1} + X^{t,t'} + 1) + K_v

With trained standard normals (``"ntk"``, the literature's NTK parameterisation: Alemohammad et
al., "The Recurrent Neural Tangent Kernel", ICLR 2021; neural-tangents) each block carries its
variance and the bracket is the pre-activation covariance ``Sigma`` itself. With gradients with
respect to the weights as drawn (``"ntk_as_drawn"``, the recursion of the Tensor Programs code,
Yang 2020) the bracket is ``d Sigma / d(var_w, var_u, var_b)`` and ``var_v`` enters through ``Pi``
only. ``Pi`` and ``K`` are the same in both.

Gaussian expectations. ``phi = erf(a z)`` (``a = 1`` for the plain ``erf``, ``a = sqrt(pi) / 2``
for ``erf_unit``) and ``phi = relu`` have closed forms (``s11, s22`` variances, ``s12``
covariance)::

    erf:  K  = (2/pi) arcsin(2 a^2 s12 / sqrt((1 + 2 a^2 s11)(1 + 2 a^2 s22)))
          K' = (4 a^2 / pi) / sqrt((1 + 2 a^2 s11)(1 + 2 a^2 s22) - 4 a^4 s12^2)
    relu: K  = sqrt(s11 s22) (sin th + (pi - th) cos th) / (2 pi),   cos th = s12 / sqrt(s11 s22)
          K' = (pi - th) / (2 pi)                                       (arc-cosine kernels)

``tanh`` (and any activation with ``method="quadrature"``) uses a tensor Gauss-Hermite rule with
``m`` nodes per dimension: ``(u, u') = R (z1, z2)``, ``z1, z2`` independent standard normals,
``R`` the symmetric square root of the 2 x 2 covariance (exactly symmetric in the two arguments,
and about 10x more accurate than the Cholesky factor). ``tanh`` has poles at ``+-i pi / 2``, at
distance ``~ pi / (2 sqrt(s))`` from the real ``z`` axes for variances ``s``, so the rule
converges like ``exp(-c sqrt(m / s))``. Measured worst-case relative errors of ``E[phi' phi']``
over ``rho`` in ``{0, .6, .95, 1}`` and variances ``(s, 0.7 s)``, against a 1500-node rule
(``E[phi phi]`` is at least 100x more accurate)::

    s \ m     64      128     256     512
    1       4e-9    2e-13   3e-16
    2       3e-6    2e-9    1e-13
    4       3e-4    2e-6    2e-9    7e-14
    8       7e-3    2e-4    2e-6    1e-9
    16      7e-2    6e-3    2e-4    2e-6

i.e. about ``130 exp(-3.2 sqrt(m / s))``. The default ``nodes=None`` takes ``m = 64 s_max``
(at least 32, rounded up to a multiple of 8; a few 1e-9), where
``s_max = var_w + var_u max_t |x^t|^2 / d + var_b`` bounds every variance (``tanh^2 <= 1``),
capped at 1024 nodes with a warning (``s_max > 16``). The cost is ``2 m^2`` evaluations per pair
of steps and sequences. The test suite checks the rule against adaptive integration
(`scipy.integrate`).
"""

from __future__ import annotations

import functools
import math
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, check_positive_int, require
from ..diagonal.network import ERF_UNIT_SCALE
from ..gaussian import erf_expectations, relu_expectations
from .network import POOLS, check_choice, check_sequences, check_variance, get_elman_activation

Array = jax.Array

CLOSED_FORMS = ("erf", "erf_unit", "relu")
LIMIT_PARAMS = ("ntk", "ntk_as_drawn")  # the mean-field scaling has no deterministic NTK limit
METHODS = ("auto", "closed_form", "quadrature")
NODES_PER_VARIANCE = 64  # Gauss-Hermite nodes per unit of the largest variance (docstring table)
MAX_AUTO_NODES = 1024


# --------------------------------------------------------------------------- Gaussian expectations


@functools.lru_cache(maxsize=32)
def hermite_rule(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights for ``E[g(z)]``, ``z ~ N(0, 1)`` (Golub-Welsch; stable for
    large ``m``, where `numpy.polynomial.hermite_e.hermegauss` overflows)."""
    k = np.sqrt(np.arange(1, m, dtype=np.float64))
    z, V = np.linalg.eigh(np.diag(k, 1) + np.diag(k, -1))
    w = V[0] ** 2
    return z, w / w.sum()


def quadrature_expectations(fn, s11, s22, s12, z, w):
    """``(E[phi phi], E[phi' phi'])`` by the tensor Gauss-Hermite rule ``(z, w)`` (``m x m`` nodes).

    The pair is ``(u, u') = R (z1, z2)`` with ``R`` the symmetric square root of the covariance,
    so swapping the two arguments swaps ``z1`` and ``z2``: the rule is exactly symmetric (a kernel
    matrix comes out symmetric), and it is more accurate than the Cholesky factor (about 10x for
    ``tanh``). A scan over the ``m`` nodes in ``z1`` keeps memory at ``m`` times the batch.
    """
    det = jnp.sqrt(jnp.maximum(s11 * s22 - s12 * s12, 0.0))
    tr = jnp.sqrt(s11 + s22 + 2.0 * det)
    pos = tr > 0
    inv = jnp.where(pos, 1.0 / jnp.where(pos, tr, 1.0), 0.0)
    r11, r12, r22 = ((s11 + det) * inv)[..., None], (s12 * inv)[..., None], ((s22 + det) * inv)[..., None]
    zz = z[(None,) * s12.ndim]

    def body(acc, zw):
        z1, w1 = zw
        fu, dfu = fn(r11 * z1 + r12 * zz)
        fv, dfv = fn(r12 * z1 + r22 * zz)
        return (acc[0] + w1 * ((fu * fv) @ w), acc[1] + w1 * ((dfu * dfv) @ w)), None

    zero = jnp.zeros(s12.shape, s12.dtype)
    (K, Kd), _ = jax.lax.scan(body, (zero, zero), (z, w))
    return K, Kd


def _expectations(activation: str, method: str):
    if method != "quadrature" and activation in ("erf", "erf_unit"):
        a = 1.0 if activation == "erf" else ERF_UNIT_SCALE
        return lambda s11, s22, s12, z, w: erf_expectations(s11, s22, s12, scale=a)
    if method != "quadrature" and activation == "relu":
        return lambda s11, s22, s12, z, w: relu_expectations(s11, s22, s12)
    return partial(quadrature_expectations, get_elman_activation(activation))


# --------------------------------------------------------------------------- the recursion


@partial(jax.jit, static_argnames=("pool", "activation", "method", "param"))
def _limit_ntk(xs, var_w, var_u, var_b, var_v, z, w, pool, activation, method, param="ntk"):
    E = _expectations(activation, method)
    B, T, d = xs.shape
    X = jnp.einsum("ptk,qsk->tspq", xs, xs) / d  # [T, T, B, B]: X[t, t', p, q]
    xx = jnp.einsum("ptk,ptk->tp", xs, xs) / d  # [T, B]

    # diagonal variances q^t_p = Sigma^{t,t}(x_p, x_p)
    def var_step(k_prev, xx_t):
        q = var_w * k_prev + var_u * xx_t + var_b
        return E(q, q, q, z, w)[0], q

    _, q = jax.lax.scan(var_step, jnp.zeros((B,), xs.dtype), xx)  # [T, B]
    q_row = q[:, None, :]  # [T', 1, B]: Sigma^{t',t'}(x_q, x_q) in the columns

    # forward: rows t = 1..T; carry K^{t-1, 0..T-1} (column 0 is K^{., 0} = 0). A sequence's
    # covariance with itself at the same step is its variance q: set exactly, so that the pair is
    # exactly degenerate (relu's E[phi' phi'] has a square-root singularity there, which turns a
    # rounding difference of 1e-16 between the two into 1e-9)
    same = jnp.eye(T, dtype=bool)[:, :, None, None] & jnp.eye(B, dtype=bool)[None, None]  # [T, T', B, B]

    def row(k_prev, inp):
        X_t, q_t, same_t = inp  # [T', B, B], [B], [T', B, B]
        sigma = var_w * k_prev + var_u * X_t + var_b
        sigma = jnp.where(same_t, q_t[None, :, None], sigma)
        K, Kd = E(jnp.broadcast_to(q_t[None, :, None], sigma.shape), jnp.broadcast_to(q_row, sigma.shape), sigma, z, w)
        return jnp.concatenate([jnp.zeros_like(K[:1]), K[:-1]]), (K, Kd)

    _, (K, Kd) = jax.lax.scan(row, jnp.zeros((T, B, B), xs.dtype), (X, q, same))  # [T, T', B, B]

    # backward: rows t = T..1; carry Pi^{t+1, 2..T+1} (the last is Pi^{., T+1} = 0)
    if pool == "last":
        inj = jnp.zeros((T, T), xs.dtype).at[T - 1, T - 1].set(var_v)
    else:
        inj = jnp.full((T, T), var_v / (T * T), xs.dtype)

    def back(pi_next, inp):
        Kd_t, inj_t = inp
        pi = Kd_t * (inj_t[:, None, None] + var_w * pi_next)
        return jnp.concatenate([pi[1:], jnp.zeros_like(pi[:1])]), pi

    _, Pi = jax.lax.scan(back, jnp.zeros((T, B, B), xs.dtype), (Kd, inj), reverse=True)

    K_shift = jnp.pad(K[:-1, :-1], ((1, 0), (1, 0), (0, 0), (0, 0)))  # K^{t-1, t'-1}
    K_v = K[-1, -1] if pool == "last" else jnp.mean(K, axis=(0, 1))
    if param == "ntk":  # trained standard normals: each block carries its variance
        return jnp.sum(Pi * (var_w * K_shift + var_u * X + var_b), axis=(0, 1)) + var_v * K_v
    return jnp.sum(Pi * (K_shift + X + 1.0), axis=(0, 1)) + K_v


def variance_bound(xs: np.ndarray, var_w: float, var_u: float, var_b: float, activation: str) -> float:
    """An upper bound ``s_max`` on every variance ``Sigma^{t,t}(x_p, x_p)``: ``sup phi^2 = 1`` for
    ``erf`` and ``tanh``; the exact diagonal recursion ``q^t = var_w q^{t-1} / 2 + ...`` for ``relu``."""
    xx = np.sum(xs * xs, axis=-1) / xs.shape[-1]  # [B, T]
    if activation != "relu":
        return var_w + var_u * float(np.max(xx)) + var_b
    q = np.zeros(xx.shape[0])
    s_max = 0.0
    for t in range(xx.shape[1]):
        q = var_w * q / 2.0 + var_u * xx[:, t] + var_b
        s_max = max(s_max, float(np.max(q)))
    return s_max


def auto_nodes(xs: np.ndarray, var_w: float, var_u: float, var_b: float, activation: str = "tanh") -> int:
    """Gauss-Hermite nodes per dimension: ``64 s_max`` (the ``tanh`` rule of the module docstring;
    conservative for ``erf``; ``relu``'s kink limits any Gauss rule to algebraic convergence)."""
    s_max = variance_bound(xs, var_w, var_u, var_b, activation)
    m = max(32, 8 * math.ceil(NODES_PER_VARIANCE * s_max / 8))
    if m > MAX_AUTO_NODES:
        err = 130.0 * math.exp(-3.2 * math.sqrt(MAX_AUTO_NODES / s_max))
        warnings.warn(
            f"elman_limit_ntk: variances up to {s_max:.3g} would need {m} Gauss-Hermite nodes per dimension; "
            f"using {MAX_AUTO_NODES} (estimated relative error {err:.1e}); pass nodes= to choose",
            stacklevel=3,
        )
        m = MAX_AUTO_NODES
    return m


#: largest estimated relative error of the erf closed form's ``K'`` accepted (module docstring)
ERF_MAX_ERROR = 1e-3


def _check_input_scale(xs: np.ndarray, vw, vu, vb, activation: str, quad: bool, dtype) -> None:
    """Refuse inputs whose pre-activation variances overflow in ``dtype`` or, for the closed form of
    ``erf``, lose its precision: ``K' ~ 1 / sqrt(d11 d22 - c^2 s12^2)`` subtracts two numbers of size
    ``(c s)^2`` to get one of size ``1 + 2 c s``, a relative error of about ``eps c s / 2``."""
    fi = np.finfo(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        x2 = float(np.max(np.sum(xs * xs, axis=-1)))
        s_max = variance_bound(xs, vw, vu, vb, activation)
        c = 2.0 * (ERF_UNIT_SCALE**2 if activation == "erf_unit" else 1.0)  # 2 a^2 of the closed form
        product = float(np.square(np.float64(1.0 + c * s_max)))  # products of two variances (inf if too big)
    remedy = "standardise the inputs (or lower var_u)"
    if not (math.isfinite(x2) and x2 < float(fi.max) and math.isfinite(product) and product < float(fi.max) / 16):
        raise ConfigError(
            f"xs holds inputs up to |x| = {math.sqrt(x2) if math.isfinite(x2) else float('inf'):.3g}: the "
            f"pre-activation variances (up to {s_max:.3g}) and their products overflow {dtype.name} (largest "
            f"{float(fi.max):.3g}); {remedy}"
        )
    err = float(fi.eps) * (1.0 + c * s_max) / 2.0
    if activation in ("erf", "erf_unit") and not quad and err > ERF_MAX_ERROR:
        raise ConfigError(
            f"xs holds inputs up to |x| = {math.sqrt(x2):.3g}: the pre-activation variances (up to {s_max:.3g}) "
            f"leave the erf closed form a relative error of about {err:.1g} in {dtype.name} (at most "
            f"{ERF_MAX_ERROR:g} accepted); {remedy}" + ("" if fi.bits == 64 else ", or enable float64 (jax_enable_x64)")
        )


def elman_limit_ntk(
    xs,
    *,
    var_w: float,
    var_u: float,
    var_b: float,
    var_v: float,
    pool: str = "last",
    activation: str = "erf",
    method: str = "auto",
    nodes: int | None = None,
    param: str = "ntk",
) -> Array:
    """The infinite-width NTK ``Theta(x_p, x_q)`` of the Elman network in NTK scaling.

    The recursion of the module docstring over all pairs of steps: ``O(B^2 T^2)`` Gaussian
    expectations (each ``m^2`` function evaluations with quadrature).

    Arguments:
        xs: ``[B, T, d]`` equal-length sequences, each read from zero state.
        var_w, var_u, var_b, var_v: the initial variances, as in `elman_init`.
        pool: ``"last"`` or ``"mean"``.
        activation: ``"erf"`` (plain), ``"erf_unit"`` and ``"relu"`` (closed forms) or ``"tanh"``
            (Gauss-Hermite).
        method: ``"auto"`` (closed form where there is one), ``"closed_form"`` (erf, erf_unit and
            relu only) or ``"quadrature"`` (Gauss-Hermite for any activation; a check of the closed
            forms).
        nodes: Gauss-Hermite nodes per dimension (``None``: chosen from the largest variance for a
            relative error of a few 1e-9, see the module docstring).
        param: ``"ntk"`` (trained standard normals: each block carries its variance, the
            literature's NTK parameterisation) or ``"ntk_as_drawn"`` (gradients with respect to the
            weights as drawn); the limit of `rnnntk.elman.elman_empirical_ntk` for parameters drawn
            by `rnnntk.elman.elman_init` with the same ``param``.

    Returns:
        ``[B, B]`` symmetric positive semi-definite kernel matrix.

    Example:
        >>> xs = jax.random.normal(jax.random.key(1), (4, 6, 2))
        >>> elman_limit_ntk(xs, var_w=1.0, var_u=1.0, var_b=0.1, var_v=1.0, pool="mean").shape
        (4, 4)
    """
    xs = check_sequences(xs)
    vw, vu, vb, vv = (
        check_variance(v, f) for v, f in ((var_w, "var_w"), (var_u, "var_u"), (var_b, "var_b"), (var_v, "var_v"))
    )
    check_choice(pool, "pool", POOLS)
    get_elman_activation(activation)
    check_choice(method, "method", METHODS)
    require(
        method != "closed_form" or activation in CLOSED_FORMS,
        "method",
        method,
        f'"auto" or "quadrature" for activation={activation} (closed forms exist for {", ".join(CLOSED_FORMS)})',
    )
    require(
        param in LIMIT_PARAMS,
        "param",
        param,
        'one of "ntk", "ntk_as_drawn" (the mean-field scaling has no deterministic NTK limit)',
    )
    quad = method == "quadrature" or activation not in CLOSED_FORMS
    _check_input_scale(np.asarray(xs, np.float64), vw, vu, vb, activation, quad, jnp.dtype(xs.dtype))
    if quad:
        m = (
            check_positive_int(nodes, "nodes")
            if nodes is not None
            else auto_nodes(np.asarray(xs), vw, vu, vb, activation)
        )
        z, w = hermite_rule(m)
    else:
        z, w = np.zeros(1), np.ones(1)  # unused
    dt = xs.dtype
    return _limit_ntk(
        xs,
        *(jnp.asarray(v, dt) for v in (vw, vu, vb, vv)),
        jnp.asarray(z, dt),
        jnp.asarray(w, dt),
        pool,
        activation,
        method,
        param,
    )

"""The Elman network with a full recurrent matrix, in two parameterisations, and its empirical NTK.

Width ``n``, inputs ``x^1..x^T`` in ``R^d``, activation ``phi``, parameters ``W [n, n]``,
``U [d, n]``, ``b [n]``, ``v [n]``::

    h^1     = U^T x^1 / sqrt(d) + b
    s^t     = phi(h^t)
    h^{t+1} = a_n W^T s^t + U^T x^{t+1} / sqrt(d) + b
    f(x)    = a_n v^T s^T                          (pool="last")
    f(x)    = a_n v^T (1/T) sum_t s^t              (pool="mean")

with all entries drawn independently, ``W ~ N(0, var_w)``, ``U ~ N(0, var_u)``, ``b ~ N(0, var_b)``,
``v ~ N(0, var_v)``, and the width scaling ``a_n`` and the trained variables fixed by the
parameterisation:

- ``param="ntk"``: ``a_n = n^{-1/2}``, and the trained variables are standard normals: each weight
  is ``sigma * omega / sqrt(fan_in)`` with ``omega ~ N(0, 1)`` (``W = sqrt(var_w) omega_W``, and so
  on), the NTK parameterisation of neural-tangents (``stax.Dense(..., parameterization="ntk")``)
  and of Alemohammad, Wang, Balestriero, Baraniuk, "The Recurrent Neural Tangent Kernel", ICLR
  2021. The neural tangent kernel is ``sum over (omega_W, omega_U, omega_b, omega_v) of
  grad f(x) . grad f(x')``, so each parameter block carries its variance:
  ``var_w grad_W f . grad_W f' + var_u ... + var_b ... + var_v ...``. It converges as
  ``n -> infinity`` to the deterministic kernel of `rnnntk.elman.limit.elman_limit_ntk` and
  training is linear around the initialisation. The stored parameters are the weights as drawn
  (``W``, not ``omega_W``); `elman_init` keeps the four variances in the parameters
  (``ElmanParams.variances``) so that `elman_empirical_ntk` can scale the blocks.
- ``param="ntk_as_drawn"``: the same network (``a_n = n^{-1/2}``), with gradients taken with
  respect to the weights as drawn (``W``, not ``W / sqrt(var_w)``), so a variance does not
  multiply its own parameter's block of the kernel. This is the convention of the Tensor
  Programs code (Yang, "Tensor Programs II", 2020, its ``rnnntk_batch``) and was this project's
  ``"ntk"`` before.
- ``param="mean_field"``: ``a_n = n^{-1}``, i.e. ``h^{t+1}_j = (1/n) sum_i W_{ij} s^t_i + ...``
  and ``f = (1/n) sum_i v_i s^T_i``: the mean-field Elman network ("Global optimality of Elman-type
  RNNs in the mean-field regime"). Parameters must move ``O(1)`` for the output to change, so the
  learning rates of a trainer are scaled accordingly; at a centred initialisation the recurrent
  term and the output are ``O(n^{-1/2})``. That paper's network has no bias (``var_b = 0`` with
  ``b`` kept frozen) and reads ``U^i . x`` without the ``1/sqrt(d)`` (a constant rescaling of ``U``).

The recurrent term is written ``W^T s`` (``W_{ij}`` connects unit ``i`` at step ``t`` to unit
``j`` at ``t + 1``); since the entries are i.i.d. this is only a naming convention. The forward
pass is the same for ``"ntk"`` and ``"ntk_as_drawn"``; they differ in the kernel only. `jax.grad`
of `elman_apply` is always the gradient with respect to the stored weights as drawn (the
mean-field trainer's convention).

Activations (``ELMAN_ACTIVATIONS``): ``"erf"`` is the plain error function ``erf(z)`` (as in
`jax.scipy.special.erf` and neural-tangents' ``stax.Erf()``), ``"erf_unit"`` is
``erf(sqrt(pi) z / 2)`` (slope one at zero, like ``tanh``), ``"tanh"``, ``"relu"``.

The empirical NTK is computed in closed form from one forward and one backward pass over the
batch: the forward pass stores the states ``s^t`` and ``phi'(h^t)``, the backward pass the
derivatives ``Delta^t = df/dh^t = phi'(h^t) (a_n v g_t + a_n W Delta^{t+1})`` (``g_t = [t = T]``
for ``pool="last"``, ``1/T`` for ``"mean"``), each step one ``[n, n] x [n, B]`` product on
one column per sequence (the pools of `elman_empirical_ntks` share them, ``2 B`` columns; the
forward pass reads ``W^T``, laid out once). Every block of the kernel is then
a sum over time pairs of Gram matrices: ``grad_U f = sum_t x^t (Delta^t)^T / sqrt(d)`` gives
``(1/d) sum_{t,t'} <x^t, x'^{t'}> <Delta^t, Delta'^{t'}>``, ``grad_b f = sum_t Delta^t`` gives
``sum_{t,t'} <Delta^t, Delta'^{t'}>``, ``grad_v f = a_n`` (pooled states), and the recurrent
matrix, used at every step, has ``grad_W f = a_n sum_t s^t (Delta^{t+1})^T`` (chain rule through
the linear map), so its part is ``a_n^2 sum_{t,t'} <s^t, s'^{t'}> <Delta^{t+1}, Delta'^{t'+1}>``;
the ``n x n`` gradient is never formed. Memory is ``O(B T n + B^2 T^2)``; time
``O(B T n^2 + B^2 T^2 n)``, at large ``n`` the ``2 (T - 1)`` passes over ``W`` (``W`` is 512 MiB
at ``n = 8192`` in float64, and ``2 B`` or ``4 B`` flops per element of ``W`` read make them
bound by the float64 multiply-add rate, not by memory, on a CPU), as for any exact method.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, check_finite_array, check_positive_int, require
from ..diagonal.network import ACTIVATIONS

Array = jax.Array

PARAMS = ("ntk", "ntk_as_drawn", "mean_field")
POOLS = ("last", "mean")

#: ``z -> (phi(z), phi'(z))``, the project's activations of the same name (`rnnntk.diagonal.network`):
#: ``erf`` is the plain error function, ``erf_unit`` is ``erf(sqrt(pi) z / 2)``.
ELMAN_ACTIVATIONS: dict[str, Callable[[Array], tuple[Array, Array]]] = {
    name: ACTIVATIONS[name].fn for name in ("erf", "erf_unit", "tanh", "relu")
}


class ElmanParams(eqx.Module):
    """Parameters of a width-``n`` Elman network with input dimension ``d``.

    ``param`` (static: part of the tree structure, not a traced leaf) selects the width scaling
    ``a_n`` (``"ntk"``, ``"ntk_as_drawn"``: ``n^{-1/2}``; ``"mean_field"``: ``n^{-1}``) and the
    gradient convention of the kernel; see the module docstring. ``variances`` (static) holds
    ``(var_w, var_u, var_b, var_v)`` for ``param="ntk"``, whose kernel scales each block by its
    variance (`elman_init` fills it; ``None`` for the other parameterisations).
    """

    W: Array  # [n, n] recurrent weights, h^{t+1} = a_n W^T s^t + ...
    U: Array  # [d, n] input weights
    b: Array  # [n]    biases
    v: Array  # [n]    output weights
    param: str = eqx.field(static=True, default="ntk")
    variances: tuple[float, float, float, float] | None = eqx.field(static=True, default=None)


def width_scale(param: str, n: int) -> float:
    """``a_n``: ``n^{-1/2}`` for ``"ntk"`` and ``"ntk_as_drawn"``, ``n^{-1}`` for ``"mean_field"``."""
    return 1.0 / n if param == "mean_field" else 1.0 / math.sqrt(n)


# --------------------------------------------------------------------------- checks


def check_variance(value, field: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = math.nan
    require(math.isfinite(f) and f >= 0.0 and not isinstance(value, bool), field, value, "a finite number >= 0")
    return f


def check_choice(value, field: str, allowed) -> str:
    require(value in allowed, field, value, "one of " + ", ".join(f'"{a}"' for a in allowed))
    return value


def get_elman_activation(name: str):
    check_choice(name, "activation", tuple(ELMAN_ACTIVATIONS))
    return ELMAN_ACTIVATIONS[name]


def check_sequences(xs, dim: int | None = None, field: str = "xs") -> Array:
    """Check a batch of equal-length sequences ``xs [B, T, d]`` of finite numbers.

    Ragged input (a list of sequences of different lengths or dimensions) and arrays of another
    rank raise `ConfigError`; so do NaN and inf.
    """
    if isinstance(xs, (list, tuple)):
        shapes = [tuple(np.shape(x)) for x in xs]
        if len(set(shapes)) > 1:
            lengths = [s[0] if s else None for s in shapes]
            raise ConfigError(
                f"{field} is ragged: its sequences have shapes {shapes} (lengths T = {lengths}); expected one "
                "[B, T, d] array of sequences of equal length T and dimension d (pad or bucket them by length)"
            )
    try:
        arr = jnp.asarray(xs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{field} is not an array of numbers ({e}); expected a [B, T, d] array") from None
    if arr.ndim != 3:
        hint = " (one sequence [T, d]: pass xs[None])" if arr.ndim == 2 else ""
        raise ConfigError(f"{field} has shape {tuple(arr.shape)}: expected [B, T, d]{hint}")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.zeros(()).dtype)
    B, T, d = arr.shape
    require(B >= 1 and T >= 1 and d >= 1, f"{field}.shape", tuple(arr.shape), "[B, T, d] with B, T, d >= 1")
    if dim is not None and d != dim:
        raise ConfigError(f"{field} has input dimension d = {d} but params.U has d = {dim}")
    check_finite_array(arr, field)
    return arr


def check_elman_params(params: ElmanParams) -> tuple[int, int]:
    """Return ``(n, d)`` after checking the shapes ``W [n, n]``, ``U [d, n]``, ``b [n]``, ``v [n]``."""
    if not isinstance(params, ElmanParams):
        raise ConfigError(f"params is a {type(params).__name__}: expected ElmanParams (from elman_init)")
    W, U, b, v = (tuple(jnp.shape(a)) for a in (params.W, params.U, params.b, params.v))
    ok = len(W) == 2 and len(U) == 2 and len(b) == 1 and len(v) == 1 and W[0] == W[1] == U[1] == b[0] == v[0]
    if not ok:
        raise ConfigError(
            f"params shapes W{W}, U{U}, b{b}, v{v} do not match: expected W [n, n], U [d, n], b [n], v [n]"
        )
    check_choice(params.param, "params.param", PARAMS)
    if params.param == "ntk":
        var = params.variances
        ok = var is not None and len(var) == 4 and all(math.isfinite(float(x)) and float(x) >= 0 for x in var)
        if not ok:
            raise ConfigError(
                f"params.variances = {var!r} is not allowed for params.param = 'ntk': expected the four "
                "initial variances (var_w, var_u, var_b, var_v) >= 0, which scale the kernel's blocks "
                "(draw the parameters with elman_init, or use param='ntk_as_drawn' for gradients with "
                "respect to the weights as drawn)"
            )
    return W[0], U[0]


# --------------------------------------------------------------------------- initialisation


def elman_init(
    key: Array,
    width: int,
    dim: int,
    *,
    var_w: float,
    var_u: float,
    var_b: float,
    var_v: float,
    param: str = "ntk",
    dtype=None,
) -> ElmanParams:
    """Draw the parameters of a width-``n`` Elman network, all entries independent Gaussians.

    Arguments:
        key: a PRNG key.
        width: the number of hidden units ``n``.
        dim: the input dimension ``d``.
        var_w, var_u, var_b, var_v: variances of the entries of ``W``, ``U``, ``b``, ``v``
            (``>= 0``; zero gives a zero parameter).
        param: ``"ntk"`` (``a_n = n^{-1/2}``, trained standard normals: each kernel block
            carries its variance), ``"ntk_as_drawn"`` (``a_n = n^{-1/2}``, gradients with respect
            to the weights as drawn) or ``"mean_field"`` (``a_n = n^{-1}``); see the module
            docstring. Stored in the returned parameters (with the variances for ``"ntk"``).
        dtype: floating dtype (default: JAX's default float).

    Returns:
        `ElmanParams` with ``W [n, n]``, ``U [d, n]``, ``b [n]``, ``v [n]``.

    Example:
        >>> p = elman_init(jax.random.key(0), 256, 3, var_w=1.0, var_u=1.0, var_b=0.1, var_v=1.0)
        >>> p.W.shape, p.U.shape, p.param
        ((256, 256), (3, 256), 'ntk')
    """
    n = check_positive_int(width, "width")
    d = check_positive_int(dim, "dim")
    var = tuple(
        check_variance(v, f) for v, f in ((var_w, "var_w"), (var_u, "var_u"), (var_b, "var_b"), (var_v, "var_v"))
    )
    sd = [math.sqrt(v) for v in var]
    check_choice(param, "param", PARAMS)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    W, U, b, v = _draw(key, jnp.asarray(sd, dtype), n, d, dtype)
    variances = var if param == "ntk" else None
    return ElmanParams(W=W, U=U, b=b, v=v, param=param, variances=variances)


@partial(jax.jit, static_argnames=("n", "d", "dtype"))
def _draw(key, sd, n, d, dtype):
    kw, ku, kb, kv = jax.random.split(key, 4)
    return (
        sd[0] * _normal(kw, (n, n), dtype),
        sd[1] * _normal(ku, (d, n), dtype),
        sd[2] * _normal(kb, (n,), dtype),
        sd[3] * _normal(kv, (n,), dtype),
    )


def _rotate_left(x, r: int):
    return jax.lax.shift_left(x, np.uint32(r)) | jax.lax.shift_right_logical(x, np.uint32(32 - r))


def _threefry2x32(k1, k2, x0, x1):
    """The Threefry-2x32 hash (20 rounds) of the counters ``(x0, x1)`` under the key ``(k1, k2)``,
    as JAX computes it, written out so that XLA fuses the rounds into one pass over the array (JAX's
    CPU lowering loops over the rounds, each a pass over memory)."""
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in rotations[i % 2]:
            x0 = x0 + x1
            x1 = x0 ^ _rotate_left(x1, r)
        x0, x1 = x0 + ks[(i + 1) % 3], x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _normal(key, shape, dtype):
    """``jax.random.normal(key, shape, dtype)``, the same numbers bit for bit, 1.15 to 1.3 times as
    fast on a CPU for float32 and float64 with JAX's default partitionable Threefry keys (the
    counters, the 20 rounds in one fused pass, then JAX's own uniform and ``erf_inv`` transform);
    any other key, dtype or configuration is passed to ``jax.random.normal``. tests/test_elman.py
    checks the equality."""
    size = math.prod(shape)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    impl = str(jax.random.key_impl(key)) if typed else jax.config.jax_default_prng_impl
    fast = (
        jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))
        and jax.config.jax_threefry_partitionable
        and impl == "threefry2x32"
        and key.shape == (() if typed else (2,))
        and (typed or key.dtype == jnp.uint32)
        and size < 2**32
    )
    if not fast:
        return jax.random.normal(key, shape, dtype)
    k1, k2 = jax.random.key_data(key) if typed else key
    lo = jax.lax.iota(np.uint32, size).reshape(shape)  # the flat index; its high word is zero
    b1, b2 = _threefry2x32(k1, k2, jnp.zeros_like(lo), lo)
    dtype = np.dtype(dtype)
    nbits, nmant = np.finfo(dtype).bits, np.finfo(dtype).nmant
    if nbits == 64:
        uint = np.dtype(np.uint64)
        bits = jax.lax.shift_left(b1.astype(uint), uint.type(32)) | b2.astype(uint)
    else:
        uint = np.dtype(np.uint32)
        bits = b1 ^ b2
    # jax.random.uniform on [nextafter(-1, 0), 1), then sqrt(2) erf^{-1}
    lo_u = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    hi_u = np.array(1.0, dtype)
    mantissa = jax.lax.shift_right_logical(bits, uint.type(nbits - nmant)) | np.array(1.0, dtype).view(uint)
    u = jax.lax.bitcast_convert_type(mantissa, dtype) - np.array(1.0, dtype)
    u = jax.lax.max(lo_u, u * (hi_u - lo_u) + lo_u)
    return jax.lax.mul(np.array(np.sqrt(2), dtype), jax.lax.erf_inv(u))


# --------------------------------------------------------------------------- forward pass


def _states(W, U, b, x, eps, a, phi):
    """States ``s^1..s^T [T, n]`` of one sequence ``x [T, d]``; ``eps [T, n]`` is added to ``h^t``
    (zero: its cotangent is ``df/dh^t``). ``s^0 = 0`` makes step 1 the same map as the others."""
    inp = x @ U / jnp.sqrt(jnp.asarray(x.shape[1], x.dtype)) + b[None, :] + eps

    def body(s, u):
        s = phi(a * (s @ W) + u)[0]
        return s, s

    _, S = jax.lax.scan(body, jnp.zeros_like(b), inp)
    return S


def _readout(S, v, a, pool):
    pooled = S[-1] if pool == "last" else jnp.mean(S, axis=0)
    return a * (pooled @ v)


def _output(params: ElmanParams, x, pool, phi):
    n = params.b.shape[0]
    a = width_scale(params.param, n)
    S = _states(params.W, params.U, params.b, x, jnp.zeros((x.shape[0], n), x.dtype), a, phi)
    return _readout(S, params.v, a, pool)


@partial(jax.jit, static_argnames=("pool", "activation"))
def _apply(params, xs, pool, activation):
    phi = ELMAN_ACTIVATIONS[activation]
    return jax.vmap(lambda x: _output(params, x, pool, phi))(xs)


def elman_apply(params: ElmanParams, xs, *, pool: str = "last", activation: str = "erf") -> Array:
    """The network's outputs ``f(x_p)`` for a batch of sequences, each read from zero state.

    Arguments:
        params: `ElmanParams` (its ``param`` selects the scaling).
        xs: ``[B, T, d]`` equal-length sequences.
        pool: ``"last"`` (read out ``s^T``) or ``"mean"`` (read out ``(1/T) sum_t s^t``).
        activation: ``"erf"``, ``"erf_unit"``, ``"relu"`` or ``"tanh"``.

    Returns:
        ``[B]`` outputs.
    """
    _, d = check_elman_params(params)
    xs = check_sequences(xs, d).astype(params.W.dtype)
    check_choice(pool, "pool", POOLS)
    get_elman_activation(activation)
    return _apply(params, xs, pool, activation)


# --------------------------------------------------------------------------- empirical NTK


def _forward(W, U, b, xs, a, phi):
    """States ``S [T, n, B]`` and derivatives ``phi'(h) [T, n, B]`` of a batch ``xs [B, T, d]``,
    time-major and one column per sequence: each step is one ``[n, n] x [n, B]`` product
    ``h^{t+1} = a W^T s^t + ...`` with ``W^T`` laid out once: XLA's CPU dot runs ``M @ X`` (the
    contraction over ``M``'s contiguous rows) 1.5 to 2 times as fast as ``X @ M`` or ``M^T @ X``
    for ``X`` of a few dozen columns (scripts/bench_kernels.py), which pays for the transpose."""
    inp = jnp.einsum("btd,dn->tnb", xs, U) / jnp.sqrt(jnp.asarray(xs.shape[2], xs.dtype)) + b[None, :, None]
    Wt = jax.lax.optimization_barrier(W.T)  # the barrier keeps XLA from folding the transpose into the dot

    def body(s, u):
        s, ds = phi(a * (Wt @ s) + u)
        return s, (s, ds)

    s1, ds1 = phi(inp[0])  # s^0 = 0: the first step has no recurrent product
    _, (S, dS) = jax.lax.scan(body, s1, inp[1:])
    return jnp.concatenate([s1[None], S]), jnp.concatenate([ds1[None], dS])


def _backward(W, v, dS, a, pools):
    """``Delta^t = df/dh^t [T, n, len(pools) B]`` (one column per sequence and pool) for each
    pool's readout, from the last step back: ``Delta^t = phi'(h^t) (a v g_t + a W Delta^{t+1})``
    with ``g_t = [t = T]`` (``"last"``) or ``1 / T`` (``"mean"``); all pools share each
    ``[n, n] x [n, .]`` product."""
    T, _, B = dS.shape
    dS2 = jnp.concatenate([dS] * len(pools), axis=2)  # [T, n, P B]
    last = (jnp.arange(T) == T - 1).astype(dS.dtype)
    g = jnp.stack([jnp.full((T,), 1.0 / T, dS.dtype) if p == "mean" else last for p in pools], axis=1)  # [T, P]
    g = jnp.repeat(g, B, axis=1)  # [T, P B]

    def body(d_next, step):
        ds, gt = step
        d = ds * (a * v[:, None] * gt[None, :] + a * (W @ d_next))
        return d, d

    dT = dS2[-1] * (a * v[:, None] * g[-1][None, :])  # the last step has no successor
    _, D = jax.lax.scan(body, dT, (dS2[:-1], g[:-1]), reverse=True)
    return jnp.concatenate([D, dT[None]])


@partial(jax.jit, static_argnames=("pools", "activation"))
def _empirical_ntks(params, xs, pools, activation):
    """``[len(pools), B, B]``: the empirical NTK for each pool from one forward pass and one
    backward pass shared by the pools (module docstring)."""
    phi = ELMAN_ACTIVATIONS[activation]
    B, T, d = xs.shape
    n = params.b.shape[0]
    a = width_scale(params.param, n)
    cw, cu, cb, cv = params.variances if params.param == "ntk" else (1.0, 1.0, 1.0, 1.0)
    S, dS = _forward(params.W, params.U, params.b, xs, a, phi)  # [T, n, B]
    D = _backward(params.W, params.v, dS, a, pools)  # [T, n, P B]
    Xg = jnp.einsum("ptd,qsd->ptqs", xs, xs) / d  # [B, T, B, T]: x^t . x'^s / d
    Sm = jnp.transpose(S, (2, 0, 1))  # [B, T, n]
    Gs = jnp.einsum("pti,qsi->ptqs", Sm[:, :-1], Sm[:, :-1])  # s^t . s'^s, t, s < T
    out = []
    for i, pool in enumerate(pools):
        Dp = jnp.transpose(D[:, :, i * B : (i + 1) * B], (2, 0, 1))  # [B, T, n]
        Gd = jnp.einsum("pti,qsi->ptqs", Dp, Dp)  # Delta^t . Delta'^s
        pooled = Sm[:, -1] if pool == "last" else jnp.mean(Sm, axis=1)  # [B, n]
        K = cu * jnp.einsum("ptqs,ptqs->pq", Xg, Gd)  # grad_U f = sum_t x^t (Delta^t)^T / sqrt(d)
        K = K + cb * jnp.einsum("ptqs->pq", Gd)  # grad_b f = sum_t Delta^t
        K = K + (cv * a * a) * (pooled @ pooled.T)  # grad_v f = a pooled
        # grad_W f = a sum_{t=1}^{T-1} s^t (Delta^{t+1})^T  (the W^T s^0 term of step 1 is zero)
        out.append(K + (cw * a * a) * jnp.einsum("ptqs,ptqs->pq", Gs, Gd[:, 1:, :, 1:]))
    return jnp.stack(out)


@partial(jax.jit, static_argnames=("pool", "activation"))
def _empirical_ntk(params, xs, pool, activation):
    return _empirical_ntks(params, xs, (pool,), activation)[0]


def elman_empirical_ntk(params: ElmanParams, xs, *, pool: str = "last", activation: str = "erf") -> Array:
    """The empirical NTK ``K_n(x_p, x_q) = sum over the trained variables of grad f(x_p) . grad f(x_q)``.

    Exact derivatives of the unrolled network from one forward and one backward pass over the
    batch, every block a sum of Gram matrices of the per-step states and derivatives (the
    recurrent matrix's ``n x n`` gradient is never formed; module docstring). For both pools,
    `elman_empirical_ntks` shares the passes. The trained variables follow ``params.param``: for
    ``"ntk"`` the standard normals ``omega`` (each block of ``W, U, b, v`` scaled by its variance
    ``params.variances``), for ``"ntk_as_drawn"`` and ``"mean_field"`` the weights as drawn. For
    ``"ntk"`` and ``"ntk_as_drawn"`` this converges to `elman_limit_ntk` with the same ``param`` as
    the width grows, with fluctuations of order ``n^{-1/2}``.

    Arguments:
        params: `ElmanParams` from `elman_init`.
        xs: ``[B, T, d]`` equal-length sequences, each read from zero state.
        pool: ``"last"`` or ``"mean"``.
        activation: ``"erf"``, ``"erf_unit"``, ``"relu"`` or ``"tanh"``.

    Returns:
        ``[B, B]`` symmetric positive semi-definite kernel matrix.

    Example:
        >>> p = elman_init(jax.random.key(0), 512, 2, var_w=1.0, var_u=1.0, var_b=0.1, var_v=1.0)
        >>> xs = jax.random.normal(jax.random.key(1), (4, 6, 2))
        >>> elman_empirical_ntk(p, xs, pool="mean").shape
        (4, 4)
    """
    _, d = check_elman_params(params)
    xs = check_sequences(xs, d).astype(params.W.dtype)
    check_choice(pool, "pool", POOLS)
    get_elman_activation(activation)
    return _empirical_ntk(params, xs, pool, activation)


def elman_empirical_ntks(params: ElmanParams, xs, *, pools: tuple[str, ...] = POOLS, activation: str = "erf") -> Array:
    """`elman_empirical_ntk` for several pools at once: ``[len(pools), B, B]``.

    The pools share the forward pass and every ``[., n] x [n, n]`` product of the backward pass
    (the cost of the kernel at large width), so two pools cost about 1.5 times one.
    """
    _, d = check_elman_params(params)
    xs = check_sequences(xs, d).astype(params.W.dtype)
    pools = tuple(pools) if isinstance(pools, (list, tuple)) else (pools,)
    require(len(pools) >= 1, "pools", pools, "a non-empty sequence of " + ", ".join(f'"{p}"' for p in POOLS))
    for pool in pools:
        check_choice(pool, "pool", POOLS)
    get_elman_activation(activation)
    return _empirical_ntks(params, xs, pools, activation)

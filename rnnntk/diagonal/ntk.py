"""Neural tangent kernels as weighted sums over units: the empirical NTK and its building block.

For a set of units ``u`` with frozen ``(w_u, b_u)``, weights ``omega_u`` and output-weight second
moments ``c2_u``::

    K(xi_p, xi_q) = sum_u omega_u [ S_u(xi_p) S_u(xi_q)
                                    + c2_u (Jw_u(xi_p) . Pw_u(xi_q) + Jb_u(xi_p) Pb_u(xi_q)) ]

i.e. ``sum_u omega_u phi_u(xi_p) . psi_u(xi_q)``. The empirical NTK of a width-``N`` network is
this sum with ``omega = 1/N`` and ``c2 = c^2``; the limit kernel (`rnnntk.diagonal.limit`) is the same sum
over quadrature nodes or Monte Carlo samples of the initial law with ``c2 = E[c^2]``.
Units are processed in chunks (a ``lax.scan``) sized from a memory budget (`MEMORY_BUDGET`,
`plan_blocks`), and each chunk's product is added to the kernel a block of rows at a time, so
memory is the ``[P, Q]`` kernel plus a bounded working set, never ``O(P N d)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .._checks import check_nonnegative_int, check_positive_int, require
from .network import (
    Activation,
    Estimator,
    Features,
    Params,
    bptt_features,
    check_params,
    check_path,
    get_activation,
    memory_step,
    parse_grad,
    unit_features,
)

Array = jax.Array


def weighted_phi(f: Features, omega: Array, c2: Array) -> Array:
    """``[P, U (d + 2)]`` rows ``(omega S, omega c2 Jw, omega c2 Jb)``."""
    P = f.S.shape[0]
    oc = (omega * c2)[None, :]
    return jnp.concatenate([f.S * omega[None, :], (f.Jw * oc[..., None]).reshape(P, -1), f.Jb * oc], axis=1)


def flat_psi(f: Features) -> Array:
    """``[P, U (d + 2)]`` rows ``(S, Pw, Pb)``: ``weighted_phi(fa) @ flat_psi(fb).T`` is the kernel."""
    return jnp.concatenate([f.S, f.Pw.reshape(f.S.shape[0], -1), f.Pb], axis=1)


#: Working memory (bytes) the kernel routines plan for, beyond the ``[P, Q]`` kernel itself: the
#: per-chunk features get all of it, the partial products a quarter. Raise it on a large GPU for
#: fewer, larger chunks; peak memory is about the kernel matrix plus 1.25 times this budget.
MEMORY_BUDGET = 1 << 28


def plan_blocks(
    P: int, Q: int, U: int, *, values: int, width: int, same: bool, itemsize: int, chunk: int, budget: int
) -> tuple[int, int]:
    """Units per chunk and kernel rows per product block for a memory ``budget`` in bytes.

    A chunk of ``u`` units holds ``values`` numbers per unit and history (``d + 2`` features;
    ``2 d + 3`` with the truncated ones of ``tbptt``; 1 for the memory alone) and the ``width``
    numbers per unit of each flattened factor of the product (``d + 2``, or 1), so
    ``itemsize u (P (values + width) + Q (width + values [other path]))`` bytes in all: ``u`` is
    the largest that fits (at least 1, at most ``chunk`` and ``U``). The product of a chunk is added
    to the kernel in blocks of ``rows`` rows so that the partial product ``[rows, Q]`` fits in a
    quarter of the budget.
    """
    per_unit = itemsize * (P * (values + width) + Q * (width + (0 if same else values)))
    units = int(max(1, min(chunk, U, budget // per_unit)))
    rows = int(max(1, min(P, (budget // 4) // (itemsize * max(Q, 1)))))
    return units, rows


def _memory_path(w, b, xs, burn, act):
    """``S [P, U]`` along ``xs`` from zero memory (frozen ``w, b``), histories ending at ``xs[burn:]``."""

    def body(S, x):
        s, _ = memory_step(w, b, S, x, act)
        return s, s

    S, _ = jax.lax.scan(lambda S, x: (body(S, x)[0], None), jnp.zeros_like(b), xs[:burn])
    _, Ss = jax.lax.scan(body, S, xs[burn:])
    return Ss


def _accumulate(K: Array, A: Array, B: Array, rows: int) -> Array:
    """``K + A @ B.T``, the product formed ``rows`` rows at a time (in place in ``K``)."""
    P = A.shape[0]
    if rows >= P:
        return K + A @ B.T
    full = P // rows

    def block(i, K):
        r0 = i * rows
        a = jax.lax.dynamic_slice_in_dim(A, r0, rows, 0)
        k = jax.lax.dynamic_slice_in_dim(K, r0, rows, 0)
        return jax.lax.dynamic_update_slice_in_dim(K, k + a @ B.T, r0, 0)

    K = jax.lax.fori_loop(0, full, block, K)
    if full * rows < P:
        K = K.at[full * rows :].add(A[full * rows :] @ B.T)
    return K


@partial(jax.jit, static_argnames=("burn_a", "burn_b", "est", "act", "chunk", "rows", "same", "memory_only"))
def _kernel_sum(w, b, omega, c2, xs_a, xs_b, burn_a, burn_b, est, act, chunk, rows, same, memory_only):
    U, d = w.shape
    n_chunks = -(-U // chunk)
    pad = n_chunks * chunk - U
    # zero-weight padding units contribute nothing
    w = jnp.concatenate([w, jnp.zeros((pad, d), w.dtype)]).reshape(n_chunks, chunk, d)
    b = jnp.concatenate([b, jnp.zeros((pad,), b.dtype)]).reshape(n_chunks, chunk)
    omega = jnp.concatenate([omega, jnp.zeros((pad,), omega.dtype)]).reshape(n_chunks, chunk)
    c2 = jnp.concatenate([c2, jnp.zeros((pad,), c2.dtype)]).reshape(n_chunks, chunk)
    P = xs_a.shape[0] - burn_a
    Q = xs_b.shape[0] - burn_b

    def body(K, blk):
        wc, bc, om, cc = blk
        if memory_only:
            Sa = _memory_path(wc, bc, xs_a.astype(wc.dtype), burn_a, act)
            Sb = Sa if same else _memory_path(wc, bc, xs_b.astype(wc.dtype), burn_b, act)
            return _accumulate(K, Sa * (om * cc)[None, :], Sb, rows), None
        fa = unit_features(wc, bc, xs_a, burn=burn_a, est=est, act=act)
        fb = fa if same else unit_features(wc, bc, xs_b, burn=burn_b, est=est, act=act)
        return _accumulate(K, weighted_phi(fa, om, cc), flat_psi(fb), rows), None

    K0 = jnp.zeros((P, Q), w.dtype)
    K, _ = jax.lax.scan(body, K0, (w, b, omega, c2))
    return K


def kernel_sum(
    w: Array,
    b: Array,
    omega: Array,
    c2: Array,
    xs_a: Array,
    *,
    burn_a: int,
    xs_b: Array | None = None,
    burn_b: int | None = None,
    est: Estimator,
    act: Activation,
    chunk: int = 2048,
    memory_budget: int | None = None,
    memory_only: bool = False,
) -> Array:
    """``sum_u omega_u phi_u(xi_p) . psi_u(xi_q)`` over histories ending at ``xs_a[burn_a:]``
    (rows) and ``xs_b[burn_b:]`` (columns; default the same path). Returns ``[P, Q]``.

    Units are processed at most ``chunk`` at a time, fewer when their features would exceed
    ``memory_budget`` bytes (default `MEMORY_BUDGET`; see `plan_blocks`), and each chunk's product
    is added in row blocks; the result does not depend on the blocking beyond roundoff. With
    ``memory_only`` only the memory block ``sum_u omega_u c2_u S_u(xi_p) S_u(xi_q)`` is formed.
    """
    same = xs_b is None
    if same:
        xs_b, burn_b = xs_a, burn_a
    P, Q = xs_a.shape[0] - burn_a, xs_b.shape[0] - burn_b
    U, d = w.shape
    if memory_only:
        values, width = 1, 1
    else:
        values, width = (2 * d + 3 if est.kind == "tbptt" else d + 2), d + 2
    units, rows = plan_blocks(
        P,
        Q,
        U,
        values=values,
        width=width,
        same=same,
        itemsize=jnp.dtype(w.dtype).itemsize,
        chunk=int(chunk),
        budget=int(MEMORY_BUDGET if memory_budget is None else memory_budget),
    )
    return _kernel_sum(w, b, omega, c2, xs_a, xs_b, burn_a, burn_b, est, act, units, rows, same, memory_only)


def empirical_ntk(
    params: Params,
    xs,
    *,
    burn: int,
    grad: str = "rtrl",
    activation: str = "tanh",
    chunk: int = 2048,
) -> Array:
    """The empirical NTK ``(1/N) sum_i phi^i(xi_p) . psi^i(xi_q)`` at frozen parameters.

    Arguments:
        params: `Params` of a width-``N`` network.
        xs: a path ``[K, d]``; the histories are those ending at ``xs[burn:]`` (``P = K - burn``),
            each run from zero memory at ``xs[0]``.
        burn: the number of leading steps with no output (memory warm-up).
        grad: ``"rtrl"`` (symmetric kernel), ``"tbptt:<tau>"`` (``psi`` truncated, not
            symmetric) or ``"bptt"`` (reverse-mode reference; equals ``rtrl``).
        chunk: at most this many units are processed at once (memory ``O(P * chunk * d)``); fewer
            when their features would exceed `MEMORY_BUDGET`.

    Returns:
        ``[P, P]`` kernel matrix, rows ``phi``, columns ``psi``.
    """
    n, d = check_params(params)
    xs = check_path(xs, d)
    burn = check_nonnegative_int(burn, "burn")
    require(burn < xs.shape[0], "burn", burn, f"an integer in [0, {xs.shape[0]}) (len(xs) = {xs.shape[0]})")
    est = parse_grad(grad)
    act = get_activation(activation)
    chunk = check_positive_int(chunk, "chunk")
    xs = xs.astype(params.w.dtype)
    c2 = params.c * params.c
    omega = jnp.full((n,), 1.0 / n, params.c.dtype)
    if est.kind == "bptt":
        f = bptt_features(params, xs, burn=burn, beta=0.5, act=act)
        return weighted_phi(f, omega, c2) @ flat_psi(f).T
    return kernel_sum(params.w, params.b, omega, c2, xs, burn_a=burn, est=est, act=act, chunk=chunk)

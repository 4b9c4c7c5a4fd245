"""Neural tangent kernels as weighted sums over units: the empirical NTK and its building block.

For a set of units ``u`` with frozen ``(w_u, b_u)``, weights ``omega_u`` and output-weight second
moments ``c2_u``::

    K(xi_p, xi_q) = sum_u omega_u [ S_u(xi_p) S_u(xi_q)
                                    + c2_u (Jw_u(xi_p) . Pw_u(xi_q) + Jb_u(xi_p) Pb_u(xi_q)) ]

i.e. ``sum_u omega_u phi_u(xi_p) . psi_u(xi_q)``. The empirical NTK of a width-``N`` network is
this sum with ``omega = 1/N`` and ``c2 = c^2``; the limit kernel (`rnnntk.limit`) is the same sum
over quadrature nodes or Monte Carlo samples of the initial law with ``c2 = E[c^2]``.
Units are processed in chunks (a ``lax.scan``), so memory is ``O(P * chunk * d)``, not
``O(P * N * d)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from ._checks import check_nonnegative_int, check_positive_int, require
from .network import (
    Activation,
    Estimator,
    Features,
    Params,
    bptt_features,
    check_params,
    check_path,
    get_activation,
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


@partial(jax.jit, static_argnames=("burn_a", "burn_b", "est", "act", "chunk", "same"))
def _kernel_sum(w, b, omega, c2, xs_a, xs_b, burn_a, burn_b, est, act, chunk, same):
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
        fa = unit_features(wc, bc, xs_a, burn=burn_a, est=est, act=act)
        fb = fa if same else unit_features(wc, bc, xs_b, burn=burn_b, est=est, act=act)
        return K + weighted_phi(fa, om, cc) @ flat_psi(fb).T, None

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
) -> Array:
    """``sum_u omega_u phi_u(xi_p) . psi_u(xi_q)`` over histories ending at ``xs_a[burn_a:]``
    (rows) and ``xs_b[burn_b:]`` (columns; default the same path). Returns ``[P, Q]``."""
    same = xs_b is None
    if same:
        xs_b, burn_b = xs_a, burn_a
    chunk = int(min(chunk, w.shape[0]))
    return _kernel_sum(w, b, omega, c2, xs_a, xs_b, burn_a, burn_b, est, act, chunk, same)


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
        chunk: units processed at once (memory ``O(P * chunk * d)``).

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

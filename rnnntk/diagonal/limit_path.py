"""The limit ODE on the stationary law of one long path, in feature space (spec section 3).

The limit kernel is an integral over the initial law ``mu_0``, discretised by nodes ``theta_m``
with weights ``q_m`` (quadrature, or Monte Carlo with ``q_m = 1 / M``) and ``E c^2`` factored out::

    K(xi, xi') = sum_m q_m phi(theta_m; xi) . psi(theta_m; xi') = Phi(xi) . Psi(xi')

with the scaled features ``Phi = (q^{1/2} S, (q E c^2)^{1/2} J^w, (q E c^2)^{1/2} J^b)`` of
dimension ``F = (2 + d) x nodes`` (``Psi`` the same with the sensitivities the update uses:
``Psi = Phi`` for ``rtrl``, truncated for ``tbptt:tau``). Then ``h_t = h_0 + Phi a_t`` solves the
limit ODE exactly when

    d/dt a_t = alpha (E_pi[Psi^T r_0] - E_pi[Psi^T Phi] a_t),    a_0 = 0,    r_0 = y - h_0,

(the node weights ``Q`` of the issue are inside ``Phi`` and ``Psi``, so for ``rtrl`` the matrix
``G = E_pi[Psi^T Phi]`` is already the symmetric one). ``pi`` enters only through the moments
``G`` (``F x F``), ``E_pi[Psi^T r_0]`` and, for the loss
``L(t) = E_pi[(y - h_t)^2] / 2 = (E r_0^2 - 2 a . E[Phi^T r_0] + a . E[Phi^T Phi] a) / 2``,
through ``H = E_pi[Phi^T Phi]``, ``E_pi[Phi^T r_0]`` and ``E_pi[r_0^2]``. They are ergodic
averages along the path: `path_moments` streams the path in chunks of ``chunk`` steps (a
``lax.scan`` over time carrying the node states; each chunk adds ``Psi_c^T Phi_c`` to float64
sums), so time is linear in the path length ``L`` and memory ``O(F^2 + chunk F)``, independent
of ``L`` beyond the input arrays.

The ODE is solved in closed form by `rnnntk.diagonal.limit.flow_at` on ``A = G`` (``int_0^t e^{-alpha s G}
ds b`` is its ``integral``): for ``rtrl`` an ``F x F`` eigendecomposition (``eigh``, ``expm1``);
for ``tbptt`` the complex eigendecomposition of the non-symmetric ``G`` when its eigenvectors are
well conditioned, else the matrix exponential of the augmented matrix.

With ``pi`` the empirical law of the same ``P`` histories and the same nodes this is exactly the
``P``-history solver of `rnnntk.diagonal.limit` (``Phi (I - e^{-alpha t G}) G^+ Psi^T / P = I -
e^{-alpha t K / P}`` on the sample); only the sample that ``pi`` is built from changes.

Node rule (the default): Gauss-Legendre in ``u = Phi(w / s_w)`` per coordinate of ``w``
(``n_w``) times Gauss-Legendre in ``b`` (``n_b``), i.e. `rnnntk.diagonal.limit.quadrature_nodes` with
``w_rule="legendre_cdf"``; ``d > 2``: Monte Carlo (``samples``). See `DEFAULT_NODES` for the
measured accuracy. For an odd activation the nodes ``w`` and ``-w`` add the same kernel term and
are merged (`fold_nodes`): half the features, a quarter of the streaming work.

``beta = 1/2``: each member starts from its own random field ``h_0`` (as in `rnnntk.diagonal.limit`);
give its values along the path (``h0 [K]``, or ``[M, K]`` for ``M`` members sharing one
decomposition) and on the evaluation histories (``h0_eval``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, check_positive, check_positive_int, require
from ..precision import float64
from .limit import EIG_COND_MAX, KernelODE, Nodes, _check_limit_args, flow_at, monte_carlo_nodes, quadrature_nodes
from .network import C_SECOND_MOMENT, Activation, Estimator, init_sensitivities, parse_grad, step, unit_features
from .ntk import MEMORY_BUDGET

Array = jax.Array

#: default node rule per input dimension: (n_w, n_b) for quadrature, Legendre in Phi(w / s_w)
#: times Legendre in b. Chosen by refinement (AR(1) paths, sin_lag, b0 = 0.5, s_w = 1, alpha 5,
#: T 1; rms change of h_T over evaluation histories): d = 1, 32 x 6 (F = 576, 288 after `fold_nodes`) against 128 x 12:
#: 2.1e-5 (16: 1.9e-4, 24: 4.3e-5, 48: 7.9e-6; n_b = 6, 8, 10 agree to 1e-9); the equal-step
#: trapezoid rule needs far more nodes here (rms 3e-3 at 32). d = 2, 12 x 5 (F = 2880, 1440
#: folded) against
#: 16 x 5: 1.9e-4 (8 x 5: 1.3e-3). Both well below the 1e-3 path-average floor aimed at.
DEFAULT_NODES = {1: (32, 6), 2: (12, 5)}
#: default Monte Carlo sample size for d > 2 (F = (2 + d) M features)
DEFAULT_PATH_SAMPLES = 256
#: default time steps per streamed chunk (fewer when the chunk's features exceed MEMORY_BUDGET)
DEFAULT_CHUNK = 4096


class PathMoments(NamedTuple):
    """Moments of the scaled features under ``pi`` (float64), ``M`` members' residuals ``r_0``."""

    G: np.ndarray  # [F, F] E_pi[Psi^T Phi]
    H: np.ndarray  # [F, F] E_pi[Phi^T Phi] (equals G for rtrl)
    b_psi: np.ndarray  # [M, F] E_pi[Psi^T r_0]
    b_phi: np.ndarray  # [M, F] E_pi[Phi^T r_0]
    r2: np.ndarray  # [M] E_pi[r_0^2]
    count: int  # histories averaged (L = K - burn)


class PathLimit(NamedTuple):
    """The long-path limit at times ``t``."""

    h: np.ndarray  # [M, T, Q] h_t on the evaluation histories
    loss: np.ndarray  # [M, T] L(t) = E_pi (y - h_t)^2 / 2
    a: np.ndarray  # [M, T, F] feature coefficients a_t
    t: np.ndarray  # [T]
    features: int  # F


# --------------------------------------------------------------------------- nodes and features


def path_nodes(
    dim: int,
    *,
    b0: float,
    s_w: float,
    method: str = "auto",
    n_w: int | None = None,
    n_b: int | None = None,
    w_rule: str = "legendre_cdf",
    tol: float = 1e-10,
    samples: int | None = None,
    key: Array | None = None,
    fold: bool = False,
) -> Nodes:
    """Nodes ``theta_m`` with weights ``q_m`` for the feature-space limit (no pass over the path).

    ``method="auto"``: quadrature (`DEFAULT_NODES` unless ``n_w``, ``n_b`` given) for ``d <= 2``,
    else Monte Carlo with ``samples`` (default `DEFAULT_PATH_SAMPLES`) draws from ``key``.
    ``fold``: halve a quadrature rule by `fold_nodes` (only for an odd activation).
    """
    require(method in ("auto", "quadrature", "monte_carlo"), "method", method, '"auto", "quadrature" or "monte_carlo"')
    if method == "auto":
        method = "quadrature" if dim <= 2 else "monte_carlo"
    if method == "quadrature":
        require(dim <= 2, "dim", dim, 'd <= 2 for method="quadrature" (use method="monte_carlo")')
        dn_w, dn_b = DEFAULT_NODES[dim]
        nodes = quadrature_nodes(dim, b0=b0, s_w=s_w, n_w=n_w or dn_w, n_b=n_b or dn_b, w_rule=w_rule, tol=tol)
        return fold_nodes(nodes) if fold else nodes
    key = jax.random.key(0) if key is None else key
    return monte_carlo_nodes(key, dim, b0=b0, s_w=s_w, samples=samples or DEFAULT_PATH_SAMPLES)


#: activations with sigma(-z) = -sigma(z): the node -w gives -S, J^w, -J^b, the same kernel term
ODD_ACTIVATIONS = ("tanh", "erf")


def fold_nodes(nodes: Nodes) -> Nodes:
    """Fold a rule symmetric under ``w -> -w`` onto half of it (odd ``sigma``, zero initial memory).

    For an odd activation ``S(-w, b; xi) = -S(w, b; xi)``, ``J^w(-w, b; xi) = J^w(w, b; xi)`` and
    ``J^b(-w, b; xi) = -J^b(w, b; xi)`` (the truncated ones likewise), so the nodes ``w`` and
    ``-w`` add the same term ``phi . psi`` to the kernel. Keeping the node whose first non-zero
    coordinate of ``w`` is positive with twice its weight (``w = 0`` once) gives the same kernel
    with half the features, a quarter of the moment work. The rule must be symmetric (the
    tensor quadrature rules are); a Monte Carlo sample is not and is left alone by the caller.
    """
    w = np.asarray(nodes.w, np.float64)
    scale = np.max(np.abs(w)) if w.size else 1.0
    nz = np.abs(w) > 1e-12 * scale
    first = np.where(nz.any(axis=1), w[np.arange(len(w)), np.argmax(nz, axis=1)], 0.0)
    keep = first >= 0.0
    weight = np.where(first > 0.0, 2.0, 1.0) * nodes.weight
    return Nodes(nodes.w[keep], nodes.b[keep], weight[keep])


def scaled_features(S, Jw, Jb, sq: Array, sqc: Array) -> Array:
    """``[T, F]`` rows ``(q^{1/2} S, (q E c^2)^{1/2} Jw, (q E c^2)^{1/2} Jb)`` from per-node
    ``S [T, U]``, ``Jw [T, U, d]``, ``Jb [T, U]``; ``sq = q^{1/2}``, ``sqc = (q E c^2)^{1/2}``."""
    T = S.shape[0]
    return jnp.concatenate([S * sq[None, :], (Jw * sqc[None, :, None]).reshape(T, -1), Jb * sqc[None, :]], axis=1)


def eval_features(nodes: Nodes, xs, *, burn: int, act: Activation, c2: float = 1.0) -> Array:
    """``Phi(xi) [Q, F]`` on the histories ending at ``xs[burn:]`` (run from zero memory)."""
    dt = jnp.float64
    w, b, q = (jnp.asarray(a, dt) for a in nodes)
    f = unit_features(w, b, jnp.asarray(xs, dt), burn=burn, est=Estimator("rtrl"), act=act)
    return scaled_features(f.S, f.Jw, f.Jb, jnp.sqrt(q), jnp.sqrt(q * c2))


# --------------------------------------------------------------------------- streaming moments


class _State(NamedTuple):
    S: Array  # [U]
    Jw: Array  # [U, d]
    Jb: Array  # [U]
    Tw: Array | None  # [tau, U, d] truncation buffer (tbptt)
    Tb: Array | None  # [tau, U]


@partial(jax.jit, static_argnames=("est", "act"))
def _chunk(state: _State, sums, w, b, sq, sqc, xs, r, mask, live, *, est: Estimator, act: Activation):
    """Advance the node states over one chunk of steps and add its moments to ``sums``. Steps
    with ``live = 0`` (padding) leave the node states as they are."""
    tau = est.tau if est.kind == "tbptt" else None

    def body(st, xl):
        x, on = xl
        s, Jw, Jb = step(w, b, st.S, st.Jw, st.Jb, x, act, None)
        if tau is None:
            new = _State(s, Jw, Jb, None, None)
        else:
            _, Tw, Tb = step(w, b, st.S, st.Tw, st.Tb, x, act, tau)
            new = _State(s, Jw, Jb, Tw, Tb)
        new = jax.tree_util.tree_map(lambda n, o: jnp.where(on > 0, n, o), new, st)
        if tau is None:
            return new, (new.S, new.Jw, new.Jb, new.Jw, new.Jb)
        return new, (new.S, new.Jw, new.Jb, new.Tw[-1], new.Tb[-1])

    state, (S, Jw, Jb, Pw, Pb) = jax.lax.scan(body, state, (xs, live))
    Phi = scaled_features(S, Jw, Jb, sq, sqc) * mask[:, None]  # rows outside pi are zero
    G, H, b_psi, b_phi, r2 = sums
    rm = r * mask[None, :]  # [M, T]
    if tau is None:
        PhiT_Phi = Phi.T @ Phi
        G, H = G + PhiT_Phi, H + PhiT_Phi
        b_phi = b_phi + rm @ Phi
        b_psi = b_phi
    else:
        Psi = scaled_features(S, Pw, Pb, sq, sqc) * mask[:, None]
        G, H = G + Psi.T @ Phi, H + Phi.T @ Phi
        b_psi, b_phi = b_psi + rm @ Psi, b_phi + rm @ Phi
    return state, (G, H, b_psi, b_phi, r2 + jnp.sum(rm * r, axis=1))


def _chunk_length(F: int, d: int, tbptt: bool, chunk: int | None) -> int:
    """Steps per chunk: ``chunk`` (default `DEFAULT_CHUNK`), fewer when the chunk's per-step
    outputs (node states, ``Phi``, ``Psi``: about ``(4 + 2 tbptt) F`` float64 numbers) exceed
    `rnnntk.diagonal.ntk.MEMORY_BUDGET`."""
    per_step = 8 * F * (6 if tbptt else 4)
    cap = max(1, MEMORY_BUDGET // per_step)
    return int(max(1, min(DEFAULT_CHUNK if chunk is None else check_positive_int(chunk, "chunk"), cap)))


def path_moments(
    nodes: Nodes,
    xs,
    ys,
    *,
    burn: int,
    est: Estimator,
    act: Activation,
    c2: float = 1.0,
    h0=None,
    chunk: int | None = None,
) -> PathMoments:
    """Stream the path ``xs [K, d]`` and accumulate the moments of `PathMoments` over the
    ``L = K - burn`` histories ending at ``xs[burn:]`` (``pi`` their empirical law).

    ``ys [K]`` are the targets; ``h0`` (``[K]`` or ``[M, K]``, default 0) the initial fields along
    the path, so that ``r_0 = y - h_0``. Works chunk by chunk on host or device arrays; memory is
    ``O(F^2 + chunk F)``.
    """
    return path_moment_batches(nodes, xs, ys, burn=burn, est=est, act=act, c2=c2, h0=h0, chunk=chunk)[0]


def path_moment_batches(
    nodes: Nodes,
    xs,
    ys,
    *,
    burn: int,
    est: Estimator,
    act: Activation,
    c2: float = 1.0,
    h0=None,
    chunk: int | None = None,
    batches: int = 1,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> list[PathMoments]:
    """`path_moments` of ``batches`` consecutive segments of the histories of one path (batch
    means): batch ``j`` averages the histories ending at steps ``burn + [j L / B, (j + 1) L / B)``,
    each history running from the start of the path (the node states are carried across the
    batch boundaries, so `pool_moments` of the batches is `path_moments` of the whole path).

    ``progress``: wraps the iterable of batch indices ``range(batches)`` (e.g. a run's
    ``ctx.progress``); each index is handed on once the batch's streamed moments are on the host,
    so a report after each item reflects work done, not work queued."""
    K, d = xs.shape
    U = nodes.w.shape[0]
    F = (2 + d) * U
    L = K - burn
    batches = check_positive_int(batches, "batches")
    require(L >= batches, "batches", batches, f"at most the {L} histories of the path")
    tau = est.tau if est.kind == "tbptt" else None
    n = _chunk_length(F, d, tau is not None, chunk)
    dt = jnp.float64
    w, b, q = (jnp.asarray(a, dt) for a in nodes)
    sq, sqc = jnp.sqrt(q), jnp.sqrt(q * c2)
    ys = np.asarray(ys, np.float64)
    h0 = np.zeros((1, K)) if h0 is None else np.asarray(h0, np.float64).reshape(-1, K)
    M = h0.shape[0]
    Jw, Jb = init_sensitivities(U, d, None, dt)
    Tw, Tb = init_sensitivities(U, d, tau, dt) if tau is not None else (None, None)
    state = _State(jnp.zeros((U,), dt), Jw, Jb, Tw, Tb)
    zF = jnp.zeros((F, F), dt)
    ends = [burn + (j + 1) * L // batches for j in range(batches)]
    n = min(n, max(e - s for s, e in zip([0, *ends[:-1]], ends)))  # no chunk longer than a batch
    out, lo = [], 0
    for j in progress(range(batches)) if progress is not None else range(batches):
        end = ends[j]
        sums = (zF, zF, jnp.zeros((M, F), dt), jnp.zeros((M, F), dt), jnp.zeros((M,), dt))
        first = burn + j * L // batches
        for c0 in range(lo, end, n):
            hi = min(c0 + n, end)
            xc = np.zeros((n, d))
            xc[: hi - c0] = np.asarray(xs[c0:hi], np.float64)
            rc = np.zeros((M, n))
            rc[:, : hi - c0] = ys[None, c0:hi] - h0[:, c0:hi]
            k = np.arange(c0, c0 + n)
            live = (k < hi).astype(np.float64)  # padding steps leave the states alone
            mask = ((k >= first) & (k < hi)).astype(np.float64)
            state, sums = _chunk(
                state,
                sums,
                w,
                b,
                sq,
                sqc,
                jnp.asarray(xc),
                jnp.asarray(rc),
                jnp.asarray(mask),
                jnp.asarray(live),
                est=est,
                act=act,
            )
        count = end - first
        G, H, b_psi, b_phi, r2 = (np.asarray(s) / count for s in sums)
        out.append(PathMoments(G, H, b_psi, b_phi, r2, count))
        lo = end
    return out


def pool_moments(moms: list[PathMoments], drop: int | None = None) -> PathMoments:
    """The moments of the union of the batches ``moms`` (count-weighted means); ``drop``: leave
    batch ``drop`` out (the delete-one jackknife of `jackknife_error`)."""
    keep = [m for j, m in enumerate(moms) if j != drop]
    n = np.array([m.count for m in keep], np.float64)
    wts = n / n.sum()

    def avg(i):
        return sum(wt * np.asarray(m[i]) for wt, m in zip(wts, keep))

    return PathMoments(avg(0), avg(1), avg(2), avg(3), avg(4), int(n.sum()))


# --------------------------------------------------------------------------- the ODE in feature space


def prepare_path_flow(mom: PathMoments, *, alpha: float, symmetric: bool) -> KernelODE:
    """Decompose ``G = E_pi[Psi^T Phi]`` once (``eigh`` when ``symmetric``; else ``eig`` in
    float64 with the augmented matrix exponential as fallback when ``cond(V) > EIG_COND_MAX``).
    The returned `rnnntk.diagonal.limit.KernelODE` has ``A = G`` and ``y = b_psi[0]``."""
    G = np.asarray(mom.G, np.float64)
    y = jnp.asarray(mom.b_psi[0])
    if symmetric:
        lam, V = np.linalg.eigh(0.5 * (G + G.T))
        V = jnp.asarray(V)
        return KernelODE(V, V.T, jnp.asarray(lam), y, float(alpha), jnp.asarray(G), False)
    lam, V = np.linalg.eig(G)
    cond = np.linalg.cond(V)
    if not np.isfinite(cond) or cond > EIG_COND_MAX:
        return KernelODE(V, V, lam, y, float(alpha), jnp.asarray(G), True)
    return KernelODE(
        jnp.asarray(V), jnp.asarray(np.linalg.inv(V)), jnp.asarray(lam), y, float(alpha), jnp.asarray(G), False
    )


def coefficients(ode: KernelODE, b_psi: np.ndarray, t) -> np.ndarray:
    """``a_t = alpha int_0^t e^{-alpha s G} ds b`` for each member's ``b = E_pi[Psi^T r_0]``
    (``b_psi [M, F]``): ``[M, T, F]``."""
    out = [alpha_integral(ode, bm, t) for bm in np.asarray(b_psi)]
    return np.stack(out)


def alpha_integral(ode: KernelODE, b, t) -> np.ndarray:
    """``alpha int_0^t e^{-alpha s G} b ds`` at times ``t``, ``[T, F]`` (`rnnntk.diagonal.limit.flow_at`)."""
    flow = flow_at(ode._replace(y=jnp.asarray(b, jnp.float64)), t)
    return ode.alpha * np.asarray(flow.integral)


def path_loss(mom: PathMoments, a: np.ndarray) -> np.ndarray:
    """``L(t) = (E r_0^2 - 2 a . E[Phi^T r_0] + a . E[Phi^T Phi] a) / 2`` for ``a [M, T, F]``: ``[M, T]``."""
    lin = np.einsum("mtf,mf->mt", a, mom.b_phi)
    quad = np.einsum("mtf,fg,mtg->mt", a, mom.H, a)
    return 0.5 * (mom.r2[:, None] - 2.0 * lin + quad)


# --------------------------------------------------------------------------- the public entry


def path_limit(
    xs,
    ys,
    eval_xs,
    *,
    t,
    alpha: float,
    b0: float,
    s_w: float,
    burn: int,
    grad: str = "rtrl",
    burn_eval: int | None = None,
    h0=None,
    h0_eval=None,
    method: str = "auto",
    n_w: int | None = None,
    n_b: int | None = None,
    w_rule: str = "legendre_cdf",
    samples: int | None = None,
    key: Array | None = None,
    c_dist: str = "rademacher",
    activation: str = "tanh",
    chunk: int | None = None,
    fold: bool = True,
) -> PathLimit:
    """The limit ``h_t`` trained on the stationary law ``pi`` of the long path ``xs``.

    ``pi`` is the empirical law of the ``L = K - burn`` histories ending at ``xs[burn:]`` with
    targets ``ys[burn:]``; ``h_t`` is returned on the histories ending at
    ``eval_xs[burn_eval:]`` (``burn_eval`` defaults to ``burn``) with the training loss ``L(t)``.

    Arguments:
        xs: path ``[K, d]`` (``K`` up to ``10^7``; float64 on the host is fine); ys: ``[K]``.
        eval_xs: evaluation path ``[Q + burn_eval, d]``.
        t: a time ``>= 0`` or ``[T]`` times; alpha: learning rate.
        b0, s_w, c_dist, activation: the initial law and network of the spec.
        grad: ``"rtrl"`` or ``"tbptt:<tau>"``.
        h0, h0_eval: initial fields (``beta = 1/2``): ``[K]`` or ``[M, K]`` along ``xs`` (entries
            before ``burn`` unused) and ``[Q]`` or ``[M, Q]`` on the evaluation histories.
        method, n_w, n_b, w_rule, samples, key: nodes (`path_nodes`).
        chunk: time steps streamed at once (memory ``O(chunk F)``; the result does not depend
            on it beyond roundoff).
        fold: for an odd activation (tanh, erf) and quadrature nodes, merge the nodes ``w`` and
            ``-w`` (`fold_nodes`): the same kernel with half the features.

    Returns:
        `PathLimit` (``h [M, T, Q]``, ``loss [M, T]``; ``M = 1`` without ``h0``).
    """
    xs, burn, act = _check_limit_args(xs, b0, s_w, burn, activation)
    ev, be, _ = _check_limit_args(eval_xs, b0, s_w, burn if burn_eval is None else burn_eval, activation, "eval_xs")
    if ev.shape[1] != xs.shape[1]:
        raise ConfigError(f"eval_xs has d = {ev.shape[1]} but xs has d = {xs.shape[1]}")
    est = parse_grad(grad, allow_bptt=False)
    alpha = check_positive(alpha, "alpha")
    ts = np.atleast_1d(np.asarray(t, np.float64))
    if ts.ndim != 1 or not np.all(ts >= 0):
        raise ConfigError(f"t = {t!r} is not allowed: expected times >= 0")
    require(c_dist in C_SECOND_MOMENT, "c_dist", c_dist, f"one of {sorted(C_SECOND_MOMENT)}")
    K, Q = xs.shape[0], ev.shape[0] - be
    ys = np.asarray(ys, np.float64)
    if ys.shape != (K,):
        raise ConfigError(f"ys has shape {ys.shape} but xs has {K} steps: expected ys [K]")
    if (h0 is None) != (h0_eval is None):
        raise ConfigError("h0 and h0_eval go together: the initial field along the path and on eval_xs")
    if h0 is not None:
        h0 = np.asarray(h0, np.float64)
        h0_eval = np.asarray(h0_eval, np.float64)
        if h0.shape[-1] != K or h0.ndim > 2 or h0_eval.shape[-1] != Q or h0_eval.shape[:-1] != h0.shape[:-1]:
            raise ConfigError(
                f"h0 {h0.shape} and h0_eval {h0_eval.shape} do not match: expected [K] and [Q] (or [M, K], [M, Q])"
                f" with K = {K}, Q = {Q}"
            )
    with float64():  # the moments and the solve are float64
        nodes = path_nodes(
            xs.shape[1],
            b0=b0,
            s_w=s_w,
            method=method,
            n_w=n_w,
            n_b=n_b,
            w_rule=w_rule,
            samples=samples,
            key=key,
            fold=fold and act.name in ODD_ACTIVATIONS,
        )
        c2 = C_SECOND_MOMENT[c_dist]
        mom = path_moments(nodes, np.asarray(xs), ys, burn=burn, est=est, act=act, c2=c2, h0=h0, chunk=chunk)
        ode = prepare_path_flow(mom, alpha=alpha, symmetric=est.kind == "rtrl")
        a = coefficients(ode, mom.b_psi, t)  # [M, T, F]
        Phi = np.asarray(eval_features(nodes, np.asarray(ev, np.float64), burn=be, act=act, c2=c2))
        h = np.einsum("mtf,qf->mtq", a, Phi)
        if h0_eval is not None:
            h = h + h0_eval.reshape(-1, Q)[:, None, :]
        return PathLimit(h, path_loss(mom, a), a, np.atleast_1d(np.asarray(t, np.float64)), Phi.shape[1])


def limit_predict_path(xs, ys, eval_xs, *, t, h0=None, h0_eval=None, **kw) -> np.ndarray:
    """`path_limit`'s ``h_t`` shaped as `rnnntk.diagonal.limit.limit_predict` returns it: ``[Q]`` (or
    ``[T, Q]`` for an array ``t``; a leading ``[M]`` when ``h0`` is ``[M, K]``)."""
    out = path_limit(xs, ys, eval_xs, t=t, h0=h0, h0_eval=h0_eval, **kw).h
    if h0 is None or np.ndim(h0) == 1:
        out = out[0]
    return out if np.ndim(t) else out[..., 0, :]


__all__ = [
    "DEFAULT_NODES",
    "PathLimit",
    "PathMoments",
    "coefficients",
    "fold_nodes",
    "eval_features",
    "limit_predict_path",
    "path_limit",
    "path_loss",
    "path_moment_batches",
    "path_moments",
    "path_nodes",
    "pool_moments",
    "prepare_path_flow",
    "scaled_features",
]

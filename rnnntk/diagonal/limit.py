"""The kernel limit (spec section 3): stationary features, the limit NTK and the limit ODE.

For ``beta`` in ``(1/2, 1)`` the parameters stay at their initial values to leading order and a
unit's memory relaxes to the stationary solution of ``S(theta; xi) = sigma(w . x_0 + b
S(theta; xi_{-1}))``; its sensitivities likewise. With ``phi = (S, c J^w, c J^b)`` and ``psi``
the features the update uses (``psi = phi`` for ``rtrl``, truncated for ``tbptt:tau``)::

    K(xi, xi') = E_{theta ~ mu_0} [ phi(theta; xi) . psi(theta; xi') ]
    d/dt h_t(xi) = alpha E_{xi' ~ pi} [ K(xi, xi') (y(xi') - h_t(xi')) ],    h_0 = 0.

Stationary features are computed by the finite network's own recursion
(`rnnntk.diagonal.network.unit_features`) run from zero memory over ``burn`` steps of the path: the memory
forgets its start at rate ``(b0 sup|sigma'|)^k`` (the sensitivities at rate ``k (b0 sup|sigma'|)^k``).

The expectation over ``mu_0`` (``w ~ N(0, s_w^2 I_d)``, ``b ~ U[-b0, b0]``, ``c`` independent with
``E c^2`` factored out) is computed by

- ``method="quadrature"`` (``d <= 2``): a tensor rule, the trapezoid rule in each coordinate of
  ``w / s_w`` on ``[-L, L]`` (Gaussian weights; ``L`` cuts a tail mass of ``tol / 10``) and
  Gauss-Legendre in ``b``. The integrand is analytic in a strip around the real ``w`` axis, so
  the trapezoid rule converges geometrically; the step is chosen from the path by
  `quadrature_size` for a target relative accuracy ``tol`` (1e-10 for ``d = 1``, 1e-6 for
  ``d = 2``). Measured against a rule refined 1.6x in ``w`` and to 48 (24) nodes in ``b``, on AR(1)
  paths of 160 steps (``s_w = 1``): ``d = 1``, ``b0 = 0.5``: 358 x 11 nodes, relative max error
  7e-13; ``b0 = 0.9``: 1047 x 27 nodes, 5e-11; ``d = 2``, ``b0 = 0.5``: 205^2 x 8
  nodes (3.4e5 after dropping the weightless corners), 7e-9, 2 s on 2 CPU cores. The spec
  suggests Gauss-Hermite in ``w``; it converges slowly here because ``tanh(w x)`` has complex
  singularities near the real axis when ``|x|`` is large (relative error 8e-4 with 256 nodes,
  against 5e-7 for Gauss-Legendre in ``u = Phi(w / s_w)`` and 1e-13 for the trapezoid rule with
  400). Both remain available as ``w_rule="hermite"`` and ``w_rule="legendre_cdf"``.
- ``method="monte_carlo"`` (any ``d``): ``samples`` draws of ``(w, b)``; error ``O(M^{-1/2})``.

On the ``P`` sample histories ``pi`` is their empirical law and the ODE is linear,
``dh/dt = (alpha / P) K (y - h)``, solved in closed form: for the symmetric ``rtrl`` kernel by an
eigendecomposition with ``expm1`` (small eigenvalues keep their precision); for ``tbptt`` by a
complex eigendecomposition (float64, on the host) when its eigenvectors are well conditioned, and
otherwise by the matrix exponential of the augmented matrix ``[[-alpha A, r_0], [0, 0]]``
(``A = K / P``), which gives ``exp(-alpha t A) r_0`` and ``int_0^t exp(-alpha s A) r_0 ds`` at
once. `prepare_flow` decomposes once; `flow_at` evaluates at any times. Off the sample,
``h_t(xi) = h_0(xi) + (alpha / P) K(xi, .) int_0^t (y - h_s) ds``.
"""

from __future__ import annotations

import math
import statistics
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import (
    ConfigError,
    check_finite_array,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    require,
)
from .network import C_SECOND_MOMENT, check_contraction, check_path, get_activation, parse_grad
from .ntk import kernel_sum

Array = jax.Array

DEFAULT_TOL = {1: 1e-10, 2: 1e-6}  # target relative accuracy of the automatic quadrature
DEFAULT_SAMPLES = 16384
_KAPPA = 4.0  # conservative fit of the trapezoid error exp(-kappa / (h s_w m_eff)), see quadrature_size


class Nodes(NamedTuple):
    """A discrete approximation of the initial law of ``(w, b)``."""

    w: np.ndarray  # [U, d]
    b: np.ndarray  # [U]
    weight: np.ndarray  # [U], sums to 1


def _half_width(tol: float) -> float:
    """Truncation ``L`` of the standard normal: tail mass ``2 Phi(-L) = tol / 10``."""
    return -statistics.NormalDist().inv_cdf(tol / 20.0)


def quadrature_size(xs, *, b0: float, s_w: float, tol: float) -> int:
    """Trapezoid nodes per ``w`` coordinate for relative accuracy ``tol`` on the path ``xs``.

    ``tanh(z)`` has poles at ``z = +-i pi / 2`` and ``z_k = w . x_k + b S_k`` depends on ``w``
    through ``sum_j b0^j x_{k-j}``, so the integrand is analytic in a strip of half-width about
    ``pi / (2 s_w m_eff)`` around the real ``w`` axis, with
    ``m_eff = max_k sum_j b0^j |x_{k-j}|_1``. The trapezoid rule with step ``h`` (in units of
    ``s_w``) then errs by about ``exp(-kappa / (h s_w m_eff))``; fitted ``kappa`` ranged over
    5.5 to 6.9 for AR(1) paths with ``b0`` in {0.5, 0.9}, ``s_w`` in {1, 2}, inputs scaled by 1 and
    3, ``rtrl`` and ``tbptt``; we use 4.0. The strip is ``tanh``'s; it is conservative for the
    other activations: ``erf`` and ``erf_unit`` are entire, ``sigmoid`` has its poles at ``+-i pi``.
    """
    a = np.abs(np.asarray(xs, np.float64)).reshape(len(xs), -1).sum(axis=1)
    acc, m_eff = 0.0, 1e-12
    for v in a:  # short loop over the path (host side, once per kernel)
        acc = b0 * acc + v
        m_eff = max(m_eff, acc)
    h = _KAPPA / (s_w * m_eff * math.log(1.0 / tol))
    return int(math.ceil(2.0 * _half_width(tol) / h)) + 1


def legendre_size(*, b0: float, sup_dsigma: float = 1.0, tol: float) -> int:
    """Gauss-Legendre nodes in ``b`` for relative accuracy ``tol``.

    In ``v = b / b0`` the integrand is analytic up to ``|v| = 1 / (b0 sup|sigma'|)``, where the
    memory map stops contracting; Gauss-Legendre then errs by about ``rho^{-2 n}`` with
    ``rho = v_s + sqrt(v_s^2 - 1)`` (the Bernstein ellipse through the singularity). Measured
    rates: 2.45 per node for ``b0 = 0.5`` (predicted 2.63), 1.0 for ``b0 = 0.9`` (predicted 0.93).
    """
    v_s = 1.0 / (b0 * sup_dsigma)
    rate = 2.0 * math.log(v_s + math.sqrt(v_s * v_s - 1.0))
    return int(math.ceil(math.log(1.0 / tol) / rate)) + 2


def quadrature_nodes(
    dim: int,
    *,
    b0: float,
    s_w: float,
    n_w: int,
    n_b: int,
    w_rule: str = "trapezoid",
    tol: float = 1e-10,
) -> Nodes:
    """Tensor rule for ``w ~ N(0, s_w^2 I_d)``, ``b ~ U[-b0, b0]`` (float64, NumPy).

    ``w_rule``: ``"trapezoid"`` (equal steps on ``[-L, L] s_w``, ``L`` set by ``tol``; converges
    geometrically for this analytic integrand), ``"legendre_cdf"`` (Gauss-Legendre in
    ``u = Phi(w / s_w)``; algebraic convergence) or ``"hermite"`` (Gauss-Hermite; slow here).
    ``b``: Gauss-Legendre with ``n_b`` nodes.
    """
    dim = check_positive_int(dim, "dim")
    require(dim <= 2, "dim", dim, '1 or 2 for method="quadrature" (use method="monte_carlo")')
    n_w = check_positive_int(n_w, "n_w")
    n_b = check_positive_int(n_b, "n_b")
    if w_rule == "trapezoid":
        L = _half_width(tol)
        z = np.linspace(-L, L, n_w)
        wz = (z[1] - z[0] if n_w > 1 else 1.0) * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    elif w_rule == "legendre_cdf":
        u, wu = np.polynomial.legendre.leggauss(n_w)
        nd = statistics.NormalDist()
        z = np.array([nd.inv_cdf((ui + 1.0) / 2.0) for ui in u])
        wz = wu / 2.0
    elif w_rule == "hermite":
        require(n_w <= 300, "n_w", n_w, 'at most 300 for w_rule="hermite" (NumPy\'s weights underflow)')
        z, wz = np.polynomial.hermite_e.hermegauss(n_w)
        wz = wz / math.sqrt(2.0 * math.pi)
    else:
        raise ConfigError(f'w_rule = {w_rule!r} is not allowed: expected "trapezoid", "legendre_cdf" or "hermite"')
    v, wv = np.polynomial.legendre.leggauss(n_b)
    grids = np.meshgrid(*([s_w * z] * dim), b0 * v, indexing="ij")
    wgrids = np.meshgrid(*([wz] * dim), wv / 2.0, indexing="ij")
    w = np.stack([g.ravel() for g in grids[:dim]], axis=1)
    b = grids[dim].ravel()
    weight = np.prod(np.stack([g.ravel() for g in wgrids]), axis=0)
    keep = weight > 1e-6 * tol * weight.max()  # corners of a 2-D grid carry no mass
    return Nodes(w[keep], b[keep], weight[keep])


def monte_carlo_nodes(key: Array, dim: int, *, b0: float, s_w: float, samples: int) -> Nodes:
    """``samples`` i.i.d. draws of ``(w, b)`` with equal weights."""
    samples = check_positive_int(samples, "samples")
    kw, kb = jax.random.split(key)
    w = s_w * np.asarray(jax.random.normal(kw, (samples, dim), jnp.float32), np.float64)
    b = np.asarray(jax.random.uniform(kb, (samples,), jnp.float32, -b0, b0), np.float64)
    return Nodes(w, b, np.full((samples,), 1.0 / samples))


def initial_law_nodes(
    xs,
    *,
    b0: float,
    s_w: float,
    method: str = "auto",
    n_w: int | None = None,
    n_b: int | None = None,
    w_rule: str = "trapezoid",
    tol: float | None = None,
    samples: int | None = None,
    key: Array | None = None,
    sup_dsigma: float = 1.0,
) -> Nodes:
    """Nodes for ``E_{mu_0}`` on the path ``xs``: quadrature for ``d <= 2`` (``method="auto"``),
    with ``n_w`` from `quadrature_size` and ``n_b`` from `legendre_size` unless given; else Monte
    Carlo (``samples``, ``key``)."""
    dim = int(np.shape(xs)[1])
    require(method in ("auto", "quadrature", "monte_carlo"), "method", method, '"auto", "quadrature" or "monte_carlo"')
    if method == "auto":
        method = "quadrature" if dim <= 2 else "monte_carlo"
    if method == "quadrature":
        require(dim <= 2, "dim", dim, 'd <= 2 for method="quadrature" (use method="monte_carlo")')
        tol = DEFAULT_TOL[dim] if tol is None else tol
        require(0.0 < float(tol) < 1.0, "tol", tol, "a number in (0, 1)")
        auto_w = n_w is None
        if n_w is None:
            n_w = quadrature_size(xs, b0=b0, s_w=s_w, tol=tol) if w_rule == "trapezoid" else 256
        if n_b is None:
            n_b = legendre_size(b0=b0, sup_dsigma=sup_dsigma, tol=tol)
        n_w = check_positive_int(n_w, "n_w")
        n_b = check_positive_int(n_b, "n_b")
        _check_node_memory(n_w**dim * n_b, dim, xs, f"n_w = {n_w} per w coordinate x n_b = {n_b}", auto_w)
        return quadrature_nodes(dim, b0=b0, s_w=s_w, n_w=n_w, n_b=n_b, w_rule=w_rule, tol=tol)
    key = jax.random.key(0) if key is None else key
    samples = DEFAULT_SAMPLES if samples is None else check_positive_int(samples, "samples")
    _check_node_memory(samples, dim, xs, f"samples = {samples}", False)
    return monte_carlo_nodes(key, dim, b0=b0, s_w=s_w, samples=samples)


#: bytes per node and coordinate the node arrays take while they are built (the tensor grids, their
#: weights and the kept copies, float64)
_NODE_BYTES = 48

#: the most memory (bytes) the nodes of the initial law may take; a larger node set is refused with a
#: `ConfigError` before it is allocated (the kernel's working set is bounded separately by
#: `rnnntk.diagonal.ntk.MEMORY_BUDGET`). 1 GiB is about 1e7 nodes for ``d = 1`` (250 suffice at unit scale).
NODE_MEMORY = 1 << 30


def _check_node_memory(count: int, dim: int, xs, what: str, automatic: bool) -> None:
    """Refuse, before anything is allocated, a node set whose arrays exceed `NODE_MEMORY`."""
    need = int(count) * _NODE_BYTES * (dim + 1)
    if need <= NODE_MEMORY:
        return
    xmax = float(np.max(np.abs(np.asarray(xs, np.float64)))) if np.size(xs) else 0.0
    why = (
        f" (the trapezoid step shrinks as the inputs grow: they reach |x| = {xmax:.3g}; inputs of order one "
        "need a few hundred nodes)"
        if automatic
        else ""
    )
    raise ConfigError(
        f"the limit kernel needs {count:.4g} nodes of the initial law ({what}), about {need / 2**30:.3g} GiB, "
        f"more than the memory budget rnnntk.diagonal.limit.NODE_MEMORY = {NODE_MEMORY / 2**30:.3g} GiB{why}; "
        "standardise the inputs (data.standardise=true), or use fewer nodes (limit.n_w, limit.samples, a larger "
        "limit.tol, or limit.method=monte_carlo), or raise rnnntk.diagonal.limit.NODE_MEMORY"
    )


def _check_limit_args(xs, b0, s_w, burn, activation, field="xs"):
    act = get_activation(activation)
    check_contraction(b0, activation)
    check_positive(s_w, "s_w")
    xs = check_path(xs, field=field)
    burn = check_nonnegative_int(burn, "burn" if field == "xs" else "burn_eval")
    require(burn < xs.shape[0], "burn", burn, f"an integer in [0, {xs.shape[0]}) (len({field}) = {xs.shape[0]})")
    return xs, burn, act


def _float():
    return jnp.zeros(()).dtype  # float64 under jax_enable_x64, else float32


def balanced_chunk(count: int, chunk: int) -> int:
    """The chunk size with the fewest chunks of at most ``chunk`` nodes and the least padding.

    The product of the kernel is one GEMM per chunk; the last chunk is padded with zero-weight
    nodes, so ``4103`` nodes in chunks of ``2048`` would do the work of ``6144``; in three chunks of
    ``1368`` they do that of ``4104``."""
    n_chunks = -(-count // chunk)
    return max(1, -(-count // n_chunks))


def limit_kernel(
    xs,
    *,
    b0: float,
    s_w: float,
    burn: int,
    grad: str = "rtrl",
    xs_eval=None,
    burn_eval: int | None = None,
    method: str = "auto",
    n_w: int | None = None,
    n_b: int | None = None,
    w_rule: str = "trapezoid",
    tol: float | None = None,
    samples: int | None = None,
    key: Array | None = None,
    c_dist: str = "rademacher",
    activation: str = "tanh",
    chunk: int = 2048,
) -> Array:
    """The limit NTK ``K(xi_p, xi_q) = E_{mu_0}[phi(theta; xi_p) . psi(theta; xi_q)]``.

    Arguments:
        xs: a stationary path ``[K, d]``; the histories end at ``xs[burn:]`` (``P = K - burn``).
        b0, s_w: the initial law (``b ~ U[-b0, b0]``, ``w ~ N(0, s_w^2 I_d)``).
        burn: leading steps used only to forget the zero initial memory.
        grad: ``"rtrl"`` (symmetric PSD kernel) or ``"tbptt:<tau>"`` (not symmetric).
        xs_eval, burn_eval: optional second path for the rows (a cross kernel
            ``K(xi_eval, xi_sample)``, ``[Q, P]``).
        method: ``"auto"`` (quadrature if ``d <= 2``), ``"quadrature"`` or ``"monte_carlo"``.
        n_w, n_b, w_rule, tol: quadrature nodes per ``w`` coordinate (default: enough for the
            relative accuracy ``tol`` on this path, `quadrature_size`) and in ``b``, the ``w`` rule.
        samples, key: Monte Carlo sample size ``M >= 1`` (default `DEFAULT_SAMPLES`) and key (default
            ``jax.random.key(0)``).
        chunk: at most this many nodes (``>= 1``) are processed at once; fewer when their features
            would exceed `rnnntk.diagonal.ntk.MEMORY_BUDGET` (the result does not depend on it beyond roundoff).
            A node set whose own arrays would exceed `NODE_MEMORY` (inputs far from unit scale make the
            automatic quadrature step tiny) raises `ConfigError` before anything is allocated.

    Returns:
        ``[P, P]`` (or ``[Q, P]`` with ``xs_eval``), in float64 under ``jax_enable_x64``.
    """
    xs, burn, act = _check_limit_args(xs, b0, s_w, burn, activation)
    est = parse_grad(grad, allow_bptt=False)
    require(c_dist in C_SECOND_MOMENT, "c_dist", c_dist, f"one of {sorted(C_SECOND_MOMENT)}")
    chunk = check_positive_int(chunk, "chunk")
    if xs_eval is not None:
        xe, be, _ = _check_limit_args(
            xs_eval, b0, s_w, burn if burn_eval is None else burn_eval, activation, field="xs_eval"
        )
        if xe.shape[1] != xs.shape[1]:
            raise ConfigError(f"xs_eval has d = {xe.shape[1]} but xs has d = {xs.shape[1]}")
    both = xs if xs_eval is None else jnp.concatenate([xs, xe])  # nodes sized for both paths
    nodes = initial_law_nodes(
        both,
        b0=b0,
        s_w=s_w,
        method=method,
        n_w=n_w,
        n_b=n_b,
        w_rule=w_rule,
        tol=tol,
        samples=samples,
        key=key,
        sup_dsigma=act.sup_dsigma,
    )
    dt = _float()
    w, b, om = (jnp.asarray(a, dt) for a in nodes)
    c2 = jnp.full_like(om, C_SECOND_MOMENT[c_dist])
    chunk = balanced_chunk(w.shape[0], chunk)
    if xs_eval is None:
        return kernel_sum(w, b, om, c2, xs.astype(dt), burn_a=burn, est=est, act=act, chunk=chunk)
    return kernel_sum(
        w, b, om, c2, xe.astype(dt), burn_a=be, xs_b=xs.astype(dt), burn_b=burn, est=est, act=act, chunk=chunk
    )


def limit_initial_covariance(
    xs, *, b0: float, s_w: float, burn: int, c_dist: str = "rademacher", activation: str = "tanh", **nodes_kw
) -> Array:
    """``E[c^2 S(theta; xi_p) S(theta; xi_q)]``: the covariance of ``h_0`` when ``beta = 1/2``.

    Accepts the node options of `limit_kernel` (``method``, ``n_w``, ``n_b``, ``samples``, ``key``).
    """
    xs, burn, act = _check_limit_args(xs, b0, s_w, burn, activation)
    nodes = initial_law_nodes(xs, b0=b0, s_w=s_w, sup_dsigma=act.sup_dsigma, **nodes_kw)
    dt = _float()
    w, b, om = (jnp.asarray(a, dt) for a in nodes)
    S_only = kernel_sum(
        w, b, om, jnp.ones_like(om), xs.astype(dt), burn_a=burn, est=parse_grad("rtrl"), act=act, memory_only=True
    )
    return C_SECOND_MOMENT[c_dist] * S_only


# --------------------------------------------------------------------------- the limit ODE


class Flow(NamedTuple):
    """The limit ODE on the sample at times ``t``."""

    h: Array  # [T, P] h_t on the sample
    integral: Array  # [T, P] int_0^t (y - h_s) ds
    t: Array  # [T]


class KernelODE(NamedTuple):
    """Spectral data of ``dh/dt = (alpha / P) K (y - h)`` on the sample, reusable at any time and
    any initial field: ``K / P = V diag(lam) V^{-1}`` (orthogonal ``V`` when symmetric)."""

    V: Array  # [P, P] eigenvectors (complex for a non-symmetric kernel)
    Vinv: Array  # [P, P] V^{-1}
    lam: Array  # [P] eigenvalues of K / P
    y: Array  # [P] targets
    alpha: float
    A: Array  # [P, P] K / P (for the matrix-exponential fallback)
    exact_expm: bool  # eigenvectors too ill-conditioned: use expm at each time


#: a non-symmetric kernel whose eigenvector matrix is worse conditioned than this is solved by
#: the augmented matrix exponential at each time instead of by its eigendecomposition
EIG_COND_MAX = 1e8


def prepare_flow(kernel, ys, *, alpha: float, symmetric: bool | None = None) -> KernelODE:
    """Decompose ``K / P`` once for `flow_at` (symmetric: ``eigh``; otherwise ``eig`` in float64
    on the host, with the matrix exponential as fallback when ``cond(V) > EIG_COND_MAX``)."""
    K = jnp.asarray(kernel)
    y = jnp.asarray(ys, K.dtype)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or y.shape != (K.shape[0],):
        raise ConfigError(f"kernel {tuple(K.shape)} and ys {tuple(y.shape)} do not match: expected [P, P] and [P]")
    check_finite_array(y, "ys")
    check_finite_array(K, "kernel")
    alpha = check_positive(alpha, "alpha")
    if symmetric is None:
        symmetric = bool(jnp.allclose(K, K.T, rtol=1e-12, atol=0.0))
    A = K / K.shape[0]
    if symmetric:
        lam, V = jnp.linalg.eigh(0.5 * (A + A.T))
        return KernelODE(V, V.T, lam, y, alpha, A, False)
    An = np.asarray(A, np.float64)
    lam, V = np.linalg.eig(An)
    cond = np.linalg.cond(V)
    if not np.isfinite(cond) or cond > EIG_COND_MAX:
        return KernelODE(V, V, lam, y, alpha, A, True)
    return KernelODE(jnp.asarray(V), jnp.asarray(np.linalg.inv(V)), jnp.asarray(lam), y, alpha, A, False)


def flow_at(ode: KernelODE, t, h0=None) -> Flow:
    """The solution at times ``t`` (scalar or ``[T]``) from ``h_0 = h0`` (default 0)."""
    ts = np.atleast_1d(np.asarray(t, np.float64))
    if ts.ndim != 1 or not np.all(ts >= 0):
        raise ConfigError(f"t = {t!r} is not allowed: expected times >= 0")
    h0 = np.zeros(ode.y.shape) if h0 is None else np.asarray(h0, np.float64)
    if h0.shape != ode.y.shape:
        raise ConfigError(f"h0 has shape {h0.shape}: expected {tuple(ode.y.shape)}")
    if ode.exact_expm:
        h, integral = _flow_expm(ode.A, ode.y, h0, ode.alpha, ts)
    else:
        h, integral = _flow_spectral(ode.V, ode.Vinv, ode.lam, ode.y, h0, ode.alpha, ts)
    return Flow(h, integral, jnp.asarray(ts))


def kernel_flow(kernel, ys, *, alpha: float, t, h0=None, symmetric: bool | None = None) -> Flow:
    """Solve ``dh/dt = (alpha / P) K (y - h)``, ``h_0 = h0`` (default 0), in closed form.

    Arguments:
        kernel: ``[P, P]``; ys: targets ``[P]``; alpha: learning rate; t: a time or ``[T]`` times.
        symmetric: use ``eigh`` (``rtrl``); default: detected from ``kernel``.

    Returns:
        `Flow` with ``h [T, P]`` and ``integral [T, P]``. For many calls on one kernel use
        `prepare_flow` once and `flow_at`.
    """
    return flow_at(prepare_flow(kernel, ys, alpha=alpha, symmetric=symmetric), t, h0)


@jax.jit
def _flow_spectral(V, Vinv, lam, y, h0, alpha, ts):
    h0 = h0.astype(y.dtype)
    r0 = y - h0
    c = Vinv @ r0.astype(Vinv.dtype)
    x = alpha * ts[:, None].astype(lam.dtype) * lam[None, :]  # [T, P]
    em1 = -jnp.expm1(-x)  # 1 - exp(-alpha t lambda), exact for small x
    safe = jnp.where(x == 0, 1.0, x)
    tt = ts[:, None].astype(lam.dtype)
    phi1 = jnp.where(x == 0, tt, em1 / safe * tt)  # (1 - e^{-a t l}) / (a l)
    h, integral = (em1 * c[None, :]) @ V.T, (phi1 * c[None, :]) @ V.T
    return h0[None, :] + jnp.real(h).astype(y.dtype), jnp.real(integral).astype(y.dtype)


@jax.jit
def _flow_expm(A, y, h0, alpha, ts):
    h0 = h0.astype(y.dtype)
    r0 = y - h0
    P = A.shape[0]
    M = jnp.zeros((P + 1, P + 1), A.dtype).at[:P, :P].set(-alpha * A).at[:P, P].set(r0)

    def one(t):
        integral = jax.scipy.linalg.expm(t * M)[:P, P]  # int_0^t exp(-alpha s A) r0 ds
        return h0 + alpha * (A @ integral), integral  # h_t - h_0 = r0 - exp(-alpha t A) r0

    return jax.lax.map(one, ts.astype(A.dtype))


def limit_loss(flow: Flow, ys) -> Array:
    """The limit training loss ``L(t) = E_pi (y - h_t)^2 / 2`` at the flow's times, ``[T]``."""
    y = jnp.asarray(ys, flow.h.dtype)
    if y.ndim != 1 or y.shape[0] != flow.h.shape[-1]:
        raise ConfigError(f"ys has shape {tuple(y.shape)}: expected [P] = [{flow.h.shape[-1]}], the flow's sample")
    check_finite_array(y, "ys")
    return 0.5 * jnp.mean((y[None, :] - flow.h) ** 2, axis=1)


def off_sample(flow: Flow, cross_kernel, *, alpha: float, h0_eval=None) -> Array:
    """``h_t(xi) = h_0(xi) + (alpha / P) K(xi, .) int_0^t (y - h_s) ds`` for rows of
    ``cross_kernel [Q, P]``; returns ``[T, Q]``."""
    Kx = jnp.asarray(cross_kernel, flow.h.dtype)
    if Kx.ndim != 2 or Kx.shape[1] != flow.h.shape[1]:
        raise ConfigError(f"cross_kernel has shape {tuple(Kx.shape)}: expected [Q, {flow.h.shape[1]}]")
    out = (alpha / Kx.shape[1]) * flow.integral @ Kx.T
    return out if h0_eval is None else out + jnp.asarray(h0_eval, out.dtype)[None, :]


def limit_predict(
    xs,
    ys,
    *,
    t,
    alpha: float,
    b0: float,
    s_w: float,
    burn: int,
    grad: str = "rtrl",
    xs_eval=None,
    burn_eval: int | None = None,
    h0=None,
    h0_eval=None,
    eval_xs=None,
    **kernel_kw,
) -> Array:
    """The limit network ``h_t`` trained on the ``P = K - burn`` histories of the path ``xs``.

    ``pi`` is the empirical law of the histories ending at ``xs[burn:]`` and the targets are
    ``ys[burn:]``. With ``xs_eval`` the prediction is off the sample, on the histories ending at
    ``xs_eval[burn_eval:]``. ``h0`` (``[P]``) starts the ODE at a given field (``beta = 1/2``);
    off the sample its values there are ``h0_eval`` (``[Q]``).

    Arguments:
        xs: path ``[K, d]``; ys: targets ``[K]``.
        t: a time ``>= 0`` or an array of times.
        alpha: learning rate; b0, s_w, burn, grad, and `limit_kernel` options in ``kernel_kw``.

    With ``eval_xs`` the limit is trained on the stationary law of the whole (long) path
    ``xs`` in feature space (`rnnntk.diagonal.limit_path.path_limit`; memory independent of the path
    length): ``h_t`` on the histories ending at ``eval_xs[burn_eval:]`` (default ``burn``),
    ``h0``/``h0_eval`` then ``[K]``/``[Q]`` along ``xs``/on ``eval_xs``; its node options
    (``method``, ``n_w``, ``n_b``, ``w_rule``, ``samples``, ``key``, ``chunk``) in ``kernel_kw``.

    Returns:
        ``h_t`` ``[P]`` (``[Q]`` off the sample), or ``[T, P]`` when ``t`` is an array.
    """
    if eval_xs is not None:
        if xs_eval is not None:
            raise ConfigError("give xs_eval (P-history limit) or eval_xs (long-path limit), not both")
        from .limit_path import limit_predict_path

        return limit_predict_path(
            xs,
            ys,
            eval_xs,
            t=t,
            alpha=alpha,
            b0=b0,
            s_w=s_w,
            burn=burn,
            grad=grad,
            burn_eval=burn_eval,
            h0=h0,
            h0_eval=h0_eval,
            **kernel_kw,
        )
    xs_chk = check_path(xs)
    ys = jnp.asarray(ys)
    if ys.ndim != 1 or ys.shape[0] != xs_chk.shape[0]:
        raise ConfigError(f"ys has shape {tuple(ys.shape)} but xs has {xs_chk.shape[0]} steps: expected ys [K]")
    burn = check_nonnegative_int(burn, "burn")
    check_finite_array(ys[burn:], f"ys[{burn}:] (the targets after the burn-in)")
    est = parse_grad(grad, allow_bptt=False)
    K = limit_kernel(xs, b0=b0, s_w=s_w, burn=burn, grad=grad, **kernel_kw)
    flow = kernel_flow(K, ys[burn:], alpha=alpha, t=t, h0=h0, symmetric=est.kind == "rtrl")
    if xs_eval is None:
        h = flow.h
    else:
        Kx = limit_kernel(xs, b0=b0, s_w=s_w, burn=burn, grad=grad, xs_eval=xs_eval, burn_eval=burn_eval, **kernel_kw)
        if (h0 is None) != (h0_eval is None):
            raise ConfigError("h0 and h0_eval go together: the initial field on the sample and off it")
        h = off_sample(flow, Kx, alpha=alpha, h0_eval=h0_eval)
    return h if jnp.ndim(t) else h[0]

"""The long-path limit in feature space (`rnnntk.diagonal.limit_path`): identity with the P-history
solver, the node rule by refinement, and the path average's L^{-1/2} error."""

import jax
import numpy as np
import pytest

import rnnntk
from rnnntk.diagonal import (
    coefficients,
    eval_features,
    get_activation,
    kernel_flow,
    limit_kernel,
    limit_loss,
    off_sample,
    parse_grad,
    path_limit,
    path_loss,
    path_moments,
    path_nodes,
    prepare_path_flow,
)

B0, SW, ALPHA = 0.5, 1.3, 5.0  # s_w other than one


def member_fields(xs, xe, burn_eval, dim, members=2, width=40):
    """Initial outputs of ``members`` random width-``width`` networks at ``beta = 1/2``: a
    ``beta = 1/2`` member's ``h_0`` along the path ``[M, K]`` and on the evaluation histories."""
    keys = jax.random.split(jax.random.key(5), members)
    ps = [rnnntk.init_params(k, width, dim, b0=B0, s_w=SW) for k in keys]
    h0 = np.stack([np.asarray(rnnntk.predict(p, xs, beta=0.5)) for p in ps])
    h0e = np.stack([np.asarray(rnnntk.predict(p, xe, beta=0.5))[burn_eval:] for p in ps])
    return h0, h0e


@pytest.mark.parametrize("dim,grad", [(1, "rtrl"), (1, "tbptt:2"), (2, "rtrl"), (2, "tbptt:2")])
def test_identity_with_the_p_history_solver(dim, grad):
    """pi the empirical law of the same P histories, the same nodes: h_t on and off the sample,
    with and without a beta = 1/2 initial field, and L(t) agree with `kernel_flow` /
    `off_sample` to 1e-10 (measured 2e-15 for rtrl, 3e-14 for tbptt:2)."""
    burn, burn_e, t = 40, 30, np.array([0.3, 1.0])
    xs, ys = rnnntk.make_dataset(jax.random.key(3), 200, dim=dim)
    xe, _ = rnnntk.make_dataset(jax.random.key(4), 80, dim=dim)
    nw, nb = (12, 5) if dim == 1 else (5, 4)
    kw = dict(b0=B0, s_w=SW, burn=burn, grad=grad, method="quadrature", n_w=nw, n_b=nb, w_rule="legendre_cdf")
    h0, h0e = member_fields(xs, xe, burn_e, dim)
    # reference: the P x P kernel solver
    K = limit_kernel(xs, **kw)
    Kx = limit_kernel(xs, xs_eval=xe, burn_eval=burn_e, **kw)
    sym = grad == "rtrl"
    # feature space, streamed in chunks of 17 steps (not a divisor of K)
    nodes = path_nodes(dim, b0=B0, s_w=SW, method="quadrature", n_w=nw, n_b=nb)
    act = get_activation("tanh")
    fields = np.concatenate([np.zeros((1, xs.shape[0])), h0])  # member 0: h_0 = 0
    fields_e = np.concatenate([np.zeros((1, h0e.shape[1])), h0e])
    mom = path_moments(nodes, np.asarray(xs), ys, burn=burn, est=parse_grad(grad), act=act, h0=fields, chunk=17)
    ode = prepare_path_flow(mom, alpha=ALPHA, symmetric=sym)
    a = coefficients(ode, mom.b_psi, t)
    on = np.einsum("mtf,qf->mtq", a, np.asarray(eval_features(nodes, xs, burn=burn, act=act)))
    off = np.einsum("mtf,qf->mtq", a, np.asarray(eval_features(nodes, xe, burn=burn_e, act=act)))
    loss = path_loss(mom, a)
    for m in range(3):
        flow = kernel_flow(K, ys[burn:], alpha=ALPHA, t=t, h0=fields[m, burn:], symmetric=sym)
        ref_off = off_sample(flow, Kx, alpha=ALPHA, h0_eval=fields_e[m])
        np.testing.assert_allclose(on[m] + fields[m, burn:], flow.h, rtol=0, atol=1e-10)
        np.testing.assert_allclose(off[m] + fields_e[m], ref_off, rtol=0, atol=1e-10)
        np.testing.assert_allclose(loss[m], limit_loss(flow, ys[burn:]), rtol=1e-10, atol=1e-12)
    assert np.ptp(off[1] - off[2]) > 0.05  # the members' initial fields matter
    if dim == 1 and grad == "rtrl":  # the public entry: limit_predict(eval_xs=...) and path_limit
        h = rnnntk.limit_predict(xs, ys, t=t, alpha=ALPHA, eval_xs=xe, burn_eval=burn_e, **kw)
        np.testing.assert_allclose(h, off[0], rtol=0, atol=1e-10)  # folded nodes (w, -w merged)
        r = path_limit(xs, ys, xe, t=1.0, alpha=ALPHA, burn_eval=burn_e, h0=h0[0], h0_eval=h0e[0], **kw)
        np.testing.assert_allclose(r.h[0, 0], off[1, 1] + h0e[0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.loss[0], loss[1, 1:], rtol=1e-10)
        assert r.features == 3 * nw * nb // 2


@pytest.mark.parametrize("dim,grad,rule,nw", [(1, "rtrl", "trapezoid", 11), (2, "tbptt:2", "legendre_cdf", 6)])
def test_folded_nodes_give_the_same_limit(dim, grad, rule, nw):
    """Merging the nodes w and -w (odd tanh) halves the features and keeps h_t and L(t) to 1e-10;
    an odd trapezoid rule keeps its w = 0 nodes once."""
    xs, ys = rnnntk.make_dataset(jax.random.key(8), 150, dim=dim)
    xe, _ = rnnntk.make_dataset(jax.random.key(9), 60, dim=dim)
    kw = dict(t=[0.5, 1.0], alpha=ALPHA, b0=B0, s_w=SW, burn=30, grad=grad, w_rule=rule, n_w=nw, n_b=4)
    full = path_limit(xs, ys, xe, fold=False, **kw)
    half = path_limit(xs, ys, xe, **kw)
    F = (2 + dim) * nw**dim * 4
    assert full.features == F and half.features == (F + (2 + dim) * 4 * (nw % 2)) // 2
    np.testing.assert_allclose(half.h, full.h, rtol=0, atol=1e-10)
    np.testing.assert_allclose(half.loss, full.loss, rtol=1e-10)


def test_monte_carlo_nodes_any_dimension():
    """d = 3: Monte Carlo nodes; the identity with the P-history solver on the same samples."""
    xs, ys = rnnntk.make_dataset(jax.random.key(6), 120, dim=3)
    kw = dict(b0=B0, s_w=SW, burn=30, grad="tbptt:1", method="monte_carlo", samples=64, key=jax.random.key(9))
    K = limit_kernel(xs, **kw)
    flow = kernel_flow(K, ys[30:], alpha=ALPHA, t=1.0, symmetric=False)
    r = path_limit(xs, ys, xs, t=1.0, alpha=ALPHA, **kw)
    assert r.features == 5 * 64
    np.testing.assert_allclose(r.h[0], flow.h, rtol=0, atol=1e-10)


def test_node_rule_by_refinement():
    """The default rule (d = 1: 32 x 6 Legendre nodes in (Phi(w / s_w), b)) against 64 x 8, on a
    2000-step path: rms change of h_T below 5e-5, 20 times below the 1e-3 floor the long path is
    for. Measured against 128 x 12 on a 4000-step path: rms 1.9e-4 (16 x 8), 4.3e-5 (24), 2.1e-5
    (32), 7.9e-6 (48), 3.7e-6 (64); n_b = 6, 8, 10 agree to 1e-9 (s_w = 1, b0 = 0.5)."""
    xs, ys = rnnntk.make_dataset(jax.random.key(1), 2100, dim=1)
    xe, _ = rnnntk.make_dataset(jax.random.key(2), 600, dim=1)
    kw = dict(t=1.0, alpha=ALPHA, b0=B0, s_w=1.0, burn=100)
    h = path_limit(xs, ys, xe, **kw).h[0, 0]
    fine = path_limit(xs, ys, xe, n_w=64, n_b=8, **kw).h[0, 0]
    coarse = path_limit(xs, ys, xe, n_w=12, n_b=4, **kw).h[0, 0]
    rms = lambda d: float(np.sqrt(np.mean(d**2)))  # noqa: E731
    assert rms(h - fine) < 5e-5
    assert rms(coarse - fine) > 5 * rms(h - fine)  # the refinement can tell a coarse rule apart


def test_path_average_error_falls_like_L_to_the_minus_half():
    """Limits from independent paths of length L differ by the path-average error. Its rms over
    the evaluation histories, estimated from the variance across 12 independent paths per L (11
    degrees of freedom; the error field has few dominant directions, so a handful of pairs
    scatters by a factor 2 to 3), falls like L^{-1/2}: the fitted slope over L = 500, 2000, 8000
    is within 0.15 of -1/2."""
    xe, _ = rnnntk.make_dataset(jax.random.key(2), 500, dim=1)
    Ls, paths = [500, 2000, 8000], 12
    D = []
    for L in Ls:
        hs = []
        for p in range(paths):
            xs, ys = rnnntk.make_dataset(jax.random.fold_in(jax.random.key(L), p), L + 100, dim=1)
            hs.append(path_limit(xs, ys, xe, t=1.0, alpha=ALPHA, b0=B0, s_w=1.0, burn=100, chunk=500).h[0, 0])
        D.append(np.sqrt(np.mean(np.var(np.stack(hs), axis=0, ddof=1))))
    slope = np.polyfit(np.log(Ls), np.log(D), 1)[0]
    assert abs(slope + 0.5) < 0.15, (D, slope)


def test_inputs_are_checked():
    xs, ys = rnnntk.make_dataset(jax.random.key(1), 60, dim=1)
    kw = dict(t=1.0, alpha=ALPHA, b0=B0, s_w=1.0, burn=10)
    with pytest.raises(rnnntk.ConfigError, match="h0 and h0_eval"):
        path_limit(xs, ys, xs, h0=np.zeros(60), **kw)
    with pytest.raises(rnnntk.ConfigError, match="not both"):
        rnnntk.limit_predict(xs, ys, xs_eval=xs, eval_xs=xs, **kw)
    with pytest.raises(rnnntk.ConfigError, match="ys"):
        path_limit(xs, ys[:-1], xs, **kw)
    with pytest.raises(rnnntk.ConfigError, match="alpha"):
        path_limit(xs, ys, xs, **{**kw, "alpha": 0.0})
    with pytest.raises(rnnntk.ConfigError, match="times >= 0"):
        path_limit(xs, ys, xs, **{**kw, "t": -1.0})
    with pytest.raises(rnnntk.ConfigError, match="b0"):
        path_limit(xs, ys, xs, **{**kw, "b0": 1.5})

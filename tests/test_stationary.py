"""The stationary-loss gradient estimator against independent references (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_diagonal import naive_outputs, naive_window_output

import rnnntk
from rnnntk import ConfigError
from rnnntk.diagonal import stationary_gradient


@pytest.fixture
def net(key):
    kp, kd = jax.random.split(key)
    params = rnnntk.init_params(kp, 7, 2, b0=0.8, c_dist="normal")
    return params, kd


def _flat(p):
    return np.concatenate([np.ravel(p.c), np.ravel(p.w), np.ravel(p.b)])


def test_rtrl_estimate_is_the_gradient_of_the_unrolled_path_loss(net):
    # On a finite path the ergodic average is exactly the gradient of the path's mean loss over
    # the kept steps; the reference differentiates a Python-unrolled network (no scan, no RTRL)
    # in reverse mode. Both are float64 sums of ~60 O(1) terms: agreement to 1e-12.
    params, kd = net
    xs, ys = rnnntk.make_dataset(kd, 63, dim=2, source=rnnntk.AR1(rho=0.7))
    burn, batches = 13, 5  # 50 kept steps in 5 batches of 10
    beta = 0.7

    def path_loss(c, w, b):
        yhat = naive_outputs(c, w, b, xs, beta)[burn:]
        return jnp.mean(0.5 * (ys[burn:] - yhat) ** 2)

    want = jax.grad(path_loss, argnums=(0, 1, 2))(*params)
    got = stationary_gradient(params, xs, ys, beta=beta, burn=burn, batches=batches)
    for g, w in zip(got.grad, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.loss, path_loss(*params), atol=1e-14)
    np.testing.assert_allclose(got.norm, np.linalg.norm(_flat(got.grad)), atol=1e-14)
    assert float(got.norm) > 1e-2  # the test compares something non-trivial


def test_rtrl_estimate_matches_finite_differences_of_the_ergodic_average(net):
    # Central differences of the average loss over a long path, the same path for +h and -h
    # (common random numbers): error O(h^2) ~ 1e-10 plus roundoff ~ 1e-16 / h = 1e-11.
    params, kd = net
    xs, ys = rnnntk.make_dataset(kd, 3000, dim=2, source=rnnntk.AR1(rho=0.5))
    burn, beta, h = 100, 0.75, 1e-5
    got = stationary_gradient(params, xs, ys, beta=beta, burn=burn, batches=29)

    def avg_loss(p):
        yhat = rnnntk.predict(p, xs, beta=beta)[burn:]
        return float(jnp.mean(0.5 * (ys[burn:] - yhat) ** 2))

    for field, idx in [("c", (3,)), ("w", (2, 1)), ("b", (0,)), ("b", (5,))]:
        arr = getattr(params, field)
        plus = params._replace(**{field: arr.at[idx].add(h)})
        minus = params._replace(**{field: arr.at[idx].add(-h)})
        fd = (avg_loss(plus) - avg_loss(minus)) / (2 * h)
        np.testing.assert_allclose(float(getattr(got.grad, field)[idx]), fd, rtol=0, atol=1e-8)


def test_tbptt_estimate_is_the_mean_truncated_direction(net):
    # Reference: at every step, the gradient of the output through the last tau steps with the
    # memory at the window's start held constant (jax.grad of a Python-unrolled window).
    params, kd = net
    xs, ys = rnnntk.make_dataset(kd, 36, dim=2, source=rnnntk.AR1(rho=0.7))
    burn, beta, tau = 6, 0.6, 3
    c, w, b = params
    n = c.shape[0]
    S = [jnp.zeros(n)]
    for x in xs:
        S.append(jnp.tanh(w @ x + b * S[-1]))
    total = [np.zeros(n), np.zeros((n, 2)), np.zeros(n)]
    for k in range(burn, len(xs)):
        lo = max(0, k - tau + 1)

        def out(cc, ww, bb, lo=lo, k=k):
            return naive_window_output([(cc, ww, bb)] * (k + 1 - lo), S[lo], xs[lo : k + 1], beta)

        yhat = float(out(c, w, b))
        gs = jax.grad(out, argnums=(0, 1, 2))(c, w, b)
        for t, g in zip(total, gs):
            t += (yhat - float(ys[k])) * np.asarray(g) / (len(xs) - burn)
    got = stationary_gradient(params, xs, ys, beta=beta, burn=burn, grad=f"tbptt:{tau}", batches=5)
    for g, want in zip(got.grad, total):
        np.testing.assert_allclose(g, want, rtol=0, atol=1e-12)
    exact = stationary_gradient(params, xs, ys, beta=beta, burn=burn, batches=5)
    assert np.max(np.abs(_flat(exact.grad) - _flat(got.grad))) > 1e-4  # truncation matters here


def test_noise_estimate_covers_the_spread_between_independent_paths(net):
    # Two independent long paths estimate the same stationary gradient; their difference must be
    # of the size the batch means predict (a 5-sigma band on a chi-like quantity of ~30 dims).
    params, _ = net
    ests = []
    for s in range(2):
        xs, ys = rnnntk.make_dataset(jax.random.key(100 + s), 20_200, dim=2, source=rnnntk.AR1(rho=0.5))
        ests.append(stationary_gradient(params, xs, ys, beta=0.75, burn=200, batches=40))
    diff = np.linalg.norm(_flat(ests[0].grad) - _flat(ests[1].grad))
    pred = np.hypot(float(ests[0].noise), float(ests[1].noise))
    assert 0.2 * pred < diff < 3.0 * pred
    # the debiased squared norm is the squared norm minus the noise
    e = ests[0]
    np.testing.assert_allclose(e.sq_norm, e.norm**2 - e.noise**2, rtol=1e-12)


def test_stacked_parameters_give_one_estimate_per_member(key):
    xs, ys = rnnntk.make_dataset(key, 300, dim=1)
    ps = [rnnntk.init_params(jax.random.key(s), 5, 1) for s in range(3)]
    stack = jax.tree.map(lambda *a: jnp.stack(a), *ps)
    got = stationary_gradient(stack, xs, ys, beta=0.75, burn=20, batches=4)
    assert got.norm.shape == (3,)
    for i, p in enumerate(ps):
        one = stationary_gradient(p, xs, ys, beta=0.75, burn=20, batches=4)
        np.testing.assert_allclose(got.grad.w[i], one.grad.w, atol=1e-15)


def test_bad_arguments_are_config_errors(key):
    xs, ys = rnnntk.make_dataset(key, 50, dim=1)
    p = rnnntk.init_params(key, 4, 1)
    with pytest.raises(ConfigError, match="batches"):
        stationary_gradient(p, xs, ys, beta=0.75, burn=0, batches=1)
    with pytest.raises(ConfigError, match="fewer than batches"):
        stationary_gradient(p, xs, ys, beta=0.75, burn=45, batches=10)
    with pytest.raises(ConfigError, match="grad"):
        stationary_gradient(p, xs, ys, beta=0.75, burn=0, grad="tbptt:0")

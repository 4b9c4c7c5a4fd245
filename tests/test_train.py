"""Online training: the scanned trainer against plain per-step loops, chunking, and float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_diagonal import naive_train

import rnnntk
from rnnntk.diagonal import current_params, init_state, train_steps


@pytest.fixture
def problem(key):
    kp, kd = jax.random.split(key)
    params = rnnntk.init_params(kp, 9, 2, b0=0.7, c_dist="normal")
    xs, ys = rnnntk.make_dataset(kd, 40, dim=2, source=rnnntk.AR1(rho=0.6))
    return params, xs, ys


# alpha is large enough that 40 steps at N = 9 move the parameters by O(1): a scan that reads
# stale parameters, updates sequentially or forgets the J carry differs by far more than the
# 1e-11 tolerance (float64 roundoff over 40 steps of O(1) quantities, amplified by the dynamics).
@pytest.mark.parametrize("grad,tau", [("rtrl", None), ("tbptt:1", 1), ("tbptt:3", 3)])
def test_scan_equals_naive_loop(problem, grad, tau):
    params, xs, ys = problem
    got = rnnntk.train_online(params, xs, ys, beta=0.75, alpha=3.0, grad=grad)
    want = naive_train(*params, xs, ys, beta=0.75, alpha=3.0, tau=tau)
    moved = max(float(np.max(np.abs(np.asarray(w) - np.asarray(p)))) for w, p in zip(want, params))
    assert moved > 1e-2, "the reference run must move the parameters for the test to mean anything"
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-11)


def test_tbptt_window_longer_than_run_equals_rtrl(problem):
    params, xs, ys = problem
    a = rnnntk.train_online(params, xs, ys, beta=0.6, alpha=5.0, grad="tbptt:40")
    b = rnnntk.train_online(params, xs, ys, beta=0.6, alpha=5.0, grad="rtrl")
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-13)


def test_chunked_run_equals_single_run(problem):
    params, xs, ys = problem
    whole = rnnntk.train_online(params, xs, ys, beta=0.75, alpha=3.0, grad="tbptt:4")
    state = init_state(params, grad="tbptt:4")
    losses = []
    for lo, hi in [(0, 7), (7, 25), (25, 40)]:
        state, m = train_steps(params, state, xs[lo:hi], ys[lo:hi], beta=0.75, alpha=3.0, grad="tbptt:4")
        losses.append(m.loss)
    assert int(state.step) == 40
    for x, y in zip(current_params(params, state), whole):
        np.testing.assert_allclose(x, y, atol=1e-14)
    # the logged loss is the loss of the output before each update
    yhat_first = rnnntk.predict(params, xs[:1], beta=0.75)
    np.testing.assert_allclose(jnp.concatenate(losses)[0], 0.5 * (ys[0] - yhat_first[0]) ** 2, atol=1e-14)


def test_lr_scale_zero_freezes_parameters_but_not_memory(problem):
    params, xs, ys = problem
    scale = jnp.concatenate([jnp.zeros(10), jnp.ones(30)])
    got = rnnntk.train_online(params, xs, ys, beta=0.75, alpha=3.0, lr_scale=scale)
    # reference: run the memory for 10 frozen steps, then train on the rest from that memory
    state = init_state(params)
    state, _ = train_steps(params, state, xs[:10], ys[:10], beta=0.75, alpha=1e-300)
    state = state._replace(delta=jax.tree.map(jnp.zeros_like, state.delta))
    state, _ = train_steps(params, state, xs[10:], ys[10:], beta=0.75, alpha=3.0)
    for x, y in zip(got, current_params(params, state)):
        np.testing.assert_allclose(x, y, atol=1e-14)


def test_float32_displacement_keeps_updates_a_naive_float32_update_loses(key):
    """At N = 2000, beta = 1/2, alpha = 1e-3 a step moves a parameter by about
    alpha N^{beta-2} = 1.1e-8, below half an ulp of 1 in float32 (6e-8)."""
    n, steps = 2000, 2000
    kp, kd = jax.random.split(key)
    p32 = rnnntk.init_params(kp, n, 1, dtype=jnp.float32)
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), p32)
    xs, ys = rnnntk.make_dataset(kd, steps, dim=1, dtype=jnp.float32)
    kw = dict(beta=0.5, alpha=1e-3)
    q64 = rnnntk.train_online(p64, xs.astype(jnp.float64), ys.astype(jnp.float64), **kw)
    q32 = rnnntk.train_online(p32, xs, ys, **kw)
    assert q32.c.dtype == jnp.float32

    def rel_displacement_error(q):
        return [
            float(jnp.linalg.norm((a.astype(jnp.float64) - a0) - (b - a0)) / jnp.linalg.norm(b - a0))
            for a, b, a0 in zip(q, q64, p64)
        ]

    # the displacement delta itself: measured 7e-7 (float32 roundoff); 1e-4 leaves a wide margin
    # and is still 1000x below what a naive update loses
    s32, _ = train_steps(p32, init_state(p32), xs, ys, **kw)
    s64, _ = train_steps(p64, init_state(p64), xs.astype(jnp.float64), ys.astype(jnp.float64), **kw)
    for d32, d64 in zip(s32.delta, s64.delta):
        assert float(jnp.linalg.norm(d32.astype(jnp.float64) - d64) / jnp.linalg.norm(d64)) < 1e-4
    # the returned theta_0 + delta is the float32 number nearest the float64 result (1 ulp)
    for a, b in zip(q32, q64):
        np.testing.assert_array_less(jnp.abs(a.astype(jnp.float64) - b), 1.5 * 2.0**-23 * jnp.abs(b) + 1e-30)

    # naive float32: fold every update into the parameters themselves (one step at a time, in a
    # scan rather than 2000 dispatches from Python)
    def naive_step(carry, xy):
        p, state = carry
        state, _ = train_steps(p, state, xy[0][None], xy[1][None], check=False, **kw)
        p = current_params(p, state)
        return (p, state._replace(delta=jax.tree.map(jnp.zeros_like, state.delta))), None

    (p, _), _ = jax.lax.scan(naive_step, (p32, init_state(p32)), (xs, ys))
    naive = rel_displacement_error(p)
    assert max(rel_displacement_error(q32)) < 0.02  # theta_0 + delta rounded once at the end
    assert naive[0] > 0.9  # c = +-1: every update of c is rounded away
    assert min(naive) > 0.2


def test_non_finite_training_raises(problem):
    params, xs, ys = problem
    with pytest.raises(FloatingPointError, match="non-finite"):
        rnnntk.train_online(params, xs * 1e3, ys * 1e200, beta=0.5, alpha=1e200)


@pytest.mark.parametrize("scale_ys", [1.0, 1e100])
def test_in_loop_summary_equals_per_step_outputs(problem, scale_ys):
    """train_online sums the losses and finds the first non-finite one inside the loop; the result
    must equal the checked train_steps program, which forms them from the per-step outputs."""
    from rnnntk.diagonal import get_activation, parse_grad
    from rnnntk.diagonal.train import _train_online_jit, _train_scan_checked

    params, xs, ys = problem
    est, act = parse_grad("rtrl"), get_activation("tanh")
    ys = ys * scale_ys
    alpha = 3.0 if scale_ys == 1.0 else 1e250  # the second run overflows after its first step
    state_a, flags_a = _train_online_jit(params, xs, ys, None, 0.75, alpha, est, act)
    state_b, metrics, flags_b = _train_scan_checked(params, init_state(params), xs, ys, None, 0.75, alpha, est, act)
    flags_a, flags_b = np.asarray(flags_a), np.asarray(flags_b)
    if scale_ys == 1.0:
        assert flags_b[0] == -1 and np.isfinite(flags_b[2])
        # mean of 40 float64 losses summed in two orders: roundoff 1e-15 relative
        np.testing.assert_allclose(flags_a, flags_b, rtol=1e-13)
        for x, y in zip(state_a.delta, state_b.delta):
            np.testing.assert_array_equal(x, y)
    else:
        assert flags_b[0] > 0, "the run must diverge after its first step for the test to mean anything"
        assert flags_a[0] == flags_b[0]
        assert flags_a[1] == flags_b[1]


def test_vmap_over_seeds_alpha_and_beta(key):
    """Ensembles: one vmapped program equals separate runs."""
    keys = jax.random.split(key, 3)
    params = jax.vmap(lambda k: rnnntk.init_params(k, 16, 1))(keys)
    xs, ys = rnnntk.make_dataset(jax.random.key(3), 50, dim=1)
    alphas = jnp.array([0.5, 1.0, 2.0])
    betas = jnp.array([0.5, 0.75, 1.0])

    def run(p, a, b):
        s, _ = train_steps(p, init_state(p), xs, ys, beta=b, alpha=a, check=False)
        return current_params(p, s)

    got = jax.jit(jax.vmap(run))(params, alphas, betas)
    for i in range(3):
        p = jax.tree.map(lambda a, i=i: a[i], params)
        want = rnnntk.train_online(p, xs, ys, beta=float(betas[i]), alpha=float(alphas[i]))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g[i], w, atol=1e-13)


def test_decay_schedule_is_the_chunked_learning_rate():
    from rnnntk.diagonal import decay_schedule

    full = decay_schedule(0, 30, k0=4.0, gamma=0.7)
    np.testing.assert_allclose(full, [(1 + k / 4.0) ** -0.7 for k in range(30)], rtol=1e-15)
    parts = [decay_schedule(0, 12, k0=4.0, gamma=0.7), decay_schedule(12, 18, k0=4.0, gamma=0.7)]
    np.testing.assert_array_equal(np.concatenate(parts), full)
    with pytest.raises(rnnntk.ConfigError, match="k0"):
        decay_schedule(0, 3, k0=0.0, gamma=1.0)
    with pytest.raises(rnnntk.ConfigError, match="gamma"):
        decay_schedule(0, 3, k0=1.0, gamma=-1.0)

"""Blocking for scale: kernels computed in small chunks equal the one-block computation, and the
trainer's internal variants (unrolled loop, fused checks) equal the plain scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnntk
import rnnntk.diagonal.ntk as ntk
from rnnntk.diagonal import get_activation, init_state, parse_grad, train_steps
from rnnntk.diagonal.train import _train_scan

ACT = get_activation("tanh")


@pytest.fixture(scope="module")
def units():
    kw, kb, ko = jax.random.split(jax.random.key(7), 3)
    U, d = 50, 2
    w = jax.random.normal(kw, (U, d))
    b = jax.random.uniform(kb, (U,), minval=-0.6, maxval=0.6)
    omega = jax.random.uniform(ko, (U,), minval=0.5, maxval=1.5) / U
    return w, b, omega, jnp.full((U,), 1.3)


def _paths():
    xa, _ = rnnntk.make_dataset(jax.random.key(1), 83, dim=2)
    xb, _ = rnnntk.make_dataset(jax.random.key(2), 71, dim=2)
    return xa, xb


HUGE = 1 << 40  # one chunk of units, one product


def _awkward_budget(P, Q, values, width, same):
    """A budget that gives several chunks of units with a padded last one, and several product
    row blocks with a partial last one (50 units, P rows)."""
    for budget in range(1000, 10**6, 97):
        u, r = ntk.plan_blocks(P, Q, 50, values=values, width=width, same=same, itemsize=8, chunk=2048, budget=budget)
        if 3 <= u <= 12 and 50 % u and 3 <= r < P and P % r:
            return budget
    raise AssertionError("no such budget")


@pytest.mark.parametrize(
    "grad,cross,memory_only", [("rtrl", False, False), ("tbptt:3", True, False), ("rtrl", True, True)]
)
def test_chunked_kernel_equals_unchunked(units, grad, cross, memory_only):
    w, b, omega, c2 = units
    xa, xb = _paths()
    kw = dict(burn_a=20, est=parse_grad(grad), act=ACT, memory_only=memory_only)
    if cross:
        kw.update(xs_b=xb, burn_b=11)
    P, Q = 63, 60 if cross else 63
    values, width = (1, 1) if memory_only else (2 * 2 + 3 if grad != "rtrl" else 4, 4)
    small = ntk.kernel_sum(w, b, omega, c2, xa, memory_budget=_awkward_budget(P, Q, values, width, not cross), **kw)
    whole = ntk.kernel_sum(w, b, omega, c2, xa, memory_budget=HUGE, chunk=10**6, **kw)
    assert small.shape == whole.shape == (P, Q)
    # float64 sums of 50 * (d + 2) terms of order one, added in a different order: roundoff is
    # ~1e-16 relative; 1e-13 leaves room and is far below any blocking error (a missed or doubled
    # chunk or row block changes entries by ~1e-2 relative)
    np.testing.assert_allclose(small, whole, rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(whole))))


def test_plan_blocks_respects_the_budget():
    for P, Q, d in [(10_000, 10_000, 1), (200, 200, 8), (10_000, 300, 3)]:
        budget = 1 << 26
        u, r = ntk.plan_blocks(
            P, Q, 10**6, values=d + 2, width=d + 2, same=P == Q, itemsize=8, chunk=2048, budget=budget
        )
        assert 8 * u * (P * 2 * (d + 2) + Q * (d + 2)) <= budget or u == 1
        assert 8 * r * Q <= budget // 4 or r == 1
        assert u >= 1 and 1 <= r <= P


def test_limit_kernel_and_covariance_under_a_small_budget(monkeypatch):
    xs, _ = rnnntk.make_dataset(jax.random.key(3), 70, dim=1)
    kw = dict(b0=0.5, s_w=1.0, burn=30, method="monte_carlo", samples=300, key=jax.random.key(4))
    K = rnnntk.limit_kernel(xs, **kw)
    C = rnnntk.limit_initial_covariance(xs, **kw)
    monkeypatch.setattr(ntk, "MEMORY_BUDGET", 20_000)
    Ks = rnnntk.limit_kernel(xs, **kw)
    Cs = rnnntk.limit_initial_covariance(xs, **kw)
    np.testing.assert_allclose(Ks, K, rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(K))))
    np.testing.assert_allclose(Cs, C, rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(C))))


@pytest.mark.parametrize("grad", ["rtrl", "tbptt:2"])
def test_unrolled_scan_equals_one_step_per_iteration(key, grad):
    """The scan runs several steps per loop iteration; 23 steps leave a remainder for any unroll."""
    p = rnnntk.init_params(key, 12, 2, b0=0.7, c_dist="normal")
    xs, ys = rnnntk.make_dataset(jax.random.key(9), 23, dim=2)
    est, st = parse_grad(grad), init_state(p, grad=grad)
    lr = jnp.linspace(0.0, 1.0, 23)
    for scale in (None, lr):
        one = _train_scan(p, st, xs, ys, scale, 0.75, 3.0, est, ACT, unroll=1)
        many = _train_scan(p, st, xs, ys, scale, 0.75, 3.0, est, ACT, unroll=5)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(many)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    assert int(many[0].step) == 23


def test_train_steps_reports_the_first_non_finite_step(key):
    p = rnnntk.init_params(key, 8, 1)
    xs, ys = rnnntk.make_dataset(jax.random.key(5), 12, dim=1)
    ys = ys.at[4:].set(1e308)  # finite data whose error overflows the loss from step 4 on
    with pytest.raises(FloatingPointError, match="at step 4 of this chunk"):
        train_steps(p, init_state(p), xs, ys, beta=0.75, alpha=1.0)


@pytest.mark.parametrize("d", [1, 3, 16, 17, 40])
def test_input_drive_is_the_matrix_vector_product(d):
    """Explicit sums for d <= 16, a dot above: both are w @ x (float64 roundoff of d terms)."""
    from rnnntk.diagonal import input_drive

    rng = np.random.default_rng(d)
    w, x = rng.standard_normal((30, d)), rng.standard_normal(d)
    np.testing.assert_allclose(input_drive(jnp.asarray(w), jnp.asarray(x)), w @ x, rtol=0, atol=1e-14 * d)

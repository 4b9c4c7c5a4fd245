"""The API's edges: each case gets a clear ConfigError naming the argument, or a correct result."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnntk import (
    ConfigError,
    Params,
    elman_limit_ntk,
    init_params,
    kernel_flow,
    limit_kernel,
    limit_loss,
    limit_predict,
    make_dataset,
    train_online,
)

LIM = dict(b0=0.5, s_w=1.0, burn=10)


@pytest.fixture
def path():
    xs, ys = make_dataset(jax.random.key(3), 30, dim=1, dtype=jnp.float64)
    return np.asarray(xs), np.asarray(ys)


@pytest.fixture
def p0(key):
    return init_params(key, 8, 1, b0=0.5, dtype=jnp.float64)


def test_train_online_on_an_empty_sequence(p0):
    with pytest.raises(ConfigError, match=r"len\(xs\) = 0 .*at least one step"):
        train_online(p0, np.zeros((0, 1)), np.zeros((0,)), beta=0.75, alpha=1.0)


def test_train_online_with_a_negative_lr_scale(p0, path):
    xs, ys = path
    lr = np.ones(len(ys))
    lr[3] = -0.5
    with pytest.raises(ConfigError, match=r"lr_scale holds 1 negative value\(s\) \(min -0.5\)"):
        train_online(p0, xs, ys, beta=0.75, alpha=1.0, lr_scale=lr)
    lr[3] = 0.0  # zero (a frozen step) is allowed
    train_online(p0, xs, ys, beta=0.75, alpha=1.0, lr_scale=lr)


@pytest.mark.parametrize("activation,b", [("tanh", 1.0), ("tanh", -1.3), ("sigmoid", 4.0)])
def test_train_online_without_contraction(p0, path, activation, b):
    xs, ys = path
    bad = Params(p0.c, p0.w, p0.b.at[2].set(b))
    with pytest.raises(ConfigError, match=rf"params.b = 'max \|b\| = {abs(b):g}' .*1 / sup\|sigma'\|"):
        train_online(bad, xs, ys, beta=0.75, alpha=1.0, activation=activation)


def test_limit_predict_with_nan_targets_after_the_burn_in(path):
    xs, ys = path
    y = ys.copy()
    y[15] = np.nan
    with pytest.raises(ConfigError, match=r"ys\[10:\] \(the targets after the burn-in\) holds 1 non-finite"):
        limit_predict(xs, y, t=1.0, alpha=1.0, **LIM)
    # NaN inside the burn-in is never read: the same result as any finite value there
    y = ys.copy()
    y[4] = np.nan
    np.testing.assert_array_equal(
        limit_predict(xs, y, t=1.0, alpha=1.0, **LIM), limit_predict(xs, ys, t=1.0, alpha=1.0, **LIM)
    )


def test_kernel_flow_and_limit_loss_with_nan_targets(path):
    xs, ys = path
    K = limit_kernel(xs, **LIM)
    y = ys[10:].copy()
    flow = kernel_flow(K, y, alpha=1.0, t=[0.0, 1.0])
    y[0] = np.nan
    with pytest.raises(ConfigError, match=r"ys holds 1 non-finite"):
        kernel_flow(K, y, alpha=1.0, t=1.0)
    with pytest.raises(ConfigError, match=r"ys holds 1 non-finite"):
        limit_loss(flow, y)
    with pytest.raises(ConfigError, match=r"ys has shape \(3,\): expected \[P\] = \[20\]"):
        limit_loss(flow, y[:3])


def test_limit_kernel_samples_and_chunk(path):
    xs, _ = path
    with pytest.raises(ConfigError, match=r"samples = 0 is not allowed: expected an integer >= 1"):
        limit_kernel(xs, method="monte_carlo", samples=0, **LIM)
    with pytest.raises(ConfigError, match=r"chunk = 0 is not allowed: expected an integer >= 1"):
        limit_kernel(xs, chunk=0, **LIM)
    # samples=None is the default, and the result does not depend on chunk
    a = limit_kernel(xs, method="monte_carlo", samples=None, **LIM)
    b = limit_kernel(xs, method="monte_carlo", samples=16384, chunk=1000, **LIM)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_limit_kernel_far_from_unit_scale_is_refused_before_allocation(path):
    """`limit_kernel(xs * 1e6)` used to raise numpy's MemoryError for 29 GiB."""
    xs, _ = path
    t0 = time.time()
    with pytest.raises(
        ConfigError, match=r"nodes of the initial law .* GiB, more than the memory budget .*NODE_MEMORY"
    ):
        limit_kernel(xs * 1e6, **LIM)
    assert time.time() - t0 < 5.0
    with pytest.raises(ConfigError, match=r"samples = 100000000"):
        limit_kernel(xs, method="monte_carlo", samples=10**8, **LIM)


def test_elman_limit_ntk_far_from_unit_scale():
    xs = np.asarray(jax.random.normal(jax.random.key(1), (3, 4, 2)))
    var = dict(var_w=1.0, var_u=1.0, var_b=0.0, var_v=1.0)
    # erf's closed form cancels catastrophically (NaN before): refused, naming the remedy
    with pytest.raises(ConfigError, match=r"inputs up to \|x\| = .*e\+20.*standardise the inputs"):
        elman_limit_ntk(xs * 1e20, **var, activation="erf")
    with pytest.raises(ConfigError, match=r"overflow float64"):
        elman_limit_ntk(xs * 1e160, **var, activation="relu")
    # relu is positively homogeneous: a correct (finite, rescaled) result; the bias term's "+ 1"
    # is 1e-20 relative at these scales; rtol 1e-7: arccos near cos = 1 (the diagonal) turns the
    # rounding of cos into errors of order sqrt(eps) ~ 1.5e-8, at any scale
    k20 = np.asarray(elman_limit_ntk(xs * 1e20, **var, activation="relu"))
    k10 = np.asarray(elman_limit_ntk(xs * 1e10, **var, activation="relu"))
    assert np.all(np.isfinite(k20))
    np.testing.assert_allclose(k20 / 1e40, k10 / 1e20, rtol=1e-7)
    # float32 overflows earlier and says so
    with pytest.raises(ConfigError, match=r"overflow float32"):
        elman_limit_ntk(jnp.asarray(xs * 1e20, jnp.float32), **var, activation="relu")

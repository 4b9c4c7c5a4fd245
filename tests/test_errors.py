"""Bad input fails early with a message naming the field and the allowed values."""

import jax
import jax.numpy as jnp
import pytest

import rnnntk
from rnnntk import ConfigError


@pytest.fixture
def small():
    p = rnnntk.init_params(jax.random.key(0), 8, 2)
    xs, ys = rnnntk.make_dataset(jax.random.key(1), 30, dim=2)
    return p, xs, ys


@pytest.mark.parametrize("beta", [0.49, 1.01, float("nan"), "x"])
def test_beta_out_of_range(small, beta):
    p, xs, ys = small
    with pytest.raises(ConfigError, match=r"beta = .* expected a number in \[1/2, 1\]"):
        rnnntk.train_online(p, xs, ys, beta=beta, alpha=1.0)
    with pytest.raises(ConfigError, match=r"beta"):
        rnnntk.predict(p, xs, beta=beta)


@pytest.mark.parametrize("b0", [1.0, 1.5, -0.1, 0.0])
def test_b0_breaking_the_contraction(b0):
    with pytest.raises(ConfigError, match=r"b0 = .*"):
        rnnntk.init_params(jax.random.key(0), 4, 1, b0=b0)
    xs = jnp.zeros((10, 1))
    with pytest.raises(ConfigError, match=r"b0"):
        rnnntk.limit_kernel(xs, b0=b0, s_w=1.0, burn=2)


def test_contraction_bound_depends_on_activation():
    rnnntk.init_params(jax.random.key(0), 4, 1, b0=3.0, activation="sigmoid")  # sup sigma' = 1/4
    with pytest.raises(ConfigError, match=r"0 < b0 < 4 .*activation=sigmoid"):
        rnnntk.init_params(jax.random.key(0), 4, 1, b0=4.0, activation="sigmoid")


def test_shape_mismatches(small):
    p, xs, ys = small
    with pytest.raises(ConfigError, match=r"xs has input dimension 3 but params.w has d = 2"):
        rnnntk.train_online(p, jnp.zeros((30, 3)), ys, beta=0.75, alpha=1.0)
    with pytest.raises(ConfigError, match=r"ys has shape \(29,\) but xs has 30 steps"):
        rnnntk.train_online(p, xs, ys[:-1], beta=0.75, alpha=1.0)
    with pytest.raises(ConfigError, match=r"expected \[K, d\]"):
        rnnntk.predict(p, jnp.zeros((3, 4, 2)), beta=0.75)
    bad = p._replace(b=p.b[:-1])
    with pytest.raises(ConfigError, match=r"params shapes .* do not match"):
        rnnntk.predict(bad, xs, beta=0.75)
    with pytest.raises(ConfigError, match=r"burn = 30 .* \[0, 30\)"):
        rnnntk.empirical_ntk(p, xs, burn=30)
    with pytest.raises(ConfigError, match=r"lr_scale has shape"):
        rnnntk.train_online(p, xs, ys, beta=0.75, alpha=1.0, lr_scale=jnp.ones(3))


def test_non_finite_inputs(small):
    p, xs, ys = small
    with pytest.raises(ConfigError, match=r"xs holds 1 non-finite"):
        rnnntk.train_online(p, xs.at[3, 0].set(jnp.nan), ys, beta=0.75, alpha=1.0)
    with pytest.raises(ConfigError, match=r"ys holds 1 non-finite"):
        rnnntk.train_online(p, xs, ys.at[0].set(jnp.inf), beta=0.75, alpha=1.0)
    with pytest.raises(ConfigError, match=r"xs holds"):
        rnnntk.limit_kernel(xs.at[0, 0].set(jnp.nan), b0=0.5, s_w=1.0, burn=5)


def test_bad_options(small):
    p, xs, ys = small
    with pytest.raises(ConfigError, match=r'grad = .*"rtrl", "tbptt:<tau>"'):
        rnnntk.train_online(p, xs, ys, beta=0.75, alpha=1.0, grad="tbptt:0")
    with pytest.raises(ConfigError, match=r"grad = 'sgd'"):
        rnnntk.empirical_ntk(p, xs, burn=3, grad="sgd")
    with pytest.raises(ConfigError, match=r'"bptt" is a frozen-parameter reference'):
        rnnntk.train_online(p, xs, ys, beta=0.75, alpha=1.0, grad="bptt")
    with pytest.raises(ConfigError, match=r"alpha = -1.0 .* > 0"):
        rnnntk.train_online(p, xs, ys, beta=0.75, alpha=-1.0)
    with pytest.raises(ConfigError, match=r"c_dist = 'uniform'"):
        rnnntk.init_params(jax.random.key(0), 4, 1, c_dist="uniform")
    with pytest.raises(ConfigError, match=r"activation = 'relu'"):
        rnnntk.predict(p, xs, beta=0.75, activation="relu")
    with pytest.raises(ConfigError, match=r'method = .*"auto", "quadrature" or "monte_carlo"'):
        rnnntk.limit_kernel(xs, b0=0.5, s_w=1.0, burn=5, method="exact")
    with pytest.raises(ConfigError, match=r"dim = 3 .*monte_carlo"):
        rnnntk.limit_kernel(jnp.zeros((10, 3)), b0=0.5, s_w=1.0, burn=5, method="quadrature")
    with pytest.raises(ConfigError, match=r"width = 0"):
        rnnntk.init_params(jax.random.key(0), 0, 1)
    with pytest.raises(ConfigError, match=r"t = .* times >= 0"):
        rnnntk.limit_predict(xs, ys, t=-1.0, alpha=1.0, b0=0.5, s_w=1.0, burn=5)


def test_state_of_another_estimator_is_refused(small):
    p, xs, ys = small
    state = rnnntk.init_state(p, grad="rtrl")
    with pytest.raises(ConfigError, match=r"grad=tbptt:3 needs"):
        rnnntk.train_steps(p, state, xs, ys, beta=0.75, alpha=1.0, grad="tbptt:3")

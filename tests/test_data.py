"""Data sources and targets against their definitions (spec section 1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnntk
from rnnntk import AR1, FiniteState, Logistic, Npz, SinLag, Teacher, make_dataset
from rnnntk.data import build_source, build_target


def test_ar1_is_stationary_with_lag_one_correlation_rho():
    xs, _ = make_dataset(jax.random.key(0), 200_000, dim=2, source=AR1(rho=0.8))
    x = np.asarray(xs)
    # AR(1) with rho = 0.8: the effective sample size is n (1 - rho) / (1 + rho) = 22000
    se = 1 / np.sqrt(22_000)
    assert np.all(np.abs(x.mean(0)) < 5 * se)
    assert np.all(np.abs(x.var(0) - 1) < 5 * np.sqrt(2) * se)
    r = (x[1:] * x[:-1]).mean(0) / x.var(0)
    assert np.all(np.abs(r - 0.8) < 5 * se)
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < 5 * se  # independent coordinates
    # stationary from the first sample: X_0 ~ N(0, 1) across keys
    keys = jax.random.split(jax.random.key(1), 20000)
    x0 = jax.vmap(lambda k: make_dataset(k, 2, dim=1, source=AR1(rho=0.8))[0][0, 0])(keys)
    assert abs(float(jnp.var(x0)) - 1) < 5 * np.sqrt(2 / 20000)


def test_finite_state_chain_has_its_invariant_law_and_transitions():
    src = FiniteState(states=4, seed=3)
    P, E, v = src.matrices(2)
    np.testing.assert_allclose(v @ P, v, atol=1e-12)
    xs, _ = make_dataset(jax.random.key(2), 100_000, dim=2, source=src)
    x = np.asarray(xs, np.float64)
    idx = np.argmin(((x[:, None, :] - E[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(x, E[idx], atol=1e-12)  # every sample is an embedded state
    freq = np.bincount(idx, minlength=4) / len(idx)
    np.testing.assert_allclose(freq, v, atol=0.01)
    counts = np.zeros((4, 4))
    np.add.at(counts, (idx[:-1], idx[1:]), 1)
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), P, atol=0.02)


def test_finite_state_user_matrix_is_validated():
    with pytest.raises(rnnntk.ConfigError, match="not stochastic"):
        FiniteState(states=2, transition=[[0.5, 0.6], [0.5, 0.5]]).matrices(1)
    with pytest.raises(rnnntk.ConfigError, match="not irreducible and aperiodic"):
        FiniteState(states=2, transition=[[0.0, 1.0], [1.0, 0.0]]).matrices(1)
    with pytest.raises(rnnntk.ConfigError, match="embedding"):
        FiniteState(states=2, transition=[[0.5, 0.5], [0.5, 0.5]], embedding=[[1.0], [2.0]]).matrices(3)


def test_logistic_follows_the_arcsine_law():
    xs, _ = make_dataset(jax.random.key(3), 100_000, dim=1, source=Logistic(noise=1e-6))
    x = np.sort(np.asarray(xs[:, 0], np.float64))
    assert x.min() >= 0 and x.max() <= 1
    cdf = 2 / np.pi * np.arcsin(np.sqrt(x))
    ks = np.max(np.abs(cdf - np.arange(1, len(x) + 1) / len(x)))
    assert ks < 0.01  # chaotic map, fast decay of correlations; i.i.d. KS at 1e5 would be ~0.004


def test_sin_lag_target_matches_its_formula():
    xs, ys = make_dataset(jax.random.key(4), 500, dim=3, source=AR1(rho=0.3), target=SinLag())
    u = np.ones(3) / np.sqrt(3)
    x = np.asarray(xs)
    want = np.sin(2 * x[1:] @ u) + 0.5 * np.cos(x[:-1] @ u)
    np.testing.assert_allclose(ys[1:], want, atol=1e-12)


def test_teacher_target_is_a_fixed_network():
    t = Teacher(width=16, seed=7, burn=30)
    xs, ys = make_dataset(jax.random.key(5), 200, dim=2, target=t)
    tp = rnnntk.init_params(jax.random.key(7), 16, 2)
    # plain loop, from zero memory 30 samples before xs[0]: the first outputs differ by at most
    # b0^30 (memory forgetting); later ones agree to roundoff
    S = np.zeros(16)
    out = []
    for x in np.asarray(xs):
        S = np.tanh(np.asarray(tp.w) @ x + np.asarray(tp.b) * S)
        out.append(np.asarray(tp.c) @ S / 4.0)
    np.testing.assert_allclose(ys[40:], np.array(out)[40:], atol=1e-10)
    # noise is added on top, from the key
    _, yn = make_dataset(jax.random.key(5), 200, dim=2, target=Teacher(width=16, seed=7, burn=30, noise=0.1))
    assert 0.05 < float(jnp.std(yn - ys)) < 0.15


def test_sampling_is_jittable_and_vmappable():
    f = jax.jit(jax.vmap(lambda k: make_dataset(k, 64, dim=2, source=AR1(0.5), target=Teacher(width=8))))
    xs, ys = f(jax.random.split(jax.random.key(0), 3))
    assert xs.shape == (3, 64, 2) and ys.shape == (3, 64)
    assert not np.allclose(xs[0], xs[1])  # seeds differ
    k1 = jax.random.split(jax.random.key(0), 3)[1]
    x1, y1 = make_dataset(k1, 64, dim=2, source=AR1(0.5), target=Teacher(width=8))
    np.testing.assert_allclose(xs[1], x1, atol=1e-14)


def test_npz_roundtrip_and_errors(tmp_path):
    X = np.random.default_rng(0).standard_normal((50, 2))
    Y = X[:, 0] ** 2
    good = tmp_path / "seq.npz"
    np.savez(good, X=X, Y=Y)
    xs, ys = make_dataset(jax.random.key(0), 40, source=Npz(str(good)))
    np.testing.assert_allclose(xs, X[:40])
    np.testing.assert_allclose(ys, Y[:40])
    with pytest.raises(rnnntk.ConfigError, match="no such file"):
        make_dataset(jax.random.key(0), 10, source=Npz(str(tmp_path / "nope.npz")))
    np.savez(tmp_path / "nokey.npz", X=X)
    with pytest.raises(rnnntk.ConfigError, match=r"lacks array\(s\) \['Y'\]"):
        make_dataset(jax.random.key(0), 10, source=Npz(str(tmp_path / "nokey.npz")))
    np.savez(tmp_path / "shape.npz", X=X, Y=Y[:-1])
    with pytest.raises(rnnntk.ConfigError, match="50 steps but Y has 49"):
        make_dataset(jax.random.key(0), 10, source=Npz(str(tmp_path / "shape.npz")))
    np.savez(tmp_path / "ndim.npz", X=X[None], Y=Y)
    with pytest.raises(rnnntk.ConfigError, match=r"expected a numeric \[K, d\] array"):
        make_dataset(jax.random.key(0), 10, source=Npz(str(tmp_path / "ndim.npz")))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=Xn, Y=Y)
    with pytest.raises(rnnntk.ConfigError, match="non-finite"):
        make_dataset(jax.random.key(0), 10, source=Npz(str(tmp_path / "nan.npz")))
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(rnnntk.ConfigError, match="not a readable .npz"):
        make_dataset(jax.random.key(0), 10, source=Npz(str(tmp_path / "junk.npz")))
    with pytest.raises(rnnntk.ConfigError, match="holds 50 steps but 60"):
        make_dataset(jax.random.key(0), 60, source=Npz(str(good)))


def test_registry_builds_and_rejects():
    assert build_source("ar1", rho=0.2) == AR1(rho=0.2)
    assert build_target("teacher", width=8).width == 8
    with pytest.raises(rnnntk.ConfigError, match=r"data.source = 'arma' .* one of"):
        build_source("arma")
    with pytest.raises(rnnntk.ConfigError, match=r"data.rho = 1.0 .* \|rho\| < 1"):
        build_source("ar1", rho=1.0)
    with pytest.raises(rnnntk.ConfigError, match=r"option\(s\) \['sigma'\]"):
        build_source("logistic", sigma=0.1)


def test_delay_target_matches_its_formula():
    from rnnntk.data import Delay

    xs, ys = make_dataset(jax.random.key(6), 300, dim=2, source=AR1(rho=0.0), target=Delay(lag=3))
    x = np.asarray(xs)
    u = np.ones(2) / np.sqrt(2)
    np.testing.assert_allclose(ys[3:], np.sin(2 * x[:-3] @ u), atol=1e-12)
    # the first 3 targets read inputs drawn before xs[0] (the sampler draws the lags first)
    assert float(jnp.max(jnp.abs(ys))) <= 1.0
    with pytest.raises(rnnntk.ConfigError, match=r"target.lag = 0"):
        Delay(lag=0)

"""Real series from an installed package and the synthetic limit order book."""

import csv
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnntk
from rnnntk import ConfigError
from rnnntk.data import (
    LOB,
    Real,
    build_source,
    poisson_inverse,
    read_series,
    sample_lob,
    simulate_book,
    standardise_split,
)
from rnnntk.data.lob import _binomial
from rnnntk.run import build_data

# ----------------------------------------------------------------------------- real series


def _raw_csv(folder, file, column):
    root = list(importlib.util.find_spec("statsmodels").submodule_search_locations)[0]
    with open(os.path.join(root, "datasets", folder, file), newline="") as f:
        rows = list(csv.DictReader(f))
    return [r[column] for r in rows]


def test_sunspots_are_the_packaged_file_as_inputs_and_next_value_targets():
    raw = np.array([float(v) for v in _raw_csv("sunspots", "sunspots.csv", "SUNACTIVITY")])
    assert len(raw) == 309 and raw[0] == 5.0  # 1700
    sp = Real(series="sunspots", split=0.8).load()
    n = sp.n_train
    assert n == int(0.8 * 308) and sp.X.shape == (308, 1) and sp.Y.shape == (308,)
    # undo the standardisation: X_k = z_k, Y_k = z_{k+1}
    np.testing.assert_allclose(sp.X[:, 0] * sp.std[0] + sp.mean[0], raw[:-1], atol=1e-9)
    np.testing.assert_allclose(sp.Y * sp.y_std + sp.y_mean, raw[1:], atol=1e-9)
    # statistics of the training part only
    np.testing.assert_allclose(sp.mean[0], raw[:n].mean(), atol=1e-12)
    np.testing.assert_allclose(sp.y_mean, raw[1 : n + 1].mean(), atol=1e-12)
    np.testing.assert_allclose(sp.X[:n].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(sp.X[:n].std(), 1.0, atol=1e-12)
    assert abs(sp.X[n:].mean()) > 0.05  # the test part is not re-centred (it would leak)


def test_co2_missing_weeks_are_interpolated_and_transforms_apply():
    raw = _raw_csv("co2", "co2.csv", "co2")
    missing = [i for i, v in enumerate(raw) if not v.strip()]
    assert len(missing) > 10
    z = read_series("co2")[:, 0]
    assert np.all(np.isfinite(z))
    i = missing[0]  # an isolated gap lies on the line between its neighbours
    if raw[i - 1].strip() and raw[i + 1].strip():
        np.testing.assert_allclose(z[i], 0.5 * (float(raw[i - 1]) + float(raw[i + 1])), atol=1e-12)
    d = Real(series="co2", transform="diff").load()
    np.testing.assert_allclose(d.X[:, 0] * d.std[0] + d.mean[0], np.diff(z)[:-1], atol=1e-9)
    m = Real(series="macro", transform="logdiff", target=0).load()
    gdp = read_series("macro")[:, 0]
    assert m.X.shape[1] == 3
    np.testing.assert_allclose(m.Y * m.y_std + m.y_mean, 100 * np.diff(np.log(gdp))[1:], atol=1e-9)


def test_real_source_through_the_registry_and_make_dataset():
    src = build_source("real", series="sunspots", split=0.5)
    xs, ys = rnnntk.make_dataset(jax.random.key(0), 100, source=src, dtype=jnp.float64)
    sp = src.load()
    np.testing.assert_array_equal(xs, sp.X[:100])
    with pytest.raises(ConfigError, match="training part of 154 steps"):
        rnnntk.make_dataset(jax.random.key(0), 200, source=src)
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {"data": {"source": "real", "series": "macro", "transform": "logdiff"}, "target": {"name": "sin_lag"}}
    )
    assert build_data(cfg)[2] == 3


@pytest.mark.parametrize(
    "options,match",
    [
        ({"series": "nile_flood"}, r"data.series = 'nile_flood' .* one of \['co2', 'macro', 'sunspots'\]"),
        ({"transform": "log"}, r"data.transform = 'log'"),
        ({"split": 1.0}, r"data.split = 1.0"),
        ({"series": "sunspots", "target": 1}, r"data.target = 1"),
        ({"window": 3}, r"not understood by Real"),
    ],
)
def test_bad_real_options_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        build_source("real", **options)


def test_standardise_split_uses_only_the_training_part():
    X = np.arange(10.0)[:, None]
    sp = standardise_split(X, np.arange(10.0) * 2, 4)
    np.testing.assert_allclose(sp.mean, [1.5])
    np.testing.assert_allclose(sp.X[:4, 0].std(), 1.0)
    with pytest.raises(ConfigError):
        standardise_split(X, np.arange(10.0), 10)


# ----------------------------------------------------------------------------- samplers


def test_poisson_and_binomial_inversion_match_their_laws():
    from math import comb, exp, factorial

    u = jax.random.uniform(jax.random.key(0), (200_000,), jnp.float64)
    for lam in (0.6, 4.0):
        k = np.asarray(poisson_inverse(u, lam)).astype(int)
        freq = np.bincount(k, minlength=12)[:12] / len(k)
        pmf = np.array([exp(-lam) * lam**j / factorial(j) for j in range(12)])
        # multinomial frequencies: 5 standard errors of 2e5 draws
        np.testing.assert_array_less(np.abs(freq - pmf), 5 * np.sqrt(pmf * (1 - pmf) / len(k)) + 1e-12)
    n = jnp.full((200_000,), 9.0)
    k = np.asarray(_binomial(u, n, jnp.asarray(0.3))).astype(int)
    freq = np.bincount(k, minlength=10) / len(k)
    pmf = np.array([comb(9, j) * 0.3**j * 0.7 ** (9 - j) for j in range(10)])
    np.testing.assert_array_less(np.abs(freq - pmf), 5 * np.sqrt(pmf * (1 - pmf) / len(k)) + 1e-12)
    assert np.all(np.asarray(_binomial(u[:10], jnp.zeros(10), jnp.asarray(0.3))) == 0)


# ----------------------------------------------------------------------------- order book


@pytest.fixture(scope="module")
def book():
    src = LOB()
    books, X = simulate_book(jax.random.key(7), src, 20_000, jnp.float64)
    return src, jax.tree.map(np.asarray, books), np.asarray(X)


def test_book_is_never_crossed_and_depths_are_valid(book):
    src, b, _ = book
    assert np.all(b.pa - b.pb >= 1)  # never crossed nor locked
    assert np.all(b.Qb >= 0) and np.all(b.Qa >= 0)
    assert np.all(b.Qb[:, 0] >= 1) and np.all(b.Qa[:, 0] >= 1)  # best levels hold orders
    np.testing.assert_array_equal(b.Qb, np.round(b.Qb))  # whole orders
    # the spread is narrow most of the time but does open up
    spread = b.pa - b.pb
    assert 0.3 < np.mean(spread == 1) < 0.9 and spread.max() >= 3


def test_mid_price_moves_are_consistent_with_the_book(book):
    src, b, X = book
    mid = 0.5 * (b.pa + b.pb)
    dpb, dpa = np.diff(b.pb), np.diff(b.pa)
    spread = (b.pa - b.pb)[:-1]
    # a best quote moves towards the other side only by one tick (price improvement inside the
    # spread), and away from it only as levels empty (at most all the levels of the window)
    assert np.all(dpb <= 1) and np.all(dpa >= -1)
    assert dpb.min() >= -src.levels and dpa.max() <= src.levels
    # both improve in one step only if the spread was wide enough for two orders inside it, or
    # opened up in the same step
    both = (dpb == 1) & (dpa == -1)
    assert np.all((spread[both] >= 3) | (np.diff(b.Qa[:, 0] + b.Qb[:, 0])[both] != 0))
    assert np.any(dpb == 1) and np.any(dpa == -1)
    # features: the last move, the spread and the queue imbalance read off the book
    np.testing.assert_allclose(X[1:, 3], np.diff(mid), atol=0)
    np.testing.assert_allclose(X[:, 1], b.pa - b.pb - 1, atol=0)
    np.testing.assert_allclose(X[:, 2], (b.Qb[:, 0] - b.Qa[:, 0]) / (b.Qb[:, 0] + b.Qa[:, 0]), atol=1e-15)
    # the order-flow imbalance from the best quotes before and after each step
    e = (
        (b.pb[1:] >= b.pb[:-1]) * b.Qb[1:, 0]
        - (b.pb[1:] <= b.pb[:-1]) * b.Qb[:-1, 0]
        - (b.pa[1:] <= b.pa[:-1]) * b.Qa[1:, 0]
        + (b.pa[1:] >= b.pa[:-1]) * b.Qa[:-1, 0]
    )
    np.testing.assert_allclose(X[1:, 0], e / src.ofi_scale, atol=1e-15)
    # the queue imbalance predicts the next move (the thinner side depletes first), which is
    # what makes the target learnable; the mid price itself moves in about half the steps
    assert np.corrcoef(X[:-1, 2], np.diff(mid))[0, 1] > 0.15
    assert 0.2 < np.mean(np.diff(mid) != 0) < 0.8


def test_targets_are_the_next_mid_move(book):
    src, b, X = book
    # sample_lob(n) runs the book for n + 1 steps: the fixture's run, same key
    xs, ys = sample_lob(jax.random.key(7), src, len(b.pb) - 1, jnp.float64)
    mid = 0.5 * (b.pa + b.pb)
    np.testing.assert_array_equal(ys, np.diff(mid))
    np.testing.assert_array_equal(xs, X[:-1])
    np.testing.assert_array_equal(xs[1:, 3], ys[:-1])  # yesterday's target is today's input


def test_book_features_are_stationary_and_symmetric(book):
    # Batch means over 20 batches of 1000 steps: the two halves of the run have the same feature
    # means within 5 standard errors, and the mean mid move and order-flow imbalance vanish (the
    # model treats both sides alike).
    _, _, X = book
    bm = X.reshape(20, 1000, 4).mean(axis=1)
    se = bm.std(axis=0, ddof=1) / np.sqrt(10)
    diff = bm[:10].mean(axis=0) - bm[10:].mean(axis=0)
    np.testing.assert_array_less(np.abs(diff), 5 * np.sqrt(2) * se)
    overall_se = bm.std(axis=0, ddof=1) / np.sqrt(20)
    assert abs(bm[:, 3].mean()) < 5 * overall_se[3] and abs(bm[:, 0].mean()) < 5 * overall_se[0]
    assert abs(bm[:, 2].mean()) < 5 * overall_se[2]


def test_lob_is_a_data_source_and_vmaps(book):
    src = build_source("lob", levels=3, burn=50)
    assert src.dim == 4
    f = jax.jit(jax.vmap(lambda k: rnnntk.make_dataset(k, 64, source=src)))
    xs, ys = f(jax.random.split(jax.random.key(0), 3))
    assert xs.shape == (3, 64, 4) and ys.shape == (3, 64)
    assert not np.allclose(xs[0], xs[1])
    with pytest.raises(ConfigError, match="data.cancel"):
        build_source("lob", cancel=1.5)
    with pytest.raises(ConfigError, match="data.levels"):
        build_source("lob", levels=0)

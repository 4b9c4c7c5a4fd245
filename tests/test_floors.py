"""Floors and loss bins are honest: a user's single path gives its limit bags disjoint segments (a
floor estimated from them, never the zero of identical bags); loss bins never stand in a zero for
a bin without steps, and their count adapts to the steps of the narrowest width."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rnnntk.experiments.loss_curves import mean_abs_gap

from rnnntk import ConfigError, make_dataset
from rnnntk.diagonal import last_loss, loss_bin_count, spec_from_config
from rnnntk.diagonal.study import _loss_bin
from rnnntk.run import compose, run

QUIET = ["scale=tiny", "logger=none", "progress=false"]


def _user_file(tmp_path, length, scale=1.0):
    xs, ys = make_dataset(jax.random.key(5), length, dim=1, dtype=jnp.float64)
    p = tmp_path / "seq.npz"
    np.savez(p, X=np.asarray(xs) * scale, Y=np.asarray(ys))
    return str(p)


@pytest.mark.parametrize(
    "limit", ["limit.law=histories limit.bags=2", "limit.law=histories limit.bags=1 limit.Q=null", "limit.law=path"]
)
def test_npz_floor_comes_from_disjoint_segments(tmp_path, limit):
    # inputs at 1e4 times unit scale, standardised by the data option
    path = _user_file(tmp_path, 400, scale=1e4)
    args = ["experiment=convergence", *QUIET, "data=npz", f"data.path={path}", "data.standardise=true"]
    res = run(compose([*args, *limit.split()], out_dir=str(tmp_path / "run")))
    floor = np.asarray(res["study"]["per_grad"]["rtrl"]["floor"], np.float64)  # [alphas, C + 1]
    assert np.all(np.isfinite(floor))
    # h_0 = 0 in every bag (the floor at t = 0 is exactly 0); afterwards the bags differ
    assert np.all(floor[:, 0] == 0.0)
    assert np.all(floor[:, 1:] > 1e-6)


def test_npz_too_short_for_disjoint_segments(tmp_path):
    path = _user_file(tmp_path, 120)  # evaluation 30 + 20, two bags of 30 + 20 would need 150
    args = ["experiment=convergence", *QUIET, "data=npz", f"data.path={path}", "limit.law=histories"]
    with pytest.raises(ConfigError, match=r"holds 120 steps but the limit needs 150: .*lower limit.P or limit.bags"):
        run(compose(args, out_dir=str(tmp_path / "run")))
    # the path law: the file after the evaluation histories (70 steps) holds fewer than burn + 10 x batches
    path = _user_file(tmp_path, 100)
    args = ["experiment=convergence", *QUIET, "data=npz", f"data.path={path}", "limit.law=path"]
    with pytest.raises(ConfigError, match=r"holds 100 steps but the path limit needs 110: .*lower limit.Q or limit"):
        run(compose(args, out_dir=str(tmp_path / "run")))


@functools.cache
def _loss_curves_cfg():
    return compose(["experiment=loss_curves", "scale=tiny"])  # read only: composed once


def _spec(widths, T, bins=40):
    return spec_from_config(_loss_curves_cfg(), widths=widths, T=T, loss_bins=bins)


def test_loss_bins_adapt_to_each_width():
    """`experiment=loss_curves scale=quick training.T=0.2` left 20 of 40 bins of N = 100 empty."""
    spec = _spec([100, 400, 1600, 6400], 0.2)
    assert [loss_bin_count(spec, n) for n in spec.widths] == [20, 40, 40, 40]
    # every bin holds a step, checked by counting (a naive loop), and one more bin would leave one empty
    for widths, T, bins in itertools.product([[8, 16], [100, 400], [7, 30, 101], [3]], [0.2, 0.5, 1.3, 4.0], [5, 40]):
        spec = _spec(widths, T, bins)
        for n in widths:
            B = loss_bin_count(spec, n)
            assert 1 <= B <= bins
            assert loss_bin_count(_spec([n], T, bins), n) == B  # the other widths do not matter
            K = max(1, int(np.floor(T * n)))
            counts = np.zeros(B, int)
            for k in range(K):
                counts[_loss_bin(k, n, T, B)] += 1
            assert counts.min() >= 1, (widths, T, bins, n, counts)
            if B < bins:
                seen = {int(_loss_bin(k, n, T, B + 1)) for k in range(K)}
                assert len(seen) < B + 1, (n, T, bins, B)


def test_loss_curves_run_has_no_zero_bins(tmp_path):
    res = run(compose(["experiment=loss_curves", *QUIET, "training.T=2.0"], out_dir=str(tmp_path)))
    r = res["study"]["per_grad"]["rtrl"]
    loss = np.asarray(r["loss"], np.float64)  # [W, S, G, 40]: each width's bins, then NaN
    bin_t = np.asarray(r["bin_t"], np.float64)  # [W, 40]
    for i, bins in enumerate([16, 32]):  # N = 8, 16 at T = 2: 16 and 32 steps, one bin per step
        assert np.all(np.isfinite(loss[i, ..., :bins])) and np.all(loss[i, ..., :bins] > 0)
        assert np.all(np.isnan(loss[i, ..., bins:])) and np.all(np.isnan(bin_t[i, bins:]))
        np.testing.assert_allclose(bin_t[i, :bins], (np.arange(bins) + 0.5) * 2.0 / bins, rtol=1e-12)


def test_missing_bins_are_skipped_not_zero():
    t = np.array([0.5, 1.5, 2.5, 3.5])
    curve = np.array([1.0, np.nan, 3.0, np.nan])
    limit_t, limit = np.array([0.0, 4.0]), np.array([0.0, 0.0])
    assert mean_abs_gap(curve, t, limit_t, limit) == pytest.approx(2.0)  # (1 + 3) / 2, not (1 + 3) / 4
    assert np.isnan(mean_abs_gap(np.full(4, np.nan), t, limit_t, limit))
    loss = np.array([[1.0, 2.0, np.nan], [np.nan, np.nan, np.nan], [4.0, np.nan, 5.0]])
    np.testing.assert_array_equal(last_loss(loss), [2.0, np.nan, 5.0])

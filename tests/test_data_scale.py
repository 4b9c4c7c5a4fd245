"""A user's data is checked for scale before any compute: inputs far from unit scale are refused
(with the remedy), a standard deviation far from one is warned about, and ``data.standardise``
rescales with the file's own statistics."""

import time

import numpy as np
import pytest

from rnnntk import ConfigError, Npz, ensemble
from rnnntk.data import NPZ_MAX_ABS
from rnnntk.run import compose, run

QUIET = ["scale=tiny", "logger=none", "progress=false"]


def _file(tmp_path, X, Y, name="seq.npz"):
    p = tmp_path / name
    np.savez(p, X=X, Y=Y)
    return str(p)


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)) * np.array([3.0, 0.5]) + np.array([1.0, -2.0])
    return X, np.sin(X[:, 0]) + 0.1 * rng.normal(size=300)


def test_inputs_far_from_unit_scale_are_refused_before_compute(tmp_path, xy):
    X, Y = xy
    path = _file(tmp_path, X * 1e4, Y)
    before = sum(ensemble.TRACES.values())
    t0 = time.time()
    with pytest.raises(
        ConfigError, match=rf"data.path = .*seq.npz.*reaches \|x\| = .*at most {NPZ_MAX_ABS:g}.*data.standardise=true"
    ):
        run(compose(["experiment=convergence", *QUIET, "data=npz", f"data.path={path}"], out_dir=str(tmp_path / "r")))
    assert sum(ensemble.TRACES.values()) == before and time.time() - t0 < 30


def test_standardise_uses_the_file_statistics(tmp_path, xy):
    X, Y = xy
    path = _file(tmp_path, X * 1e4, Y * 100.0)
    Xs, Ys = Npz(path, standardise=True, standardise_y=True).load()
    np.testing.assert_allclose(Xs, (X - X.mean(0)) / X.std(0), rtol=1e-9, atol=1e-12)  # the 1e4 cancels
    np.testing.assert_allclose(Ys, (Y - Y.mean()) / Y.std(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([Xs.mean(0), Xs.std(0)], [[0, 0], [1, 1]], atol=1e-12)
    # only X asked: Y untouched (and warned about: std 100 is outside [0.1, 10])
    with pytest.warns(UserWarning, match=r"Y has standard deviation .*data.standardise_y=true"):
        _, Y1 = Npz(path, standardise=True).load()
    np.testing.assert_array_equal(Y1, Y * 100.0)


def test_a_standard_deviation_far_from_one_is_warned_about(tmp_path, xy):
    X, Y = xy
    X = X.copy()
    X[:, 1] *= 0.01  # std 0.005, max |x| small: accepted, with a warning naming the coordinate
    path = _file(tmp_path, X, Y)
    match = r"X coordinate\(s\) \[1\] have standard deviation \[0.00\d+\], outside \[0.1, 10\]"
    with pytest.warns(UserWarning, match=match):
        Npz(path).load()


def test_standardise_edge_cases(tmp_path, xy):
    X, Y = xy
    X = X.copy()
    X[:, 1] = 7.0
    path = _file(tmp_path, X, Y)
    with pytest.raises(ConfigError, match=r"column\(s\) \[1\] are constant and cannot be standardised"):
        Npz(path, standardise=True).load()
    with pytest.raises(ConfigError, match=r"data.standardise = 'yes' is not allowed: expected true or false"):
        Npz(path, standardise="yes")

"""Real series that ship inside an installed package, as one-step-ahead forecasting problems.

The series are the data files of `statsmodels` (read directly from the installed package's
folder, without importing statsmodels or pandas):

- ``sunspots``: yearly mean sunspot numbers, 1700-2008 (309 values, univariate).
- ``co2``: weekly atmospheric CO2 at Mauna Loa, March 1958 - December 2001 (2284 weeks,
  univariate; the 59 missing weeks are filled by linear interpolation in time).
- ``macro``: quarterly US real GDP, consumption and investment, 1959-2009 (203 quarters,
  multivariate, ``d = 3``; the forecast target is real GDP).

A series ``z_0, ..., z_T`` (``[T + 1, m]`` after the optional ``transform``: ``diff`` for first
differences, ``logdiff`` for log growth rates in percent) becomes inputs ``X_k = z_k`` and targets
``Y_k = z_{k+1}[target]`` (the next value of one coordinate), ``k = 0 .. T - 1``. The first
``n_train = floor(split T)`` pairs are the training part, the rest the test part (a split in time:
every test target lies after every training target). Inputs and targets are standardised with
the mean and standard deviation of the values the training part sees (``z_0 .. z_{n_train}``) only.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._checks import ConfigError, check_nonnegative_int, require
from .sources import Source


class _Series(NamedTuple):
    folder: str  # statsmodels/datasets/<folder>
    file: str
    columns: tuple[str, ...]
    about: str


REAL_SERIES: dict[str, _Series] = {
    "sunspots": _Series("sunspots", "sunspots.csv", ("SUNACTIVITY",), "yearly sunspot numbers 1700-2008"),
    "co2": _Series("co2", "co2.csv", ("co2",), "weekly Mauna Loa CO2 (ppm) 1958-2001"),
    "macro": _Series(
        "macrodata", "macrodata.csv", ("realgdp", "realcons", "realinv"), "quarterly US GDP, consumption, investment"
    ),
}
TRANSFORMS = ("none", "diff", "logdiff")


class Split(NamedTuple):
    """A standardised series as inputs and targets with a split in time."""

    X: np.ndarray  # [K, d]  inputs z_k (standardised)
    Y: np.ndarray  # [K]     targets z_{k+1}[target] (standardised)
    n_train: int  # pairs 0 .. n_train - 1 are the training part
    mean: np.ndarray  # [d] training statistics of the inputs
    std: np.ndarray  # [d]
    y_mean: float  # training statistics of the target
    y_std: float


def standardise_split(X, Y, n_train: int) -> Split:
    """Standardise inputs ``X [K, d]`` and targets ``Y [K]`` with statistics of ``[:n_train]`` only."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    require(0 < n_train < len(Y), "data.split", n_train, f"a training part of 1 .. {len(Y) - 1} steps")
    m, s = X[:n_train].mean(axis=0), X[:n_train].std(axis=0)
    ym, ys = float(Y[:n_train].mean()), float(Y[:n_train].std())
    s = np.where(s > 0, s, 1.0)
    ys = ys if ys > 0 else 1.0
    return Split((X - m) / s, (Y - ym) / ys, int(n_train), m, s, ym, ys)


def _package_file(folder: str, file: str) -> str:
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "data.source = 'real' reads series shipped with the statsmodels package, which is not installed "
            "(pip install statsmodels)"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", folder, file)
    if not os.path.isfile(path):
        raise ConfigError(f"the installed statsmodels has no data file datasets/{folder}/{file}")
    return path


def read_series(name: str) -> np.ndarray:
    """The raw series ``[T + 1, m]`` (float64, missing values interpolated linearly in time)."""
    require(name in REAL_SERIES, "data.series", name, f"one of {sorted(REAL_SERIES)}")
    s = REAL_SERIES[name]
    with open(_package_file(s.folder, s.file), newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip().strip('"') for h in rows[0]]
    idx = [header.index(c) for c in s.columns]
    vals = np.array([[float(r[i]) if r[i].strip() else np.nan for i in idx] for r in rows[1:] if r], np.float64)
    t = np.arange(len(vals))
    for j in range(vals.shape[1]):
        bad = np.isnan(vals[:, j])
        if bad.all():
            raise ConfigError(f"series {name!r} column {s.columns[j]!r} holds no values")
        vals[bad, j] = np.interp(t[bad], t[~bad], vals[~bad, j])
    return vals


@dataclass(frozen=True)
class Real(Source):
    """A real series as a forecasting problem (see the module docstring).

    ``series``: ``sunspots``, ``co2`` or ``macro``; ``transform``: ``none``, ``diff`` or ``logdiff``;
    ``split``: fraction of the pairs in the training part; ``target``: the coordinate forecast.
    """

    series: str = "sunspots"
    transform: str = "none"
    split: float = 0.8
    target: int = 0
    own_targets = True

    def __post_init__(self):
        require(self.series in REAL_SERIES, "data.series", self.series, f"one of {sorted(REAL_SERIES)}")
        require(self.transform in TRANSFORMS, "data.transform", self.transform, f"one of {list(TRANSFORMS)}")
        require(0.0 < float(self.split) < 1.0, "data.split", self.split, "a fraction in (0, 1)")
        m = len(REAL_SERIES[self.series].columns)
        t = check_nonnegative_int(self.target, "data.target")
        require(t < m, "data.target", t, f"a column index < {m} (series {self.series!r} has {m})")

    @property
    def dim(self) -> int:
        return len(REAL_SERIES[self.series].columns)

    def input_dim(self, dim: int) -> int:
        return self.dim

    def dataset(self, key, length, *, dim, target, dtype):
        """The first ``length`` steps of the training part (``key``, ``dim`` and ``target`` unused)."""
        import jax.numpy as jnp

        sp = self.load()
        if sp.n_train < length:
            raise ConfigError(
                f"data.series = {self.series!r} has a training part of {sp.n_train} steps but {length} were requested"
            )
        return jnp.asarray(sp.X[:length], dtype), jnp.asarray(sp.Y[:length], dtype)

    def forecasting_split(self, key=None, *, length=None, split=None) -> Split:
        """The standardised series split in time (`load`; the series fixes its length and split)."""
        return self.load()

    def load(self) -> Split:
        """The standardised inputs and targets with the training part's size."""
        z = read_series(self.series)
        if self.transform == "diff":
            z = np.diff(z, axis=0)
        elif self.transform == "logdiff":
            if np.any(z <= 0):
                raise ConfigError(f"data.transform = 'logdiff' needs a positive series; {self.series!r} is not")
            z = 100.0 * np.diff(np.log(z), axis=0)
        X, Y = z[:-1], z[1:, self.target]
        n_train = int(np.floor(float(self.split) * len(Y)))
        require(
            0 < n_train < len(Y), "data.split", self.split, f"a split leaving both parts non-empty ({len(Y)} pairs)"
        )
        return standardise_split(X, Y, n_train)

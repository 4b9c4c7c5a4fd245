"""The baselines of experiment=real_sequences against known answers."""

import numpy as np
import pytest
from omegaconf import OmegaConf
from rnnntk.experiments.real_sequences import ar_baseline, validate

from rnnntk import ConfigError


def test_ar_baseline_recovers_an_autoregression():
    # z_{k+1} = 0.5 z_k - 0.3 z_{k-1} + 0.1 + noise: the least-squares fit on the first 80% with
    # lags 2 predicts the rest with the noise variance (0.01) up to sampling error.
    rng = np.random.default_rng(0)
    z = np.zeros(20_001)
    for k in range(1, 20_000):
        z[k + 1] = 0.5 * z[k] - 0.3 * z[k - 1] + 0.1 + 0.1 * rng.standard_normal()
    X, Y = z[:-1, None], z[1:]
    nt = 16_000
    pred = ar_baseline(X, Y, nt, 2)
    np.testing.assert_allclose(np.mean((pred[nt:] - Y[nt:]) ** 2), 0.01, rtol=0.08)
    noiseless = 0.5 * X[nt:, 0] - 0.3 * X[nt - 1 : -1, 0] + 0.1
    np.testing.assert_allclose(pred[nt:], noiseless, atol=0.01)
    # a multivariate input: the extra coordinates get ~zero weight
    X2 = np.concatenate([X, rng.standard_normal((len(X), 2))], axis=1)
    np.testing.assert_allclose(ar_baseline(X2, Y, nt, 2)[nt:], pred[nt:], atol=0.01)


def test_unknown_dataset_options_fail_validation():
    base = {
        "training": {"beta": 0.5, "alpha": 1.0, "grad": "rtrl"},
        "experiment": {"width": 4, "steps": 10, "burn": 0, "k0": 1.0, "gamma": 0.5, "ar_lags": 2},
    }
    bad = OmegaConf.create(base)
    bad.experiment.datasets = {"x": {"source": "real", "series": "nile"}}
    with pytest.raises(ConfigError, match="data.series = 'nile'"):
        validate(bad)
    bad.experiment.datasets = {"x": {"source": "csv"}}
    with pytest.raises(ConfigError, match="experiment.datasets.x.source"):
        validate(bad)
    bad.experiment.datasets = {"x": {"source": "lob", "length": 50, "levels": -1}}
    with pytest.raises(ConfigError, match="data.levels"):
        validate(bad)

"""Convergence-rate fits: the t quantile against tables, slopes and interval coverage."""

import numpy as np
import pytest

from rnnntk.metrics import bootstrap_slope, fit_loglog, heuristic_rate, student_t_ppf


@pytest.mark.parametrize(
    "df,q,want", [(1, 0.975, 12.7062), (2, 0.975, 4.3027), (3, 0.975, 3.1824), (10, 0.975, 2.2281), (30, 0.95, 1.6973)]
)
def test_student_t_quantiles_match_tables(df, q, want):
    assert abs(student_t_ppf(q, df) - want) < 5e-4


def test_exact_power_law_is_recovered():
    N = np.array([100, 400, 1600, 6400])
    fit = fit_loglog(N, 3.0 * N**-0.37)
    assert abs(fit.slope + 0.37) < 1e-12 and abs(np.exp(fit.intercept) - 3.0) < 1e-10
    assert fit.hi - fit.lo < 1e-8


def test_interval_covers_the_true_slope_at_its_level():
    """Synthetic log-normal noise around N^-0.5: the 95% interval covers -0.5 in 92-98% of 1000
    repetitions (binomial standard error of the coverage: 0.007)."""
    rng = np.random.default_rng(0)
    N = np.array([64, 128, 256, 512, 1024, 2048])
    hits = 0
    for _ in range(1000):
        e = N**-0.5 * np.exp(0.1 * rng.standard_normal(len(N)))
        f = fit_loglog(N, e)
        hits += f.lo <= -0.5 <= f.hi
    assert 0.92 <= hits / 1000 <= 0.98


def test_bootstrap_over_seeds():
    rng = np.random.default_rng(1)
    N = np.array([100, 400, 1600, 6400])
    e = N[None] ** -0.25 * np.exp(0.2 * rng.standard_normal((8, 4)))
    f = bootstrap_slope(N, e)
    assert f.lo < f.slope < f.hi
    assert f.lo < -0.25 < f.hi


def test_heuristic_rate():
    assert heuristic_rate(0.75) == -0.25 and heuristic_rate(0.6) == pytest.approx(-0.1)
    assert heuristic_rate(0.5) == 0.0 and heuristic_rate(1.0) == 0.0

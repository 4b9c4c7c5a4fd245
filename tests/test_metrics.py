"""Convergence-rate fits: the t quantile against tables, slopes and interval coverage."""

import numpy as np
import pytest

from rnnntk.run import bootstrap_slope, fit_loglog, heuristic_rate, student_t_ppf


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


# --------------------------------------------------------------------------- the reported numbers


def test_distance_is_the_root_mean_square_over_the_last_axis():
    """``D = (mean |yhat - h|^2)^{1/2}``: differences (3, -4, 0, 0) give 2.5 (a mean absolute value
    would give 1.75, a root of the sum 5); batch axes are kept; against a plain loop."""
    from rnnntk.run import distance

    assert float(distance([3.0, -4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])) == pytest.approx(2.5, rel=1e-15)
    assert float(distance([4.0, -3.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])) == pytest.approx(2.5, rel=1e-15)
    rng = np.random.default_rng(3)
    y, h = rng.standard_normal((3, 2, 7)), rng.standard_normal((3, 2, 7))
    got = np.asarray(distance(y, h))
    assert got.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            want = (sum((y[i, j, k] - h[i, j, k]) ** 2 for k in range(7)) / 7) ** 0.5
            assert got[i, j] == pytest.approx(want, rel=1e-14)


def test_relative_frobenius_over_the_last_two_axes():
    """``||K - K_ref||_F / ||K_ref||_F``: (1, 1) on the diagonal against (2, 0) gives
    ``sqrt(2) / 2``; leading axes are batch axes; against a plain loop."""
    from rnnntk.run import relative_frobenius

    K, R = np.eye(2), np.diag([2.0, 0.0])
    assert float(relative_frobenius(K, R)) == pytest.approx(np.sqrt(2.0) / 2.0, rel=1e-15)
    rng = np.random.default_rng(4)
    Ks, Rs = rng.standard_normal((5, 3, 3)), rng.standard_normal((5, 3, 3))
    got = np.asarray(relative_frobenius(Ks, Rs))
    for b in range(5):
        num = sum((Ks[b, i, j] - Rs[b, i, j]) ** 2 for i in range(3) for j in range(3)) ** 0.5
        den = sum(Rs[b, i, j] ** 2 for i in range(3) for j in range(3)) ** 0.5
        assert got[b] == pytest.approx(num / den, rel=1e-13)


def test_slope_fit_is_ordinary_least_squares_with_a_student_t_interval():
    """Slope, intercept and interval against scipy's ``linregress`` and ``t.ppf`` (independent):
    the fit is of ``log(mean over seeds)`` (not the mean of the logs) against ``log N``."""
    from scipy import stats

    N = np.array([64, 128, 256, 512, 1024])
    rng = np.random.default_rng(5)
    e = N[None] ** -0.4 * np.exp(0.3 * rng.standard_normal((6, 5)))  # [seeds, widths]
    fit = fit_loglog(N, e, level=0.9)
    ref = stats.linregress(np.log(N), np.log(e.mean(axis=0)))
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    half = stats.t.ppf(0.95, len(N) - 2) * ref.stderr
    assert fit.lo == pytest.approx(ref.slope - half, rel=1e-9)
    assert fit.hi == pytest.approx(ref.slope + half, rel=1e-9)
    assert (fit.level, fit.points) == (0.9, 5)
    # two seeds falling at different rates: the log of the mean (fitted) and the mean of the logs
    # (slope -0.35 exactly) differ clearly
    two_rates = np.stack([N**-0.5, N**-0.2]).astype(np.float64)
    want = stats.linregress(np.log(N), np.log(two_rates.mean(axis=0))).slope
    assert fit_loglog(N, two_rates).slope == pytest.approx(want, rel=1e-12)
    assert abs(want + 0.35) > 0.05
    assert fit.label() == f"slope {fit.slope:+.3f} [{fit.lo:+.3f}, {fit.hi:+.3f}] (90% CI)"
    two = fit_loglog([10, 100], [1.0, 0.1])  # two widths: exact line, no interval
    assert two.slope == pytest.approx(-1.0, rel=1e-14) and two.lo == -np.inf and two.hi == np.inf
    with pytest.raises(ValueError, match="at least 2 widths"):
        fit_loglog([10], [1.0])


def test_bootstrap_resamples_whole_seeds():
    """The bootstrap interval against a plain loop over the same resampling draws: whole seeds
    (rows) are drawn with replacement, the slope is fitted to the log of their mean."""
    rng = np.random.default_rng(6)
    N = np.array([100, 200, 400, 800])
    e = N[None] ** -0.3 * np.exp(0.2 * rng.standard_normal((5, 4)))
    f = bootstrap_slope(N, e, level=0.8, resamples=300, seed=11)
    draws = np.random.default_rng(11).integers(0, 5, size=(300, 5))
    slopes = [np.polyfit(np.log(N), np.log(e[rows].mean(axis=0)), 1)[0] for rows in draws]
    lo, hi = np.quantile(slopes, [0.1, 0.9])
    assert f.lo == pytest.approx(lo, rel=1e-10) and f.hi == pytest.approx(hi, rel=1e-10)
    assert f.slope == pytest.approx(fit_loglog(N, e).slope, rel=1e-14)
    with pytest.raises(ValueError, match="seeds >= 2"):
        bootstrap_slope(N, e[:1])

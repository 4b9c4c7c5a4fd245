"""The floor-aware slope fit: synthetic D_N with a known rate and floor."""

import math

import numpy as np
import pytest

from rnnntk.run import fit_above_floor, fit_loglog

RATE, A, FLOOR = -0.25, 0.2, 0.01
WIDTHS = np.array([100, 400, 1600, 6400, 25600, 102400])


def synthetic(widths, *, seeds=8, floor=FLOOR, rate=RATE, noise=0.1, seed=0):
    """``D_N = (A^2 N^{2 rate} + floor^2)^{1/2}`` times log-normal seed noise (sd ``noise``)."""
    rng = np.random.default_rng(seed)
    clean = np.sqrt(A**2 * widths ** (2.0 * rate) + floor**2)
    return clean[None, :] * np.exp(noise * rng.standard_normal((seeds, len(widths))))


def test_recovers_the_rate_and_the_plain_fit_is_biased():
    # the widest two widths sit near the floor: A N^-1/4 = 0.016 and 0.011 against 0.01
    D = synthetic(WIDTHS)
    fit = fit_above_floor(WIDTHS, D, FLOOR)
    assert fit.resolved, fit.reason
    assert fit.widths == (100, 400, 1600, 6400)  # mean D_N > 2 x floor (0.020) up to 6400
    assert fit.lo <= RATE <= fit.hi
    assert abs(fit.slope - RATE) < 0.05
    assert fit.hi - fit.lo < 0.3
    # the plain fit over all widths includes the floor and flattens: biased by more than its interval
    plain = fit_loglog(WIDTHS, D)
    assert plain.slope > RATE + 0.03  # measured -0.209
    assert not (plain.lo <= RATE <= plain.hi)
    assert "widths above the floor" in fit.label()


def test_interval_covers_the_rate_at_its_level():
    """Coverage over 100 noise draws (8 seeds each): measured 95% over 400 draws; a percentile
    bootstrap gave 86%. The bound 0.88 is 3 binomial standard deviations below 0.95."""
    hits = [
        fit.lo <= RATE <= fit.hi
        for fit in (fit_above_floor(WIDTHS, synthetic(WIDTHS, seed=1000 + s), FLOOR, resamples=300) for s in range(100))
    ]
    assert np.mean(hits) >= 0.88


def test_without_floor_matches_the_plain_fit():
    D = synthetic(WIDTHS, floor=0.0)
    fit = fit_above_floor(WIDTHS, D, 0.0)
    assert fit.widths == tuple(WIDTHS.tolist())
    assert math.isclose(fit.slope, fit_loglog(WIDTHS, D).slope, rel_tol=1e-12)


def test_most_points_on_the_floor_is_unresolved():
    D = synthetic(WIDTHS, floor=0.03)  # only N = 100 stands above 2 x floor (0.070 > 0.060)
    fit = fit_above_floor(WIDTHS, D, 0.03)
    assert not fit.resolved and math.isnan(fit.slope)
    assert fit.widths == (100,)
    assert "need 2" in fit.reason and fit.label().startswith("rate unresolved")


def test_wide_interval_is_unresolved():
    D = synthetic(WIDTHS[:3], seeds=3, noise=0.6, seed=3)
    fit = fit_above_floor(WIDTHS[:3], D, 1e-4, max_halfwidth=0.1)
    assert not fit.resolved and "wider than" in fit.reason
    assert fit.lo <= fit.slope <= fit.hi


def test_single_row_uses_student_t():
    D = synthetic(WIDTHS, seeds=1, noise=0.05, seed=7)[0]
    fit = fit_above_floor(WIDTHS, D, FLOOR)
    assert len(fit.widths) >= 3 and fit.lo < fit.slope < fit.hi
    assert fit.lo <= RATE <= fit.hi


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        fit_above_floor(WIDTHS, np.ones(3), FLOOR)
    with pytest.raises(ValueError):
        fit_above_floor(WIDTHS, np.ones(6), -1.0)


def test_final_slopes_report_the_fit_above_the_floor():
    """The convergence and beta_phase rows carry `fit_above_floor` next to the plain fit."""
    from types import SimpleNamespace

    from rnnntk.experiments._common import final_slopes

    widths = [100, 400, 1600, 6400, 25600]
    rng = np.random.default_rng(5)
    floor = 0.01
    D = np.sqrt((0.5 * np.asarray(widths, float) ** -0.25) ** 2 + floor**2) * np.exp(0.03 * rng.standard_normal((6, 5)))
    spec = SimpleNamespace(widths=widths, grid=[(5.0, 0.75), (5.0, 0.9)], alphas=[5.0])
    flat = np.full((6, 5), 0.0101)  # on the floor at every width: no rate to resolve
    Dall = np.stack([D.T, flat.T], axis=2)[..., None]  # [W, S, G, C + 1]
    res = SimpleNamespace(spec=spec, per_grad={"rtrl": SimpleNamespace(D=Dall, floor=np.array([[floor]]))})
    rows = final_slopes(res)
    ref = fit_above_floor(widths, D, floor)
    assert rows[0]["above_floor"]["slope"] == ref.slope and rows[0]["above_floor"]["resolved"] == ref.resolved
    assert rows[0]["above_floor"]["widths"] == list(ref.widths)
    assert rows[0]["slope"] == fit_loglog(widths, D).slope  # the plain fit stays in slope/lo/hi
    assert rows[1]["above_floor"]["resolved"] is False and "unresolved" in rows[1]["above_floor"]["label"]

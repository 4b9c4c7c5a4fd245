"""Comparisons between finite networks and the limit (spec section 4) and convergence-rate fits."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def distance(yhat, h) -> jax.Array:
    """``D = (E_pi |yhat - h|^2)^{1/2}`` over the last axis (the sample histories)."""
    yhat, h = jnp.asarray(yhat), jnp.asarray(h)
    return jnp.sqrt(jnp.mean((yhat - h) ** 2, axis=-1))


def relative_frobenius(K, K_ref) -> jax.Array:
    """``||K - K_ref||_F / ||K_ref||_F`` over the last two axes."""
    return jnp.linalg.norm(K - K_ref, axis=(-2, -1)) / jnp.linalg.norm(K_ref, axis=(-2, -1))


def heuristic_rate(beta: float) -> float:
    """The heuristic exponent of ``D_N``: ``-min(beta - 1/2, 1 - beta)`` (spec section 4)."""
    return -min(beta - 0.5, 1.0 - beta)


class SlopeFit(NamedTuple):
    """A log-log least-squares fit ``log err = intercept + slope log N`` with an interval."""

    slope: float
    intercept: float
    lo: float  # lower end of the confidence interval of the slope
    hi: float
    level: float  # e.g. 0.95
    points: int  # widths used

    def label(self) -> str:
        return f"slope {self.slope:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}] ({self.level:.0%} CI)"


@functools.lru_cache(maxsize=256)
def student_t_ppf(q: float, df: int) -> float:
    """Quantile of Student's t (bisection on its CDF through the regularised incomplete beta)."""
    if df <= 0:
        return math.inf
    from jax.scipy.special import betainc

    def cdf(t):
        x = df / (df + t * t)
        tail = 0.5 * float(betainc(df / 2.0, 0.5, np.float64(x)))
        return 1.0 - tail if t > 0 else tail

    lo, hi = -1e3, 1e3
    for _ in range(64):  # interval width 2e3 / 2^64: below double precision
        mid = 0.5 * (lo + hi)
        if cdf(mid) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def fit_loglog(widths, errors, *, level: float = 0.95) -> SlopeFit:
    """Fit the slope of ``log(mean error)`` against ``log N``.

    Arguments:
        widths: ``[W]`` widths.
        errors: ``[W]`` errors, or ``[S, W]`` (seeds by widths; the mean over seeds is fitted).
        level: confidence level of the interval (Student t with ``W - 2`` degrees of freedom on the
            residuals of the fit of the means; infinite when ``W = 2``).

    Returns:
        `SlopeFit`.
    """
    x = np.log(np.asarray(widths, np.float64))
    e = np.asarray(errors, np.float64)
    y = np.log(e.mean(axis=0) if e.ndim == 2 else e)
    W = len(x)
    if W < 2:
        raise ValueError(f"a slope needs at least 2 widths, got {W}")
    A = np.stack([np.ones(W), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    df = W - 2
    if df > 0:
        s2 = float(resid @ resid) / df
        se = math.sqrt(s2 / float(((x - x.mean()) ** 2).sum()))
        half = student_t_ppf(0.5 + level / 2.0, df) * se
    else:
        half = math.inf
    slope = float(coef[1])
    return SlopeFit(slope, float(coef[0]), slope - half, slope + half, level, W)


def bootstrap_slope(widths, errors, *, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> SlopeFit:
    """Slope of ``log(mean over seeds)`` with a percentile bootstrap interval over seeds.

    Seeds are resampled whole (all widths of a seed together), which respects the correlation
    that common random numbers put between the widths of one seed. ``errors`` is ``[S, W]``.
    """
    e = np.asarray(errors, np.float64)
    if e.ndim != 2 or e.shape[0] < 2:
        raise ValueError("bootstrap_slope needs errors [seeds >= 2, widths]")
    x = np.log(np.asarray(widths, np.float64))
    xc = x - x.mean()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, e.shape[0], size=(resamples, e.shape[0]))
    ym = np.log(e[idx].mean(axis=1))  # [B, W]
    slopes = (ym - ym.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    base = fit_loglog(widths, e, level=level)
    lo, hi = np.quantile(slopes, [(1 - level) / 2, (1 + level) / 2])
    return SlopeFit(base.slope, base.intercept, float(lo), float(hi), level, len(x))


class FloorFit(NamedTuple):
    """A slope fit of ``D_N`` that accounts for the limit's floor (`fit_above_floor`)."""

    slope: float  # fitted exponent of (D_N^2 - floor^2)^{1/2} against N (nan when unresolved)
    intercept: float
    lo: float  # lower end of the confidence interval of the slope
    hi: float
    level: float
    widths: tuple  # the widths used: those whose mean D_N exceeds factor x floor
    floor: float  # the floor that was subtracted (largest over the widths when given per width)
    resolved: bool  # False: fewer than 2 widths above the floor, or interval too wide
    reason: str  # why not resolved ("" when resolved)

    def label(self) -> str:
        if not self.resolved:
            return f"rate unresolved ({self.reason})"
        return (
            f"slope {self.slope:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}] ({self.level:.0%} CI, "
            f"{len(self.widths)} widths above the floor)"
        )


def _floor_slope(x, m, f2):
    """Least-squares slope and intercept of ``log (m^2 - f^2)^{1/2}`` on ``x`` (rows of ``m``)."""
    # a resample whose mean falls to the floor keeps 1% of its D_N: a very steep, honest outlier
    y = 0.5 * np.log(np.maximum(m * m - f2, 1e-4 * m * m))
    xc = x - x.mean()
    slope = (y - y.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc)
    return slope, y.mean(axis=-1) - slope * x.mean()


def fit_above_floor(
    widths,
    errors,
    floor,
    *,
    factor: float = 2.0,
    level: float = 0.95,
    max_halfwidth: float = 0.25,
    resamples: int = 2000,
    seed: int = 0,
) -> FloorFit:
    """Fit ``D_N^2 = A^2 N^{2 slope} + floor^2`` on the widths that stand clearly above the floor.

    The floor (the limit's own discretisation error, estimated) adds to ``D_N`` in quadrature,
    so near it a plain log-log fit (`fit_loglog`) flattens towards slope 0. Here only widths whose
    mean ``D_N`` exceeds ``factor x floor`` are used (at ``2 x floor`` the floor still inflates
    ``D_N`` by 15%), and the floor is subtracted in quadrature before the log-log fit: the fitted
    line is ``log ((mean over seeds of D_N)^2 - floor^2)^{1/2}`` against ``log N``.

    Interval: with ``errors [S, W]`` (``S >= 2`` seeds) ``slope +- t_{S-1} se``, ``se`` the
    bootstrap standard error over seeds (seeds resampled whole, ``resamples`` times, fixed
    ``seed``, which keeps the correlation between widths of one seed) inflated by
    ``(S / (S - 1))^{1/2}``; a percentile bootstrap covers too rarely with 8 seeds (measured 86%
    for a nominal 95%, against 95% for this interval, over 400 synthetic draws in
    ``tests/test_floor_fit.py``). With one row of errors: Student t on the fit's residuals
    (``W - 2`` degrees of freedom). The floor is taken as known (its own error is not propagated).

    Unresolved (``resolved=False``, ``slope`` nan when no fit is possible): fewer than 2 widths
    above ``factor x floor``, or an interval half-width above ``max_halfwidth``.

    Arguments:
        widths: ``[W]``; errors: ``[W]`` or ``[S, W]``; floor: a number or ``[W]`` (per width).

    Returns:
        `FloorFit`.
    """
    N = np.asarray(widths, np.float64)
    e = np.asarray(errors, np.float64)
    e2 = e[None, :] if e.ndim == 1 else e
    f = np.broadcast_to(np.asarray(floor, np.float64), N.shape)
    if e2.shape[1] != N.shape[0] or not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"errors {e.shape}, widths {N.shape} and floor {np.shape(floor)} do not match, or floor < 0")
    m = e2.mean(axis=0)
    keep = m > factor * f
    used = tuple(int(n) if float(n).is_integer() else float(n) for n in N[keep])
    fmax = float(f.max())
    if keep.sum() < 2:
        reason = f"{int(keep.sum())} width(s) with D_N > {factor:g} x floor; need 2"
        return FloorFit(math.nan, math.nan, math.nan, math.nan, level, used, fmax, False, reason)
    x, f2 = np.log(N[keep]), f[keep] ** 2
    slope, icpt = (float(v) for v in _floor_slope(x, m[keep], f2))
    W = int(keep.sum())
    if e2.shape[0] >= 2:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, e2.shape[0], size=(resamples, e2.shape[0]))
        bs, _ = _floor_slope(x, e2[idx][:, :, keep].mean(axis=1), f2)
        S = e2.shape[0]
        se = float(bs.std(ddof=1)) * math.sqrt(S / (S - 1.0))  # the plain bootstrap is narrow for few seeds
        half = student_t_ppf(0.5 + level / 2.0, S - 1) * se
        lo, hi = slope - half, slope + half
    elif W > 2:
        y = 0.5 * np.log(m[keep] ** 2 - f2)
        resid = y - (icpt + slope * x)
        se = math.sqrt(float(resid @ resid) / (W - 2) / float(((x - x.mean()) ** 2).sum()))
        half = student_t_ppf(0.5 + level / 2.0, W - 2) * se
        lo, hi = slope - half, slope + half
    else:
        lo, hi = -math.inf, math.inf
    reason = ""
    if max(slope - lo, hi - slope) > max_halfwidth:
        reason = f"interval [{lo:+.2f}, {hi:+.2f}] wider than +-{max_halfwidth:g}"
    return FloorFit(slope, icpt, lo, hi, level, used, fmax, not reason, reason)

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

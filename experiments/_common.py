"""Helpers shared by the finite-vs-limit experiments (tables and slope summaries)."""

from __future__ import annotations

import numpy as np

from rnnntk.run import fit_above_floor, fit_loglog, heuristic_rate


def grid_label(alpha: float, beta: float, alphas: list[float]) -> str:
    return f"beta={beta:g}" if len(alphas) == 1 else f"alpha={alpha:g}, beta={beta:g}"


def convergence_rows(res) -> tuple[list[str], list[list]]:
    """One row per (estimator, grid point, width, seed) with the final distance D_N(T)."""
    s = res.spec
    cols = ["grad", "alpha", "beta", "N", "seed", "T", "D_N(T)"]
    rows = []
    for grad, r in res.per_grad.items():
        for g, (a, b) in enumerate(s.grid):
            for i, n in enumerate(s.widths):
                for seed in range(s.seeds):
                    rows.append([grad, a, b, n, seed, float(r.t[i, -1]), float(r.D[i, seed, g, -1])])
    return cols, rows


def final_slopes(res, ctx=None) -> list[dict]:
    """Fitted log-log slopes of D_N(T) per (estimator, grid point), with 95% intervals.

    ``slope``, ``lo``, ``hi`` fit every width (`fit_loglog`); ``above_floor`` is the fit over the
    widths whose D_N stands above twice the limit's floor, the floor subtracted in quadrature
    (`rnnntk.run.metrics.fit_above_floor`), with ``resolved = False`` and a reason when the data
    cannot resolve a rate.

    With ``ctx``: each slope is logged, and the run's summary gets ``slope/<grad>/<point>``,
    ``slope_lo/...``, ``slope_hi/...`` and ``floor/...``; a run with one estimator and one grid point
    also gets the common keys ``slope``, ``slope_lo``, ``slope_hi`` and ``floor`` (a dashboard
    compares the runs of a sweep on them). Infinite interval ends (two widths) are left out."""
    s = res.spec
    out = []
    for grad, r in res.per_grad.items():
        for g, (a, b) in enumerate(s.grid):
            D = r.D[:, :, g, -1].T  # [S, W]
            fit = fit_loglog(s.widths, D) if len(s.widths) >= 2 else None
            row = {
                "grad": grad,
                "alpha": a,
                "beta": b,
                "heuristic": heuristic_rate(b),
                "floor": float(r.floor[s.alphas.index(a), -1]),
                "D_mean": D.mean(axis=0).tolist(),
            }
            if fit is not None:
                row.update(slope=fit.slope, lo=fit.lo, hi=fit.hi)
                if np.isfinite(row["floor"]) and row["floor"] > 0:  # the fit that does not mistake the floor
                    ff = fit_above_floor(s.widths, D, row["floor"])
                    row["above_floor"] = {
                        "slope": ff.slope, "lo": ff.lo, "hi": ff.hi, "widths": list(ff.widths),
                        "resolved": ff.resolved, "reason": ff.reason, "label": ff.label(),
                    }  # fmt: skip
            out.append(row)
            if ctx is not None and fit is not None:
                ctx.log({f"slope/{grad}/{grid_label(a, b, s.alphas)}": fit.slope})
    if ctx is not None:
        summary = {}
        for row in out:
            label = f"{row['grad']}/{grid_label(row['alpha'], row['beta'], s.alphas)}"
            summary.update(_finite({f"{k}/{label}": row.get(v) for k, v in _SUMMARY_KEYS.items()}))
        if len(out) == 1:
            summary.update(_finite({k: out[0].get(v) for k, v in _SUMMARY_KEYS.items()}))
        ctx.summary(summary)
    return out


_SUMMARY_KEYS = {"slope": "slope", "slope_lo": "lo", "slope_hi": "hi", "floor": "floor"}


def _finite(d: dict) -> dict:
    return {k: float(v) for k, v in d.items() if v is not None and np.isfinite(v)}


def headline(ctx, name: str, values: dict[str, float]) -> None:
    """Summary keys ``<name>/<point>`` and, when there is one point, the common key ``<name>``."""
    summary = _finite({f"{name}/{k}": v for k, v in values.items()})
    if len(values) == 1:
        summary.update(_finite({name: next(iter(values.values()))}))
    ctx.summary(summary)


def mean_over_seeds(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).mean(axis=1)

"""Helpers shared by the finite-vs-limit experiments (tables and slope summaries)."""

from __future__ import annotations

import numpy as np

from rnnntk.metrics import fit_loglog, heuristic_rate


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
    """Fitted log-log slopes of D_N(T) per (estimator, grid point), with 95% intervals."""
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
            out.append(row)
            if ctx is not None and fit is not None:
                ctx.log({f"slope/{grad}/{grid_label(a, b, s.alphas)}": fit.slope})
    return out


def mean_over_seeds(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).mean(axis=1)

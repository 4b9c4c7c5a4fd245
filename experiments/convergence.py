"""convergence: the distance D_N(T) between trained networks and the limit, against the width.

For several beta in (1/2, 1), networks of widths N are trained online for T N steps and compared
with the limit h_T on the Q evaluation histories (the limit on one long path by default,
limit.law=path). The figure shows D_N(T) against N on log-log
axes (mean and min-max band over seeds), the fitted slope with its 95% interval, the heuristic
rate N^{-min(beta - 1/2, 1 - beta)} as a dashed reference, and the limit's own discretisation
floor (dotted), below which no width can go.

The widths can be split over the jobs of a multirun (``'sweep.widths=[100],[400],...'``); each job
then writes its part of the study and ``rnnntk-aggregate`` joins them (`report` on the whole).
"""

from __future__ import annotations

import numpy as np

from rnnntk.diagonal import run_study, spec_from_config
from rnnntk.run import convergence_plot, heuristic_rate, legend_outside, new_figure

from ._common import convergence_rows, final_slopes, grid_label

#: the figure fits a slope over widths
MIN_WIDTHS = 2


def validate(cfg) -> None:
    spec_from_config(cfg)  # the study's own checks (the limit's law against the betas), before anything compiles


def run(cfg, ctx) -> dict:
    return report(run_study(spec_from_config(cfg), ctx, tag="convergence"), ctx)


def report(res, ctx) -> dict:
    """Figures, table, slopes and summary of a (possibly joined) study."""
    s = res.spec
    cols, rows = convergence_rows(res)
    ctx.table("convergence", cols, rows)
    if len(s.widths) < MIN_WIDTHS:
        print(f"one part of a split study (widths {s.widths}): join the sweep with rnnntk-aggregate <sweep dir>")
        return {"slopes": final_slopes(res), "study": res.to_json(), "partial": True}
    slopes = final_slopes(res, ctx)
    for grad, r in res.per_grad.items():
        fig, ax = new_figure(7.2, 5.0)
        for g, (a, b) in enumerate(s.grid):
            floor = float(r.floor[s.alphas.index(a), -1])
            convergence_plot(
                ax,
                s.widths,
                r.D[:, :, g, -1].T,
                label=grid_label(a, b, s.alphas),
                reference=heuristic_rate(b),
                floor=floor if np.isfinite(floor) else None,
            )
            row = next(x for x in slopes if x["grad"] == grad and (x["alpha"], x["beta"]) == (a, b))
            if "above_floor" in row:  # legend line: the rate of the widths above the floor, or why none
                above = row["above_floor"]["label"]
                ax.plot([], [], " ", label=f"{grid_label(a, b, s.alphas)}, above 2 x floor: {above}")
        ax.set_ylabel(r"$D_N(T)$ = rms$_\pi$ |network - limit|")
        law = f"path L={s.path_length:.3g}" if s.law == "path" else f"P={s.P}"
        ax.set_title(f"finite RNN vs kernel limit at T={s.T:g} ({grad}, {law}, {s.seeds} seeds)")
        legend_outside(ax)
        ctx.figure(fig, f"convergence_{grad.replace(':', '')}")
    for row in slopes:
        if "slope" in row:
            above = f"; above 2 x floor: {row['above_floor']['label']}" if "above_floor" in row else ""
            print(
                f"{row['grad']:>8} beta={row['beta']:.3g}: slope {row['slope']:+.3f} "
                f"[{row['lo']:+.3f}, {row['hi']:+.3f}], heuristic {row['heuristic']:+.3f}, "
                f"floor {row['floor']:.3g}{above}"
            )
    return {"slopes": slopes, "study": res.to_json()}

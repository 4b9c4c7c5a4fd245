"""beta_phase: the fitted convergence slope of D_N(T) against beta, next to the heuristic
exponent -min(beta - 1/2, 1 - beta): fastest at beta = 3/4, none at the ends (at beta = 1/2 the
initial output is O(1), at beta = 1 the parameters move O(1)).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from rnnntk.diagonal import run_study, spec_from_config
from rnnntk.run import heuristic_rate, legend_outside

from ._common import convergence_rows, final_slopes

#: the figure fits a slope over widths per beta
MIN_WIDTHS = 2


def validate(cfg) -> None:
    spec_from_config(cfg)  # the study's own checks (the limit's law against the betas), before anything compiles


def run(cfg, ctx) -> dict:
    return report(run_study(spec_from_config(cfg), ctx, tag="beta_phase"), ctx)


def report(res, ctx) -> dict:
    """Figure, table, slopes and summary of a (possibly joined) study."""
    cols, rows = convergence_rows(res)
    ctx.table("beta_phase", cols, rows)
    if len(res.spec.widths) < MIN_WIDTHS:
        print(f"one part of a split study (widths {res.spec.widths}): join the sweep with rnnntk-aggregate <sweep dir>")
        return {"slopes": final_slopes(res), "study": res.to_json(), "partial": True}
    slopes = final_slopes(res, ctx)
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    for grad in res.per_grad:
        rows = [r for r in slopes if r["grad"] == grad and "slope" in r]
        b = np.array([r["beta"] for r in rows])
        sl = np.array([r["slope"] for r in rows])
        err = np.array([[r["slope"] - r["lo"] for r in rows], [r["hi"] - r["slope"] for r in rows]])
        ax.errorbar(b, sl, yerr=err, fmt="o", capsize=3, label=f"fitted slope, all widths, 95% CI ({grad})")
        fl = [r for r in rows if r.get("above_floor", {}).get("resolved")]
        if fl:  # the rate of the widths above twice the floor; unresolved points are left out (and said)
            fb = np.array([r["beta"] for r in fl]) + 0.006
            fs = np.array([r["above_floor"]["slope"] for r in fl])
            fe = np.array([[r["above_floor"]["slope"] - r["above_floor"]["lo"] for r in fl],
                           [r["above_floor"]["hi"] - r["above_floor"]["slope"] for r in fl]])  # fmt: skip
            ax.errorbar(fb, fs, yerr=fe, fmt="s", mfc="none", capsize=3,
                        label=f"widths above 2 x floor, floor subtracted ({grad})")  # fmt: skip
        unresolved = [f"{r['beta']:g}" for r in rows if "above_floor" in r and not r["above_floor"]["resolved"]]
        if unresolved:
            ax.plot([], [], " ", label=f"above the floor, rate unresolved at beta = {', '.join(unresolved)} ({grad})")
    bb = np.linspace(0.5, 1.0, 201)
    ax.plot(bb, [heuristic_rate(x) for x in bb], "k--", label=r"heuristic $-\min(\beta-1/2,\ 1-\beta)$")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"slope of $\log D_N(T)$ vs $\log N$")
    ax.set_title(f"convergence rate across the kernel regime (widths {res.spec.widths[0]}..{res.spec.widths[-1]})")
    ax.grid(alpha=0.3)
    legend_outside(ax, fontsize=8)
    ctx.figure(fig, "beta_phase")
    for r in slopes:
        if "slope" in r:
            print(
                f"beta={r['beta']:.3g}: slope {r['slope']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}], "
                f"heuristic {r['heuristic']:+.3f}"
                + (f"; above 2 x floor: {r['above_floor']['label']}" if "above_floor" in r else "")
            )
    return {"slopes": slopes, "study": res.to_json()}

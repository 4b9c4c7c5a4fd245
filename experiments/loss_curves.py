"""loss_curves: the online training loss against training time for several widths, and the
limit's training loss L(t) = E_pi (y - h_t)^2 / 2.

The finite curves are the online losses (Y_k - yhat_k)^2 / 2 averaged over bins of t = k / N and
over seeds (per width, no more bins than the width has steps, so that no bin is empty); they
approach L(t) as N grows (up to the limit's own error from its finite sample of pi).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from rnnntk.diagonal import run_study, spec_from_config

from ._common import grid_label, headline


def mean_abs_gap(curve, bin_t, limit_t, limit_loss) -> float:
    """``mean |loss - L(t)|`` over the bins that hold steps (NaN bins are missing, not zero)."""
    ok = np.isfinite(bin_t)
    d = np.abs(np.asarray(curve, np.float64)[ok] - np.interp(np.asarray(bin_t)[ok], limit_t, limit_loss))
    return float(np.mean(d[np.isfinite(d)])) if np.isfinite(d).any() else float("nan")


def validate(cfg) -> None:
    spec_from_config(cfg)  # the study's own checks (the limit's law against the betas), before anything compiles


def run(cfg, ctx) -> dict:
    return report(run_study(spec_from_config(cfg), ctx, tag="loss_curves"), ctx)


def report(res, ctx) -> dict:
    """Figures, curves and the gap to the limit of a (possibly joined) study; the summary's
    ``gap_to_limit`` is the largest width's mean |loss - L(t)|."""
    s = res.spec
    out = {}
    for grad, r in res.per_grad.items():
        for g, (a, b) in enumerate(s.grid):
            ai = s.alphas.index(a)
            fig, ax = plt.subplots(figsize=(7.0, 4.6))
            colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(s.widths)))
            curves = {}
            for i, n in enumerate(s.widths):
                m = r.loss[i, :, g].mean(axis=0)
                label = f"N={n} (online loss, {s.seeds} seeds)"
                ax.plot(r.bin_t[i], m, "o-", ms=2.5, lw=1, color=colors[i], label=label)
                curves[f"N={n}"] = (r.bin_t[i], m)
            ax.plot(r.limit_t, r.limit_loss[ai], "k-", lw=2, label="limit L(t)")
            ax.set_xlabel("training time t = k / N")
            ax.set_ylabel("training loss")
            ax.set_title(f"loss curves, {grad}, {grid_label(a, b, s.alphas)}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            name = f"loss_curves_{grad.replace(':', '')}_{g}"
            ctx.figure(fig, name)
            # each width has its own bins (NaN past its bin count): one logged line per width; the gap
            # skips bins without steps
            for k, (bt, c) in curves.items():
                ok = np.isfinite(bt) & np.isfinite(c)
                ctx.line(f"{name}_{k.replace('=', '')}", bt[ok], {k: c[ok]}, xname="t")
            ctx.line(f"{name}_limit", r.limit_t, {"limit": r.limit_loss[ai]}, xname="t")
            gap = [mean_abs_gap(c, bt, r.limit_t, r.limit_loss[ai]) for bt, c in curves.values()]
            out[f"{grad}/{grid_label(a, b, s.alphas)}"] = {"widths": s.widths, "mean_abs_gap_to_limit": gap}
            print(f"{grad} {grid_label(a, b, s.alphas)}: mean |loss - L(t)| per width {np.round(gap, 4).tolist()}")
    headline(ctx, "gap_to_limit", {k: v["mean_abs_gap_to_limit"][-1] for k, v in out.items()})
    return {"gaps": out, "study": res.to_json()}

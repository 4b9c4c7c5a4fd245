"""meanfield_loss: the mean-field Elman network trained by online SGD on the population risk of a
finite-memory target, for several widths: does the loss approach its global minimum?

Setting (`rnnntk.elman.meanfield`): windows of ``m`` inputs of the stationary chain ``cfg.data`` read
from zero state; the target ``cfg.target`` (by default `rnnntk.data.ElmanTeacher`, a fixed
random mean-field Elman network reading the same windows, so the global minimum of the risk is 0
at every width that is a multiple of the teacher's and in the mean-field limit); learning rates
``alpha N^2`` for ``W`` and ``alpha N`` for the other parameters, training time ``t = k alpha``.
``experiment.comparison`` trains the same widths on a second target (by default the
specification's ``sin_lag``, which no finite network fits exactly; its student has a trained
bias, because a bias-free network with an odd activation is an odd function of its window and
cannot fit the even part ``0.5 cos(u . X_{k-1})``).

Measured on ``eval_size`` held-out windows: the risk ``R_N(t)`` relative to the zero predictor's
``R_0 = E Y^2 / 2``. The figure: (a, b) ``R_N(t) / R_0`` against ``t`` for every width (mean over
seeds), with the power-law decay of the widest network fitted over ``t >= T/4``; (c) the final
``R_N(T) / R_0`` against ``N`` on log-log axes and the widest network's value as a dotted line
(``plateau_width`` in the results: the smallest width from which every wider network is within 5%
of it), with the slope and its 95% interval fitted over the widths up to the plateau
(``fit_widths``; all widths when that leaves fewer than three); (d)
how far the parameters moved (RMS per entry of ``W``, ``U``, ``c``) at ``T`` against ``N``: ``O(1)``
and independent of ``N`` under the mean-field learning rates.

What to expect: for ``N -> infinity`` the curves converge to the mean-field limit ``R_inf(t)``,
which decreases to the global minimum as ``t -> infinity`` (the paper's global optimality); at a
fixed horizon the final risk therefore falls with ``N`` while small widths are limited, and
flattens at ``R_inf(T)`` once ``N`` is large. The fitted slope describes the approach to that
plateau over the fitted range, not an asymptotic rate.
"""

from __future__ import annotations

import time

import jax
import matplotlib.pyplot as plt
import numpy as np

from rnnntk._checks import ConfigError
from rnnntk.elman import DISPLACED
from rnnntk.precision import float64
from rnnntk.run import convergence_plot, fit_loglog

from ._meanfield import (
    check_widths,
    comparison_setup,
    describe,
    is_realisable,
    run_widths,
    setup_from,
    steps_label,
)


def validate(cfg) -> None:
    setup_from(cfg)
    comparison_setup(cfg)
    check_widths(cfg)


def decay_fit(times, risk):
    """Power-law fit ``R ~ t^slope`` of a risk curve over ``t >= T/4`` (None with < 3 points)."""
    t = np.asarray(times)
    sel = (t >= t[-1] / 4) & (t > 0)
    if sel.sum() < 3 or np.any(np.asarray(risk)[..., sel] <= 0):
        return None
    return fit_loglog(t[sel], np.asarray(risk)[..., sel])


@float64()
def run(cfg, ctx) -> dict:
    validate(cfg)
    t_start = time.time()
    widths = check_widths(cfg)
    seeds = int(cfg.sweep.seeds)
    base = jax.random.key(int(cfg.seed))
    studies = {"main": setup_from(cfg)}
    comp = comparison_setup(cfg)
    if comp is not None:
        studies["comparison"] = comp
    res = {}
    for name, s in studies.items():
        res[name] = run_widths(ctx, f"meanfield_loss_{name}", s, widths, seeds, base, keep_outputs=False)

    fits, decays, summary, fitted = {}, {}, {}, {}
    for name, r in res.items():
        rel = r["risk"] / r["risk0"]  # [W, S, J+1]
        final = rel[:, :, -1].T  # [S, W]
        decays[name] = decay_fit(r["times"], rel[-1].mean(axis=0))
        within = np.abs(final.mean(axis=0) / final.mean(axis=0)[-1] - 1.0) <= 0.05
        plateau = next(n for i, n in enumerate(widths) if np.all(within[i:]))
        # the approach to the plateau: widths up to the first one on it (all widths if that leaves < 3)
        upto = widths.index(plateau) + 1 if widths.index(plateau) >= 2 else len(widths)
        fitted[name] = upto
        fits[name] = fit_loglog(widths[:upto], final[:, :upto])
        summary[name] = {
            "setup": describe(studies[name]),
            "realisable": is_realisable(studies[name]),
            "plateau_width": plateau,
            "schedule": steps_label(studies[name]),
            "risk0": r["risk0"],
            "final_relative_risk_mean": final.mean(axis=0).tolist(),
            "final_relative_risk": final.tolist(),
            "final_risk_mean": (final.mean(axis=0) * r["risk0"]).tolist(),
            "fit": fits[name]._asdict(),
            "fit_widths": widths[: fitted[name]],
            "decay_of_widest": None if decays[name] is None else decays[name]._asdict(),
            "displacement_final_mean": {
                k: r["displacement"][:, :, -1, i].mean(axis=1).tolist() for i, k in enumerate(DISPLACED)
            },
            "relative_risk_curve_mean": rel.mean(axis=1).tolist(),
            "seconds_per_width": r["seconds"].tolist(),
        }
        ctx.log(
            {f"slope/{name}": fits[name].slope, f"slope_lo/{name}": fits[name].lo, f"slope_hi/{name}": fits[name].hi}
        )
        dec = "" if decays[name] is None else f"; widest network R(t) ~ t^{decays[name].slope:+.2f}"
        dec += f"; within 5% of the widest network from N = {plateau}"
        print(
            f"{name} ({describe(studies[name])}): final R/R0 per width "
            f"{np.round(final.mean(axis=0), 5).tolist()} (R0 = {r['risk0']:.4f}); "
            f"{fits[name].label()} over N <= {widths[fitted[name] - 1]}{dec}"
        )
    _figure(ctx, widths, seeds, studies, res, fits, decays, fitted)

    rows = []
    for name, r in res.items():
        for i, n in enumerate(widths):
            for s in range(seeds):
                rows.append(
                    [
                        name,
                        n,
                        s,
                        float(r["times"][-1]),
                        float(r["risk"][i, s, -1]),
                        float(r["risk"][i, s, -1] / r["risk0"]),
                    ]
                    + [float(r["displacement"][i, s, -1, k]) for k in range(len(DISPLACED))]
                )
    ctx.table(
        "meanfield_loss",
        ["study", "N", "seed", "T", "risk", "relative_risk"] + [f"displacement_{k}" for k in DISPLACED],
        rows,
    )
    for name, r in res.items():
        ctx.line(
            f"meanfield_loss_{name}",
            r["times"],
            {f"N={n}": (r["risk"][i].mean(axis=0) / r["risk0"]) for i, n in enumerate(widths)},
            xname="t",
        )
    return {
        "widths": widths,
        "seeds": seeds,
        "times": res["main"]["times"].tolist(),
        "studies": summary,
        "wall_seconds": time.time() - t_start,
    }


def _figure(ctx, widths, seeds, studies, res, fits, decays, fitted):
    names = list(res)
    fig, axes = plt.subplots(2, 2, figsize=(12.0, 9.0))
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(widths)))
    titles = {"main": "target", "comparison": "comparison target"}
    for k, name in enumerate(["main", "comparison"]):
        ax = axes[0, k]
        if name not in res:
            ax.axis("off")
            continue
        r = res[name]
        t = r["times"]
        rel = r["risk"] / r["risk0"]
        for i, n in enumerate(widths):
            m = rel[i].mean(axis=0)
            ax.loglog(t[1:], m[1:], "-", color=colors[i], lw=1.2, label=f"N={n}")
            if seeds > 1:
                ax.fill_between(
                    t[1:], rel[i].min(axis=0)[1:], rel[i].max(axis=0)[1:], color=colors[i], alpha=0.12, lw=0
                )
        d = decays[name]
        if d is not None:
            sel = t >= t[-1] / 4
            ax.loglog(
                t[sel],
                np.exp(d.intercept) * t[sel] ** d.slope,
                "k--",
                lw=1.0,
                label=f"N={widths[-1]}: R ~ t^{d.slope:+.2f} [{d.lo:+.2f}, {d.hi:+.2f}]",
            )
        ax.set_xlabel("training time t = k alpha")
        ax.set_ylabel(r"held-out risk $R_N(t) / R_0$")
        glob = "global minimum 0" if is_realisable(studies[name]) else "not exactly realisable"
        ax.set_title(f"{titles[name]} ({glob}): {describe(studies[name])}\n{steps_label(studies[name])}", fontsize=8)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=6, ncol=2)

    ax = axes[1, 0]
    ax.grid(True, which="both", alpha=0.25)
    for c, name in enumerate(names):
        r = res[name]
        final = (r["risk"][:, :, -1] / r["risk0"]).T
        label = f"{titles[name]} (fit over N <= {widths[fitted[name] - 1]})"
        convergence_plot(ax, widths, final, label=label, color=f"C{c}", fit=fits[name], fitted=fitted[name])
        w = final.mean(axis=0)[-1]
        ax.axhline(w, color=f"C{c}", ls=":", lw=1.0, label=f"N={widths[-1]}: {w:.3g} (the large-N value at T)")
    ax.set_ylabel(r"final held-out risk $R_N(T) / R_0$")
    ax.set_title(f"risk at the horizon T vs width ({seeds} seeds, min-max band)", fontsize=8)
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    ax.grid(True, which="both", alpha=0.25)
    r = res["main"]
    for c, k in enumerate(DISPLACED):
        if k == "b" and not studies["main"].train_bias:
            continue
        d = r["displacement"][:, :, -1, c]  # [W, S]
        ax.semilogx(widths, d.mean(axis=1), "o-", color=f"C{c}", label=f"{k}: RMS per entry")
        if seeds > 1:
            ax.fill_between(widths, d.min(axis=1), d.max(axis=1), color=f"C{c}", alpha=0.15, lw=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("width N")
    ax.set_ylabel(r"$(\mathrm{mean}\,|\theta(T) - \theta(0)|^2)^{1/2}$")
    ax.set_title("parameter displacement at the horizon (target study): O(1), independent of N", fontsize=8)
    ax.legend(fontsize=7)
    fig.suptitle("mean-field Elman network, online SGD on the population risk", fontsize=10)
    fig.tight_layout()
    ctx.figure(fig, "meanfield_loss")


if __name__ == "__main__":
    import sys

    from rnnntk.run.cli import main

    sys.argv = [sys.argv[0], "experiment=meanfield_loss", *sys.argv[1:]]
    try:
        main()
    except ConfigError as e:  # pragma: no cover
        raise SystemExit(f"configuration error: {e}") from None

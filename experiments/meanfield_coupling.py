"""meanfield_coupling: trajectories of mean-field Elman networks of width ``N`` and ``2N`` approach
each other as ``N`` grows.

There is no closed-form mean-field limit to compare with; instead the networks of a doubling
ladder of widths ``N_0, 2 N_0, ..., N_max`` are coupled through one neuronal embedding
(`rnnntk.elman.meanfield.embedded_init`): for every seed, the width-``N`` network is the first ``N``
units of the widest network's i.i.d. draw (``W[:N, :N]``, ``U[:, :N]``, ``c[:N]``), and every
width reads the same SGD batches. Each width is then a sub-sample of the same infinite population
of units, driven by the same data, so all of them approach one (batch-dependent) mean-field
trajectory.

Measured on ``eval_size`` fixed held-out windows at the save times ``t_j``:
``D_{N,N'}(t) = ( mean_p |yhat^N_t(x_p) - yhat^{N'}_t(x_p)|^2 )^{1/2}``, and per seed

- ``sup_t D_{N,2N}(t)`` (the quantity of the coupling theorem), ``D_{N,2N}(0)`` (the
  initialisation alone: the CLT fluctuation of the zero-mean initial output) and ``D_{N,2N}(T)``;
- ``sup_t D_{N,N_max}(t)``, against the widest network as reference.

The figure: (a) these distances against ``N`` on log-log axes, mean over seeds with a min-max band
and the fitted slope with its 95% interval next to the reference ``-1/2``; (b) ``sqrt(N) D_{N,2N}(t)``
against ``t`` for every pair: the curves collapse when the distance scales like ``N^{-1/2}`` at every
time.

What to expect: ``N^{-1/2}`` (a CLT over units). For a sub-sample, ``D_{N,N'}`` behaves like
``sqrt(1/N - 1/N')``: ``D_{N,2N} ~ (2N)^{-1/2}`` is a clean power law, while ``D_{N,N_max}``
bends down as ``N`` approaches ``N_max`` (its fit is reported over all ``N < N_max`` and is
shallower than ``-1/2`` for that reason; the dashed curve is ``C sqrt(1/N - 1/N_max)``).
"""

from __future__ import annotations

import time

import jax
import matplotlib.pyplot as plt
import numpy as np

from rnnntk._checks import ConfigError, require
from rnnntk.precision import float64
from rnnntk.run import convergence_plot, fit_loglog

from ._meanfield import check_widths, describe, run_widths, setup_from, steps_label


def pairs_of(widths: list[int]) -> list[tuple[int, int]]:
    """The pairs ``(N, 2N)`` of the ladder."""
    ws = set(widths)
    return [(n, 2 * n) for n in widths if 2 * n in ws]


def validate(cfg) -> None:
    setup_from(cfg)
    widths = check_widths(cfg, minimum=3)
    require(
        len(pairs_of(widths)) >= 2,
        "sweep.widths",
        widths,
        "a ladder with at least two pairs (N, 2N), e.g. [32, 64, 128]",
    )


@float64()
def run(cfg, ctx) -> dict:
    validate(cfg)
    t_start = time.time()
    widths = check_widths(cfg, minimum=3)
    seeds = int(cfg.sweep.seeds)
    setup = setup_from(cfg)
    r = run_widths(ctx, "meanfield_coupling", setup, widths, seeds, jax.random.key(int(cfg.seed)), keep_outputs=True)
    out = r["outputs"]  # [W, S, J+1, P]
    t = r["times"]
    idx = {n: i for i, n in enumerate(widths)}

    def dist(a, b):  # [S, J+1]
        return np.sqrt(np.mean((out[idx[a]] - out[idx[b]]) ** 2, axis=-1))

    pairs = pairs_of(widths)
    small = [n for n, _ in pairs]
    Dp = np.stack([dist(n, m) for n, m in pairs], axis=1)  # [S, pairs, J+1]
    nmax = widths[-1]
    below = [n for n in widths if n < nmax]
    Dm = np.stack([dist(n, nmax) for n in below], axis=1)  # [S, W-1, J+1]
    series = {
        "sup_t D(N,2N)": (small, Dp.max(axis=-1)),
        "D(N,2N) at t=0": (small, Dp[:, :, 0]),
        "D(N,2N) at t=T": (small, Dp[:, :, -1]),
        f"sup_t D(N,{nmax})": (below, Dm.max(axis=-1)),
    }
    fits = {k: fit_loglog(x, v) for k, (x, v) in series.items()}
    argmax_t = t[Dp.mean(axis=0).argmax(axis=-1)]  # time of the largest mean distance, per pair
    for k, f in fits.items():
        ctx.log({f"slope/{k}": f.slope, f"slope_lo/{k}": f.lo, f"slope_hi/{k}": f.hi})
        print(f"{k}: {np.round(series[k][1].mean(axis=0), 5).tolist()} at N = {series[k][0]}; {f.label()}")
    print(f"time of the largest mean D(N,2N) per pair: {argmax_t.tolist()}")
    risk_final = (r["risk"][:, :, -1] / r["risk0"]).mean(axis=1)
    _figure(ctx, setup, seeds, t, pairs, Dp, series, fits, nmax)

    rows = []
    for k, (x, v) in series.items():
        for j, n in enumerate(x):
            rows.append([k, n, float(v[:, j].mean()), float(v[:, j].std()), float(v[:, j].min()), float(v[:, j].max())])
    ctx.table("meanfield_coupling", ["series", "N", "mean", "std", "min", "max"], rows)
    ctx.table(
        "meanfield_coupling_slopes",
        ["series", "slope", "lo95", "hi95", "reference"],
        [[k, f.slope, f.lo, f.hi, -0.5] for k, f in fits.items()],
    )
    ctx.line(
        "meanfield_coupling_rescaled",
        t,
        {f"N={n}": np.sqrt(n) * Dp[:, j].mean(axis=0) for j, (n, _) in enumerate(pairs)},
        xname="t",
    )
    return {
        "widths": widths,
        "seeds": seeds,
        "setup": describe(setup),
        "schedule": steps_label(setup),
        "times": t.tolist(),
        "pairs": pairs,
        "distances": {
            k: {"N": x, "per_seed": v.tolist(), "mean": v.mean(axis=0).tolist()} for k, (x, v) in series.items()
        },
        "pair_distance_curves_mean": Dp.mean(axis=0).tolist(),
        "argmax_time_per_pair": argmax_t.tolist(),
        "fits": {k: f._asdict() for k, f in fits.items()},
        "final_relative_risk_mean": risk_final.tolist(),
        "seconds_per_width": r["seconds"].tolist(),
        "wall_seconds": time.time() - t_start,
    }


def _figure(ctx, setup, seeds, t, pairs, Dp, series, fits, nmax):
    fig, axes = plt.subplots(1, 2, figsize=(13.0, 5.0))
    ax = axes[0]
    ax.grid(True, which="both", alpha=0.25)
    for c, (k, (x, v)) in enumerate(series.items()):
        convergence_plot(ax, x, v, label=k, reference=-0.5 if c == 0 else None, color=f"C{c}", fit=fits[k])
    x, v = series[f"sup_t D(N,{nmax})"]
    x = np.asarray(x, np.float64)
    m = v.mean(axis=0)
    ref = np.sqrt(1.0 / x - 1.0 / nmax)
    ax.loglog(x, m[0] * ref / ref[0], ":", color="C3", lw=1.0, label=r"$C\sqrt{1/N - 1/N_{max}}$")
    ax.set_ylabel("output distance on held-out windows")
    ax.set_title(f"coupled widths ({seeds} seeds, min-max band): {describe(setup)}", fontsize=8)
    ax.legend(fontsize=6.5, loc="lower left")

    ax = axes[1]
    ax.grid(True, which="both", alpha=0.25)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(pairs)))
    for j, (n, m2) in enumerate(pairs):
        ax.plot(t, np.sqrt(n) * Dp[:, j].mean(axis=0), "-", color=colors[j], lw=1.3, label=f"N={n} vs {m2}")
    ax.set_xlabel("training time t = k alpha")
    ax.set_ylabel(r"$\sqrt{N}\, D_{N,2N}(t)$ (mean over seeds)")
    ax.set_title(f"rescaled distance: collapse means N^(-1/2) at every t\n{steps_label(setup)}", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    fig.suptitle("mean-field Elman networks of width N and 2N from one neuronal embedding", fontsize=10)
    fig.tight_layout()
    ctx.figure(fig, "meanfield_coupling")


if __name__ == "__main__":
    import sys

    from rnnntk.run.cli import main

    sys.argv = [sys.argv[0], "experiment=meanfield_coupling", *sys.argv[1:]]
    try:
        main()
    except ConfigError as e:  # pragma: no cover
        raise SystemExit(f"configuration error: {e}") from None

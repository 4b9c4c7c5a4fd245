"""elman_kernel: the empirical NTK of the Elman network against its infinite-width limit, as the
width grows, next to the diagonal network of the specification on the same data.

Data. One stationary path ``X_1..X_{BT}`` of the configured source (``cfg.data``) is cut into
``B`` consecutive sequences of length ``T``: sequence ``p`` is ``X_{pT+1}..X_{(p+1)T}``.

- The Elman network (`rnnntk.elman`, ``param="ntk"``) reads each sequence from zero state:
  kernels ``[B, B]`` for ``pool="last"`` and ``pool="mean"``, empirical (`elman_empirical_ntk`)
  and limit (`elman_limit_ntk`).
- The diagonal network (spec section 2, ``cfg.model``) reads the concatenated path from zero
  memory, as the specification's networks do (`empirical_ntk` / `limit_kernel` with
  ``burn = T - 1``), and its kernel is taken between the histories that end where the ``B``
  sequences end. Their last ``T`` inputs are exactly the Elman sequences; the older inputs
  (earlier sequences) reach a diagonal unit's memory damped by ``|b|^T <= b0^T`` (``1.5e-5`` for
  ``b0 = 0.5``, ``T = 16``), far below the deviations measured. Finite and limit diagonal kernels
  see the same histories, so the comparison is exact in its own terms.

For each width ``n`` and seed, the relative Frobenius deviation ``||K_n - K||_F / ||K||_F``. Both
kernels are averages over ``n`` units (i.i.d. for the diagonal network; exchangeable with
``O(n^{-1/2})`` correlations for the Elman network), so the deviation should fall like
``n^{-1/2}``. The figure: deviation against width on log-log axes, mean over seeds with min-max
band, fitted slope with its 95% interval next to the reference slope ``-1/2``; left the Elman
network (both pools), right the diagonal network.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import rnnntk
from rnnntk._checks import ConfigError, check_positive_int, require
from rnnntk.elman import POOLS, check_variance, get_elman_activation
from rnnntk.precision import float64
from rnnntk.run import (
    as_list,
    build_data,
    convergence_plot,
    elman_from_config,
    fit_loglog,
    limit_options_from_config,
    model_from_config,
    relative_frobenius,
)

VARIANCES = ("var_w", "var_u", "var_b", "var_v")


def validate(cfg) -> None:
    ex = cfg.experiment
    check_positive_int(ex.batch, "experiment.batch")
    check_positive_int(ex.length, "experiment.length")
    el = ex.elman
    for v in VARIANCES:
        check_variance(el[v], f"experiment.elman.{v}")
    get_elman_activation(str(el.activation))
    pools = [str(p) for p in as_list(el.pools)]
    require(
        len(pools) >= 1 and set(pools) <= set(POOLS),
        "experiment.elman.pools",
        pools,
        f"a non-empty subset of {list(POOLS)}",
    )
    require(
        len(as_list(cfg.sweep.widths)) >= 2, "sweep.widths", as_list(cfg.sweep.widths), "at least 2 widths (a slope)"
    )


def _sequences(cfg):
    """The path ``[B T, d]`` and its ``B`` sequences ``[B, T, d]`` (float64)."""
    ex = cfg.experiment
    B, T = int(ex.batch), int(ex.length)
    source, target, dim = build_data(cfg)
    path, _ = rnnntk.make_dataset(
        jax.random.fold_in(jax.random.key(int(cfg.seed)), 0),
        B * T,
        dim=dim,
        source=source,
        target=target,
        dtype=jnp.float64,
    )
    return path, path.reshape(B, T, dim)


@float64()
def run(cfg, ctx) -> dict:
    validate(cfg)
    t_start = time.time()
    ex, el = cfg.experiment, cfg.experiment.elman
    B, T = int(ex.batch), int(ex.length)
    widths = [int(w) for w in as_list(cfg.sweep.widths)]
    seeds = int(cfg.sweep.seeds)
    pools = [str(p) for p in as_list(el.pools)]
    elman = {p: elman_from_config(el, pool=p) for p in pools}  # one model per pool, the same network
    diagonal = bool(ex.diagonal)
    model = model_from_config(cfg)
    path, xs = _sequences(cfg)
    dim = xs.shape[-1]
    burn = T - 1
    ends = np.arange(B) * T  # rows of the diagonal kernel at the ends of the sequences
    options = limit_options_from_config(cfg)

    def limits():
        out = {f"elman_{p}": np.asarray(m.limit_kernel(xs)) for p, m in elman.items()}
        if diagonal:
            K = model.limit_kernel(path, burn=burn, options=options)
            out["diagonal"] = np.asarray(K)[np.ix_(ends, ends)]
        return out

    K_lim = ctx.cached("limits", limits)
    series = list(K_lim)
    base = jax.random.key(int(cfg.seed))
    dev = {s: np.zeros((seeds, len(widths))) for s in series}
    seconds = []
    for j, n in enumerate(ctx.progress(widths, desc="elman_kernel")):

        def one(n=n):
            t0 = time.time()
            out = {s: np.zeros(seeds) for s in series}
            for s in range(seeds):
                key = jax.random.fold_in(jax.random.fold_in(base, n), s)
                p = elman[pools[0]].init(jax.random.fold_in(key, 1), n, dim, dtype=jnp.float64)
                act = elman[pools[0]].activation
                Ks = rnnntk.elman.elman_empirical_ntks(p, xs, pools=tuple(pools), activation=act)  # one pass
                for pool, K in zip(pools, Ks):
                    out[f"elman_{pool}"][s] = float(relative_frobenius(K, K_lim[f"elman_{pool}"]))
                del p
                if diagonal:
                    q = model.init(jax.random.fold_in(key, 2), n, dim, dtype=jnp.float64)
                    K = np.asarray(model.empirical_kernel(q, path, burn=burn))[np.ix_(ends, ends)]
                    out["diagonal"][s] = float(relative_frobenius(K, K_lim["diagonal"]))
            out["seconds"] = np.asarray(time.time() - t0)
            return out

        r = ctx.cached(f"width_{n}", one)
        for s in series:
            dev[s][:, j] = r[s]
        seconds.append(float(r["seconds"]))
        ctx.log(
            {"width": n, **{f"deviation/{s}": float(dev[s][:, j].mean()) for s in series}, "seconds": seconds[-1]},
            step=j,
        )

    fits = {s: fit_loglog(widths, dev[s]) for s in series}
    for s, f in fits.items():
        ctx.log({f"slope/{s}": f.slope, f"slope_lo/{s}": f.lo, f"slope_hi/{s}": f.hi})
        print(f"{s}: deviation {np.round(dev[s].mean(0), 5).tolist()}; {f.label()} (reference -0.5)")

    _figure(ctx, dev, fits, widths, elman[pools[0]], model, B=B, T=T, seeds=seeds)
    cols = ["width", "seeds"] + [f"{s}_{k}" for s in series for k in ("mean", "std", "min", "max")] + ["seconds"]
    rows = [
        [n, seeds] + [float(f(dev[s][:, j])) for s in series for f in (np.mean, np.std, np.min, np.max)] + [seconds[j]]
        for j, n in enumerate(widths)
    ]
    ctx.table("elman_kernel", cols, rows)
    ctx.table(
        "elman_kernel_slopes",
        ["series", "slope", "lo95", "hi95", "reference"],
        [[s, f.slope, f.lo, f.hi, -0.5] for s, f in fits.items()],
    )
    return {
        "widths": widths,
        "seeds": seeds,
        "batch": B,
        "length": T,
        "deviation": {s: dev[s].tolist() for s in series},
        "deviation_mean": {s: dev[s].mean(axis=0).tolist() for s in series},
        "fits": {s: f._asdict() for s, f in fits.items()},
        "seconds_per_width": seconds,
        "wall_seconds": time.time() - t_start,
    }


def _figure(ctx, dev, fits, widths, em, model, *, B, T, seeds) -> None:
    """The deviations against the width: the Elman network's pools, and the diagonal network (``model``)
    when it was measured."""
    series = list(dev)
    panels = [[s for s in series if s.startswith("elman")]] + ([["diagonal"]] if "diagonal" in dev else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.6), sharey=True, squeeze=False)
    vs = ", ".join(f"{v}={getattr(em, v):g}" for v in VARIANCES)
    titles = [
        f"Elman network, full recurrent matrix\n({em.activation}, {vs})",
        f"diagonal network ({model.activation}, b0={model.b0:g}, s_w={model.s_w:g})\n"
        "histories ending with the sequences",
    ]
    labels = {"elman_last": 'pool="last"', "elman_mean": 'pool="mean"', "diagonal": "last step"}
    for i, names in enumerate(panels):
        ax = axes[0, i]
        ax.grid(True, which="both", alpha=0.25)
        for c, s in enumerate(names):
            convergence_plot(ax, widths, dev[s], label=labels[s], reference=-0.5, color=f"C{c}", fit=fits[s])
        ax.set_title(titles[i], fontsize=8)
        ax.legend(fontsize=7, loc="lower left")
    axes[0, 0].set_ylabel(r"$\|K_n - K\|_F \,/\, \|K\|_F$")
    fig.suptitle(
        f"empirical NTK vs infinite-width NTK on the same {B} sequences of length {T} ({seeds} seeds)",
        fontsize=10,
        y=1.03,
    )
    ctx.figure(fig, "elman_kernel")


if __name__ == "__main__":
    import sys

    from rnnntk.run.cli import main

    sys.argv = [sys.argv[0], "experiment=elman_kernel", *sys.argv[1:]]
    try:
        main()
    except ConfigError as e:  # pragma: no cover
        raise SystemExit(f"configuration error: {e}") from None

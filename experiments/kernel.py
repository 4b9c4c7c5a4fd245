"""kernel: the empirical NTK at initialisation against the limit kernel, as the width grows.

For each width N and seed, the relative Frobenius error ||K^N - K|| / ||K|| between the empirical
NTK (1/N) sum_i phi^i . psi^i on P evaluation histories and the limit kernel E[phi . psi]
(quadrature over mu_0). The error is a sample mean of N i.i.d. unit contributions, so it should
fall like N^{-1/2}: the figure shows the fitted log-log slope with its 95% interval next to -1/2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rnnntk
from rnnntk import provenance
from rnnntk.precision import float64
from rnnntk.run import (
    as_list,
    build_data,
    convergence_plot,
    limit_options_from_config,
    model_from_config,
    new_figure,
    relative_frobenius,
)

from ._common import headline

#: the figure fits a slope over widths
MIN_WIDTHS = 2


@float64()
def run(cfg, ctx) -> dict:
    ex = cfg.experiment
    source, target, dim = build_data(cfg)
    model = model_from_config(cfg)
    P, burn = int(ex.P), int(cfg.limit.burn)
    widths = [int(w) for w in as_list(cfg.sweep.widths)]
    seeds = int(cfg.sweep.seeds)
    base = jax.random.key(int(cfg.seed))
    xe, _ = rnnntk.make_dataset(
        jax.random.fold_in(base, 0), P + burn, dim=dim, source=source, target=target, dtype=jnp.float64
    )
    options = limit_options_from_config(cfg)
    # what each stage depends on: the limit not on the widths or the training, a width not on the others
    settings = provenance.settings(cfg)
    limit_key = provenance.without(settings, "sweep", "training")
    width_key = provenance.without(settings, "sweep.widths")
    results, fits = {}, {}
    fig, ax = new_figure()
    for grad in [str(g) for g in as_list(cfg.training.grad)]:
        K = ctx.cached(
            f"kernel_limit_{grad.replace(':', '')}",
            lambda grad=grad: {"K": np.asarray(model.limit_kernel(xe, burn=burn, grad=grad, options=options))},
            key=limit_key | {"grad": grad},
        )["K"]
        K = jnp.asarray(K)
        err = np.zeros((seeds, len(widths)))
        for j, n in enumerate(ctx.progress(widths, desc=f"kernel {grad}")):

            def one(n=n, grad=grad, K=K):
                e = []
                for s in range(seeds):
                    p = model.init(jax.random.fold_in(jax.random.fold_in(base, 2), s), n, dim, dtype=jnp.float64)
                    e.append(float(relative_frobenius(model.empirical_kernel(p, xe, burn=burn, grad=grad), K)))
                return {"err": np.array(e)}

            err[:, j] = ctx.cached(f"kernel_{grad.replace(':', '')}_N{n}", one, key=width_key | {"width": n})["err"]
            ctx.log({f"kernel_error/{grad}": float(err[:, j].mean()), "width": n})
        fit = convergence_plot(ax, widths, err, label=grad, reference=-0.5)
        fits[grad] = fit._asdict()
        headline(ctx, "slope", {grad: fit.slope})
        results[grad] = {"widths": widths, "error": err.tolist()}
        print(f"{grad}: empirical NTK error {np.round(err.mean(0), 5).tolist()}; {fit.label()} (reference -0.5)")
    ax.set_ylabel(r"$\|K^N - K\|_F / \|K\|_F$ at initialisation")
    ax.set_title(f"empirical NTK vs limit kernel (P={P}, {seeds} seeds)")
    ax.legend(fontsize=8)
    ctx.figure(fig, "kernel")
    rows = [[g, n, s, results[g]["error"][s][j]] for g in results for j, n in enumerate(widths) for s in range(seeds)]
    ctx.table("kernel", ["grad", "N", "seed", "relative_error"], rows)
    return {"fits": fits, "errors": results}

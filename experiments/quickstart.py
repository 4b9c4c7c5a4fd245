"""A small finite-vs-limit convergence study on the CPU (the README's main job).

    python -m rnnntk.experiments.quickstart [output_dir]

Expected runtime: about a minute on 2 CPU cores. It trains width-N networks online
(``beta = 0.75``, ``rtrl``, AR(1) inputs, ``sin_lag`` target) for ``T = 1`` and compares them with
the limit ``h_T`` on ``P = 1000`` stationary histories, prints ``D_N(T)`` per width and the fitted
log-log slope with its 95% interval, and saves ``convergence.png``/``.pdf``. Expected: ``D_N``
falls from about 0.11 at ``N = 100`` toward the limit's own discretisation floor (about 0.03,
estimated from a second, independent evaluation path), slope near the heuristic -1/4.
"""

from __future__ import annotations

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import rnnntk
from rnnntk.metrics import distance, fit_loglog, heuristic_rate
from rnnntk.plots import convergence_plot, new_figure, save

WIDTHS = (100, 400, 1600, 6400)
SEEDS = 6
BETA, ALPHA, T = 0.75, 5.0, 1.0
P, BURN, B0, S_W = 1000, 60, 0.5, 1.0


def main(out_dir: str = "outputs/quickstart") -> dict:
    jax.config.update("jax_enable_x64", True)
    t0 = time.time()
    xe, ye = rnnntk.make_dataset(jax.random.key(999), P + BURN, dim=1)
    h = rnnntk.limit_predict(xe, ye, t=T, alpha=ALPHA, b0=B0, s_w=S_W, burn=BURN)
    # floor: the same limit built on an independent path, evaluated on this one
    x2, y2 = rnnntk.make_dataset(jax.random.key(998), P + BURN, dim=1)
    h2 = rnnntk.limit_predict(x2, y2, t=T, alpha=ALPHA, b0=B0, s_w=S_W, burn=BURN, xs_eval=xe)
    floor = float(distance(h, h2)) / np.sqrt(2.0)
    print(f"limit on P = {P} histories: {time.time() - t0:.1f}s; discretisation floor ~ {floor:.3f}")

    D = np.zeros((SEEDS, len(WIDTHS)))
    print(f"{'N':>7} {'D_N(T) mean':>12} {'std':>8}")
    for j, n in enumerate(WIDTHS):
        for s in range(SEEDS):
            p0 = rnnntk.init_params(jax.random.key(10 + s), n, 1, b0=B0, s_w=S_W, dtype=jnp.float32)
            xs, ys = rnnntk.make_dataset(jax.random.key(500 + s), int(T * n), dim=1, dtype=jnp.float32)
            p = rnnntk.train_online(p0, xs, ys, beta=BETA, alpha=ALPHA)
            p = jax.tree.map(lambda a: a.astype(jnp.float64), p)
            D[s, j] = float(distance(rnnntk.predict(p, xe, beta=BETA)[BURN:], h))
        print(f"{n:>7} {D[:, j].mean():>12.4f} {D[:, j].std():>8.4f}")
    fit = fit_loglog(WIDTHS, D)
    print(f"fitted {fit.label()}; heuristic {heuristic_rate(BETA):+.3f}")

    fig, ax = new_figure()
    convergence_plot(ax, WIDTHS, D, label=f"beta={BETA}", reference=heuristic_rate(BETA), floor=floor)
    ax.set_ylabel(r"$D_N(T)$")
    ax.set_title(f"finite RNN vs kernel limit, T={T}, alpha={ALPHA}, rtrl")
    ax.legend(fontsize=8)
    paths = save(fig, os.path.join(out_dir, "convergence"))
    print(f"figure: {paths[0]}  ({time.time() - t0:.0f}s total)")
    return {"widths": WIDTHS, "D": D.tolist(), "slope": fit.slope, "floor": floor}


if __name__ == "__main__":
    main(*sys.argv[1:])

"""actor_critic_scaling: how the fluctuations and the bias of the online actor-critic scale with N.

    rnnntk experiment=actor_critic_scaling

Lam, Sirignano et al., "Scaling Effects and Uncertainty Quantification in Neural Actor Critic
Algorithms" (arXiv:2601.17954), write the outputs of networks ``N^{-beta} sum_i c_i sigma(w_i . z)``,
``beta`` in (1/2, 1), as the limit ODE plus corrections of orders ``N^{1/2 - beta}`` (a fluctuation
with mean zero) and ``N^{beta - 1}`` (a deterministic bias), and state that the variance across runs
decays as a power of the width with exponent ``1/2 - beta``. This experiment measures, for several
``beta`` (the model, rates and MDP of `rnnntk.experiments.actor_critic`, the ODE started at zero),
at every width ``N`` and for the critic ``Q`` and the actor logits ``f``:

- ``spread``: ``sup_t (mean_z Var_s X^N_t(z))^{1/2}``, the standard deviation across seeds ``s``
  (unbiased, ``ddof = 1``) in RMS over the state-action pairs ``z``, largest over the save times.
  Its exponent is compared with ``1/2 - beta``; the variance itself (``spread^2``) with ``1 - 2 beta``.
  (The paper's sentence names the exponent of "the variance"; ``1/2 - beta`` is the exponent of the
  standard deviation under its expansion. Both are reported, so the reader can see which fits.)
- ``bias``: ``sup_t (mean_z [(mean_s X^N_t(z) - X_t(z))^2 - Var_s X^N_t(z) / S])^{1/2}``: the
  distance of the mean over seeds to the ODE, with the ``Var / S`` that the finite number of
  seeds adds to the squared distance removed (so that it estimates ``|E X^N_t - X_t|``); compared
  with ``beta - 1``. Where the correction leaves nothing (the bias is below the seed noise), the
  point is missing (NaN), never zero.
- ``distance``: the mean over seeds of ``sup_t RMS_z |X^N_t - X_t|``, the quantity of the
  ``actor_critic`` distance figure; compared with ``-min(beta - 1/2, 1 - beta)``.

Slopes are least-squares fits of ``log statistic`` against ``log N``; their 95% intervals are
percentile bootstrap intervals over seeds (seeds resampled whole, since every width of a seed
shares its key: common random numbers). A fit is reported as unresolved (no slope) when fewer
than three widths have a finite statistic or when the interval is wider than
``experiment.max_interval``.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from rnnntk.precision import float64
from rnnntk.run import heuristic_rate

from .actor_critic import _hyper, _ode, _problem, _train_stage

STATS = ("spread", "variance", "bias", "distance")
OUTPUTS = ("Q", "f")


def references(beta: float) -> dict[str, float]:
    """The exponent each statistic is compared with."""
    return {
        "spread": 0.5 - beta,
        "variance": 1.0 - 2.0 * beta,
        "bias": beta - 1.0,
        "distance": heuristic_rate(beta),
    }


def statistics(X: np.ndarray, X_ode: np.ndarray) -> dict[str, float]:
    """The statistics of one width: ``X [S, T, P]`` finite outputs over seeds and save times,
    ``X_ode [T, P]`` the ODE on the same times (module docstring)."""
    S = X.shape[0]
    var = X.var(axis=0, ddof=1)  # [T, P]
    spread = float(np.sqrt(var.mean(axis=-1).max()))
    b2 = ((X.mean(axis=0) - X_ode) ** 2 - var / S).mean(axis=-1)  # [T]
    bias = float(np.sqrt(b2.max())) if b2.max() > 0 else float("nan")
    dist = float(np.sqrt(((X - X_ode[None]) ** 2).mean(axis=-1)).max(axis=-1).mean())
    return {"spread": spread, "variance": spread**2, "bias": bias, "distance": dist}


def _slope(widths, y) -> float:
    x = np.log(np.asarray(widths, np.float64))
    y = np.asarray(y, np.float64)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 3:
        return float("nan")
    xc = x[ok] - x[ok].mean()
    ly = np.log(y[ok])
    return float(xc @ (ly - ly.mean()) / (xc @ xc))


def fit_statistics(widths, Xs, X_odes, *, resamples: int = 400, seed: int = 0, level: float = 0.95) -> dict:
    """Per statistic: the values per width, the fitted slope and its bootstrap interval.

    Arguments:
        widths: ``[W]``; Xs: per width ``[S, T, P]``; X_odes: per width ``[T, P]``.
    """
    S = Xs[0].shape[0]
    vals = [statistics(X, Xo) for X, Xo in zip(Xs, X_odes)]
    rng = np.random.default_rng(seed)
    boot = {k: [] for k in STATS}
    for _ in range(resamples):
        idx = rng.integers(0, S, size=S)
        if len(set(idx.tolist())) < 2:  # a variance needs two distinct seeds
            continue
        bs = [statistics(X[idx], Xo) for X, Xo in zip(Xs, X_odes)]
        for k in STATS:
            boot[k].append(_slope(widths, [b[k] for b in bs]))
    out = {}
    for k in STATS:
        y = [v[k] for v in vals]
        b = np.asarray(boot[k])
        finite = b[np.isfinite(b)]
        lo, hi = (
            np.quantile(finite, [(1 - level) / 2, (1 + level) / 2]) if finite.size >= 0.9 * b.size else (np.nan, np.nan)
        )
        out[k] = {"values": y, "slope": _slope(widths, y), "lo": float(lo), "hi": float(hi)}
    return out


def _verdict(fit: dict, ref: float, max_interval: float) -> str:
    s, lo, hi = fit["slope"], fit["lo"], fit["hi"]
    if not (np.isfinite(s) and np.isfinite(lo) and np.isfinite(hi)) or hi - lo > max_interval:
        return "unresolved"
    return "consistent" if lo <= ref <= hi else "inconsistent"


@float64()
def run(cfg, ctx) -> dict:
    e = cfg.experiment
    t_start = time.time()
    mdp, K = _problem(e)
    sc = e.scaling
    widths = [int(n) for n in sc.widths]
    betas = [float(b) for b in sc.betas]
    S = int(sc.seeds)
    keys = jax.random.split(jax.random.fold_in(jax.random.key(int(cfg.get("seed", 0))), 2), S)
    max_interval = float(sc.max_interval)
    results = {"widths": widths, "betas": betas, "seeds": S, "horizon": float(sc.horizon), "fits": []}
    curves = {}
    step = 0
    for beta in betas:
        h = _hyper(e, beta)
        Xs = {o: [] for o in OUTPUTS}
        Xo = {o: [] for o in OUTPUTS}
        for N in ctx.progress(widths, desc=f"scaling beta={beta:g}"):
            st = _train_stage(ctx, f"scaling_beta{beta:g}_N{N}", e, mdp, h, N, keys, float(sc.horizon), int(sc.n_save))
            sol = _ode(e, mdp, K, h, st["t"], 1)
            for o in OUTPUTS:
                Xs[o].append(np.asarray(st[o]))
                Xo[o].append(np.asarray(getattr(sol, o))[0])
        refs = references(beta)
        for o in OUTPUTS:
            fits = fit_statistics(widths, Xs[o], Xo[o], seed=int(cfg.get("seed", 0)))
            curves[(beta, o)] = fits
            for k in STATS:
                f = fits[k]
                row = {"output": o, "statistic": k, "beta": beta, "slope": f["slope"], "lo": f["lo"], "hi": f["hi"],
                       "reference": refs[k], "verdict": _verdict(f, refs[k], max_interval),
                       "values": f["values"]}  # fmt: skip
                results["fits"].append(row)
                step += 1
                ctx.log({"beta": beta, f"{o}/{k}/slope": f["slope"], f"{o}/{k}/slope_lo": f["lo"],
                         f"{o}/{k}/slope_hi": f["hi"]}, step=step)  # fmt: skip
    rows = [[r["output"], r["statistic"], r["beta"], r["slope"], r["lo"], r["hi"], r["reference"], r["verdict"]]
            for r in results["fits"]]  # fmt: skip
    ctx.table("ac_scaling", ["output", "statistic", "beta", "slope", "lo", "hi", "reference", "verdict"], rows)
    ctx.figure(_figure(widths, betas, curves), "ac_scaling")
    for r in results["fits"]:
        print(f"{r['output']} {r['statistic']:>8} beta={r['beta']:<5g} slope {r['slope']:+.3f} "
              f"[{r['lo']:+.3f}, {r['hi']:+.3f}] reference {r['reference']:+.3f}: {r['verdict']}")  # fmt: skip
    results["wall_s"] = time.time() - t_start
    return results


def _figure(widths, betas, curves):
    import matplotlib.pyplot as plt

    shown = ("spread", "bias", "distance")
    fig, axes = plt.subplots(2, len(shown), figsize=(5.2 * len(shown), 8.0), squeeze=False)
    w = np.asarray(widths, np.float64)
    for i, o in enumerate(OUTPUTS):
        for j, k in enumerate(shown):
            ax = axes[i, j]
            ax.grid(True, which="both", alpha=0.25)
            for c, beta in enumerate(betas):
                f = curves[(beta, o)][k]
                y = np.asarray(f["values"], np.float64)
                col = f"C{c}"
                ax.loglog(w, y, "o-", color=col, lw=1.0,
                          label=f"beta={beta:g}: {f['slope']:+.2f} [{f['lo']:+.2f}, {f['hi']:+.2f}]")  # fmt: skip
                ok = np.isfinite(y)
                if ok.any():
                    y0 = y[ok][0]
                    ref = references(beta)[k]
                    ax.loglog(w, y0 * (w / w[ok][0]) ** ref, "--", color=col, lw=0.8, alpha=0.6)
            ax.set_xticks(w, [str(n) for n in widths], minor=False)
            ax.set_xticks([], minor=True)
            ax.set_xlabel("width N")
            name = {"Q": "critic Q", "f": "actor logits f"}[o]
            ax.set_ylabel(f"{k} of {name}")
            ref_txt = {"spread": "1/2 - beta", "bias": "beta - 1", "distance": "-min(beta-1/2, 1-beta)"}[k]
            ax.set_title(f"{name}: {k} vs N (dashed: slope {ref_txt})", fontsize=10)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

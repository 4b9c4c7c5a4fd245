"""estimators: limit and finite loss curves for the gradient estimators rtrl, tbptt:1, tbptt:5.

Truncated backpropagation trains with features psi that differ from the output's gradient phi;
its limit kernel K = E[phi . psi] is not symmetric and its ODE converges to a different (biased)
fixed point. Each panel shows the limit L(t) of one estimator and the online losses of its finite
networks; the last panel overlays the three limits.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from rnnntk.diagonal import last_loss, run_study, spec_from_config

from ._common import headline


def validate(cfg) -> None:
    from rnnntk._checks import require
    from rnnntk.run import as_list

    require(
        len(as_list(cfg.training.beta)) == 1 and len(as_list(cfg.training.alpha)) == 1,
        "training.beta",
        cfg.training.beta,
        "a single beta and a single alpha for experiment=estimators",
    )
    spec_from_config(cfg)  # the study's own checks (the limit's law against the betas)


def run(cfg, ctx) -> dict:
    return report(run_study(spec_from_config(cfg), ctx, tag="estimators"), ctx)


def report(res, ctx) -> dict:
    """Figure and numbers of a (possibly joined) study."""
    s = res.spec
    grads = list(res.per_grad)
    fig, axes = plt.subplots(1, len(grads) + 1, figsize=(4.2 * (len(grads) + 1), 4.2), sharey=True)
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(s.widths)))
    out = {}
    for j, grad in enumerate(grads):
        r = res.per_grad[grad]
        ax = axes[j]
        for i, n in enumerate(s.widths):
            ax.plot(r.bin_t[i], r.loss[i, :, 0].mean(axis=0), "o-", ms=2, lw=0.8, color=colors[i], label=f"N={n}")
        ax.plot(r.limit_t, r.limit_loss[0], "k-", lw=2, label="limit L(t)")
        ax.set_title(grad)
        ax.set_xlabel("t = k / N")
        ax.grid(alpha=0.3)
        axes[-1].plot(r.limit_t, r.limit_loss[0], lw=2, label=f"limit, {grad}")
        out[grad] = {
            "limit_final_loss": float(r.limit_loss[0, -1]),
            "finite_final_loss": last_loss(r.loss[:, :, 0]).mean(axis=1).tolist(),
            "D_final": r.D[:, :, 0, -1].mean(axis=1).tolist(),
        }
        ctx.line(f"estimators_{grad.replace(':', '')}", r.limit_t, {"limit": r.limit_loss[0]}, xname="t")
        print(
            f"{grad:>8}: limit L(T) = {r.limit_loss[0, -1]:.4f}; finite (largest N) "
            f"{last_loss(r.loss[-1, :, 0]).mean():.4f}; D_N(T) by width {np.round(out[grad]['D_final'], 4).tolist()}"
        )
    axes[0].set_ylabel("training loss")
    axes[0].legend(fontsize=7)
    axes[-1].set_title("limits")
    axes[-1].set_xlabel("t")
    axes[-1].grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"gradient estimators, beta={s.betas[0]:g}, alpha={s.alphas[0]:g}")
    ctx.figure(fig, "estimators")
    headline(ctx, "limit_final_loss", {g: v["limit_final_loss"] for g, v in out.items()})
    headline(ctx, "D_final", {g: v["D_final"][-1] for g, v in out.items()})
    return {"estimators": out, "study": res.to_json()}

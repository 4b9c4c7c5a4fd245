"""rtrl_fixed_width: online training of one fixed-width network on a long sequence with a decaying
learning rate, and the gradient of the stationary loss along the way (spec section 5).

A width-``N`` network is trained online for ``steps`` steps with
``alpha_k = alpha / (1 + k / k0)^gamma`` (``experiment.k0``, ``experiment.gamma``; passed to the
trainer as ``lr_scale``, chunk by chunk, so memory stays bounded), once per estimator in
``training.grad`` and seed (all estimators of a seed start from the same ``theta_0`` and read the
same data: common random numbers). At log-spaced steps ``k`` the parameters are frozen and the
gradient of the stationary loss ``L(theta) = E_pi (Y - yhat(theta; xi))^2 / 2`` is estimated by an
ergodic average with exact RTRL sensitivities over one long evaluation path (the same path for
every ``k``, seed and estimator; `rnnntk.diagonal.stationary.stationary_gradient`).

What the figure should show: for ``rtrl`` the norm ``||grad L(theta_k)||`` goes to zero (RTRL follows
the true gradient asymptotically and a decaying step removes the SGD noise: convergence to a
stationary point of ``L``); for ``tbptt:tau`` it levels off at a positive value that shrinks as
``tau`` grows. "Biased" means exactly this: truncated backpropagation follows the mean truncated
direction ``E_pi[(yhat - Y) psi]``, which is not the gradient of any loss, so its iterates settle
where *that* direction vanishes (the middle panel shows it going to zero at the tbptt iterates),
a point at which the true gradient does not vanish. The estimation noise of the ergodic average
(dotted, from batch means) is the floor below which no norm can be resolved.

The last iterate of a decaying-step run still fluctuates by more than the truncation bias, so
each evaluation also takes the Polyak (tail) average of the iterates over the second half of the
run so far (the parameters at chunk ends from ``k/2`` to ``k``) and reports the gradient there
(the last iterate's values are drawn as crosses). The quick scale uses a delay-line target
``Y_k = sin(2 X_{k-3})`` with independent inputs: only the memory predicts it, and ``tbptt:tau``
with ``tau <= 3`` never backpropagates to ``X_{k-3}``.

Measured at the quick scale (N = 16, beta = 1/2, alpha = 2, k0 = 2000, gamma = 0.6, b0 = 0.9,
2e5 steps, 4 seeds; 55 s): ``||grad L||`` at the averaged iterate falls from 0.53 to 0.0047 for
``rtrl`` (tail slope -0.46 [-0.63, -0.30]) and to 0.0081 for ``tbptt:4``, and levels off at 0.041
for ``tbptt:1`` (tail slope +0.11 [+0.03, +0.20]) and 0.026 for ``tbptt:2``, while their own
truncated directions fall to 0.0015 and 0.0076: they converge, to points where the true gradient is
far above the estimation noise (0.002). Stationary losses: 0.219 (rtrl), 0.236 (tbptt:1), 0.248
(tbptt:2, rising), 0.224 (tbptt:4). With the spec's ``sin_lag`` target (lag 1) and at the last
iterate the bias (about 1e-3) is hidden by the online fluctuations (about 3e-2).

The training path is drawn in stationary segments of ``chunk`` steps from independent keys (one
per chunk), so the run never holds more than one chunk of data; the network's memory and
sensitivities carry across segment boundaries. With ``chunk`` much longer than the chain's mixing
time this is the same ergodic average as one unbroken path.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from rnnntk._checks import check_positive, check_positive_int, require
from rnnntk.data import make_dataset
from rnnntk.diagonal import decay_schedule, init_ensemble, parse_grad, schedule, stationary_gradient, train_chunks
from rnnntk.precision import float64
from rnnntk.run import as_list, build_data, fit_loglog, model_from_config


def validate(cfg) -> None:
    ex = cfg.experiment
    require(
        len(as_list(cfg.training.beta)) == 1 and len(as_list(cfg.training.alpha)) == 1,
        "training.beta",
        cfg.training.beta,
        "a single beta and a single alpha for experiment=rtrl_fixed_width",
    )
    check_positive_int(ex.width, "experiment.width")
    steps = check_positive_int(ex.steps, "experiment.steps")
    chunk = check_positive_int(ex.chunk, "experiment.chunk")
    require(chunk <= steps, "experiment.chunk", chunk, f"an integer <= experiment.steps = {steps}")
    check_positive(ex.k0, "experiment.k0")
    require(float(ex.gamma) >= 0, "experiment.gamma", ex.gamma, "a number >= 0")
    check_positive_int(ex.evals, "experiment.evals")
    check_positive_int(ex.eval_steps, "experiment.eval_steps")
    check_positive_int(ex.eval_burn, "experiment.eval_burn")
    b = check_positive_int(ex.batches, "experiment.batches")
    require(b >= 2, "experiment.batches", b, "an integer >= 2")
    require(
        int(ex.eval_steps) // b >= 10,
        "experiment.eval_steps",
        ex.eval_steps,
        f"at least 10 steps per batch (batches = {b})",
    )


def eval_chunks(steps: int, chunk: int, evals: int) -> list[int]:
    """Chunk indices after which to evaluate: the ends nearest to ``evals`` log-spaced steps."""
    n = math.ceil(steps / chunk)
    want = np.geomspace(chunk, n * chunk, evals)
    return sorted({int(np.clip(round(w / chunk) - 1, 0, n - 1)) for w in want} | {n - 1})


@float64()  # fixed width: float64 costs little
def run(cfg, ctx) -> dict:
    ex = cfg.experiment
    source, target, dim = build_data(cfg)
    model = model_from_config(cfg)
    act = model.act
    n, steps, chunk = int(ex.width), int(ex.steps), int(ex.chunk)
    k0, gamma = float(ex.k0), float(ex.gamma)
    alpha, beta = float(as_list(cfg.training.alpha)[0]), float(as_list(cfg.training.beta)[0])
    grads = [str(g) for g in as_list(cfg.training.grad)]
    seeds = int(cfg.sweep.seeds)
    base = jax.random.key(int(cfg.seed))
    kinit, kdata, keval = (jax.random.fold_in(base, i) for i in (11, 12, 13))
    ikeys = jax.vmap(lambda s: jax.random.fold_in(kinit, s))(jnp.arange(seeds))
    dkeys = jax.vmap(lambda s: jax.random.fold_in(kdata, s))(jnp.arange(seeds))
    xe, ye = make_dataset(
        keval, int(ex.eval_steps) + int(ex.eval_burn), dim=dim, source=source, target=target, dtype=jnp.float64
    )
    n_chunks = math.ceil(steps / chunk)
    at = eval_chunks(steps, chunk, int(ex.evals))
    sample = jax.jit(
        jax.vmap(
            partial(make_dataset, length=chunk, dim=dim, source=source, target=target, dtype=jnp.float64),
        )
    )
    ev = dict(beta=beta, burn=int(ex.eval_burn), batches=int(ex.batches), activation=model.activation)

    def evaluate(p, grad):
        true = stationary_gradient(p, xe, ye, grad="rtrl", **ev)
        own = true if grad == "rtrl" else stationary_gradient(p, xe, ye, grad=grad, **ev)
        return [np.asarray(a) for a in (true.norm, true.noise, true.sq_norm, true.loss, own.norm, own.noise)]

    def params_of(ens):
        return jax.tree.map(lambda a, d: np.asarray(a + d[:, 0]), ens.params0, ens.state.delta)  # [S, ...]

    plan = schedule(steps, chunk, lambda lo, L: decay_schedule(lo, L, k0=k0, gamma=gamma))

    def train(grad):
        ens = init_ensemble(ikeys, n, dim, 1, grad=grad, dtype=jnp.float64, model=model)
        first = evaluate(params_of(ens), grad)
        rows, avg_rows, ks = [first], [first], [0]
        ends = []  # parameters at every chunk end, for the tail (Polyak) averages
        run = train_chunks(  # runaway training is an error (rnnntk.divergence)
            ens,
            plan,
            lambda ch: sample(jax.vmap(lambda k: jax.random.fold_in(k, ch.index))(dkeys)),  # a segment per chunk
            alphas=[alpha],
            betas=[beta],
            est=parse_grad(grad, allow_bptt=False),
            act=act,
            where=lambda ch: f"width N = {n}, estimator {grad}, chunk {ch.index + 1} of {n_chunks}",
            setting=f"training.alpha (now {alpha:g})",
            member=lambda idx: f"seed {idx[0]}",
            progress=lambda it: ctx.progress(it, total=n_chunks, desc=f"{grad} N={n}"),
        )
        for ch, ens, _ in run:
            c = ch.index
            ends.append(params_of(ens))
            if c in at:
                ks.append(min(ch.lo + chunk, steps))
                rows.append(evaluate(ends[-1], grad))
                tail = ends[c // 2 :]  # iterates over the second half of the run so far
                mean = jax.tree.map(lambda *a: np.mean(np.stack(a), axis=0), *tail)
                avg_rows.append(evaluate(mean, grad))
                ctx.log(
                    {
                        f"grad_norm/{grad}": float(rows[-1][0].mean()),
                        f"grad_norm_averaged/{grad}": float(avg_rows[-1][0].mean()),
                        f"stationary_loss/{grad}": float(avg_rows[-1][3].mean()),
                    },
                    step=ks[-1],
                )
        names = ("norm", "noise", "sq_norm", "loss", "own_norm", "own_noise")
        raw = np.stack([np.stack(r) for r in rows], axis=-1)  # [6, S, E]
        avg = np.stack([np.stack(r) for r in avg_rows], axis=-1)
        return {"k": np.asarray(ks)} | dict(zip(names, avg)) | {f"iterate_{k}": v for k, v in zip(names, raw)}

    res = {g: ctx.cached(f"rtrl_fixed_width_{g.replace(':', '')}", lambda g=g: train(g)) for g in grads}
    return _report(ctx, res, grads, n=n, alpha=alpha, beta=beta, k0=k0, gamma=gamma, seeds=seeds)


def _report(ctx, res, grads, *, n, alpha, beta, k0, gamma, seeds) -> dict:
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.6))
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(grads)))
    out, rows = {}, []
    for grad, col in zip(grads, colors):
        r = res[grad]
        k = r["k"][1:].astype(np.float64)  # k = 0 is off a log axis
        norm, noise, own, loss = (r[x][:, 1:] for x in ("norm", "noise", "own_norm", "loss"))
        for ax, v in ((axes[0], norm), (axes[1], own), (axes[2], loss)):
            for s in range(v.shape[0]):
                ax.loglog(k, v[s], "-", color=col, lw=0.6, alpha=0.35)
        axes[0].loglog(k, r["iterate_norm"][:, 1:].mean(axis=0), "x", color=col, ms=3, alpha=0.6)
        tail = k >= k[len(k) // 2]
        fit = fit_loglog(k[tail], norm[:, tail]) if tail.sum() >= 3 else None
        lab = grad + (f": tail {fit.label()}" if fit is not None else "")
        axes[0].loglog(k, norm.mean(axis=0), "o-", color=col, ms=3, lw=1.6, label=lab)
        if fit is not None:
            axes[0].loglog(k[tail], np.exp(fit.intercept) * k[tail] ** fit.slope, "--", color=col, lw=1)
        axes[0].loglog(k, noise.mean(axis=0), ":", color=col, lw=1)
        axes[1].loglog(k, own.mean(axis=0), "o-", color=col, ms=3, lw=1.6, label=grad)
        axes[2].loglog(k, loss.mean(axis=0), "o-", color=col, ms=3, lw=1.6, label=grad)
        last = {
            "k": int(r["k"][-1]),
            "grad_norm": norm[:, -1].tolist(),
            "grad_norm_mean": float(norm[:, -1].mean()),
            "noise_mean": float(noise[:, -1].mean()),
            "own_direction_norm_mean": float(own[:, -1].mean()),
            "stationary_loss_mean": float(loss[:, -1].mean()),
            "initial_grad_norm_mean": float(r["norm"][:, 0].mean()),
        }
        if fit is not None:
            last.update(tail_slope=fit.slope, tail_lo=fit.lo, tail_hi=fit.hi)
        out[grad] = last | {"k_all": r["k"].tolist(), "grad_norm_all": r["norm"].tolist()}
        for j, kk in enumerate(r["k"]):
            for s in range(r["norm"].shape[0]):
                rows.append(
                    [grad, int(kk), s, float(r["norm"][s, j]), float(r["noise"][s, j]), float(r["sq_norm"][s, j])]
                    + [float(r["own_norm"][s, j]), float(r["loss"][s, j])]
                )
        ctx.log({f"final_grad_norm/{grad}": last["grad_norm_mean"]})
        print(
            f"{grad:>8}: ||grad L|| {last['initial_grad_norm_mean']:.3g} at k=0 -> {last['grad_norm_mean']:.3g} at "
            f"k={last['k']} (noise {last['noise_mean']:.2g}); own direction {last['own_direction_norm_mean']:.3g}; "
            f"L = {last['stationary_loss_mean']:.4f}"
            + (f"; tail slope {fit.slope:+.3f} [{fit.lo:+.3f}, {fit.hi:+.3f}]" if fit is not None else "")
        )
    axes[0].set_ylabel(r"$\|\nabla L(\bar\theta_k)\|$ (true gradient, RTRL ergodic average)")
    axes[0].set_title(
        "gradient of the stationary loss at the tail-averaged iterate\n"
        "(x: at the last iterate; dotted: estimation noise)",
        fontsize=9,
    )
    axes[1].set_ylabel(r"$\|E_\pi[(\hat y - Y)\psi]\|$ at the estimator's own averaged iterate")
    axes[1].set_title("the direction each estimator follows (rtrl: the gradient)", fontsize=9)
    axes[2].set_ylabel(r"stationary loss $L(\bar\theta_k)$")
    axes[2].set_title("stationary loss", fontsize=9)
    for ax in axes:
        ax.set_xlabel("online step k")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    fig.suptitle(
        rf"fixed width N={n}, $\beta$={beta:g}, $\alpha_k = {alpha:g}/(1+k/{k0:g})^{{{gamma:g}}}$, {seeds} seeds"
    )
    fig.tight_layout()
    ctx.figure(fig, "rtrl_fixed_width")
    ctx.table(
        "rtrl_fixed_width",
        ["grad", "k", "seed", "grad_norm", "noise", "sq_norm_unbiased", "own_direction_norm", "stationary_loss"],
        rows,
    )
    return {"width": n, "alpha": alpha, "beta": beta, "k0": k0, "gamma": gamma, "estimators": out}

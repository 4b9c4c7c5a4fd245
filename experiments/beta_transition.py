"""beta_transition: from the kernel regime (beta < 1) to feature learning (beta = 1) in one sweep of
the diagonal network of spec section 2.

Networks of widths ``N`` are trained online for ``floor(T N)`` steps with the learning rate
``alpha N^(2 beta - 2)`` of the specification, for every ``beta`` in ``training.beta`` (all betas of
a width and seed run as one vmapped program; every width of a seed reads the same path). A step
moves a parameter by ``~ alpha N^(beta - 2)``, so after ``T N`` steps the relative displacement is

    r_N = mean_i ||theta^i_T - theta^i_0|| / ||theta^i_0||  ~  alpha T N^(beta - 1):

it falls like ``N^(beta - 1)`` in the kernel regime (the parameters, hence the features and the
kernel, freeze as ``N`` grows) and stays O(1) at ``beta = 1`` (mean-field scaling: every unit
moves, the features are learned). The left panel shows ``r_N`` against ``N`` for each ``beta`` with
the fitted log-log slope and its 95% interval next to the reference ``beta - 1`` (dashed); the
middle panel the fitted slopes against ``beta`` on the line ``beta - 1``.

The right panel shows the loss reached: the test loss ``E (Y - yhat_T)^2 / 2`` of the network with
frozen parameters at ``T`` on a held-out stationary path, against ``beta`` for each ``N``. In the
kernel regime every ``beta`` has the same limit ``h_T`` (the limit ODE does not depend on ``beta``);
the solid line is the test loss of that limit (``limit.P`` histories). ``beta`` near 1/2 adds the
random initial output of size ``N^(1/2 - beta)``; ``beta = 1`` leaves the kernel limit: there the
loss reached is whatever feature learning makes of it, and there is no closed-form reference.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from rnnntk._checks import check_positive_int, require
from rnnntk.data import make_dataset
from rnnntk.diagonal import (
    chunk_layout,
    device_mesh,
    init_ensemble,
    layout,
    padded_seeds,
    parse_grad,
    predict_ensemble,
    train_all,
)
from rnnntk.precision import float64
from rnnntk.run import as_list, build_data, convergence_plot, limit_options_from_config, model_from_config


def validate(cfg) -> None:
    tr = cfg.training
    require(len(as_list(tr.alpha)) == 1, "training.alpha", tr.alpha, "a single alpha for experiment=beta_transition")
    require(len(as_list(tr.grad)) == 1, "training.grad", tr.grad, "a single estimator for experiment=beta_transition")
    require(
        len(as_list(tr.beta)) >= 2 and all(float(b) > 0.5 for b in as_list(tr.beta)),
        "training.beta",
        tr.beta,
        "a list of at least 2 betas in (1/2, 1]",
    )
    check_positive_int(cfg.experiment.eval_steps, "experiment.eval_steps")
    check_positive_int(cfg.experiment.eval_burn, "experiment.eval_burn")


def relative_displacement(params0, delta) -> dict[str, np.ndarray]:
    """Per member: the mean over units of ``||delta^i|| / ||theta^i_0||`` (``theta^i = (c, w, b)``), and
    the rms over units of each block's displacement. ``params0`` leaves ``[S, N, ...]``, ``delta``
    leaves ``[S, G, N, ...]``; returns arrays ``[S, G]``."""
    p0 = [np.asarray(a, np.float64) for a in params0]
    dl = [np.asarray(a, np.float64) for a in delta]
    sq0 = p0[0] ** 2 + (p0[1] ** 2).sum(-1) + p0[2] ** 2  # [S, N]
    sqd = dl[0] ** 2 + (dl[1] ** 2).sum(-1) + dl[2] ** 2  # [S, G, N]
    return {
        "unit": np.mean(np.sqrt(sqd / sq0[:, None, :]), axis=-1),
        "c": np.sqrt(np.mean(dl[0] ** 2, axis=-1)),
        "w": np.sqrt(np.mean((dl[1] ** 2).sum(-1), axis=-1)),
        "b": np.sqrt(np.mean(dl[2] ** 2, axis=-1)),
    }


@float64()  # evaluation and the limit in float64
def run(cfg, ctx) -> dict:
    ex, tr = cfg.experiment, cfg.training
    source, target, dim = build_data(cfg)
    model = model_from_config(cfg)
    act = model.act
    grad = str(as_list(tr.grad)[0])
    est = parse_grad(grad, allow_bptt=False)
    alpha = float(as_list(tr.alpha)[0])
    betas = [float(b) for b in as_list(tr.beta)]
    widths = [int(w) for w in as_list(cfg.sweep.widths)]
    seeds, T, chunks, burn = int(cfg.sweep.seeds), float(tr.T), int(tr.chunks), int(tr.burn)
    dtype = jnp.float64 if str(cfg.precision) == "float64" else jnp.float32
    np_dtype = np.dtype(jnp.dtype(dtype).name)
    Qb, Q = int(ex.eval_burn), int(ex.eval_steps)
    base = jax.random.key(int(cfg.seed))
    keval, kinit, kdata, klim = (jax.random.fold_in(base, i) for i in range(4))
    mesh = device_mesh()
    S_pad = padded_seeds(seeds, mesh)
    seed_ids = jnp.asarray(np.arange(S_pad) % seeds)
    ikeys = jax.vmap(lambda s: jax.random.fold_in(kinit, s))(seed_ids)
    dkeys = jax.vmap(lambda s: jax.random.fold_in(kdata, s))(seed_ids)
    xe, ye = (
        np.asarray(a) for a in make_dataset(keval, Q + Qb, dim=dim, source=source, target=target, dtype=jnp.float64)
    )

    Lmax = max((lambda K, L, bc: L * (chunks + bc))(*chunk_layout(T, n, chunks, burn)) for n in widths)
    sample = partial(make_dataset, length=Lmax, dim=dim, source=source, target=target, dtype=dtype)
    xs_all, ys_all = (np.asarray(a) for a in jax.jit(jax.vmap(sample))(dkeys))
    G = len(betas)
    alphas_g, betas_g = np.full(G, alpha), np.asarray(betas)

    def test_loss(ens):
        y = np.asarray(predict_ensemble(ens, xe, betas_g, act=act, dtype=jnp.float64))[..., Qb:]
        return 0.5 * np.mean((y - ye[None, None, Qb:]) ** 2, axis=-1)  # [S, G]

    def train_width(n):
        ens = init_ensemble(ikeys, n, dim, G, grad=grad, dtype=dtype, mesh=mesh, model=model)
        loss0 = test_loss(ens)
        plan = layout(T, n, chunks, burn, np_dtype)
        ens = train_all(  # runaway training is an error (rnnntk.divergence)
            ens,
            plan,
            lambda ch: (xs_all[:, ch.lo : ch.lo + len(ch.lr)], ys_all[:, ch.lo : ch.lo + len(ch.lr)]),
            alphas=alphas_g,
            betas=betas_g,
            est=est,
            act=act,
            where=lambda ch: f"width N = {n}, estimator {grad}, chunk {ch.index + 1} of {chunks}",
            setting=f"training.alpha (now {alpha:g})",
            member=lambda idx: f"seed {idx[0] % seeds}, beta = {betas_g[idx[1]]:g}",
            progress=lambda it: ctx.progress(it, total=len(plan), desc=f"N={n}"),
        )
        disp = relative_displacement(ens.params0, ens.state.delta)
        out = {f"disp_{k}": v[:seeds] for k, v in disp.items()}
        return out | {"loss0": loss0[:seeds], "loss": test_loss(ens)[:seeds]}

    per_width = [ctx.cached(f"beta_transition_N{n}", lambda n=n: train_width(n)) for n in widths]
    R = {k: np.stack([w[k] for w in per_width], axis=1) for k in per_width[0]}  # [S, W, G]
    lim = None
    if bool(ex.get("limit_reference", True)):
        lim = ctx.cached("beta_transition_limit", lambda: _limit_loss(cfg, klim, source, target, dim, model, xe, ye))
    return _report(ctx, R, widths, betas, lim, alpha=alpha, T=T, grad=grad, seeds=seeds)


def _limit_loss(cfg, key, source, target, dim, model, xe, ye) -> dict[str, np.ndarray]:
    """Test loss of the kernel limit ``h_T`` (``beta``-independent) on the evaluation path."""
    P, lb = int(cfg.limit.P), int(cfg.limit.burn)
    xl, yl = make_dataset(key, P + lb, dim=dim, source=source, target=target, dtype=jnp.float64)
    Qb = int(cfg.experiment.eval_burn)
    h = model.limit_predict(
        xl,
        yl,
        t=np.array([0.0, float(cfg.training.T)]),
        alpha=float(as_list(cfg.training.alpha)[0]),
        burn=lb,
        grad=str(as_list(cfg.training.grad)[0]),
        xs_eval=xe,
        burn_eval=Qb,
        options=limit_options_from_config(cfg),
    )
    return {"loss": 0.5 * np.mean((np.asarray(h) - ye[None, Qb:]) ** 2, axis=-1), "P": np.asarray(P)}


def _report(ctx, R, widths, betas, lim, *, alpha, T, grad, seeds) -> dict:
    fig, axes = plt.subplots(1, 3, figsize=(16.5, 4.8))
    colors = plt.cm.plasma(np.linspace(0.0, 0.85, len(betas)))
    fits = []
    for g, (b, col) in enumerate(zip(betas, colors)):
        fit = convergence_plot(
            axes[0], widths, R["disp_unit"][:, :, g], label=rf"$\beta$={b:g}", reference=b - 1.0, color=col
        )
        fits.append(fit)
    axes[0].set_ylabel(r"relative displacement mean$_i\ \|\theta^i_T-\theta^i_0\| / \|\theta^i_0\|$")
    axes[0].set_title(f"how far the parameters move by t = T = {T:g} (dashed: slope beta - 1)", fontsize=9)
    axes[0].legend(fontsize=6)
    sl = np.array([f.slope for f in fits])
    err = np.array([[f.slope - f.lo for f in fits], [f.hi - f.slope for f in fits]])
    axes[1].errorbar(
        betas, sl, yerr=np.where(np.isfinite(err), err, 0.0), fmt="o", capsize=3, label="fitted slope, 95% CI"
    )
    bb = np.linspace(0.5, 1.0, 11)
    axes[1].plot(bb, bb - 1.0, "k--", label=r"kernel-regime prediction $\beta - 1$")
    axes[1].set_xlabel(r"$\beta$")
    axes[1].set_ylabel(r"slope of $\log r_N$ vs $\log N$")
    axes[1].set_title("displacement exponent: 0 at beta = 1 (mean-field)", fontsize=9)
    wc = plt.cm.viridis(np.linspace(0.1, 0.85, len(widths)))
    for i, (n, col) in enumerate(zip(widths, wc)):
        m = R["loss"][:, i, :]
        axes[2].errorbar(
            betas, m.mean(axis=0), yerr=m.std(axis=0), fmt="o-", ms=4, capsize=2, color=col, label=f"N={n}"
        )
    if lim is not None:
        axes[2].axhline(float(lim["loss"][-1]), color="k", lw=1.5, label=f"kernel limit h_T (P={int(lim['P'])})")
        axes[2].axhline(float(lim["loss"][0]), color="gray", ls=":", lw=1, label="h_0 = 0 (untrained)")
    axes[2].set_xlabel(r"$\beta$")
    axes[2].set_ylabel(r"test loss $E(Y-\hat y_T)^2/2$ (mean $\pm$ sd over seeds)")
    axes[2].set_yscale("log")
    axes[2].set_title("loss reached at T", fontsize=9)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.suptitle(rf"kernel regime to feature learning: {grad}, $\alpha$={alpha:g}, T={T:g}, {seeds} seeds")
    fig.tight_layout()
    ctx.figure(fig, "beta_transition")
    rows = []
    for i, n in enumerate(widths):
        for g, b in enumerate(betas):
            for s in range(R["loss"].shape[0]):
                rows.append(
                    [b, n, s]
                    + [float(R[k][s, i, g]) for k in ("disp_unit", "disp_c", "disp_w", "disp_b", "loss0", "loss")]
                )
    ctx.table(
        "beta_transition", ["beta", "N", "seed", "disp_unit", "disp_c", "disp_w", "disp_b", "loss0", "loss"], rows
    )
    slopes = []
    for b, f, g in zip(betas, fits, range(len(betas))):
        d = R["disp_unit"][:, :, g].mean(axis=0)
        loss = R["loss"][:, :, g].mean(axis=0)
        slopes.append(
            {"beta": b, "slope": f.slope, "lo": f.lo, "hi": f.hi, "reference": b - 1.0}
            | {"disp_mean": d.tolist(), "loss_mean": loss.tolist()}
        )
        ctx.log({f"displacement_slope/beta={b:g}": f.slope})
        print(
            f"beta={b:.3g}: displacement slope {f.slope:+.3f} [{f.lo:+.3f}, {f.hi:+.3f}] (ref {b - 1:+.3f}); "
            f"r_N {np.round(d, 4).tolist()}; test loss {np.round(loss, 4).tolist()}"
        )
    out = {"widths": widths, "betas": betas, "alpha": alpha, "T": T, "grad": grad, "per_beta": slopes}
    if lim is not None:
        out["limit_test_loss"] = float(lim["loss"][-1])
        out["untrained_test_loss"] = float(lim["loss"][0])
        print(f"kernel limit test loss at T: {out['limit_test_loss']:.4f} (h=0: {out['untrained_test_loss']:.4f})")
    return out

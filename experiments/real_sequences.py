"""real_sequences: online RTRL and truncated backpropagation on real and market-like sequences,
against simple baselines on a held-out part.

Each dataset in ``experiment.datasets`` is a data-source configuration (``source: real`` with a
``series``, or ``source: lob`` with the order-book options and a ``length``), standardised with
statistics of its training part and split in time (`rnnntk.data.realdata`). The task is one-step-ahead
forecasting: the next value of the series (real data), the next mid-price move (order book).

A fixed-width network (``experiment.width``) is trained online, per estimator in ``training.grad``
and seed, over the training part repeated until ``experiment.steps`` steps (the memory carries
across passes; the first ``experiment.burn`` steps of each pass are frozen, so the network never
learns from the jump at the wrap-around), with ``alpha_k = alpha / (1 + k / k0)^gamma``. Then the
parameters are frozen and the network runs from zero memory over the whole series; the test error
is the mean squared error on the held-out part (standardised units: 1 is the training variance
of the target).

Baselines on the same test targets: ``mean`` (the training mean, 0), ``last value`` (``Y_{k-1}``,
the latest target already observed) and ``AR(p)``, a linear autoregression on the last
``experiment.ar_lags`` inputs with intercept, fitted by least squares on the training part.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from rnnntk._checks import check_nonnegative_int, check_positive, check_positive_int, require
from rnnntk.data import Split, build_source
from rnnntk.diagonal import decay_schedule, init_ensemble, parse_grad, predict_ensemble, schedule, train_all
from rnnntk.precision import float64
from rnnntk.run import as_list, model_from_config


def _plain(node) -> dict:
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(node, resolve=True)) if not isinstance(node, dict) else dict(node)


def build_dataset(name: str, options: dict, key) -> Split:
    """A standardised `Split` from one entry of ``experiment.datasets``."""
    opts = dict(options)
    source = opts.pop("source", None)
    require(source in ("real", "lob"), f"experiment.datasets.{name}.source", source, '"real" or "lob"')
    if source == "real":
        return build_source("real", **opts).forecasting_split(key)
    length = check_positive_int(opts.pop("length", 20000), f"experiment.datasets.{name}.length")
    split = float(opts.pop("split", 0.8))
    require(0.0 < split < 1.0, f"experiment.datasets.{name}.split", split, "a fraction in (0, 1)")
    return build_source("lob", **opts).forecasting_split(key, length=length, split=split)


def validate(cfg) -> None:
    ex, tr = cfg.experiment, cfg.training
    require(
        len(as_list(tr.beta)) == 1 and len(as_list(tr.alpha)) == 1,
        "training.beta",
        tr.beta,
        "a single beta and a single alpha for experiment=real_sequences",
    )
    check_positive_int(ex.width, "experiment.width")
    check_positive_int(ex.steps, "experiment.steps")
    check_nonnegative_int(ex.burn, "experiment.burn")
    check_positive(ex.k0, "experiment.k0")
    require(float(ex.gamma) >= 0, "experiment.gamma", ex.gamma, "a number >= 0")
    check_positive_int(ex.ar_lags, "experiment.ar_lags")
    ds = ex.datasets
    require(ds is not None and len(ds) >= 1, "experiment.datasets", ds, "at least one dataset")
    for name in _selected(ex):  # builds sources (errors name the field) without sampling
        opts = _plain(ds[name])
        src = opts.pop("source", None)
        require(src in ("real", "lob"), f"experiment.datasets.{name}.source", src, '"real" or "lob"')
        if src == "lob":
            opts.pop("length", None)
            opts.pop("split", None)
        build_source(src, **opts)


def _selected(ex) -> list[str]:
    """The datasets to run: ``experiment.select`` (a list of names) or all of them."""
    names = list(ex.datasets)
    sel = ex.get("select")
    if sel is None:
        return names
    sel = [str(s) for s in as_list(sel)]
    for s in sel:
        require(s in names, "experiment.select", s, f"names among experiment.datasets: {names}")
    return sel


def ar_baseline(X, Y, n_train: int, lags: int) -> np.ndarray:
    """Predictions ``[K]`` of a least-squares linear autoregression on ``[1, X_k, ..., X_{k-lags+1}]``
    fitted on the training targets (``k < n_train``; the first ``lags - 1`` steps use zero padding)."""
    K, d = X.shape
    pad = np.concatenate([np.zeros((lags - 1, d)), X])
    A = np.concatenate([np.ones((K, 1))] + [pad[lags - 1 - j : lags - 1 - j + K] for j in range(lags)], axis=1)
    lo = lags - 1
    coef, *_ = np.linalg.lstsq(A[lo:n_train], Y[lo:n_train], rcond=None)
    return A @ coef


def _train(ctx, name, grad, X, Y, nt, *, ikeys, width, steps, burn, k0, gamma, alpha, beta, model):
    """Train the seeds of one estimator over the training part repeated; outputs on the whole
    series with frozen parameters, ``[S, K]``."""
    seeds, d = ikeys.shape[0], X.shape[1]
    ens = init_ensemble(ikeys, width, d, 1, grad=grad, dtype=jnp.float64, model=model)
    xs = np.broadcast_to(X[:nt], (seeds, nt, d))
    ys = np.broadcast_to(Y[:nt], (seeds, nt))
    passes = max(1, math.ceil(steps / nt))
    # one chunk per pass over the training part; the first `burn` steps of each pass are frozen
    plan = schedule(passes * nt, nt, lambda lo, L: decay_schedule(lo, L, k0=k0, gamma=gamma) * (np.arange(L) >= burn))
    plan = [ch._replace(lr=ch.lr * (ch.step < steps)) for ch in plan]
    ens = train_all(  # runaway training is an error (rnnntk.divergence)
        ens,
        plan,
        lambda ch: (xs, ys),
        alphas=[alpha],
        betas=[beta],
        est=parse_grad(grad, allow_bptt=False),
        act=model.act,
        where=lambda ch: (
            f"{name}, width N = {width}, estimator {grad}, pass {ch.index + 1} of {passes} over the training part"
        ),
        setting=f"training.alpha (now {alpha:g})",
        member=lambda idx: f"seed {idx[0]}",
        progress=lambda it: ctx.progress(it, total=passes, desc=f"{name} {grad}"),
    )
    return {"yhat": np.asarray(predict_ensemble(ens, X, [beta], act=model.act, dtype=jnp.float64))[:, 0]}


@float64()
def run(cfg, ctx) -> dict:
    ex, tr = cfg.experiment, cfg.training
    model = model_from_config(cfg)
    n, steps, burn = int(ex.width), int(ex.steps), int(ex.burn)
    k0, gamma, lags = float(ex.k0), float(ex.gamma), int(ex.ar_lags)
    alpha, beta = float(as_list(tr.alpha)[0]), float(as_list(tr.beta)[0])
    grads = [str(g) for g in as_list(tr.grad)]
    seeds = int(cfg.sweep.seeds)
    base = jax.random.key(int(cfg.seed))
    ikeys = jax.vmap(lambda s: jax.random.fold_in(jax.random.fold_in(base, 21), s))(jnp.arange(seeds))
    results, rows = {}, []
    names = _selected(ex)
    for name in names:
        di = list(ex.datasets).index(name)  # the key of a dataset does not depend on the selection
        sp = build_dataset(name, _plain(ex.datasets[name]), jax.random.fold_in(base, 31 + di))
        X, Y, nt = sp.X, sp.Y, sp.n_train
        d = X.shape[1]
        yt = Y[nt:]
        ar = ar_baseline(X, Y, nt, lags)
        base_mse = {
            "mean": float(np.mean(yt**2)),
            "last value": float(np.mean((Y[nt - 1 : -1] - yt) ** 2)),
            f"AR({lags})": float(np.mean((ar[nt:] - yt) ** 2)),
        }
        passes = max(1, math.ceil(steps / nt))
        net = {}
        for grad in grads:
            train = partial(
                _train,
                ctx,
                name,
                grad,
                X,
                Y,
                nt,
                ikeys=ikeys,
                width=n,
                steps=steps,
                burn=burn,
                k0=k0,
                gamma=gamma,
                alpha=alpha,
                beta=beta,
                model=model,
            )
            yhat = ctx.cached(f"real_sequences_{name}_{grad.replace(':', '')}", train)["yhat"]  # [S, K]
            net[grad] = {
                "test": np.mean((yhat[:, nt:] - yt[None]) ** 2, axis=1),
                "train": np.mean((yhat[:, :nt] - Y[None, :nt]) ** 2, axis=1),
                "yhat0": yhat[0],
            }
        results[name] = {"n_train": nt, "n_test": len(yt), "dim": d, "passes": passes} | {
            "baselines": base_mse,
            "networks": {g: {"test_mse": v["test"].tolist(), "train_mse": v["train"].tolist()} for g, v in net.items()},
        }
        for m, v in base_mse.items():
            rows.append([name, m, v, 0.0, v / base_mse["last value"], ""])
        for g, v in net.items():
            t = v["test"]
            rows.append([name, g, float(t.mean()), float(t.std()), float(t.mean()) / base_mse["last value"], seeds])
        ctx.log(
            {f"test_mse/{name}/{k}": v for k, v in base_mse.items()}
            | {f"test_mse/{name}/{g}": float(v["test"].mean()) for g, v in net.items()}
        )
        msg = ", ".join(f"{k} {v:.3f}" for k, v in base_mse.items())
        msg += ", " + ", ".join(f"{g} {v['test'].mean():.3f}+-{v['test'].std():.3f}" for g, v in net.items())
        print(f"{name} (train {nt}, test {len(yt)}, d={d}): test MSE {msg}")
        results[name]["_plot"] = (Y, nt, ar, {g: v["yhat0"] for g, v in net.items()})
    ctx.table(
        "real_sequences", ["dataset", "method", "test_mse", "sd_over_seeds", "relative_to_last_value", "seeds"], rows
    )
    _figures(ctx, results, names, grads, lags, n=n, alpha=alpha, beta=beta, seeds=seeds)
    for r in results.values():
        r.pop("_plot")
    return {"width": n, "alpha": alpha, "beta": beta, "steps": steps, "datasets": results}


def _figures(ctx, results, names, grads, lags, *, n, alpha, beta, seeds) -> None:
    D = len(names)
    fig, axes = plt.subplots(1, D, figsize=(4.2 * D, 4.4), squeeze=False)
    colors = plt.cm.tab10(np.arange(10))
    for ax, name in zip(axes[0], names):
        r = results[name]
        labels = list(r["baselines"]) + grads
        vals = [r["baselines"][k] for k in r["baselines"]] + [np.mean(r["networks"][g]["test_mse"]) for g in grads]
        errs = [0.0] * len(r["baselines"]) + [np.std(r["networks"][g]["test_mse"]) for g in grads]
        x = np.arange(len(labels))
        ax.bar(x, vals, yerr=errs, color=[colors[i % 10] for i in x], capsize=3, alpha=0.85)
        for i, g in enumerate(grads):
            pts = r["networks"][g]["test_mse"]
            ax.plot(np.full(len(pts), len(r["baselines"]) + i), pts, "k.", ms=3)
        ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"{name} (test {r['n_test']} steps)", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("test MSE (standardised; 1 = training variance)")
    fig.suptitle(
        rf"one-step-ahead test error: N={n}, $\beta$={beta:g}, $\alpha$={alpha:g}, {seeds} seeds (dots), "
        f"vs mean, last value, AR({lags})"
    )
    fig.tight_layout()
    ctx.figure(fig, "real_sequences")

    fig, axes = plt.subplots(D, 1, figsize=(10.0, 2.6 * D), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        Y, nt, ar, yh = results[name]["_plot"]
        sl = slice(nt, min(len(Y), nt + 200))
        k = np.arange(len(Y))[sl]
        ax.plot(k, Y[sl], "k-", lw=1.2, label="target")
        ax.plot(k, ar[sl], "-", lw=0.9, label=f"AR({lags})")
        for g in grads:
            ax.plot(k, yh[g][sl], "-", lw=0.9, label=f"{g} (seed 0)")
        ax.set_title(f"{name}: first {sl.stop - sl.start} test steps", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=len(grads) + 2)
    axes[-1, 0].set_xlabel("step k")
    fig.tight_layout()
    ctx.figure(fig, "real_sequences_predictions")

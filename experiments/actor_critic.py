"""Online actor-critic with wide networks against its limit ODE: four figures from one config.

    rnnntk experiment=actor_critic                              # all four figures
    rnnntk experiment=actor_critic 'experiment.figures=[value]' # one of them
    python -m rnnntk.experiments.actor_critic [distance] [value] [policy_gradient] [return] [--out DIR]

Model and limit: `rnnntk.actor_critic` (finite MDP, width-N critic and actor trained online by TD(0)
and the policy gradient with ``N^{2 beta - 2}`` rates, training time ``t = k / N``, the limit ODE
driven by the policy's stationary law and the limit kernel). Critic and actor share the initial law,
so ``K_Q = K_f = K``. The MDP is `rnnntk.actor_critic.random_mdp` (``experiment.mdp``).

Figures (``experiment.figures``):

- ``distance`` (``ac_distance.png``): critic outputs ``Q_t(z)`` and actor logits ``f_t(z)`` of
  finite networks (seed 0) against the ODE over ``t`` for two pairs ``z`` (``beta`` = the largest of
  ``distance.betas``), and the distances ``D^Q_N = max_{t <= T} (mean_z |Q^N_t(z) - Q_t(z)|^2)^{1/2}``
  (likewise ``D^f_N``) against ``N`` on log-log axes, mean over seeds with min-max bands, fitted
  slopes with 95% intervals, and the heuristic reference ``N^{-min(beta - 1/2, 1 - beta)}``
  (``-1/2`` for ``beta = 1/2`` started from the network's own initial outputs, whose initial
  error is zero).
- ``value`` (``ac_value.png``): ``max_z |Q_t(z) - Q^{pi_t}(z)|`` over ``t``, ``Q^{pi_t}`` exact by a
  linear solve, for the ODE and finite widths (``long``).
- ``policy_gradient`` (``ac_policy_gradient.png``): ``|grad_f J(pi_t)|_2``, the exact gradient of the
  discounted objective with respect to the logits on all pairs.
- ``return`` (``ac_return.png``): ``J(pi_t)`` against ``J* = nu . V*`` (value iteration), and the
  gap ``J* - J(pi_t)`` on a log axis.

Each width's training run is a resumable stage (``ctx.cached``).
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from rnnntk import actor_critic as ac
from rnnntk._checks import require
from rnnntk.precision import float64
from rnnntk.run import actor_critic_from_config, fit_loglog, heuristic_rate

FIGURES = ("distance", "value", "policy_gradient", "return")
START = ("auto", "zero", "network")


# --------------------------------------------------------------------------- set-up


def _setup(e):
    figures = list(e.figures)
    for f in figures:
        require(f in FIGURES, "experiment.figures", f, f"a list drawn from {FIGURES}")
    return (figures, *_problem(e))


def _problem(e):
    """The MDP and the limit kernel of ``experiment.mdp`` and ``experiment.network``."""
    require(
        e.sampling in ("stationary", "discounted"), "experiment.sampling", e.sampling, '"stationary" or "discounted"'
    )
    mdp = ac.random_mdp(int(e.mdp.seed), int(e.mdp.states), int(e.mdp.actions), gamma=float(e.mdp.gamma),
                        dim=None if e.mdp.get("dim") is None else int(e.mdp.dim))  # fmt: skip
    K = actor_critic_from_config(e.network).limit_kernel(ac.features(mdp))
    return mdp, K


def _hyper(e, beta):
    r = e.actor_rate
    return ac.Hyper(float(beta), float(e.alpha), float(r.zeta0), float(r.t0), float(r.power))


def _start(opt, beta) -> str:
    s = str(opt.get("ode_start", "auto"))
    require(s in START, "ode_start", s, f"one of {START}")
    return ("network" if float(beta) == 0.5 else "zero") if s == "auto" else s


def _train_stage(ctx, name, e, mdp, h, width, keys, horizon, n_save):
    def fn():
        t0 = time.time()
        model = actor_critic_from_config(e.network)  # the same networks as the limit kernel's
        tr = model.train(keys, width, mdp, h, horizon=horizon, n_save=n_save, sampling=e.sampling, dtype=str(e.dtype))
        return {"t": np.asarray(tr.t, np.float64), "Q": np.asarray(tr.Q, np.float64),
                "f": np.asarray(tr.f, np.float64), "wall": time.time() - t0}  # fmt: skip

    return ctx.cached(name, fn)


def _ode(e, mdp, K, h, ts, S, Q0=None, f0=None):
    """The ODE at times ``ts`` for a batch of ``S`` initial conditions (zeros unless given): every
    call of a run then has the same shapes and reuses one compiled solver."""
    P = mdp.n_pairs
    Q0 = np.zeros((S, P)) if Q0 is None else Q0
    f0 = np.zeros((S, P)) if f0 is None else f0
    return ac.solve_limit(mdp, K, K, h, ts=ts, Q0=Q0, f0=f0, sampling=e.sampling,
                          rtol=float(e.ode.rtol), atol=float(e.ode.atol))  # fmt: skip


def _rms(a, b):
    return np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2, axis=-1))


# --------------------------------------------------------------------------- distance vs N


def _distance(e, ctx, mdp, K, base_key):
    d = e.distance
    widths = [int(n) for n in d.widths]
    S = int(d.seeds)
    keys = jax.random.split(base_key, S)  # the same keys at every width: common random numbers
    out = {"widths": widths, "betas": [float(b) for b in d.betas], "runs": {}}
    for beta in out["betas"]:
        h = _hyper(e, beta)
        start = _start(d, beta)
        DQ, Df = np.zeros((S, len(widths))), np.zeros((S, len(widths)))
        seed0 = {}
        zero_ode = {}
        for j, N in enumerate(ctx.progress(widths, desc=f"distance beta={beta}")):
            st = _train_stage(ctx, f"distance_beta{beta}_N{N}", e, mdp, h, N, keys, float(d.horizon), int(d.n_save))
            t = st["t"]
            if start == "network":
                sol = _ode(e, mdp, K, h, t, S, Q0=st["Q"][:, 0], f0=st["f"][:, 0])
                Qo, fo = np.asarray(sol.Q), np.asarray(sol.f)  # [S, T, P]
            else:
                key = tuple(np.round(t, 12))
                if key not in zero_ode:
                    zero_ode[key] = _ode(e, mdp, K, h, t, S)
                Qo, fo = np.asarray(zero_ode[key].Q)[:1], np.asarray(zero_ode[key].f)[:1]
            DQ[:, j] = _rms(st["Q"], Qo).max(axis=1)
            Df[:, j] = _rms(st["f"], fo).max(axis=1)
            seed0[N] = (t, st["Q"][0], st["f"][0], Qo[0], fo[0])
            ctx.log({f"distance/beta{beta}/D_Q": DQ[:, j].mean(), f"distance/beta{beta}/D_f": Df[:, j].mean(),
                     f"distance/beta{beta}/train_wall_s": float(st["wall"])}, step=N)  # fmt: skip
        fq, ff = fit_loglog(widths, DQ), fit_loglog(widths, Df)
        ref = -0.5 if start == "network" else heuristic_rate(beta)
        out["runs"][beta] = {"start": start, "D_Q": DQ, "D_f": Df, "fit_Q": fq, "fit_f": ff, "reference": ref,
                             "seed0": seed0}  # fmt: skip
    rows = []
    for beta, r in out["runs"].items():
        for j, N in enumerate(widths):
            rows.append([beta, r["start"], N, r["D_Q"][:, j].mean(), r["D_Q"][:, j].std(),
                         r["D_f"][:, j].mean(), r["D_f"][:, j].std()])  # fmt: skip
    ctx.table("ac_distance", ["beta", "ode_start", "N", "D_Q_mean", "D_Q_std", "D_f_mean", "D_f_std"], rows)
    ctx.figure(_distance_figure(out, mdp), "ac_distance")
    return out


def _distance_figure(out, mdp):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16.5, 4.6))
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
    # paths: the largest beta (a deterministic limit when the ODE starts from zero)
    beta = max(out["runs"])
    run = out["runs"][beta]
    widths = out["widths"]
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(widths)))
    t, _, _, Qo, fo = run["seed0"][widths[-1]]
    z = [int(np.argmax(Qo[-1])), int(np.argmin(Qo[-1]))]  # the pairs of highest and lowest final value
    A = mdp.n_actions
    for ax, idx, what in ((axes[0], 1, "critic Q_t(z)"), (axes[1], 2, "actor logits f_t(z)")):
        for c, N in zip(colors, widths):
            tt, Qn, fn, Qo, fo = run["seed0"][N]
            y = Qn if idx == 1 else fn
            for k, p in enumerate(z):
                ax.plot(tt, y[:, p], color=c, lw=1.0, ls="-" if k == 0 else "--", label=f"N={N}" if k == 0 else None)
        tt, _, _, Qo, fo = run["seed0"][widths[-1]]
        y = Qo if idx == 1 else fo
        own = f" (from the N={widths[-1]} initial outputs)" if run["start"] == "network" else ""
        for k, p in enumerate(z):
            lab = f"ODE{own}, z=(x{p // A}, a{p % A})"
            ax.plot(tt, y[:, p], color="k", lw=2.0, ls="-" if k == 0 else "--", label=lab)
        ax.set_xlabel("training time t = k / N")
        ax.set_ylabel(what)
        ax.set_title(f"{what}, beta={beta} (seed 0; solid / dashed: two pairs z)", fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    ax = axes[2]
    w = np.asarray(widths, np.float64)
    for i, (beta, r) in enumerate(sorted(out["runs"].items())):
        col = f"C{i}"
        for key, fit, marker, who in (("D_Q", r["fit_Q"], "o", "critic"), ("D_f", r["fit_f"], "s", "actor")):
            e = r[key]
            mean = e.mean(axis=0)
            ax.loglog(w, mean, marker, color=col, mfc="none" if who == "actor" else col,
                      label=f"{who}, beta={beta}: {fit.label()}")  # fmt: skip
            ax.fill_between(w, e.min(axis=0), e.max(axis=0), color=col, alpha=0.08, lw=0)
            ax.loglog(w, np.exp(fit.intercept) * w**fit.slope, "-" if who == "critic" else ":", color=col, lw=1.0)
        ref = r["reference"]
        m0 = r["D_Q"].mean(axis=0)[0]
        ax.loglog(w, m0 * (w / w[0]) ** ref, "--", color=col, lw=0.8, alpha=0.6,
                  label=f"reference slope {ref:+.2f} (ODE start: {r['start']})")  # fmt: skip
    ax.set_xticks(w, [str(n) for n in widths], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel("width N")
    ax.set_ylabel("max_t RMS_z distance to the ODE")
    ax.set_title("finite networks vs limit ODE")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- long run


@jax.jit
def _diagnostics(mdp, Q, f):
    """``(max_z |Q - Q^{pi}|, |grad_f J(pi)|_2, J(pi))`` for ``Q, f [..., P]``."""
    m = mdp.n_states

    def one(q, g):
        pi = ac.policy(g, m)
        err = jnp.max(jnp.abs(q - ac.action_values(mdp, pi).reshape(-1)))
        return err, jnp.linalg.norm(ac.policy_gradient(mdp, g)), ac.objective(mdp, pi)

    lead = Q.shape[:-1]
    out = jax.vmap(one)(Q.reshape(-1, Q.shape[-1]), f.reshape(-1, f.shape[-1]))
    return tuple(x.reshape(lead) for x in out)


def _long(e, ctx, mdp, K, base_key):
    L = e.long
    beta = float(L.beta)
    h = _hyper(e, beta)
    start = _start(L, beta)
    widths = [int(n) for n in L.widths]
    keys = jax.random.split(jax.random.fold_in(base_key, 1), int(L.seeds))
    T, n_save = float(L.horizon), int(L.n_save)
    res = {"beta": beta, "start": start, "widths": widths, "finite": {}}
    for N in ctx.progress(widths, desc="long run"):
        st = _train_stage(ctx, f"long_N{N}", e, mdp, h, N, keys, T, n_save)
        err, grad, J = (np.asarray(x) for x in _diagnostics(mdp, jnp.asarray(st["Q"]), jnp.asarray(st["f"])))
        res["finite"][N] = {"t": st["t"], "value_error": err, "grad_norm": grad, "J": J}
        if start == "network":  # the random ODE of each seed, from its own initial outputs
            sol = _ode(e, mdp, K, h, st["t"], int(L.seeds), Q0=st["Q"][:, 0], f0=st["f"][:, 0])
            e2, g2, J2 = (np.asarray(x) for x in _diagnostics(mdp, sol.Q, sol.f))
            res["finite"][N]["ode"] = {"value_error": e2, "grad_norm": g2, "J": J2}
        ctx.log({f"long/N{N}/value_error": err[:, -1].mean(), f"long/N{N}/grad_norm": grad[:, -1].mean(),
                 f"long/N{N}/J": J[:, -1].mean(), f"long/N{N}/train_wall_s": float(st["wall"])}, step=N)  # fmt: skip
    if start == "zero":  # on the first width's save times (the same shapes as the finite runs)
        ts = res["finite"][widths[0]]["t"]
        sol = _ode(e, mdp, K, h, ts, int(L.seeds))
        err, grad, J = (np.asarray(x)[0] for x in _diagnostics(mdp, sol.Q, sol.f))
        res["ode"] = {"t": ts, "value_error": err, "grad_norm": grad, "J": J}
    opt = ac.value_iteration(mdp)
    res["J_star"] = float(opt.J)
    return res


def _band(ax, t, y, color, label):
    ax.plot(t, y.mean(axis=0), color=color, lw=1.4, label=label)
    if y.shape[0] > 1:
        ax.fill_between(t, y.min(axis=0), y.max(axis=0), color=color, alpha=0.15, lw=0)


def _long_figure(res, which):
    import matplotlib.pyplot as plt

    key, ylabel, title = {
        "value": ("value_error", "max_z |Q_t(z) - Q^{pi_t}(z)|", "the critic tracks the true value of pi_t"),
        "policy_gradient": ("grad_norm", "|grad_f J(pi_t)|_2 (exact)", "the actor approaches a stationary point"),
        "return": ("J", "J(pi_t) = E_nu[V^{pi_t}]", "return of the learned policy vs optimum"),
    }[which]
    ncols = 2 if which == "return" else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.6 * ncols, 4.4), squeeze=False)
    axes = axes[0]
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
    colors = plt.cm.viridis(np.linspace(0.15, 0.8, len(res["widths"])))
    for ax_i, ax in enumerate(axes):
        gap = which == "return" and ax_i == 1
        for c, N in zip(colors, res["widths"]):
            r = res["finite"][N]
            y = res["J_star"] - r["J"] if gap else r[key]
            _band(ax, r["t"], y, c, f"N={N} (mean, min-max over {y.shape[0]} seeds)")
            if "ode" in r:
                yo = res["J_star"] - r["ode"]["J"] if gap else r["ode"][key]
                ax.plot(r["t"], yo.mean(axis=0), color=c, ls="--", lw=1.0, label=f"ODE from the N={N} initial outputs")
        if "ode" in res:
            yo = res["J_star"] - res["ode"]["J"] if gap else res["ode"][key]
            ax.plot(res["ode"]["t"], yo, color="k", lw=2.0, label="limit ODE")
        if which == "return" and not gap:
            ax.axhline(
                res["J_star"], color="C3", ls="--", lw=1.2, label=f"optimum J* = {res['J_star']:.4f} (value iteration)"
            )
        if gap or which in ("value", "policy_gradient"):
            ax.set_yscale("log")
        ax.set_xlabel("training time t = k / N")
        ax.set_ylabel("J* - J(pi_t)" if gap else ylabel)
        ax.set_title(("return gap to the optimum" if gap else title) + f", beta={res['beta']}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- entry point


@float64()
def run(cfg, ctx) -> dict:
    """Compute the requested figures (``cfg.experiment.figures``) and return their numbers."""
    e = cfg.experiment
    t_start = time.time()
    figures, mdp, K = _setup(e)
    base_key = jax.random.key(int(cfg.get("seed", 0)))
    opt = ac.value_iteration(mdp)
    results = {"figures": figures, "J_star": float(opt.J), "mdp": {"states": mdp.n_states, "actions": mdp.n_actions,
               "gamma": float(mdp.gamma)}, "kernel_min_eig": float(jnp.linalg.eigvalsh(K)[0])}  # fmt: skip
    if "distance" in figures:
        t0 = time.time()
        out = _distance(e, ctx, mdp, K, base_key)
        results["distance"] = {
            str(b): {"ode_start": r["start"], "widths": out["widths"],
                     "D_Q_mean": r["D_Q"].mean(axis=0), "D_f_mean": r["D_f"].mean(axis=0),
                     "D_Q": r["D_Q"], "D_f": r["D_f"],
                     "slope_Q": [r["fit_Q"].slope, r["fit_Q"].lo, r["fit_Q"].hi],
                     "slope_f": [r["fit_f"].slope, r["fit_f"].lo, r["fit_f"].hi], "reference": r["reference"]}
            for b, r in out["runs"].items()
        }  # fmt: skip
        results["distance"]["wall_s"] = time.time() - t0
    long_figs = [f for f in figures if f != "distance"]
    if long_figs:
        t0 = time.time()
        res = _long(e, ctx, mdp, K, base_key)
        for f in long_figs:
            ctx.figure(_long_figure(res, f), f"ac_{f}")
        summary = {"beta": res["beta"], "ode_start": res["start"], "J_star": res["J_star"], "finite": {}}
        rows = []
        for N, r in res["finite"].items():
            s = {"value_error": float(r["value_error"][:, -1].mean()), "grad_norm": float(r["grad_norm"][:, -1].mean()),
                 "J": float(r["J"][:, -1].mean()), "return_gap": float(res["J_star"] - r["J"][:, -1].mean()),
                 "t_final": float(r["t"][-1])}  # fmt: skip
            summary["finite"][str(N)] = s
            rows.append([N, s["t_final"], s["value_error"], s["grad_norm"], s["J"], s["return_gap"]])
            ctx.line(f"ac_long/N{N}", r["t"], {"value_error": r["value_error"].mean(axis=0),
                     "grad_norm": r["grad_norm"].mean(axis=0), "J": r["J"].mean(axis=0)})  # fmt: skip
        if "ode" in res:
            o = res["ode"]
            summary["ode"] = {"value_error": float(o["value_error"][-1]), "grad_norm": float(o["grad_norm"][-1]),
                              "J": float(o["J"][-1]), "return_gap": float(res["J_star"] - o["J"][-1]),
                              "t_final": float(o["t"][-1])}  # fmt: skip
            s = summary["ode"]
            rows.append(["ODE", s["t_final"], s["value_error"], s["grad_norm"], s["J"], s["return_gap"]])
            ctx.line("ac_long/ode", o["t"], {"value_error": o["value_error"], "grad_norm": o["grad_norm"], "J": o["J"]})
        ctx.table("ac_long_final", ["N", "t", "value_error", "grad_norm", "J", "return_gap"], rows)
        summary["wall_s"] = time.time() - t0
        results["long"] = summary
    results["wall_s"] = time.time() - t_start
    ctx.log({"wall_s": results["wall_s"]})
    return results


def _summary(res: dict) -> str:
    lines = [f"J* = {res['J_star']:.6f} (value iteration); kernel min eigenvalue {res['kernel_min_eig']:.3g}"]
    for b, r in res.get("distance", {}).items():
        if b == "wall_s":
            continue
        lines.append(f"distance, beta={b} (ODE start: {r['ode_start']}):")
        for N, q, f in zip(r["widths"], r["D_Q_mean"], r["D_f_mean"]):
            lines.append(f"  N={N:>6}  D_Q={q:.4f}  D_f={f:.4f}")
        sq, sf = r["slope_Q"], r["slope_f"]
        lines.append(f"  slope critic {sq[0]:+.3f} [{sq[1]:+.3f}, {sq[2]:+.3f}], actor {sf[0]:+.3f} "
                     f"[{sf[1]:+.3f}, {sf[2]:+.3f}] (95% CI); reference {r['reference']:+.3f}")  # fmt: skip
    if "long" in res:
        lg = res["long"]
        lines.append(f"long run, beta={lg['beta']}:")
        for N, s in list(lg["finite"].items()) + ([("ODE", lg["ode"])] if "ode" in lg else []):
            lines.append(f"  {N:>6}: t={s['t_final']:.1f}  |Q-Q^pi|_inf={s['value_error']:.4f}  "
                         f"|grad J|={s['grad_norm']:.4f}  J={s['J']:.4f}  gap={s['return_gap']:.4f}")  # fmt: skip
    lines.append(f"wall time {res['wall_s']:.0f}s")
    return "\n".join(lines)


def main(argv: list[str]) -> dict:
    from rnnntk.run import RunContext, compose

    out = "outputs/actor_critic"
    if "--out" in argv:
        i = argv.index("--out")
        out = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    cfg = compose(["experiment=actor_critic", "scale=quick"])  # the quick preset, as the rnnntk command
    if argv:
        cfg.experiment.figures = list(argv)
    ctx = RunContext(out_dir=out)
    res = run(cfg, ctx)
    ctx.save_results(res)
    ctx.finish()
    print(_summary(res))
    print(f"figures and results in {out}/")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])

"""memory: the contraction of the memory map. With frozen parameters, a network started from any
memory S_0 forgets it: |S_k - S(theta; xi_k)| <= (b0 sup|sigma'|)^k |S_0 - S(theta; xi_0)|
(spec section 4), and the sensitivities J follow at rate about k (b0 sup|sigma'|)^k.

The stationary memory S(theta; xi_k) is computed by running from zero over a long burn-in before
the path. The figure shows, per step k, the largest ratio |S_k - S(theta; xi_k)| / |S_0 -
S(theta; xi_0)| over units and seeds (from zero memory and from the worst start S_0 = -sign(S_stat)),
against the bound (b0 sup|sigma'|)^k; the same for J^b.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import rnnntk
from rnnntk.diagonal import memory_step, sensitivity_step
from rnnntk.precision import float64
from rnnntk.run import build_data, model_from_config


def _run_from(params, xs, S0, Jb0, act):
    def body(carry, x):
        S, Jb = carry
        s, ds = memory_step(params.w, params.b, S, x, act)
        Jb = sensitivity_step(Jb, ds * params.b, ds * S, None)
        return (s, Jb), (s, Jb)

    (S, Jb), (Ss, Jbs) = jax.lax.scan(body, (S0, Jb0), xs)
    return (S, Jb), (jnp.concatenate([S0[None], Ss]), jnp.concatenate([Jb0[None], Jbs]))


@partial(jax.jit, static_argnames=("burn", "act"))
def _forgetting(params, xs, rate, burn, act):
    """Per step: the largest ratio |S_k - S_stat_k| / |S_0 - S_stat_0| over units and two starts,
    the number of (step, unit) pairs above the bound, and the largest |J^b_k - J^b_stat_k|."""
    zero = jnp.zeros_like(params.b)
    (S_b, J_b), _ = _run_from(params, xs[:burn], zero, zero, act)  # stationary memory at the start
    _, (S_stat, J_stat) = _run_from(params, xs[burn:], S_b, J_b, act)
    steps = xs.shape[0] - burn
    bound = rate ** jnp.arange(steps + 1, dtype=xs.dtype)
    worst_S, worst_J, bad = jnp.zeros(steps + 1), jnp.zeros(steps + 1), 0
    for S0 in (zero, -jnp.sign(S_b)):
        _, (S_k, J_k) = _run_from(params, xs[burn:], S0, zero, act)
        d0 = jnp.abs(S0 - S_b)
        ratio = jnp.where(d0[None, :] > 1e-12, jnp.abs(S_k - S_stat) / jnp.maximum(d0, 1e-300)[None, :], 0.0)
        worst_S = jnp.maximum(worst_S, ratio.max(axis=1))
        bad = bad + jnp.sum(ratio > bound[:, None] * (1 + 1e-9) + 1e-15)
        worst_J = jnp.maximum(worst_J, jnp.abs(J_k - J_stat).max(axis=1))
    return worst_S, worst_J, bad


@float64()
def run(cfg, ctx) -> dict:
    ex = cfg.experiment
    source, target, dim = build_data(cfg)
    model = model_from_config(cfg)
    act = model.act
    n, steps, burn, seeds = int(ex.width), int(ex.steps), int(ex.burn), int(cfg.sweep.seeds)
    rate = model.b0 * act.sup_dsigma
    base = jax.random.key(int(cfg.seed))
    worst_S = np.zeros(steps + 1)
    worst_J = np.zeros(steps + 1)
    violations = 0
    for s in range(seeds):
        xs, _ = rnnntk.make_dataset(
            jax.random.fold_in(base, 100 + s), burn + steps, dim=dim, source=source, target=target, dtype=jnp.float64
        )
        p = model.init(jax.random.fold_in(base, 2 + s), n, dim, dtype=jnp.float64)
        wS, wJ, bad = _forgetting(p, xs, rate, burn, act)
        worst_S, worst_J = np.maximum(worst_S, np.asarray(wS)), np.maximum(worst_J, np.asarray(wJ))
        violations += int(bad)
    k = np.arange(steps + 1)
    bound = rate**k
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    axes[0].semilogy(
        k,
        np.maximum(worst_S, 1e-300),
        "o",
        ms=3,
        label=r"max ratio $|S_k - S(\theta;\xi_k)| / |S_0 - S(\theta;\xi_0)|$",
    )
    axes[0].semilogy(k, bound, "k--", label=rf"bound $(b_0 \sup|\sigma'|)^k = {rate:g}^k$")
    axes[0].set_xlabel("step k")
    axes[0].set_title(f"memory, N={n}, {seeds} seeds, 2 starts")
    axes[0].legend(fontsize=7)
    axes[0].set_ylim(max(1e-17, worst_S[worst_S > 0].min() / 10 if np.any(worst_S > 0) else 1e-17), 2)
    axes[1].semilogy(k, np.maximum(worst_J, 1e-300), "o", ms=3, label=r"max $|J^b_k - J^b(\theta;\xi_k)|$")
    c = worst_J[1] / max(rate, 1e-300) if steps > 0 else 1.0
    axes[1].semilogy(k[1:], c * k[1:] * rate ** (k[1:] - 1) * rate, "k:", label=r"$\propto k\,(b_0 \sup|\sigma'|)^k$")
    axes[1].set_xlabel("step k")
    axes[1].set_title("sensitivities")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    ctx.figure(fig, "memory")
    ctx.table(
        "memory",
        ["k", "max_ratio_S", "bound", "max_abs_dJb"],
        [[int(i), float(worst_S[i]), float(bound[i]), float(worst_J[i])] for i in k],
    )
    ctx.log({"memory/bound_violations": violations, "memory/max_ratio_at_10": float(worst_S[min(10, steps)])})
    print(
        f"memory: {violations} violations of the contraction bound; max ratio at k=10: "
        f"{worst_S[min(10, steps)]:.3g} (bound {bound[min(10, steps)]:.3g})"
    )
    return {
        "rate": rate,
        "max_ratio": worst_S.tolist(),
        "bound": bound.tolist(),
        "violations": violations,
        "max_abs_dJb": worst_J.tolist(),
    }

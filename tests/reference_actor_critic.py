"""Independent references for the actor-critic tests: NumPy simulation and a plain training loop.

They share no code with `rnnntk.actor_critic` beyond NumPy/JAX primitives: the networks are written
with their input weights ``w`` (not the library's preactivation representation) and differentiated
by `jax.grad`.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np


def simulate_frequencies(P, pi, *, chains, steps, burn, seed, gamma=None, nu=None):
    """Run ``chains`` independent state-action chains under ``pi`` (NumPy) and return the per-chain
    visit frequencies ``[chains, m, A]`` of ``(X_k, A_k)`` after ``burn`` steps. With ``gamma``,
    each transition is followed by a restart from ``nu`` with probability ``1 - gamma``."""
    rng = np.random.default_rng(seed)
    m, A = pi.shape
    cumP = np.cumsum(P, axis=2)
    cumpi = np.cumsum(pi, axis=1)
    x = rng.integers(0, m, size=chains)
    a = (rng.random(chains)[:, None] > cumpi[x]).sum(axis=1)
    counts = np.zeros((chains, m, A))
    rows = np.arange(chains)
    for k in range(steps):
        if k >= burn:
            counts[rows, x, a] += 1
        x = np.minimum((rng.random(chains)[:, None] > cumP[x, a]).sum(axis=1), m - 1)
        if gamma is not None:
            restart = rng.random(chains) > gamma
            xr = np.minimum((rng.random(chains)[:, None] > np.cumsum(nu)[None, :]).sum(axis=1), m - 1)
            x = np.where(restart, xr, x)
        a = np.minimum((rng.random(chains)[:, None] > cumpi[x]).sum(axis=1), A - 1)
    return counts / (steps - burn)


def rollout_returns(P, r, pi, gamma, *, rollouts, horizon, seed):
    """Discounted returns ``sum_k gamma^k R_k`` of ``rollouts`` episodes started at every ``(x, a)``
    (first action fixed, then ``pi``), truncated at ``horizon``. Returns ``[rollouts, m, A]``."""
    rng = np.random.default_rng(seed)
    m, A = r.shape
    cumP = np.cumsum(P, axis=2)
    cumpi = np.cumsum(pi, axis=1)
    x0, a0 = np.meshgrid(np.arange(m), np.arange(A), indexing="ij")
    x = np.broadcast_to(x0, (rollouts, m, A)).copy()
    a = np.broadcast_to(a0, (rollouts, m, A)).copy()
    G = np.zeros((rollouts, m, A))
    disc = 1.0
    for _ in range(horizon):
        G += disc * r[x, a]
        disc *= gamma
        u = rng.random((rollouts, m, A))[..., None]
        x = np.minimum((u > cumP[x, a]).sum(axis=-1), m - 1)
        u = rng.random((rollouts, m, A))[..., None]
        a = np.minimum((u > cumpi[x]).sum(axis=-1), A - 1)
    return G


def deterministic_policy_values(P, r, gamma):
    """``V^pi [A^m, m]`` of every deterministic policy by a dense solve (brute force)."""
    m, A = r.shape
    out = []
    for choice in itertools.product(range(A), repeat=m):
        Pp = P[np.arange(m), list(choice)]
        rp = r[np.arange(m), list(choice)]
        out.append(np.linalg.solve(np.eye(m) - gamma * Pp, rp))
    return np.array(out)


def _g(c, w, z, beta, act):
    n = c.shape[0]
    return n ** (-beta) * jnp.sum(c * act(w @ z))


def naive_actor_critic(critic, actor, Z, P_rewards, transitions, *, beta, alpha, zeta, gamma, A, act=jnp.tanh):
    """Replay the recorded transitions with the plain update rules, parameters ``(c, w)``,
    gradients by `jax.grad`, a Python loop over steps. ``zeta(k)`` gives the actor rate of step
    ``k``. Returns the final ``(critic, actor)`` as ``((c, w), (chat, what))``."""
    r = P_rewards
    (c, w), (ch, wh) = critic, actor
    n = c.shape[0]
    lr = n ** (2 * beta - 2)

    def Q(c, w, p):
        return _g(c, w, Z[p], beta, act)

    def logpi(ch, wh, x, a):
        f = jnp.stack([_g(ch, wh, Z[x * A + b], beta, act) for b in range(A)])
        return f[a] - jax.scipy.special.logsumexp(f)

    Q_and_grad = jax.jit(jax.value_and_grad(Q, argnums=(0, 1)))
    grad_logpi = jax.jit(jax.grad(logpi, argnums=(0, 1)), static_argnums=(2, 3))
    for k, (x, a, x1, a1) in enumerate(transitions):
        p, p1 = x * A + a, x1 * A + a1
        q, (gc, gw) = Q_and_grad(c, w, p)
        q1, _ = Q_and_grad(c, w, p1)
        td = r[x, a] + gamma * q1 - q
        hc, hw = grad_logpi(ch, wh, x, a)
        c, w = c + alpha * lr * td * gc, w + alpha * lr * td * gw
        ch, wh = ch + zeta(k) * lr * q * hc, wh + zeta(k) * lr * q * hw
    return (c, w), (ch, wh)

"""The limit ODE of the online actor-critic on the finite set of state-action pairs.

Derivation (large ``N``, ``beta`` in ``[1/2, 1)``; `rnnntk.actor_critic.finite` for the algorithm).
A step changes the critic's output at any ``z`` by, to first order in the parameter change,

    grad Q(z) . Delta theta = alpha N^{2 beta - 2} delta_k grad Q(z) . grad Q(X_k, A_k)
                            = (alpha / N) delta_k K^N(z, (X_k, A_k)),

because ``grad Q(z) . grad Q(z') = N^{1 - 2 beta} K^N(z, z')`` (`rnnntk.actor_critic.nets`). The
second-order remainder is ``O(N^{2 beta - 3})`` per step. In training time ``t = k / N`` one unit of
time is ``N`` steps; the parameters move by ``O(N^{beta - 1})`` over a bounded time, so
``K^N -> K`` (the limit kernel, `rnnntk.actor_critic.kernel`), and the data
``(X_k, A_k, X'_{k+1}, A'_{k+1})`` mix on a time scale of ``O(1)`` steps, i.e. ``O(1 / N)`` in ``t``,
under a policy that is frozen to leading order. Averaging over the chain's stationary law
``mu_t = mu(pi_t)`` (`rnnntk.actor_critic.mdp.stationary_law`) gives the critic drift, and likewise
for the actor with ``grad log pi(a | x) = grad f(x, a) - sum_b pi(b | x) grad f(x, b)``::

    dQ_t(z)/dt = alpha    sum_{x,a} mu_t(x,a) K_Q(z, (x,a)) dbar_t(x,a)
    df_t(z)/dt = zeta(t)  sum_{x,a} rho_t(x) pi_t(a|x) K_f(z, (x,a)) (Q_t(x,a) - V_t(x))

with ``pi_t = softmax f_t``, ``rho_t`` the state marginal of ``mu_t``,
``V_t(x) = sum_a pi_t(a|x) Q_t(x,a)`` and the mean TD error
``dbar_t(x,a) = r(x,a) + gamma sum_{x'} P(x'|x,a) V_t(x') - Q_t(x,a)``. (For the actor,
``sum_a mu(x,a) Q(x,a) [K(z,(x,a)) - sum_b pi(b|x) K(z,(x,b))]`` was regrouped by ``(x, b)``.) The
actor rate ``zeta_k = zeta(k / N)`` is a function of training time, so the actor term has the
limit ``zeta(t)``. ``mu_t`` is recomputed from ``pi_t`` by a linear solve at every evaluation.

Initial condition: for ``beta > 1/2`` the initial outputs are ``O(N^{1/2 - beta}) -> 0``, so
``Q_0 = f_0 = 0``. For ``beta = 1/2`` they converge to a centred Gaussian field with covariance
``E[c^2 sigma(w.z) sigma(w.z')]`` (a random ODE); to compare paths, start the ODE at the finite
network's own initial outputs.

Fixed points: with ``K_Q`` positive definite and ``mu_t > 0``, ``dQ/dt = 0`` iff ``dbar = 0``, i.e.
``Q = Q^{pi}`` (Bellman); at ``Q = Q^{pi}``, ``df/dt = 0`` iff ``pi(a|x) (Q^pi(x,a) - V^pi(x)) = 0``
for all ``(x, a)``, which is exactly where the exact policy gradient
(`rnnntk.actor_critic.mdp.policy_gradient`) vanishes. With ``sampling="discounted"``, ``rho_t`` is
the discounted occupancy and the actor's drift at ``Q = Q^pi`` is exactly
``(1 - gamma) zeta(t) K_f grad_f J``. As ``pi_t`` concentrates, the pairs it abandons get
``mu_t -> 0`` and the critic stops learning there; the flow can then settle at a suboptimal
stationary point (tested on the hand-written MDP).

Solver: diffrax ``Tsit5`` (explicit Runge-Kutta 5(4)) with a PID step-size controller,
``rtol = 1e-8``, ``atol = 1e-10`` by default (the ODE is not stiff: its rates are
``alpha lambda(K_Q diag(mu))``, of order ``alpha``); tested against a fixed-step RK4 reference.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp

from .._checks import ConfigError
from .finite import Hyper, actor_rate, check_sampling
from .mdp import MDP, policy, stationary_law

Array = jax.Array


def drift(Q: Array, f: Array, t, mdp: MDP, K_Q: Array, K_f: Array, h: Hyper, sampling: str = "stationary"):
    """The right-hand side ``(dQ/dt, df/dt)``, each ``[m A]`` (module docstring).

    Arguments:
        Q, f: critic outputs and actor logits on all pairs ``[m A]`` (order ``x A + a``).
        t: training time (enters through the actor rate ``zeta(t)``).
        mdp: the `MDP`; K_Q, K_f: the critic's and actor's kernels ``[m A, m A]``.
        h: `Hyper` (``alpha`` and the actor-rate schedule; ``beta`` does not enter).
        sampling: the learner's sampling law, ``"stationary"`` or ``"discounted"``.
    """
    m, A = mdp.n_states, mdp.n_actions
    pi = policy(f, m)
    mu = stationary_law(mdp, pi, sampling)
    Qm = Q.reshape(m, A)
    V = jnp.sum(pi * Qm, axis=1)
    dbar = mdp.r + mdp.gamma * jnp.einsum("xay,y->xa", mdp.P, V) - Qm
    dQ = h.alpha * (K_Q @ (mu * dbar).reshape(-1))
    rho = jnp.sum(mu, axis=1)
    g = rho[:, None] * pi * (Qm - V[:, None])
    df = actor_rate(t, h) * (K_f @ g.reshape(-1))
    return dQ, df


class LimitPath(NamedTuple):
    t: Array  # [T]
    Q: Array  # [T, m A]
    f: Array  # [T, m A]


def solve_limit(
    mdp: MDP,
    K_Q: Array,
    K_f: Array,
    hyper: Hyper,
    *,
    ts,
    Q0=None,
    f0=None,
    sampling: str = "stationary",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 1_000_000,
) -> LimitPath:
    """Solve the limit ODE with diffrax (Tsit5, adaptive steps) and return it at times ``ts``.

    Arguments:
        mdp, K_Q, K_f, hyper, sampling: as in `drift`.
        ts: increasing save times ``[T]`` with ``ts[0] >= 0``; the solve starts at ``t = 0``.
        Q0, f0: initial outputs ``[m A]`` (default 0, the ``beta > 1/2`` limit); for ``beta = 1/2``
            pass the finite network's own initial outputs. Leading batch axes are vmapped.
        rtol, atol: tolerances of the PID controller.

    Returns:
        `LimitPath` with ``Q, f [..., T, m A]``.
    """
    sampling = check_sampling(sampling)
    P = mdp.n_pairs
    dt = jnp.zeros(()).dtype
    ts = jnp.asarray(ts, dt)
    if (
        ts.ndim != 1
        or ts.shape[0] < 1
        or not bool(jnp.all(jnp.diff(ts) >= 0))
        or float(ts[0]) < 0
        or float(ts[-1]) <= 0
    ):
        raise ConfigError("ts must be a non-empty non-decreasing array of times >= 0 ending after t = 0")
    K_Q, K_f = jnp.asarray(K_Q, dt), jnp.asarray(K_f, dt)
    for name, K in (("K_Q", K_Q), ("K_f", K_f)):
        if K.shape != (P, P):
            raise ConfigError(f"{name} has shape {K.shape}: expected [m A, m A] = {(P, P)}")
    Q0 = jnp.zeros((P,), dt) if Q0 is None else jnp.asarray(Q0, dt)
    f0 = jnp.zeros((P,), dt) if f0 is None else jnp.asarray(f0, dt)
    if Q0.shape[-1] != P or f0.shape[-1] != P:
        raise ConfigError(f"Q0 {Q0.shape} and f0 {f0.shape} must end in m A = {P}")
    mdp = MDP(*(jnp.asarray(x, dt) for x in mdp))
    h = Hyper(*(jnp.asarray(v, dt) for v in hyper))
    batch = jnp.broadcast_shapes(Q0.shape[:-1], f0.shape[:-1])
    Q0 = jnp.broadcast_to(Q0, batch + (P,)).reshape(-1, P)
    f0 = jnp.broadcast_to(f0, batch + (P,)).reshape(-1, P)
    Qs, fs = _solve(mdp, K_Q, K_f, h, ts, Q0, f0, sampling=sampling, rtol=rtol, atol=atol, max_steps=max_steps)
    if not bool(jnp.all(jnp.isfinite(Qs)) & jnp.all(jnp.isfinite(fs))):
        raise FloatingPointError("the limit ODE solution is not finite (max_steps reached or blow-up)")
    return LimitPath(ts, Qs.reshape(batch + Qs.shape[1:]), fs.reshape(batch + fs.shape[1:]))


@partial(jax.jit, static_argnames=("sampling", "rtol", "atol", "max_steps"))
def _solve(mdp, K_Q, K_f, h, ts, Q0, f0, sampling, rtol, atol, max_steps):
    def rhs(t, y, args):
        return drift(y[0], y[1], t, mdp, K_Q, K_f, h, sampling)

    def one(q0, g0):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs),
            diffrax.Tsit5(),
            t0=0.0,
            t1=ts[-1],
            dt0=None,
            y0=(q0, g0),
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=max_steps,
            throw=False,
        )
        return sol.ys

    return jax.vmap(one)(Q0, f0)

"""A finite Markov decision process and the exact quantities the learners are compared with.

The model (the project's formulation of the actor-critic setting):

- ``m`` states, each embedded as a point ``e_x`` of ``R^d`` (one-hot, ``d = m``, or fixed random
  unit vectors), ``A`` actions; the feature of a state-action pair is ``z(x, a) = (e_x, onehot(a))``
  in ``R^{d + A}``. Pairs are flattened in the order ``i = x A + a``.
- A transition kernel ``P[x, a, x'] > 0`` (every entry positive, so the chain is ergodic under every
  policy), bounded rewards ``r[x, a]``, a discount ``gamma`` in ``(0, 1)`` and an initial-state law
  ``nu`` (uniform unless given).
- A policy ``pi[x, a] = softmax_a f(x, a)`` from logits ``f``.

Exact quantities (all pure, jittable, and differentiable; float64 under ``jax_enable_x64``):

- ``P_pi[x, x'] = sum_a pi(a | x) P[x, a, x']``.
- Sampling law of the online learner (`stationary_law`): ``mu(x, a) = rho(x) pi(a | x)`` where
  ``rho`` is the stationary law of ``P_pi`` (``sampling="stationary"``: the chain the learner walks
  is the MDP itself) or the normalised discounted occupancy
  ``rho = (1 - gamma) nu^T (I - gamma P_pi)^{-1}`` (``sampling="discounted"``: the walk restarts
  from ``nu`` with probability ``1 - gamma`` after each transition). Each is one linear solve.
- ``V^pi = (I - gamma P_pi)^{-1} r_pi`` and ``Q^pi = r + gamma P V^pi`` (`action_values`).
- The discounted objective ``J(pi) = sum_x nu(x) V^pi(x)`` (`objective`) and its exact gradient with
  respect to the logits (`policy_gradient`, the policy-gradient theorem for a softmax policy):
  ``dJ / df(x, a) = rho_disc(x) pi(a | x) (Q^pi(x, a) - V^pi(x)) / (1 - gamma)``.
- ``V*``, ``Q*`` and ``J* = nu . V*`` by value iteration (`value_iteration`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, check_positive_int, require

Array = jax.Array

SAMPLINGS = ("stationary", "discounted")


class MDP(NamedTuple):
    """A finite MDP with embedded states (a pytree of arrays: jit does not specialise on values)."""

    P: Array  # [m, A, m] transition kernel, every entry > 0, rows sum to 1
    r: Array  # [m, A]    rewards
    gamma: Array  # []    discount in (0, 1)
    nu: Array  # [m]      initial-state law (the objective; restarts of the discounted walk)
    embed: Array  # [m, d] state embeddings e_x

    @property
    def n_states(self) -> int:
        return int(self.P.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.P.shape[1])

    @property
    def n_pairs(self) -> int:
        return self.n_states * self.n_actions


# --------------------------------------------------------------------------- construction


def make_mdp(P, r, gamma, *, nu=None, embed="onehot", row_tol: float = 1e-9) -> MDP:
    """Validate and assemble an `MDP`.

    Arguments:
        P: transition kernel ``[m, A, m]``; every entry must be ``> 0`` and each row
            ``P[x, a, :]`` must sum to 1 (within ``row_tol``; rows are then renormalised exactly).
        r: rewards ``[m, A]`` (finite).
        gamma: discount in ``(0, 1)``.
        nu: initial-state law ``[m]`` (non-negative, sums to 1); default uniform.
        embed: ``"onehot"`` (``e_x`` the unit vectors of ``R^m``) or an array ``[m, d]``.

    Returns:
        An `MDP` in the default float dtype.

    Raises:
        ConfigError: naming the field and what is allowed.
    """
    dt = jnp.zeros(()).dtype
    P = np.asarray(P, np.float64)
    r = np.asarray(r, np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] < 1 or P.shape[1] < 1:
        raise ConfigError(f"P has shape {P.shape}: expected [m, A, m] (P[x, a, x'] = Pr(x' | x, a))")
    m, A = P.shape[:2]
    if not np.all(np.isfinite(P)):
        raise ConfigError("P holds non-finite values: expected a stochastic matrix with entries in (0, 1]")
    if np.any(P <= 0.0):
        x, a, y = np.argwhere(P <= 0.0)[0]
        raise ConfigError(
            f"P[{x}, {a}, {y}] = {float(P[x, a, y])!r} is not allowed: every transition probability must be > 0 "
            "(the chain must be ergodic under every policy)"
        )
    sums = P.sum(axis=2)
    bad = np.abs(sums - 1.0) > row_tol
    if np.any(bad):
        x, a = np.argwhere(bad)[0]
        raise ConfigError(
            f"P is not stochastic: row P[{x}, {a}, :] sums to {float(sums[x, a])!r}; expected every row "
            f"P[x, a, :] to sum to 1 (within {row_tol:g})"
        )
    P = P / sums[:, :, None]
    if r.shape != (m, A):
        raise ConfigError(f"r has shape {r.shape}: expected [m, A] = {(m, A)} to match P")
    if not np.all(np.isfinite(r)):
        raise ConfigError("r holds non-finite values: expected bounded (finite) rewards")
    g = _as_float(gamma)
    require(g is not None and 0.0 < g < 1.0, "gamma", gamma, "a discount in the open interval (0, 1)")
    if nu is None:
        nu = np.full((m,), 1.0 / m)
    nu = np.asarray(nu, np.float64)
    if nu.shape != (m,) or not np.all(np.isfinite(nu)) or np.any(nu < 0) or abs(nu.sum() - 1.0) > row_tol:
        raise ConfigError(f"nu = {nu!r} is not allowed: expected a probability vector of length m = {m}")
    if isinstance(embed, str):
        require(embed == "onehot", "embed", embed, '"onehot" or an array [m, d]')
        E = np.eye(m)
    else:
        E = np.asarray(embed, np.float64)
        if E.ndim != 2 or E.shape[0] != m:
            raise ConfigError(f"embed has shape {E.shape}: expected [m, d] with m = {m}")
        if not np.all(np.isfinite(E)):
            raise ConfigError("embed holds non-finite values")
    return MDP(jnp.asarray(P, dt), jnp.asarray(r, dt), jnp.asarray(g, dt), jnp.asarray(nu, dt), jnp.asarray(E, dt))


def _as_float(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) and not isinstance(v, bool) else None


def random_mdp(
    seed: int,
    n_states: int,
    n_actions: int,
    *,
    gamma: float = 0.8,
    dim: int | None = None,
    floor: float = 0.1,
    concentration: float = 0.5,
    reward_scale: float = 1.0,
) -> MDP:
    """A random instance from an integer seed (NumPy's ``default_rng``; host-side, once per run).

    ``P[x, a, :] = floor / m + (1 - floor) Dirichlet(concentration)`` (so every entry is at least
    ``floor / m``), ``r ~ U[-reward_scale, reward_scale]``, states embedded one-hot (``dim=None``)
    or as independent uniformly random unit vectors of ``R^dim``; ``nu`` uniform.
    """
    m = check_positive_int(n_states, "n_states")
    A = check_positive_int(n_actions, "n_actions")
    require(0.0 < float(floor) <= 1.0, "floor", floor, "a number in (0, 1]")
    require(float(concentration) > 0.0, "concentration", concentration, "a number > 0")
    rng = np.random.default_rng(int(seed))
    P = floor / m + (1.0 - floor) * rng.dirichlet(np.full((m,), float(concentration)), size=(m, A))
    P = P / P.sum(axis=2, keepdims=True)
    r = reward_scale * rng.uniform(-1.0, 1.0, size=(m, A))
    if dim is None:
        embed = "onehot"
    else:
        dim = check_positive_int(dim, "dim")
        E = rng.standard_normal((m, dim))
        embed = E / np.linalg.norm(E, axis=1, keepdims=True)
    return make_mdp(P, r, gamma, embed=embed)


def small_mdp(gamma: float = 0.8) -> MDP:
    """A hand-written 2-state, 2-action instance (tests and examples).

    Action 0 tends to keep the current state, action 1 to switch. State 1 pays more (1.0 for
    staying) than state 0 pays for anything, so the optimal policy switches out of state 0 and
    stays in state 1: greedy ``(1, 0)`` at ``gamma = 0.8``.
    """
    P = [
        [[0.9, 0.1], [0.25, 0.75]],  # from state 0: action 0 stays, action 1 switches
        [[0.15, 0.85], [0.6, 0.4]],  # from state 1: action 0 stays, action 1 switches
    ]
    r = [[0.1, -0.2], [1.0, 0.3]]
    return make_mdp(P, r, gamma)


# --------------------------------------------------------------------------- features and policies


def features(mdp: MDP) -> Array:
    """``Z [m A, d + A]``: row ``x A + a`` is ``z(x, a) = (e_x, onehot(a))``."""
    m, A = mdp.n_states, mdp.n_actions
    E = jnp.repeat(mdp.embed, A, axis=0)
    act = jnp.tile(jnp.eye(A, dtype=E.dtype), (m, 1))
    return jnp.concatenate([E, act], axis=1)


def policy(f: Array, n_states: int) -> Array:
    """``pi [m, A] = softmax_a f(x, a)`` from logits ``f [m A]`` (or ``[m, A]``)."""
    return jax.nn.softmax(jnp.reshape(f, (n_states, -1)), axis=-1)


def state_kernel(mdp: MDP, pi: Array) -> Array:
    """``P_pi [m, m]``."""
    return jnp.einsum("xa,xay->xy", pi, mdp.P)


def state_action_kernel(mdp: MDP, pi: Array) -> Array:
    """``M [m A, m A]``: ``M[(x, a), (x', a')] = P[x, a, x'] pi(a' | x')``."""
    m, A = pi.shape
    return (mdp.P[:, :, :, None] * pi[None, None, :, :]).reshape(m * A, m * A)


def state_law(mdp: MDP, pi: Array, sampling: str = "stationary") -> Array:
    """The state marginal ``rho [m]`` of the learner's sampling law (module docstring)."""
    m = mdp.n_states
    Pp = state_kernel(mdp, pi)
    eye = jnp.eye(m, dtype=Pp.dtype)
    if sampling == "stationary":
        # rho^T P_pi = rho^T and 1^T rho = 1  <=>  (I - P_pi^T + 1 1^T) rho = 1 (non-singular: P_pi > 0)
        return jnp.linalg.solve(eye - Pp.T + jnp.ones((m, m), Pp.dtype), jnp.ones((m,), Pp.dtype))
    if sampling == "discounted":
        return jnp.linalg.solve(eye - mdp.gamma * Pp.T, (1.0 - mdp.gamma) * mdp.nu)
    raise ConfigError(f"sampling = {sampling!r} is not allowed: expected one of {SAMPLINGS}")


def stationary_law(mdp: MDP, pi: Array, sampling: str = "stationary") -> Array:
    """``mu [m, A] = rho(x) pi(a | x)``: the stationary law of the learner's state-action pairs.

    Arguments:
        mdp: the `MDP`; pi: the policy ``[m, A]``.
        sampling: ``"stationary"`` (the walk follows ``P``) or ``"discounted"`` (it restarts from
            ``nu`` with probability ``1 - gamma``).

    Returns:
        ``[m, A]``, summing to 1.
    """
    return state_law(mdp, pi, sampling)[:, None] * pi


def state_values(mdp: MDP, pi: Array) -> Array:
    """``V^pi [m] = (I - gamma P_pi)^{-1} r_pi``."""
    Pp = state_kernel(mdp, pi)
    r_pi = jnp.sum(pi * mdp.r, axis=1)
    return jnp.linalg.solve(jnp.eye(mdp.n_states, dtype=Pp.dtype) - mdp.gamma * Pp, r_pi)


def action_values(mdp: MDP, pi: Array) -> Array:
    """``Q^pi [m, A] = r + gamma P V^pi``: the unique solution of the Bellman equation of ``pi``."""
    V = state_values(mdp, pi)
    return mdp.r + mdp.gamma * jnp.einsum("xay,y->xa", mdp.P, V)


def objective(mdp: MDP, pi: Array) -> Array:
    """``J(pi) = sum_x nu(x) V^pi(x)``, the expected discounted return from ``X_0 ~ nu``."""
    return jnp.dot(mdp.nu, state_values(mdp, pi))


def policy_gradient(mdp: MDP, f: Array) -> Array:
    """The exact gradient ``dJ / df [m, A]`` of the discounted objective at logits ``f``.

    ``dJ / df(x, a) = rho_disc(x) pi(a | x) (Q^pi(x, a) - V^pi(x)) / (1 - gamma)`` with ``rho_disc``
    the normalised discounted occupancy from ``nu`` (the policy-gradient theorem).
    """
    pi = policy(f, mdp.n_states)
    Q = action_values(mdp, pi)
    V = jnp.sum(pi * Q, axis=1)
    rho = state_law(mdp, pi, "discounted")
    return rho[:, None] * pi * (Q - V[:, None]) / (1.0 - mdp.gamma)


class Optimum(NamedTuple):
    """The optimal control problem's solution."""

    V: Array  # [m]    V*
    Q: Array  # [m, A] Q*
    J: Array  # []     nu . V*
    greedy: Array  # [m] int, argmax_a Q*(x, a)
    iterations: Array  # [] value-iteration sweeps used


def value_iteration(mdp: MDP, *, tol: float = 1e-12, max_iter: int = 100_000) -> Optimum:
    """``V*`` by value iteration ``V <- max_a (r + gamma P V)`` from ``V = 0``.

    Stops when ``gamma / (1 - gamma) |V_k - V_{k-1}|_inf <= tol``, which bounds
    ``|V_k - V*|_inf <= tol`` (the Bellman optimality operator is a ``gamma``-contraction).
    """

    def bellman(V):
        return mdp.r + mdp.gamma * jnp.einsum("xay,y->xa", mdp.P, V)

    bound = mdp.gamma / (1.0 - mdp.gamma)

    def cond(c):
        _, gap, k = c
        return (bound * gap > tol) & (k < max_iter)

    def body(c):
        V, _, k = c
        V1 = jnp.max(bellman(V), axis=1)
        return V1, jnp.max(jnp.abs(V1 - V)), k + 1

    V0 = jnp.zeros((mdp.n_states,), mdp.r.dtype)
    V, _, k = jax.lax.while_loop(cond, body, (V0, jnp.asarray(jnp.inf, V0.dtype), jnp.asarray(0)))
    Q = bellman(V)
    return Optimum(V, Q, jnp.dot(mdp.nu, V), jnp.argmax(Q, axis=1), k)

"""The limit ODE: diffrax against a plain RK4 loop on an independently written right-hand side,
and its fixed points (the critic reaches Q^pi; the actor a stationary point of J)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnntk import ConfigError
from rnnntk import actor_critic as ac


@pytest.fixture(scope="module")
def setup():
    mdp = ac.random_mdp(4, 3, 2, gamma=0.8)
    Z = ac.features(mdp)
    return mdp, ac.limit_kernel(Z), ac.limit_kernel(Z, activation="erf")


def numpy_rhs(Q, f, t, P, r, gamma, nu, KQ, Kf, alpha, zeta0, t0, power, sampling):
    """The limit drift written out with NumPy (stationary law from an eigenvector)."""
    m, A = r.shape
    logits = f.reshape(m, A)
    pi = np.exp(logits - logits.max(axis=1, keepdims=True))
    pi /= pi.sum(axis=1, keepdims=True)
    Pp = np.einsum("xa,xay->xy", pi, P)
    if sampling == "stationary":
        w, v = np.linalg.eig(Pp.T)
        rho = np.real(v[:, np.argmin(np.abs(w - 1))])
        rho /= rho.sum()
    else:
        rho = (1 - gamma) * np.linalg.inv(np.eye(m) - gamma * Pp.T) @ nu
    Qm = Q.reshape(m, A)
    V = (pi * Qm).sum(axis=1)
    dbar = r + gamma * P @ V - Qm
    dQ = alpha * KQ @ (rho[:, None] * pi * dbar).ravel()
    df = zeta0 * (1 + t / t0) ** (-power) * Kf @ (rho[:, None] * pi * (Qm - V[:, None])).ravel()
    return dQ, df


@pytest.mark.parametrize("sampling", ["stationary", "discounted"])
def test_solver_against_rk4_reference(setup, sampling):
    """diffrax (Tsit5, rtol 1e-8, atol 1e-10) against classical RK4 with dt = 2e-3 (global error
    ~ dt^4 ~ 1e-11 times the solution's derivatives) on [0, 2], from random initial outputs,
    with different critic (tanh) and actor (erf) kernels."""
    mdp, KQ, Kf = setup
    h = ac.Hyper(beta=0.5, alpha=6.0, zeta0=4.0, t0=0.5, power=0.7)
    key1, key2 = jax.random.split(jax.random.key(0))
    Q0 = np.asarray(jax.random.normal(key1, (6,)))
    f0 = np.asarray(jax.random.normal(key2, (6,)))
    ts = np.linspace(0.0, 2.0, 5)
    sol = ac.solve_limit(mdp, KQ, Kf, h, ts=ts, Q0=Q0, f0=f0, sampling=sampling)
    args = (np.asarray(mdp.P), np.asarray(mdp.r), float(mdp.gamma), np.asarray(mdp.nu), np.asarray(KQ), np.asarray(Kf))
    args = args + (h.alpha, h.zeta0, h.t0, h.power, sampling)
    dt, y, t = 2e-3, (Q0, f0), 0.0
    ref = [y]
    for _ in range(1000):
        k1 = numpy_rhs(*y, t, *args)
        k2 = numpy_rhs(*(a + dt / 2 * b for a, b in zip(y, k1)), t + dt / 2, *args)
        k3 = numpy_rhs(*(a + dt / 2 * b for a, b in zip(y, k2)), t + dt / 2, *args)
        k4 = numpy_rhs(*(a + dt * b for a, b in zip(y, k3)), t + dt, *args)
        y = tuple(a + dt / 6 * (b1 + 2 * b2 + 2 * b3 + b4) for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4))
        t += dt
        if round(t / dt) % 250 == 0:
            ref.append(y)
    np.testing.assert_allclose(sol.Q, np.stack([q for q, _ in ref]), rtol=0, atol=1e-7)
    np.testing.assert_allclose(sol.f, np.stack([g for _, g in ref]), rtol=0, atol=1e-7)
    assert float(jnp.max(jnp.abs(sol.f[-1] - sol.f[0]))) > 0.1  # the actor moved


@pytest.mark.parametrize("sampling", ["stationary", "discounted"])
def test_critic_converges_to_the_true_value_of_a_frozen_policy(setup, sampling):
    mdp, KQ, _ = setup
    h = ac.Hyper(beta=0.75, alpha=20.0, zeta0=0.0, t0=1.0, power=0.0)
    f0 = jnp.asarray([0.5, -0.3, 1.0, 0.2, -0.7, 0.0])
    # 5 save times and a batch of 1, like the RK4 test: the same compiled solver
    sol = ac.solve_limit(mdp, KQ, KQ, h, ts=jnp.linspace(0.0, 400.0, 5), f0=f0, sampling=sampling)
    Qpi = ac.action_values(mdp, ac.policy(f0, 3)).ravel()
    np.testing.assert_allclose(sol.f[-1], f0, atol=0)
    np.testing.assert_allclose(sol.Q[-1], Qpi, rtol=0, atol=1e-6)


def test_actor_approaches_a_stationary_point_and_the_optimum():
    """On the hand-written 2-state MDP the exact policy gradient's norm falls below 5% of its
    initial value and the return gap to the optimum (value iteration) below 5% of the initial gap
    (measured at t = 200: 2.5% and 1.2%; softmax policy-gradient flows approach a deterministic
    optimum only like 1 / int zeta)."""
    mdp = ac.small_mdp()
    K = ac.limit_kernel(ac.features(mdp))
    h = ac.Hyper(beta=0.75, alpha=20.0, zeta0=50.0, t0=1.0, power=0.5)
    sol = ac.solve_limit(mdp, K, K, h, ts=jnp.linspace(0.0, 200.0, 5))
    grad = [float(jnp.linalg.norm(ac.policy_gradient(mdp, f))) for f in sol.f]
    J = [float(ac.objective(mdp, ac.policy(f, 2))) for f in sol.f]
    Jstar = float(ac.value_iteration(mdp).J)
    assert grad[-1] < 0.05 * grad[0], grad
    assert Jstar - J[-1] < 0.05 * (Jstar - J[0]), (J, Jstar)
    Qpi = ac.action_values(mdp, ac.policy(sol.f[-1], 2)).ravel()
    assert float(jnp.max(jnp.abs(sol.Q[-1] - Qpi))) < 0.05  # the critic tracks the true value


def test_batched_initial_conditions_and_errors(setup):
    mdp, K, _ = setup
    h = ac.Hyper(beta=0.5, alpha=5.0, zeta0=2.0, t0=1.0, power=0.5)
    Q0 = jax.random.normal(jax.random.key(1), (3, 6))
    ts = jnp.linspace(0.0, 1.0, 5)
    both = ac.solve_limit(mdp, K, K, h, ts=ts, Q0=Q0)
    assert both.Q.shape == (3, 5, 6) and both.f.shape == (3, 5, 6)
    one = ac.solve_limit(mdp, K, K, h, ts=ts, Q0=Q0[1])
    np.testing.assert_allclose(both.Q[1], one.Q, rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match=r"K_Q has shape \(5, 5\)"):
        ac.solve_limit(mdp, K[:5, :5], K, h, ts=ts)
    with pytest.raises(ConfigError, match=r"ts must be"):
        ac.solve_limit(mdp, K, K, h, ts=jnp.array([1.0, 0.5]))

"""The MDP's exact quantities against brute force, and clear errors for bad instances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_actor_critic import deterministic_policy_values, rollout_returns, simulate_frequencies

from rnnntk import ConfigError, actor_critic as ac
from rnnntk.actor_critic.mdp import state_kernel


@pytest.fixture(scope="module")
def mdp():
    return ac.random_mdp(3, 4, 3, gamma=0.75)


def random_policy(key, m, A, scale=1.0):
    return ac.policy(scale * jax.random.normal(key, (m * A,)), m)


# --------------------------------------------------------------------------- validation


def test_non_stochastic_transition_matrix_is_rejected():
    P = np.array(ac.small_mdp().P)
    r = np.zeros((2, 2))
    bad = P.copy()
    bad[1, 0] = [0.5, 0.6]
    with pytest.raises(ConfigError, match=r"P is not stochastic: row P\[1, 0, :\] sums to 1\.1"):
        ac.make_mdp(bad, r, 0.9)
    zero = P.copy()
    zero[0, 1] = [1.0, 0.0]
    with pytest.raises(
        ConfigError, match=r"P\[0, 1, 1\] = 0\.0 is not allowed: every transition probability must be > 0"
    ):
        ac.make_mdp(zero, r, 0.9)
    neg = P.copy()
    neg[0, 0] = [1.2, -0.2]
    with pytest.raises(ConfigError, match=r"P\[0, 0, 1\] = -0\.2"):
        ac.make_mdp(neg, r, 0.9)
    with pytest.raises(ConfigError, match=r"P has shape \(2, 2\): expected \[m, A, m\]"):
        ac.make_mdp(P[0], r, 0.9)
    with pytest.raises(ConfigError, match=r"P has shape \(2, 2, 3\)"):
        ac.make_mdp(np.full((2, 2, 3), 1 / 3), r, 0.9)
    nan = P.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match=r"P holds non-finite values"):
        ac.make_mdp(nan, r, 0.9)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 1.5, -0.2, float("nan"), "x", None])
def test_gamma_outside_open_unit_interval_is_rejected(gamma):
    P = np.array(ac.small_mdp().P)
    with pytest.raises(
        ConfigError, match=r"gamma = .* is not allowed: expected a discount in the open interval \(0, 1\)"
    ):
        ac.make_mdp(P, np.zeros((2, 2)), gamma)


def test_other_shape_errors():
    P = np.array(ac.small_mdp().P)
    with pytest.raises(ConfigError, match=r"r has shape \(2, 3\): expected \[m, A\] = \(2, 2\)"):
        ac.make_mdp(P, np.zeros((2, 3)), 0.9)
    with pytest.raises(ConfigError, match=r"r holds non-finite"):
        ac.make_mdp(P, np.array([[0.0, np.inf], [0.0, 0.0]]), 0.9)
    with pytest.raises(ConfigError, match=r"nu = .* expected a probability vector of length m = 2"):
        ac.make_mdp(P, np.zeros((2, 2)), 0.9, nu=[0.7, 0.7])
    with pytest.raises(ConfigError, match=r"embed has shape \(3, 2\): expected \[m, d\] with m = 2"):
        ac.make_mdp(P, np.zeros((2, 2)), 0.9, embed=np.ones((3, 2)))
    with pytest.raises(ConfigError, match=r"sampling = 'replay'"):
        ac.stationary_law(ac.small_mdp(), jnp.full((2, 2), 0.5), "replay")


def test_random_instances_are_valid(mdp):
    assert mdp.P.shape == (4, 3, 4) and bool(jnp.all(mdp.P > 0))
    np.testing.assert_allclose(mdp.P.sum(axis=2), 1.0, rtol=0, atol=1e-14)
    emb = ac.random_mdp(0, 5, 2, dim=3)
    assert ac.features(emb).shape == (10, 5)
    np.testing.assert_allclose(jnp.linalg.norm(emb.embed, axis=1), 1.0, atol=1e-14)
    Z = ac.features(ac.small_mdp())
    np.testing.assert_array_equal(Z, [[1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1]])


# --------------------------------------------------------------------------- against brute force


@pytest.mark.parametrize("sampling", ["stationary", "discounted"])
@pytest.mark.parametrize("which", ["small", "random"])
def test_stationary_law_against_simulation(mdp, sampling, which):
    """Visit frequencies of 2000 independent chains (NumPy) against the linear solve. Each chain's
    frequency over 250 steps is one sample; the chains are independent, so the standard error of
    their mean is exact; we allow 5 standard errors (plus 1e-4 for cells of tiny variance)."""
    M = ac.small_mdp() if which == "small" else mdp
    m, A = M.n_states, M.n_actions
    pi = random_policy(jax.random.key(7), m, A)
    mu = np.asarray(ac.stationary_law(M, pi, sampling))
    np.testing.assert_allclose(mu.sum(), 1.0, atol=1e-14)
    g = float(M.gamma) if sampling == "discounted" else None
    freq = simulate_frequencies(
        np.asarray(M.P), np.asarray(pi), chains=2000, steps=300, burn=50, seed=1, gamma=g, nu=np.asarray(M.nu)
    )
    mean, se = freq.mean(axis=0), freq.std(axis=0, ddof=1) / np.sqrt(freq.shape[0])
    assert np.all(np.abs(mean - mu) <= 5 * se + 1e-4), (mean, mu, se)
    # the check can fail: the other sampling law is far off (gamma = 0.75 restarts often)
    other = np.asarray(ac.stationary_law(M, pi, "discounted" if sampling == "stationary" else "stationary"))
    assert np.max(np.abs(mean - other) / (se + 1e-4)) > 5


def test_discounted_law_is_the_normalised_occupancy(mdp):
    pi = random_policy(jax.random.key(1), 4, 3)
    rho = ac.stationary_law(mdp, pi, "discounted").sum(axis=1)
    Pp = np.asarray(state_kernel(mdp, pi))
    g = float(mdp.gamma)
    occ = sum((1 - g) * g**k * np.asarray(mdp.nu) @ np.linalg.matrix_power(Pp, k) for k in range(400))
    np.testing.assert_allclose(rho, occ, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("which", ["small", "random"])
def test_action_values_against_rollouts(mdp, which):
    """Monte Carlo discounted returns from every (x, a), 4000 rollouts truncated where
    gamma^H max|r| / (1 - gamma) < 1e-7; within 5 standard errors."""
    M = ac.small_mdp() if which == "small" else mdp
    m, A = M.n_states, M.n_actions
    pi = random_policy(jax.random.key(2), m, A)
    Q = np.asarray(ac.action_values(M, pi))
    g = float(M.gamma)
    H = int(np.ceil(np.log(1e-7 * (1 - g)) / np.log(g)))
    G = rollout_returns(np.asarray(M.P), np.asarray(M.r), np.asarray(pi), g, rollouts=4000, horizon=H, seed=5)
    mean, se = G.mean(axis=0), G.std(axis=0, ddof=1) / np.sqrt(G.shape[0])
    assert np.all(np.abs(mean - Q) <= 5 * se), (mean, Q, se)
    # and Q solves the Bellman equation of pi exactly
    V = (np.asarray(pi) * Q).sum(axis=1)
    np.testing.assert_allclose(Q, np.asarray(M.r) + g * np.asarray(M.P) @ V, rtol=0, atol=1e-13)


def test_policy_gradient_against_finite_differences(mdp):
    f = 0.8 * jax.random.normal(jax.random.key(4), (12,))
    grad = np.asarray(ac.policy_gradient(mdp, f)).ravel()

    J = jax.jit(lambda v: ac.objective(mdp, ac.policy(v, 4)))

    eps = 1e-5
    basis = eps * np.eye(12)
    fd = np.array([(float(J(f + e)) - float(J(f - e))) / (2 * eps) for e in basis])
    # central differences: truncation O(eps^2 J''') ~ 1e-10, rounding ~ 1e-16 / eps ~ 1e-11
    np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-9)
    assert np.max(np.abs(grad)) > 1e-3
    # and with jax.grad through the linear solves
    np.testing.assert_allclose(grad, jax.grad(lambda v: ac.objective(mdp, ac.policy(v, 4)))(f), atol=1e-13)


def test_value_iteration_against_all_deterministic_policies(mdp):
    for M in (mdp, ac.small_mdp()):
        opt = ac.value_iteration(M)
        Vs = deterministic_policy_values(np.asarray(M.P), np.asarray(M.r), float(M.gamma))
        np.testing.assert_allclose(opt.V, Vs.max(axis=0), rtol=0, atol=1e-11)
        greedy = jax.nn.one_hot(opt.greedy, M.n_actions)
        np.testing.assert_allclose(ac.state_values(M, greedy), opt.V, rtol=0, atol=1e-11)
        np.testing.assert_allclose(opt.J, float(np.asarray(M.nu) @ opt.V), atol=1e-14)
    assert list(np.asarray(ac.value_iteration(ac.small_mdp()).greedy)) == [1, 0]

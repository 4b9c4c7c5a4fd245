"""Online actor-critic with wide single-hidden-layer networks and its limit ODE.

A finite MDP (`mdp`), a width-``N`` critic and actor trained online by TD(0) and the policy
gradient with ``N^{2 beta - 2}``-scaled rates (`finite`), the limit kernel (`kernel`) and the limit
ODE on the finite set of state-action pairs driven by the policy's stationary law (`limit`), and
the exact quantities to compare with (``Q^pi``, the exact policy gradient, the optimum).

Reference: Lam, Sirignano, Wang, "Weak Convergence Analysis of Online Neural Actor-Critic
Algorithms", arXiv:2403.16825 (the convergence of such a network to a random ODE).

Example:
    >>> import jax
    >>> from rnnntk import actor_critic as ac
    >>> mdp = ac.random_mdp(0, 5, 3, gamma=0.8)
    >>> K = ac.limit_kernel(ac.features(mdp))
    >>> h = ac.Hyper(beta=0.75, alpha=50.0, zeta0=20.0, t0=1.0, power=0.5)
    >>> path = ac.solve_limit(mdp, K, K, h, ts=jax.numpy.linspace(0.0, 10.0, 51))
    >>> tr = ac.train_seeds(jax.random.split(jax.random.key(1), 4), 1000, mdp, h, horizon=10.0, n_save=50)
"""

from .finite import (
    ACNets as ACNets,
    ACState as ACState,
    Hyper as Hyper,
    Trajectory as Trajectory,
    actor_rate as actor_rate,
    init_nets as init_nets,
    train_seeds as train_seeds,
)
from .kernel import limit_kernel as limit_kernel
from .limit import LimitPath as LimitPath, drift as drift, solve_limit as solve_limit
from .mdp import (
    MDP as MDP,
    action_values as action_values,
    features as features,
    make_mdp as make_mdp,
    objective as objective,
    policy as policy,
    policy_gradient as policy_gradient,
    random_mdp as random_mdp,
    small_mdp as small_mdp,
    state_values as state_values,
    stationary_law as stationary_law,
    value_iteration as value_iteration,
)
from .model import ActorCriticModel as ActorCriticModel
from .nets import Net as Net, empirical_kernel as empirical_kernel

__all__ = [
    "ACNets",
    "ACState",
    "action_values",
    "actor_rate",
    "ActorCriticModel",
    "drift",
    "empirical_kernel",
    "features",
    "Hyper",
    "init_nets",
    "limit_kernel",
    "LimitPath",
    "make_mdp",
    "MDP",
    "Net",
    "objective",
    "policy",
    "policy_gradient",
    "random_mdp",
    "small_mdp",
    "solve_limit",
    "state_values",
    "stationary_law",
    "train_seeds",
    "Trajectory",
    "value_iteration",
]

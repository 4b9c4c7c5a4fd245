"""The actor-critic's networks as one model object (`ActorCriticModel`).

The critic and the actor are independent single-hidden-layer networks with the same initial law
(``w ~ N(0, s_w^2 I_n)``, ``c ~ c_dist``) and activation; `ActorCriticModel` owns those
hyperparameters and offers the initial networks, their outputs, online training, the empirical
kernel and the limit kernel from them (each method calls the one function of
`rnnntk.actor_critic` that implements it), so the finite networks and the limit ODE describe the
same model. See `rnnntk._model` for the other families and `rnnntk.LimitOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import check_positive, require
from .._model import LimitOptions, _static, check_agrees, hyperparameters
from ..diagonal.network import C_SECOND_MOMENT, get_activation


@_static
@dataclass(frozen=True)
class ActorCriticModel:
    """The critic's and the actor's networks: ``s_w``, ``c_dist`` and ``activation`` (``relu`` allowed;
    ``erf`` is the plain error function). Gradients with respect to the parameters as drawn."""

    s_w: float = 1.0
    c_dist: str = "rademacher"
    activation: str = "tanh"

    def __post_init__(self):
        object.__setattr__(self, "s_w", float(check_positive(self.s_w, "s_w")))
        require(self.c_dist in C_SECOND_MOMENT, "c_dist", self.c_dist, f"one of {sorted(C_SECOND_MOMENT)}")
        get_activation(self.activation, allow_relu=True)

    @property
    def act(self):
        return get_activation(self.activation, allow_relu=True)

    def init(self, key, width: int, mdp, *, dtype=None):
        """`rnnntk.actor_critic.init_nets`: the initial critic and actor (`ACNets`)."""
        from .finite import init_nets

        return init_nets(key, width, mdp, s_w=self.s_w, c_dist=self.c_dist, dtype=dtype)

    def apply(self, net, Z, *, beta, **loose):
        """``g(z_p)`` of one network (`Net`) on features ``Z [P, n]``: ``[P]``."""
        from .nets import outputs

        check_agrees(self, **loose)
        return outputs(net, Z, beta=beta, act=self.act)

    predict = apply

    def train(self, keys, width: int, mdp, hyper, *, horizon: float, n_save: int, sampling="stationary", dtype=None,
              **loose):  # fmt: skip
        """`rnnntk.actor_critic.train_seeds` with this model's networks."""
        from .finite import train_seeds

        check_agrees(self, **loose)
        return train_seeds(
            keys, width, mdp, hyper, horizon=horizon, n_save=n_save, sampling=sampling, dtype=dtype,
            **hyperparameters(self),
        )  # fmt: skip

    def empirical_kernel(self, net, Z, **loose):
        """`rnnntk.actor_critic.empirical_kernel` at the parameters ``net``."""
        from .nets import empirical_kernel

        check_agrees(self, **loose)
        return empirical_kernel(net, Z, activation=self.activation)

    def limit_kernel(self, Z, *, options: LimitOptions | None = None, **loose):
        """`rnnntk.actor_critic.limit_kernel` of this model: ``[P, P]``."""
        from .kernel import limit_kernel

        check_agrees(self, **loose)
        opts = (options or LimitOptions()).actor_critic_kw()
        return limit_kernel(Z, **hyperparameters(self), **opts)

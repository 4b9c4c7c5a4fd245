"""Online actor-critic with a width-``N`` critic and actor: one transition per step, one jitted scan.

The algorithm (the project's formulation; symbols as in `rnnntk.actor_critic.nets` and `.mdp`):

- Critic ``Q(z) = N^{-beta} sum_i c^i sigma(w^i . z)``, actor logits
  ``f(z) = N^{-beta} sum_i chat^i sigma(what^i . z)``, policy ``pi(a | x) = softmax_a f(z(x, a))``.
- Step ``k`` (training time ``t_k = k / N``) sees one transition
  ``X_k, A_k, R_k = r(X_k, A_k), X'_{k+1} ~ P(. | X_k, A_k), A'_{k+1} ~ pi_k(. | X'_{k+1})``, with
  ``pi_k`` the policy before the step, and updates both networks from their values before the step:

      delta_k = R_k + gamma Q(X'_{k+1}, A'_{k+1}) - Q(X_k, A_k)                (TD(0) error)
      (c, w)       += alpha   N^{2 beta - 2} delta_k       grad Q(X_k, A_k)
      (chat, what) += zeta_k  N^{2 beta - 2} Q(X_k, A_k)   grad log pi(A_k | X_k)

  with the decaying actor rate ``zeta_k = zeta(t_k)``,
  ``zeta(t) = zeta0 (1 + t / t0)^{-p}`` (a function of training time, so that it has a limit as
  ``N -> infinity``; `actor_rate`).
- The next state-action pair is ``(X_{k+1}, A_{k+1}) = (X'_{k+1}, A'_{k+1})`` with
  ``sampling="stationary"`` (the default: the learner walks the MDP itself). With
  ``sampling="discounted"`` the walk instead restarts from ``X_{k+1} ~ nu``,
  ``A_{k+1} ~ pi_k(. | X_{k+1})`` with probability ``1 - gamma`` (the TD target still uses the true
  successor ``X'_{k+1}``); its stationary state law is the discounted occupancy, so that at an
  exact critic the actor's mean drift is ``(1 - gamma) zeta K_f grad_f J``, the exact policy
  gradient preconditioned by the kernel (`rnnntk.actor_critic.limit`). With the default the drift
  is the same expression with the stationary law in place of the discounted occupancy: not a
  gradient in general, but it vanishes exactly where ``grad_f J`` does.
- ``X_0 ~ nu``, ``A_0 ~ pi_0(. | X_0)``.

Parameters are stored as ``theta_0 + delta`` (as in `rnnntk.diagonal.train`): each step moves a parameter by
about ``N^{beta - 2}``, below float32 resolution of an O(1) number at large ``N``.

Representation: the networks are only ever evaluated on the ``P = m A`` features ``z_p``, and
every update of an input weight is a combination of features (``Delta w^i = g_i z``), so the run
carries the preactivations ``U[p, i] = w^i . z_p`` (``[P, N]``) instead of ``w`` (``[N, d + A]``):
``Delta U[p, i] = g_i (z . z_p)`` with the Gram matrix ``G = Z Z^T``. This is exact (the test
against a plain loop over ``w`` with autodiff gradients checks it) and makes a step a few
contiguous vector operations over the units.

Randomness: the transition of step ``k`` uses ``jax.random.fold_in(key, k)``, so a run is a pure
function of its key and chunking does not change it.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, check_beta, check_positive, check_positive_int, require
from ..diagonal.network import Activation, get_activation
from ..divergence import Diverged, check_values
from .mdp import MDP, SAMPLINGS, features
from .nets import Net, init_net, scale

Array = jax.Array


class Hyper(NamedTuple):
    """Scalings and rates (traced: new values do not recompile)."""

    beta: float  # output scaling exponent in [1/2, 1)
    alpha: float  # critic learning rate
    zeta0: float  # actor rate zeta(t) = zeta0 (1 + t / t0)^(-power)
    t0: float
    power: float


def check_hyper(h: Hyper) -> Hyper:
    beta = check_beta(h.beta)
    require(beta < 1.0, "beta", h.beta, "a number in [1/2, 1) (beta = 1 is the mean-field regime, no kernel limit)")
    alpha = check_positive(h.alpha, "alpha")
    require(float(h.zeta0) >= 0.0, "zeta0", h.zeta0, "a number >= 0 (0 freezes the actor)")
    t0 = check_positive(h.t0, "t0")
    require(float(h.power) >= 0.0, "power", h.power, "a number >= 0")
    return Hyper(beta, alpha, float(h.zeta0), t0, float(h.power))


def check_sampling(sampling: str) -> str:
    require(sampling in SAMPLINGS, "sampling", sampling, f"one of {SAMPLINGS}")
    return sampling


def actor_rate(t, h: Hyper):
    """``zeta(t) = zeta0 (1 + t / t0)^{-p}``."""
    return h.zeta0 * jnp.power(1.0 + t / h.t0, -h.power)


class ACNets(NamedTuple):
    """The critic and the actor (as `Net` on features, or as `PairNet` on the ``P`` pairs)."""

    critic: Net | PairNet  # (c, w) or (c, U)
    actor: Net | PairNet  # (chat, what) or (chat, Uhat)


class PairNet(NamedTuple):
    """A network restricted to the ``P`` state-action pairs: output weights and preactivations."""

    c: Array  # [N]
    U: Array  # [P, N]  U[p, i] = w^i . z_p


def on_pairs(nets: ACNets, Z: Array) -> ACNets:
    """``(c, w) -> (c, U = Z w^T)`` for both networks."""
    return ACNets(*(PairNet(n.c, Z.astype(n.w.dtype) @ n.w.T) for n in nets))


class ACState(NamedTuple):
    """What the online run carries from one step to the next."""

    delta: ACNets  # theta - theta_0 of both networks, as PairNet (c [N], U [P, N])
    x: Array  # []  int32  X_k
    a: Array  # []  int32  A_k
    step: Array  # [] int32 k


class Transition(NamedTuple):
    """The sampled transition of each step (recorded on request, e.g. for tests)."""

    x: Array  # [K] X_k
    a: Array  # [K] A_k
    x1: Array  # [K] X'_{k+1} (true successor, TD target)
    a1: Array  # [K] A'_{k+1}
    x_next: Array  # [K] X_{k+1} (differs from x1 after a restart)
    a_next: Array  # [K]


class Trajectory(NamedTuple):
    """Outputs on all state-action pairs at save times."""

    t: Array  # [T]        training times k / N
    Q: Array  # [..., T, mA] critic outputs
    f: Array  # [..., T, mA] actor logits


def init_nets(key: Array, width: int, mdp: MDP, *, s_w: float = 1.0, c_dist: str = "rademacher", dtype=None) -> ACNets:
    """Independent initial critic and actor of width ``N`` on features of dimension ``d + A``."""
    kq, kf = jax.random.split(key)
    n_in = mdp.embed.shape[1] + mdp.n_actions
    return ACNets(
        init_net(kq, width, n_in, s_w=s_w, c_dist=c_dist, dtype=dtype),
        init_net(kf, width, n_in, s_w=s_w, c_dist=c_dist, dtype=dtype),
    )


def current(nets0: ACNets, delta: ACNets) -> ACNets:
    """``theta_0 + delta``."""
    return jax.tree.map(jnp.add, nets0, delta)


def _rows(net0: PairNet, dnet: PairNet, p, size: int = 1) -> Array:
    """Rows ``p .. p + size - 1`` of ``U_0 + delta U``: ``[size, N]``."""
    sl = partial(jax.lax.dynamic_slice_in_dim, start_index=p, slice_size=size, axis=0)
    return sl(net0.U) + sl(dnet.U)


def _out_rows(net0: PairNet, dnet: PairNet, p, size: int, beta, act: Activation) -> Array:
    """Outputs ``N^{-beta} sum_i c^i sigma(U[p, i])`` on rows ``p .. p + size - 1``."""
    s, _ = act.fn(_rows(net0, dnet, p, size))
    return scale(net0.c.shape[0], beta, net0.c.dtype) * (s @ (net0.c + dnet.c))


def transition_update(
    nets0: ACNets, delta: ACNets, G: Array, mdp: MDP, h: Hyper, k, x, a, x1, a1, act: Activation
) -> tuple[ACNets, Array]:
    """One actor-critic update from the transition ``(x, a) -> (x1, a1)`` at step ``k``.

    Arguments:
        nets0, delta: initial networks and displacements, as `PairNet`.
        G: the Gram matrix ``Z Z^T [P, P]`` of the features.
        mdp, h: the `MDP` and `Hyper`; k: the step; x, a, x1, a1: the transition.

    Returns:
        The new displacement and the TD error ``delta_k``. Deterministic and traceable; the
        sampling lives in `sample_step`.
    """
    A = mdp.n_actions
    q0, f0 = nets0
    dq, df = delta
    n = q0.c.shape[0]
    dt = q0.c.dtype
    s_n = scale(n, h.beta, dt)  # N^{-beta}
    lr = jnp.power(jnp.asarray(n, dt), 2.0 * h.beta - 2.0)  # N^{2 beta - 2}
    # critic at (x, a) and (x1, a1)
    p, p1 = x * A + a, x1 * A + a1
    c = q0.c + dq.c
    s, ds = act.fn(_rows(q0, dq, p)[0])
    s1, _ = act.fn(_rows(q0, dq, p1)[0])
    Q, Q1 = s_n * jnp.dot(c, s), s_n * jnp.dot(c, s1)
    td = mdp.r[x, a] + mdp.gamma * Q1 - Q
    gq = lr * h.alpha * td * s_n
    # Delta c = gq sigma(U_p);  Delta w^i = gq c^i sigma'(U_p^i) z_p  =>  Delta U[:, i] = G[:, p] (...)
    d_critic = PairNet(dq.c + gq * s, dq.U + G[:, p][:, None] * (gq * c * ds)[None, :])
    # actor: grad log pi(a | x) = grad f(x, a) - sum_b pi(b | x) grad f(x, b)
    chat = f0.c + df.c
    sh, dsh = act.fn(_rows(f0, df, x * A, A))  # [A, N]
    pi = jax.nn.softmax(s_n * (sh @ chat))
    coef = jax.nn.one_hot(a, A, dtype=dt) - pi  # [A]
    gf = lr * actor_rate(jnp.asarray(k, dt) / n, h) * Q * s_n  # t_k = k / N (k cast first: int32 / int is float32)
    Gx = jax.lax.dynamic_slice_in_dim(G, x * A, A, axis=1)  # [P, A]
    d_actor = PairNet(df.c + gf * (coef @ sh), df.U + Gx @ ((gf * coef)[:, None] * dsh * chat[None, :]))
    return ACNets(d_critic, d_actor), td


def sample_step(
    nets0: ACNets, G: Array, mdp: MDP, h: Hyper, key: Array, state: ACState, act: Activation, sampling: str
) -> tuple[ACState, Transition]:
    """Sample step ``k``'s transition with the current policy, then apply `transition_update`."""
    A = mdp.n_actions
    k = state.step
    kx, ka, kr, kn, kan = jax.random.split(jax.random.fold_in(key, k), 5)
    f0, df = nets0.actor, state.delta.actor
    x1 = jax.random.categorical(kx, jnp.log(mdp.P[state.x, state.a])).astype(jnp.int32)
    a1 = jax.random.categorical(ka, _out_rows(f0, df, x1 * A, A, h.beta, act)).astype(jnp.int32)
    if sampling == "discounted":
        restart = jax.random.bernoulli(kr, 1.0 - mdp.gamma)
        xr = jax.random.categorical(kn, jnp.log(mdp.nu)).astype(jnp.int32)
        ar = jax.random.categorical(kan, _out_rows(f0, df, xr * A, A, h.beta, act)).astype(jnp.int32)
        x_next, a_next = jnp.where(restart, xr, x1), jnp.where(restart, ar, a1)
    else:
        x_next, a_next = x1, a1
    delta, _ = transition_update(nets0, state.delta, G, mdp, h, k, state.x, state.a, x1, a1, act)
    new = ACState(delta, x_next, a_next, k + 1)
    return new, Transition(state.x, state.a, x1, a1, x_next, a_next)


def init_state(key: Array, nets0: ACNets, mdp: MDP, *, beta, activation: str = "tanh") -> ACState:
    """Zero displacement, ``X_0 ~ nu``, ``A_0 ~ pi_0(. | X_0)``, ``k = 0``; ``nets0`` as `PairNet`."""
    act = get_activation(activation, allow_relu=True)
    kx, ka = jax.random.split(key)
    delta = jax.tree.map(jnp.zeros_like, nets0)
    x = jax.random.categorical(kx, jnp.log(mdp.nu)).astype(jnp.int32)
    logits = _out_rows(nets0.actor, delta.actor, x * mdp.n_actions, mdp.n_actions, beta, act)
    a = jax.random.categorical(ka, logits).astype(jnp.int32)
    return ACState(delta, x, a, jnp.zeros((), jnp.int32))


@partial(jax.jit, static_argnames=("n_steps", "act", "sampling", "record"))
def run_steps(nets0, state, key, mdp, h, *, n_steps: int, act: Activation, sampling: str, record: bool = False):
    """``n_steps`` online steps as one ``lax.scan`` (``nets0`` as `PairNet`).

    Returns ``(state, Transition [n_steps] or None)``.
    """
    Z = features(mdp).astype(nets0.critic.c.dtype)
    G = Z @ Z.T

    def body(st, _):
        st, tr = sample_step(nets0, G, mdp, h, key, st, act, sampling)
        return st, (tr if record else None)

    return jax.lax.scan(body, state, None, length=n_steps)


def outputs_on_pairs(nets: ACNets, *, beta, act: Activation) -> tuple[Array, Array]:
    """``(Q, f)`` on all ``P = m A`` state-action pairs, each ``[P]`` (``nets`` as `PairNet`)."""

    def out(n: PairNet):
        s, _ = act.fn(n.U)
        return scale(n.c.shape[0], beta, n.c.dtype) * (s @ n.c)

    return out(nets.critic), out(nets.actor)


def _trajectory(nets0, key, mdp, h, every: int, n_save: int, act: Activation, sampling: str):
    ks, kc = jax.random.split(key)
    state = init_state(ks, nets0, mdp, beta=h.beta, activation=act.name)

    def save(st):
        return outputs_on_pairs(current(nets0, st.delta), beta=h.beta, act=act)

    def outer(st, _):
        st, _ = run_steps(nets0, st, kc, mdp, h, n_steps=every, act=act, sampling=sampling)
        return st, save(st)

    _, (Qs, fs) = jax.lax.scan(outer, state, None, length=n_save)
    Q0, f0 = save(state)
    return jnp.concatenate([Q0[None], Qs]), jnp.concatenate([f0[None], fs])


@partial(jax.jit, static_argnames=("width", "every", "n_save", "act", "sampling", "s_w", "c_dist", "dtype"))
def _seeds(keys, mdp, h, *, width, every, n_save, act, sampling, s_w, c_dist, dtype):
    def one(key):
        ki, kr = jax.random.split(key)
        nets0 = on_pairs(init_nets(ki, width, mdp, s_w=s_w, c_dist=c_dist, dtype=dtype), features(mdp))
        return _trajectory(nets0, kr, mdp, h, every, n_save, act, sampling)

    return jax.vmap(one)(keys)


def train_seeds(
    keys: Array,
    width: int,
    mdp: MDP,
    hyper: Hyper,
    *,
    horizon: float,
    n_save: int,
    sampling: str = "stationary",
    activation: str = "tanh",
    s_w: float = 1.0,
    c_dist: str = "rademacher",
    dtype=None,
) -> Trajectory:
    """Train one actor-critic per key (vmapped, one jitted program) and record outputs over time.

    Arguments:
        keys: ``[S]`` PRNG keys; key ``s`` draws both initial networks and the transitions (the
            same key at every width gives common random numbers across widths).
        width: ``N``; mdp: the `MDP`; hyper: `Hyper` (``beta``, ``alpha``, actor-rate schedule).
        horizon: training time ``T``; the run takes ``n_save * every`` steps with
            ``every = max(1, round(T N / n_save))``, so the last time is ``n_save every / N``.
        n_save: number of save points after ``t = 0``.
        sampling: ``"stationary"`` or ``"discounted"`` (module docstring).
        activation, s_w, c_dist, dtype: the networks (`rnnntk.actor_critic.nets.init_net`).

    Returns:
        `Trajectory` with ``t [n_save + 1]`` and ``Q, f [S, n_save + 1, m A]``.

    Example:
        >>> mdp = small_mdp()
        >>> h = Hyper(beta=0.5, alpha=10.0, zeta0=1.0, t0=1.0, power=0.5)
        >>> tr = train_seeds(jax.random.split(jax.random.key(0), 4), 1000, mdp, h, horizon=5.0, n_save=50)
    """
    width = check_positive_int(width, "width")
    n_save = check_positive_int(n_save, "n_save")
    hyper = check_hyper(hyper)
    sampling = check_sampling(sampling)
    act = get_activation(activation, allow_relu=True)
    T = check_positive(horizon, "horizon")
    every = max(1, round(T * width / n_save))
    keys = jnp.asarray(keys)
    if keys.ndim != 1:
        raise ConfigError(f"keys has shape {keys.shape}: expected [S] keys (jax.random.split(key, S))")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    h = Hyper(*(jnp.asarray(v, dtype) for v in hyper))
    Q, f = _seeds(
        keys, mdp._replace(**{k: v.astype(dtype) for k, v in mdp._asdict().items()}), h,
        width=width, every=every, n_save=n_save, act=act, sampling=sampling, s_w=float(s_w), c_dist=c_dist, dtype=dtype,
    )  # fmt: skip
    t = jnp.arange(n_save + 1, dtype=jnp.float64 if jax.config.jax_enable_x64 else jnp.float32) * every / width
    _check_divergence(np.asarray(Q, np.float64), np.asarray(f, np.float64), np.asarray(t), mdp, width)
    return Trajectory(t, Q, f)


def _check_divergence(Q: np.ndarray, f: np.ndarray, t: np.ndarray, mdp: MDP, width: int) -> None:
    """Runaway training is an error (`rnnntk.divergence`), checked at every save point in order.

    The critic estimates ``Q^pi``, bounded by ``V = max |r| / (1 - gamma)``: its mean square over the
    pairs past ``DIVERGENCE_FACTOR (V^2 + 1)`` is divergence (the target's scale is ``V``). The actor's
    logits have no such scale (a policy that becomes deterministic has unbounded logits), so only
    their finiteness is checked."""
    r = np.asarray(mdp.r, np.float64)
    V = float(np.max(np.abs(r))) / (1.0 - float(mdp.gamma))
    where = f"actor-critic, width N = {width}"
    member = lambda idx: f"save point {idx[0]} (t = {float(t[idx[0]]):.3g}), seed {idx[1]}"  # noqa: E731
    setting = "alpha (experiment.alpha) or zeta0 (experiment.actor_rate.zeta0)"
    Qt = np.moveaxis(Q, -2, 0)  # [T, S, P]: the first bad member is the earliest save point
    check_values(
        Qt, V * V, what="critic outputs", where=where, setting=setting, square=True, member=member,
        scale_name="(max |r| / (1 - gamma))^2",
    )  # fmt: skip
    bad = ~np.isfinite(np.moveaxis(f, -2, 0)).all(axis=-1)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise Diverged(f"training diverged: {where} ({member(idx)}): non-finite actor logits; lower {setting}")

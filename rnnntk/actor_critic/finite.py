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

Representation: the networks are only ever evaluated on the ``P = m A`` features
``z(x, a) = (e_x, onehot(a))``, and every update of an input weight is a combination of features
(``Delta w^i = g_i z``), so the run carries preactivations instead of ``w`` (``[N, d + A]``): the
initial ``U_0[p, i] = w_0^i . z_p`` (``[P, N]``, `PairNet`) and the displacement factored by the
two blocks of ``z`` (`Displacement`): ``U[x A + a] = U_0[x A + a] + (V[x] + A[a])``, where an update
``g z(x, a)`` adds ``G_s[:, x] g`` to the state block ``V [m, N]`` (``G_s = E E^T``, the Gram
matrix of the state embeddings: one row for one-hot states) and ``g`` to row ``a`` of the action
block ``A [A, N]``. This is exact (the test against a plain loop over ``w`` with autodiff
gradients checks it) and a step touches ``m + A`` rows per network instead of the ``P`` rows of
the dense ``[P, N]`` displacement.

Randomness: the transition of step ``k`` uses ``jax.random.fold_in(key, k)``, so a run is a pure
function of its key and chunking does not change it. The random numbers do not depend on the
networks (a categorical draw is the argmax of Gumbel noise plus the logits), so `run_steps`
draws those of all its steps first, vectorised, and the scan carries only the networks.

Throughput (`scripts/bench_kernels.py ac`): a step must evaluate the activation on 8
preactivations per unit (the critic at ``(X_k, A_k)`` and ``(X'_{k+1}, A'_{k+1})``, the actor at
the ``A`` pairs of ``X_k`` and of ``X'_{k+1}``), so even a bare scan doing only that (the floor in
the benchmark) is compute- or cache-bound at a few 1e8 unit-steps/s on 2 CPU cores.
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


class Displacement(NamedTuple):
    """``theta - theta_0`` of one network on the pairs, factored by the blocks of ``z = (e_x, onehot(a))``.

    ``Delta w^i = g_i z(x, a)`` moves the preactivation of pair ``(x', a')`` by
    ``g_i (e_x . e_x' + [a = a'])``, so the displacement of ``U`` is ``V[x'] + A[a']`` with a
    state block ``V [m, N]`` (moved by ``G_s[:, x] g``, ``G_s = E E^T`` the Gram matrix of the
    state embeddings) and an action block ``A [A, N]`` (moved by ``g`` in row ``a``).
    """

    c: Array  # [N]     output weights
    V: Array  # [m, N]  state block of the preactivations
    A: Array  # [A, N]  action block of the preactivations


class ACState(NamedTuple):
    """What the online run carries from one step to the next."""

    delta: ACNets  # theta - theta_0 of both networks, as `Displacement`
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


def zero_displacement(nets0: ACNets, mdp: MDP) -> ACNets:
    """The displacement of the initial networks (all zeros), as `Displacement`."""

    def zero(n: PairNet) -> Displacement:
        N, dt = n.c.shape[0], n.c.dtype
        return Displacement(jnp.zeros((N,), dt), jnp.zeros((mdp.n_states, N), dt), jnp.zeros((mdp.n_actions, N), dt))

    return ACNets(*(zero(n) for n in nets0))


def expand(d: Displacement) -> Array:
    """The displacement of the preactivations on all pairs, ``[m A, N]`` (row ``x A + a``)."""
    return (d.V[:, None, :] + d.A[None, :, :]).reshape(-1, d.c.shape[0])


def current(nets0: ACNets, delta: ACNets) -> ACNets:
    """``theta_0 + delta`` as `PairNet` (``delta`` as `Displacement` or as `PairNet`)."""

    def add(n0: PairNet, d) -> PairNet:
        if isinstance(d, Displacement):
            return PairNet(n0.c + d.c, n0.U + expand(d))
        return PairNet(n0.c + d.c, n0.U + d.U)

    return ACNets(*(add(n0, d) for n0, d in zip(nets0, delta)))


def state_gram(mdp: MDP, dtype) -> Array:
    """``G_s = E E^T [m, m]``, the Gram matrix of the state embeddings."""
    E = mdp.embed.astype(dtype)
    return E @ E.T


def _pair_row(net0: PairNet, d: Displacement, x, a, n_actions: int) -> Array:
    """Preactivations ``U_0[x A + a] + (V[x] + A[a])`` of one pair: ``[N]``."""
    return net0.U[x * n_actions + a] + (d.V[x] + d.A[a])


def _state_rows(net0: PairNet, d: Displacement, x, n_actions: int) -> Array:
    """Preactivations of the ``A`` pairs of state ``x``: ``[A, N]``."""
    u0 = jax.lax.dynamic_slice_in_dim(net0.U, x * n_actions, n_actions, axis=0)
    return u0 + (d.V[x][None, :] + d.A)


def _logits(net0: PairNet, d: Displacement, x, beta, act: Activation) -> Array:
    """Actor logits ``f(x, .) [A]`` (or critic outputs on the pairs of ``x``)."""
    s, _ = act.fn(_state_rows(net0, d, x, d.A.shape[0]))
    return scale(net0.c.shape[0], beta, net0.c.dtype) * (s @ (net0.c + d.c))


def transition_update(
    nets0: ACNets, delta: ACNets, G: Array, mdp: MDP, h: Hyper, k, x, a, x1, a1, act: Activation
) -> tuple[ACNets, Array]:
    """One actor-critic update from the transition ``(x, a) -> (x1, a1)`` at step ``k``.

    Arguments:
        nets0: initial networks, as `PairNet`; delta: displacements, as `Displacement`.
        G: the Gram matrix of the state embeddings ``G_s = E E^T [m, m]`` (`state_gram`).
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
    gx = G[:, x][:, None]  # [m, 1]: how Delta w ∝ z(x, .) moves the state block
    # critic at (x, a) and (x1, a1)
    c = q0.c + dq.c
    s, ds = act.fn(_pair_row(q0, dq, x, a, A))
    s1, _ = act.fn(_pair_row(q0, dq, x1, a1, A))
    Q, Q1 = s_n * jnp.dot(c, s), s_n * jnp.dot(c, s1)
    td = mdp.r[x, a] + mdp.gamma * Q1 - Q
    gq = lr * h.alpha * td * s_n
    # Delta c = gq sigma(U_p);  Delta w^i = gq c^i sigma'(U_p^i) z(x, a)
    v = gq * c * ds
    ea = jax.nn.one_hot(a, A, dtype=dt)[:, None]  # [A, 1]
    d_critic = Displacement(dq.c + gq * s, dq.V + gx * v[None, :], dq.A + ea * v[None, :])
    # actor: grad log pi(a | x) = grad f(x, a) - sum_b pi(b | x) grad f(x, b)
    chat = f0.c + df.c
    sh, dsh = act.fn(_state_rows(f0, df, x, A))  # [A, N]
    pi = jax.nn.softmax(s_n * (sh @ chat))
    coef = jax.nn.one_hot(a, A, dtype=dt) - pi  # [A]
    gf = lr * actor_rate(jnp.asarray(k, dt) / n, h) * Q * s_n  # t_k = k / N (k cast first: int32 / int is float32)
    u = (gf * coef)[:, None] * dsh * chat[None, :]  # [A, N]: Delta what^i = sum_b u_b^i z(x, b)
    d_actor = Displacement(df.c + gf * (coef @ sh), df.V + gx * jnp.sum(u, axis=0)[None, :], df.A + u)
    return ACNets(d_critic, d_actor), td


class Noise(NamedTuple):
    """The random numbers of one step, drawn ahead (they do not depend on the networks)."""

    gx: Array  # [m] Gumbel noise of X'_{k+1}
    ga: Array  # [A] Gumbel noise of A'_{k+1}
    restart: Array  # [] bool (discounted sampling)
    xr: Array  # [] int32 restart state
    gar: Array  # [A] Gumbel noise of the restart action


def draw_noise(key: Array, ks: Array, mdp: MDP, dtype, sampling: str) -> Noise:
    """The random numbers of steps ``ks [K]``: step ``k`` uses ``jax.random.fold_in(key, k)``.

    ``jax.random.categorical(key, logits)`` is ``argmax(gumbel(key, logits.shape) + logits)``,
    so drawing the Gumbel noise ahead (vectorised over the steps) and adding the logits inside
    the step gives the same samples."""
    m, A = mdp.n_states, mdp.n_actions

    def one(k):
        kx, ka, kr, kn, kan = jax.random.split(jax.random.fold_in(key, k), 5)
        gx = jax.random.gumbel(kx, (m,), mdp.P.dtype)
        ga = jax.random.gumbel(ka, (A,), dtype)
        if sampling != "discounted":
            return Noise(gx, ga, jnp.zeros((), bool), jnp.zeros((), jnp.int32), jnp.zeros((A,), dtype))
        restart = jax.random.bernoulli(kr, 1.0 - mdp.gamma)
        xr = jax.random.categorical(kn, jnp.log(mdp.nu)).astype(jnp.int32)
        return Noise(gx, ga, restart, xr, jax.random.gumbel(kan, (A,), dtype))

    return jax.vmap(one)(ks)


def _step(nets0, G, logP, mdp, h, state: ACState, z: Noise, act: Activation, sampling: str):
    f0, df = nets0.actor, state.delta.actor
    x1 = jnp.argmax(logP[state.x, state.a] + z.gx).astype(jnp.int32)
    a1 = jnp.argmax(z.ga + _logits(f0, df, x1, h.beta, act)).astype(jnp.int32)
    if sampling == "discounted":
        ar = jnp.argmax(z.gar + _logits(f0, df, z.xr, h.beta, act)).astype(jnp.int32)
        x_next, a_next = jnp.where(z.restart, z.xr, x1), jnp.where(z.restart, ar, a1)
    else:
        x_next, a_next = x1, a1
    delta, _ = transition_update(nets0, state.delta, G, mdp, h, state.step, state.x, state.a, x1, a1, act)
    new = ACState(delta, x_next, a_next, state.step + 1)
    return new, Transition(state.x, state.a, x1, a1, x_next, a_next)


def sample_step(
    nets0: ACNets, G: Array, mdp: MDP, h: Hyper, key: Array, state: ACState, act: Activation, sampling: str
) -> tuple[ACState, Transition]:
    """Sample step ``k``'s transition with the current policy, then apply `transition_update`
    (``G``: `state_gram`)."""
    z = jax.tree.map(lambda v: v[0], draw_noise(key, state.step[None], mdp, nets0.critic.c.dtype, sampling))
    return _step(nets0, G, jnp.log(mdp.P), mdp, h, state, z, act, sampling)


def init_state(key: Array, nets0: ACNets, mdp: MDP, *, beta, activation: str = "tanh") -> ACState:
    """Zero displacement, ``X_0 ~ nu``, ``A_0 ~ pi_0(. | X_0)``, ``k = 0``; ``nets0`` as `PairNet`."""
    act = get_activation(activation, allow_relu=True)
    kx, ka = jax.random.split(key)
    delta = zero_displacement(nets0, mdp)
    x = jax.random.categorical(kx, jnp.log(mdp.nu)).astype(jnp.int32)
    a = jax.random.categorical(ka, _logits(nets0.actor, delta.actor, x, beta, act)).astype(jnp.int32)
    return ACState(delta, x, a, jnp.zeros((), jnp.int32))


@partial(jax.jit, static_argnames=("n_steps", "act", "sampling", "record"))
def run_steps(nets0, state, key, mdp, h, *, n_steps: int, act: Activation, sampling: str, record: bool = False):
    """``n_steps`` online steps as one ``lax.scan`` (``nets0`` as `PairNet`).

    The random numbers of all ``n_steps`` steps are drawn first, vectorised (`draw_noise`); the
    scan then carries only the networks' displacements. Returns ``(state, Transition [n_steps] or
    None)``.
    """
    dt = nets0.critic.c.dtype
    G = state_gram(mdp, dt)
    logP = jnp.log(mdp.P)
    noise = draw_noise(key, state.step + jnp.arange(n_steps, dtype=jnp.int32), mdp, dt, sampling)

    def body(st, z):
        st, tr = _step(nets0, G, logP, mdp, h, st, z, act, sampling)
        return st, (tr if record else None)

    return jax.lax.scan(body, state, noise)


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

"""The gradient of the stationary loss at frozen parameters, by an ergodic average with RTRL.

For a network with frozen parameters ``theta`` the stationary loss is

    L(theta) = E_pi [ (Y - yhat(theta; xi))^2 / 2 ]

(``pi`` the stationary law of the history ``xi`` and its target). Its gradient is the ergodic
average along one long path::

    grad L(theta) = lim_K (1/K) sum_k (yhat_k - Y_k) grad_theta yhat_k,
    grad_{theta^i} yhat_k = N^{-beta} phi^i_k,  phi^i_k = (S^i_{k+1}, c^i J^{w,i}_{k+1}, c^i J^{b,i}_{k+1}),

with the exact forward sensitivities ``J`` of RTRL (spec section 2) run from zero along the path;
the first ``burn`` steps are dropped so the memory and the sensitivities have forgotten their
zero start (geometrically, at rate ``b0 sup|sigma'|``). On a finite path the estimate is exactly
the gradient of the path's average loss (the unrolled loss): that is what the tests check.

With ``grad="tbptt:tau"`` the average is taken with the truncated features ``psi`` instead of
``phi``: the mean direction that truncated backpropagation follows at ``theta`` (the negative of
its expected update divided by the learning rate). It is not the gradient of any loss; online
training with ``tbptt:tau`` can only settle where *it* vanishes.

Uncertainty: the kept steps are split into ``batches`` consecutive batches; the batch means give
the standard error of the estimate (``noise``, the rms length of the estimation error vector) and
an unbiased estimate of ``||grad L||^2`` (``sq_norm``: ``||mean||^2`` minus the trace of the
covariance of the mean), valid when batches are much longer than the memory's forgetting time.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._checks import ConfigError, check_beta, check_nonnegative_int, check_positive_int
from .network import (
    Activation,
    Estimator,
    Params,
    check_params,
    check_path,
    get_activation,
    init_sensitivities,
    parse_grad,
    psi_rows,
    step,
)

Array = jax.Array


class StationaryGradient(NamedTuple):
    """An ergodic-average estimate at frozen parameters (leading axes: any vmapped batch)."""

    grad: Params  # the average of (yhat_k - Y_k) N^-beta psi^i_k: c [N], w [N, d], b [N]
    loss: Array  # []  the average of (Y_k - yhat_k)^2 / 2 over the same steps
    norm: Array  # []  ||grad|| (Euclidean, over all parameters)
    sq_norm: Array  # []  unbiased estimate of ||E grad||^2 from the batch means (may be < 0)
    noise: Array  # []  standard error of ``grad``: sqrt(trace Cov(mean)) from the batch means


def _flat(p: Params) -> Array:
    return jnp.concatenate([p.c.reshape(p.c.shape[:-1] + (-1,)), p.w.reshape(p.w.shape[:-2] + (-1,)), p.b], axis=-1)


@partial(jax.jit, static_argnames=("burn", "batches", "est", "act"))
def _stationary(params: Params, xs, ys, beta, burn: int, batches: int, est: Estimator, act: Activation):
    n, d = params.w.shape
    dtype = params.w.dtype
    xs, ys = xs.astype(dtype), ys.astype(dtype)
    tau = est.tau if est.kind == "tbptt" else None
    scale = jnp.power(jnp.asarray(n, dtype), -jnp.asarray(beta, dtype))
    L = (xs.shape[0] - burn) // batches
    skip = xs.shape[0] - L * batches  # burn-in plus the remainder, dropped from the front
    Jw, Jb = init_sensitivities(n, d, tau, dtype)
    carry0 = (jnp.zeros((n,), dtype), Jw, Jb)

    def body(carry, inp):
        S, Jw, Jb = carry
        x, y = inp
        s, Jw, Jb = step(params.w, params.b, S, Jw, Jb, x, act, tau)
        pw, pb = psi_rows(Jw, Jb, tau)
        yhat = scale * jnp.dot(params.c, s)
        e = yhat - y
        g = Params(scale * e * s, (scale * e * params.c)[:, None] * pw, scale * e * params.c * pb)
        return (s, Jw, Jb), (g, 0.5 * e * e)

    carry, _ = jax.lax.scan(lambda c, i: (body(c, i)[0], None), carry0, (xs[:skip], ys[:skip]))

    def batch(carry, inp):
        def acc(state, i):
            carry, tot, lsum = state
            carry, (g, l) = body(carry, i)
            return (carry, jax.tree.map(jnp.add, tot, g), lsum + l), None

        zero = Params(jnp.zeros((n,), dtype), jnp.zeros((n, d), dtype), jnp.zeros((n,), dtype))
        (carry, tot, lsum), _ = jax.lax.scan(acc, (carry, zero, jnp.zeros((), dtype)), inp)
        return carry, (jax.tree.map(lambda a: a / L, tot), lsum / L)

    xb = xs[skip:].reshape(batches, L, d)
    yb = ys[skip:].reshape(batches, L)
    _, (gb, lb) = jax.lax.scan(batch, carry, (xb, yb))  # per-batch means [B, ...]
    grad = jax.tree.map(lambda a: a.mean(axis=0), gb)
    flat = _flat(gb)  # [B, P]
    mean = flat.mean(axis=0)
    var_of_mean = jnp.sum(jnp.var(flat, axis=0, ddof=1)) / batches
    norm2 = jnp.sum(mean * mean)
    return StationaryGradient(grad, lb.mean(), jnp.sqrt(norm2), norm2 - var_of_mean, jnp.sqrt(var_of_mean))


def stationary_gradient(
    params: Params,
    xs,
    ys,
    *,
    beta: float,
    burn: int,
    grad: str = "rtrl",
    batches: int = 20,
    activation: str = "tanh",
) -> StationaryGradient:
    """Estimate ``grad L(theta)`` of the stationary loss at frozen ``params`` along a path.

    Arguments:
        params: `Params` of a width-``N`` network (``c [N]``, ``w [N, d]``, ``b [N]``), or a stack
            of them with one leading axis (vmapped: one estimate per member, same path).
        xs, ys: a long stationary path ``[K, d]`` and its targets ``[K]``.
        beta: output scaling exponent in ``[1/2, 1]``.
        burn: steps dropped at the start (the memory and ``J`` start from zero); the remainder of
            ``(K - burn) / batches`` is dropped too.
        grad: ``"rtrl"`` (the gradient) or ``"tbptt:<tau>"`` (the truncated mean direction).
        batches: number of batch means for the uncertainty (``>= 2``).

    Returns:
        `StationaryGradient` (with a leading axis for stacked params).

    Example:
        >>> g = stationary_gradient(p, xs, ys, beta=0.75, burn=200)
        >>> float(g.norm), float(g.noise)
    """
    est = parse_grad(grad, allow_bptt=False)
    act = get_activation(activation)
    beta = check_beta(beta)
    burn = check_nonnegative_int(burn, "burn")
    batches = check_positive_int(batches, "batches")
    if batches < 2:
        raise ConfigError(f"batches = {batches} is not allowed: expected an integer >= 2 (batch means)")
    stacked = params.c.ndim == 2
    one = jax.tree.map(lambda a: a[0], params) if stacked else params
    _, d = check_params(one)
    xs = check_path(xs, d)
    ys = jnp.asarray(ys)
    if ys.shape != (xs.shape[0],):
        raise ConfigError(f"ys has shape {tuple(ys.shape)}: expected [K] with K = {xs.shape[0]}")
    if (xs.shape[0] - burn) // batches < 1:
        raise ConfigError(
            f"a path of {xs.shape[0]} steps with burn = {burn} leaves fewer than batches = {batches} steps"
        )

    def f(p):
        return _stationary(p, xs, ys, beta, burn, batches, est, act)

    return jax.vmap(f)(params) if stacked else f(params)

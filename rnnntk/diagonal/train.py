"""Online training of the finite network (spec section 2), one ``lax.scan`` per chunk.

One new sample per step; all parameters move simultaneously from their values before the step::

    theta^i_{k+1} = theta^i_k + alpha N^{beta-2} (Y_k - yhat_k) psi^i_k

(``psi = phi`` for ``rtrl``, the truncated features for ``tbptt:tau``), i.e. SGD on
``l_k = (Y_k - yhat_k)^2 / 2`` with learning rate ``alpha N^{2 beta - 2}``. Training time is
``t = k / N``. The memory ``S`` and the sensitivities ``J`` are carried from step to step with
the parameters as they change.

Floating point: in the kernel regime a step moves a parameter by about ``alpha N^{beta-2}``,
which for large ``N`` is below the float32 resolution of an O(1) number. Parameters are
therefore kept as ``theta_0 + delta``: ``theta_0`` is never written, and only the small
displacement ``delta`` accumulates updates (`TrainState.delta`).

Extension of the spec: an optional per-step learning-rate multiplier ``lr_scale [K]``
(0 freezes the parameters for that step while the memory keeps running, which is how a
burn-in or a replayed path is expressed; decaying schedules use it too: `decay_schedule`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, check_beta, check_finite_array, check_positive, require
from ..divergence import DIVERGENCE_FACTOR, Diverged, bound as divergence_bound
from .network import Estimator, Params, get_activation, init_sensitivities, parse_grad, psi_rows, step

Array = jax.Array


class TrainState(NamedTuple):
    """Everything an online run carries from one step to the next."""

    delta: Params  # theta - theta_0: c [N], w [N, d], b [N]
    S: Array  # [N]                         memory S_k
    Jw: Array  # [N, d] or [tau, N, d]      sensitivities (buffer for tbptt:tau)
    Jb: Array  # [N] or [tau, N]
    step: Array  # []  int32                online steps taken


class StepMetrics(NamedTuple):
    """Per-step measurements returned by the scan (logging happens outside jit)."""

    yhat: Array  # [K] output before the update
    loss: Array  # [K] (Y_k - yhat_k)^2 / 2


def _tau(est: Estimator) -> int | None:
    return est.tau if est.kind == "tbptt" else None


def _zero_state(params: Params, tau: int | None) -> TrainState:
    n, d = params.w.shape
    dtype = params.w.dtype
    Jw, Jb = init_sensitivities(n, d, tau, dtype)
    delta = jax.tree.map(jnp.zeros_like, params)
    return TrainState(delta, jnp.zeros((n,), dtype), Jw, Jb, jnp.zeros((), jnp.int32))


_zero_state_jit = jax.jit(_zero_state, static_argnames="tau")  # one dispatch instead of seven


def init_state(params: Params, *, grad: str = "rtrl") -> TrainState:
    """Zero displacement, zero memory and zero sensitivities for ``params``."""
    est = parse_grad(grad, allow_bptt=False)
    return _zero_state_jit(params, _tau(est))


def _add(params0: Params, delta: Params) -> Params:
    return jax.tree.map(jnp.add, params0, delta)


_add_jit = jax.jit(_add)


def current_params(params0: Params, state: TrainState) -> Params:
    """``theta_0 + delta``."""
    return _add_jit(params0, state.delta)


#: Online steps per iteration of the scan's loop. Unrolling saves the loop's own per-step work
#: (counter, condition, copies of the carry), which is most of the cost of a step at small ``N``
#: on CPU; see the Benchmarks section of the README (``scripts/bench.py``).
UNROLL = 2


def _online_step(params0: Params, out_scale, alpha, lr_unit, est: Estimator, act, carry, inp):
    """One online step on the carry ``(delta, S, Jw, Jb)``; returns the new carry and ``yhat``.

    ``theta = theta_0 + delta`` is formed inside the step (XLA fuses the addition into its
    consumers where it can); ``inp`` is ``(x, y)`` or ``(x, y, lr_scale_k)``.
    """
    delta, S, Jw, Jb = carry
    x, y = inp[0], inp[1]
    tau = _tau(est)
    theta = _add(params0, delta)
    s, Jw, Jb = step(theta.w, theta.b, S, Jw, Jb, x, act, tau)
    pw, pb = psi_rows(Jw, Jb, tau)
    yhat = out_scale * jnp.dot(theta.c, s)
    err = y - yhat
    # the same product as alpha N^{beta-2} err (times lr_scale_k), in the same order
    g = (alpha if len(inp) == 2 else inp[2] * alpha) * lr_unit * err
    gc = g * theta.c
    delta = Params(
        delta.c + g * s,
        delta.w + gc[:, None] * pw,
        delta.b + gc * pb,
    )
    return (delta, s, Jw, Jb), yhat


def _with_summary(body):
    """``body`` with the per-step output replaced by three scalars carried through the loop: the
    step index, the first step with a non-finite loss (-1 for none) and the sum of the losses."""

    def summarised(carry, inp):
        inner, (k, first_bad, loss_sum) = carry
        inner, yhat = body(inner, inp)
        err = inp[1] - yhat
        loss = 0.5 * err * err
        first_bad = jnp.where((first_bad < 0) & ~jnp.isfinite(loss), k, first_bad)
        return (inner, (k + 1, first_bad, loss_sum + loss)), None

    return summarised


def _scan(params0, state: TrainState, xs, ys, lr_scale, beta, alpha, est, act, unroll=UNROLL, outputs=True):
    """``len(ys)`` online steps from ``state``: the traceable core of every public entry point.

    With ``outputs=True`` only ``yhat`` leaves the loop each step (the losses are formed from it
    afterwards) and the result is ``(state, StepMetrics)``; with ``outputs=False`` nothing leaves
    the loop per step and the result is ``(state, (first non-finite step or -1, mean loss))``.
    The step counter is advanced once.
    """
    dtype = params0.c.dtype
    n = params0.c.shape[-1]
    beta = jnp.asarray(beta, dtype)
    out_scale = jnp.power(jnp.asarray(n, dtype), -beta)
    lr_unit = jnp.power(jnp.asarray(n, dtype), beta - 2)
    ys = ys.astype(dtype)
    xs = xs.astype(dtype)
    carry = (state.delta, state.S, state.Jw, state.Jb)
    body = partial(_online_step, params0, out_scale, jnp.asarray(alpha, dtype), lr_unit, est, act)
    inputs = (xs, ys) if lr_scale is None else (xs, ys, lr_scale.astype(dtype))
    k = ys.shape[0]
    unroll = min(unroll, max(1, k))
    if outputs:
        (delta, S, Jw, Jb), yhat = jax.lax.scan(body, carry, inputs, unroll=unroll)
    else:
        summary0 = (jnp.zeros((), jnp.int32), -jnp.ones((), jnp.int32), jnp.zeros((), dtype))
        ((delta, S, Jw, Jb), (_, first_bad, loss_sum)), _ = jax.lax.scan(
            _with_summary(body), (carry, summary0), inputs, unroll=unroll
        )
    state = TrainState(delta, S, Jw, Jb, state.step + k)
    if not outputs:
        return state, (first_bad, loss_sum / max(k, 1))
    err = ys - yhat
    return state, StepMetrics(yhat, 0.5 * err * err)


def _finite_flags(loss: Array, delta: Params, ys: Array) -> Array:
    """``[first step with a non-finite loss or -1, 1 if every parameter is finite, mean loss,
    mean Y^2]`` (float32): what `_raise_if_diverged` needs, in one transfer."""
    finite = jnp.isfinite(loss)
    first_bad = jnp.where(jnp.all(finite), -1, jnp.argmin(finite))
    mean_loss = jnp.mean(loss) if loss.shape[0] else jnp.zeros((), loss.dtype)
    return _flags(first_bad, mean_loss, delta, ys)


def _flags(first_bad, mean_loss, delta: Params, ys: Array) -> Array:
    params_ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in delta]))
    m2 = jnp.mean(ys * ys) if ys.shape[0] else jnp.zeros((), ys.dtype)
    # one float32 vector (one transfer); the step index is exact in float32 below 2^24 steps a chunk
    return jnp.stack([x.astype(jnp.float32) for x in (first_bad, params_ok, mean_loss, m2)])


_STATIC = ("est", "act", "unroll")


@partial(jax.jit, static_argnames=_STATIC)
def _train_scan(params0, state, xs, ys, lr_scale, beta, alpha, est, act, unroll=UNROLL):
    return _scan(params0, state, xs, ys, lr_scale, beta, alpha, est, act, unroll)


@partial(jax.jit, static_argnames=_STATIC)
def _train_scan_checked(params0, state, xs, ys, lr_scale, beta, alpha, est, act, unroll=UNROLL):
    state, metrics = _scan(params0, state, xs, ys, lr_scale, beta, alpha, est, act, unroll)
    return state, metrics, _finite_flags(metrics.loss, state.delta, ys.astype(metrics.loss.dtype))


def _train_online_scan(params0, xs, ys, lr_scale, beta, alpha, est, act, unroll=UNROLL):
    """`train_online`'s program: the zero state and the scan without per-step outputs (the losses
    are summed and checked inside the loop); returns ``(state, flags)`` as `_train_scan_checked`."""
    state = _zero_state(params0, _tau(est))
    state, (first_bad, mean_loss) = _scan(
        params0, state, xs, ys, lr_scale, beta, alpha, est, act, unroll, outputs=False
    )
    return state, _flags(first_bad, mean_loss, state.delta, ys.astype(params0.c.dtype))


_train_online_jit = jax.jit(_train_online_scan, static_argnames=_STATIC)


def _host(x) -> np.ndarray | None:
    """``x`` as a NumPy array, or None for a traced value (checked by the caller outside jit)."""
    try:
        return np.asarray(x)
    except Exception:
        return None


def _check_sequence(params: Params, xs, ys, lr_scale, act=None):
    from .network import check_params, check_path

    _, d = check_params(params)
    xs = check_path(xs, d)
    ys = jnp.asarray(ys)
    if ys.ndim != 1 or ys.shape[0] != xs.shape[0]:
        raise ConfigError(
            f"ys has shape {tuple(ys.shape)} but xs has {xs.shape[0]} steps: expected ys [K] with K = len(xs)"
        )
    require(xs.shape[0] >= 1, "len(xs)", xs.shape[0], "at least one step (xs [K, d] and ys [K] with K >= 1)")
    check_finite_array(ys, "ys")
    if lr_scale is not None:
        lr_scale = jnp.asarray(lr_scale)
        if lr_scale.shape != ys.shape:
            raise ConfigError(f"lr_scale has shape {tuple(lr_scale.shape)}: expected [K] = {tuple(ys.shape)}")
        check_finite_array(lr_scale, "lr_scale")
        lr = _host(lr_scale)
        if lr is not None and lr.size and float(lr.min()) < 0.0:
            raise ConfigError(
                f"lr_scale holds {int(np.sum(lr < 0))} negative value(s) (min {float(lr.min()):g}): expected "
                "multipliers >= 0 (0 freezes a step; a negative one would ascend the loss)"
            )
    if act is not None:
        b = _host(params.b)
        if b is not None and b.size:
            bmax = float(np.max(np.abs(b)))
            require(
                bmax * act.sup_dsigma < 1.0,
                "params.b",
                f"max |b| = {bmax:g}",
                f"|b| < 1 / sup|sigma'| = {1.0 / act.sup_dsigma:g} for activation={act.name} "
                "(otherwise the memory map is not a contraction)",
            )
    return xs, ys, lr_scale


def train_steps(
    params0: Params,
    state: TrainState,
    xs,
    ys,
    *,
    beta: float,
    alpha: float,
    grad: str = "rtrl",
    activation: str = "tanh",
    lr_scale=None,
    check: bool = True,
) -> tuple[TrainState, StepMetrics]:
    """Continue an online run by ``len(ys)`` steps (one jitted ``lax.scan``).

    Arguments:
        params0: the initial parameters ``theta_0`` (never modified).
        state: the `TrainState` reached so far (`init_state` to start).
        xs, ys: the next samples ``[K, d]`` and targets ``[K]``.
        beta, alpha: output scaling exponent in ``[1/2, 1]`` and learning rate ``> 0``.
        grad: ``"rtrl"`` or ``"tbptt:<tau>"``; must match the state's sensitivity buffer.
        lr_scale: optional ``[K]`` multiplier of the learning rate (0 = frozen step).
        check: validate inputs and raise `rnnntk.RunError` when training diverged: a non-finite
            loss or parameter, or a mean loss past ``1e3 (E Y^2 + 1)`` of these targets
            (`rnnntk.divergence`); turn off inside ``jit``/``vmap``. The check of the results is one
            fused reduction computed with the scan and a single transfer of four numbers.

    Returns:
        ``(state, metrics)`` with per-step `StepMetrics`.
    """
    est = parse_grad(grad, allow_bptt=False)
    act = get_activation(activation)
    if not check:
        return _train_scan(params0, state, xs, ys, lr_scale, beta, alpha, est, act)
    beta = check_beta(beta)
    alpha = check_positive(alpha, "alpha")
    xs, ys, lr_scale = _check_sequence(params0, xs, ys, lr_scale, act)
    tau = _tau(est)
    expected = (() if tau is None else (tau,)) + tuple(params0.w.shape)  # init_sensitivities' Jw
    if state.Jw.shape != expected:
        raise ConfigError(
            f"the training state holds sensitivities of shape {tuple(state.Jw.shape)} but "
            f"grad={est.label} needs {tuple(expected)}: start it with init_state(params, grad=...)"
        )
    state, metrics, flags = _train_scan_checked(params0, state, xs, ys, lr_scale, beta, alpha, est, act)
    _raise_if_nonfinite(flags)
    return state, metrics


def decay_schedule(start: int, length: int, *, k0: float, gamma: float) -> np.ndarray:
    """``lr_scale`` of steps ``start .. start + length - 1`` for ``alpha_k = alpha / (1 + k / k0)^gamma``.

    Arguments:
        start: the global index ``k`` of the first step (chunks of a long run pass their offset).
        length: number of steps.
        k0: the time scale of the decay (``> 0``); gamma: its exponent (``>= 0``; ``1/2 < gamma <= 1``
            gives ``sum alpha_k = inf`` and ``sum alpha_k^2 < inf``, the classical conditions).

    Returns:
        ``[length]`` float64 multipliers ``(1 + k / k0)^(-gamma)``, to pass as ``lr_scale``.
    """
    k0 = check_positive(k0, "k0")
    require(float(gamma) >= 0.0, "gamma", gamma, "a number >= 0")
    k = np.arange(int(start), int(start) + int(length), dtype=np.float64)
    return (1.0 + k / k0) ** (-float(gamma))


def _raise_if_nonfinite(flags) -> None:
    """Raise `rnnntk.divergence.Diverged` for a non-finite loss or parameters, or a mean loss past
    the divergence bound ``DIVERGENCE_FACTOR (E Y^2 + 1)`` of this call's targets."""
    first_bad, params_ok, mean_loss, m2 = (float(v) for v in jax.device_get(flags))  # one synchronisation
    if first_bad >= 0:
        raise Diverged(
            f"training diverged: a non-finite loss at step {int(first_bad)} of this chunk; lower alpha or check "
            "the data for outliers"
        )
    if not params_ok:
        raise Diverged("training diverged: non-finite parameters; lower alpha")
    limit = float(divergence_bound(m2))
    if mean_loss > limit:
        raise Diverged(
            f"training diverged: mean loss {mean_loss:.3g} exceeds the divergence bound "
            f"{DIVERGENCE_FACTOR:g} x (E Y^2 + 1) = {limit:.3g}; lower alpha"
        )


def train_online(
    params: Params,
    xs,
    ys,
    *,
    beta: float,
    alpha: float,
    grad: str = "rtrl",
    activation: str = "tanh",
    lr_scale=None,
) -> Params:
    """Run ``len(ys)`` online steps from zero memory and zero sensitivities.

    Arguments:
        params: the initial parameters ``theta_0`` (`init_params`).
        xs: the samples ``[K, d]``; ys: the targets ``[K]``.
        beta: output scaling exponent in ``[1/2, 1]``.
        alpha: learning rate; the step is ``alpha N^{beta - 2} (Y_k - yhat_k) psi_k``.
        grad: ``"rtrl"`` or ``"tbptt:<tau>"`` (``tau >= 1``).
        lr_scale: optional ``[K]`` per-step multiplier of ``alpha`` (an extension of the spec).

    Returns:
        The trained parameters ``theta_0 + delta`` as `Params`.

    Example:
        >>> p0 = init_params(jax.random.key(0), 500, 1)
        >>> xs, ys = make_dataset(jax.random.key(1), 2000, dim=1)
        >>> p = train_online(p0, xs, ys, beta=0.75, alpha=1.0)
    """
    est = parse_grad(grad, allow_bptt=False)
    act = get_activation(activation)
    beta = check_beta(beta)
    alpha = check_positive(alpha, "alpha")
    xs, ys, lr_scale = _check_sequence(params, xs, ys, lr_scale, act)
    state, flags = _train_online_jit(params, xs, ys, lr_scale, beta, alpha, est, act)
    _raise_if_nonfinite(flags)
    return current_params(params, state)

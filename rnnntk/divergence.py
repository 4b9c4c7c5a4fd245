"""When training has diverged: one bound, relative to the target's scale, shared by every trainer.

A chunk of online training has *diverged* when its losses or the network's outputs are not finite,
or when they run past

    mean loss of the chunk  >  DIVERGENCE_FACTOR (E Y^2 + 1),
    mean yhat^2 of the outputs  >  DIVERGENCE_FACTOR (E Y^2 + 1),

with ``E Y^2`` the second moment of the targets the chunk saw (or of the evaluation targets). Why
this scale: the squared-error loss ``(Y - yhat)^2 / 2`` is at most ``Y^2 + yhat^2``, and at
initialisation ``E yhat^2 <= E c^2 sup sigma^2 = 1`` (``beta = 1/2``; smaller for ``beta > 1/2``
and in the mean-field networks, which start near zero), so ``E Y^2 + 1`` bounds the loss of the
untrained network and the zero predictor alike. A run whose loss is ``DIVERGENCE_FACTOR = 1e3``
times that has outputs about 30 times the target's root mean square: no converging run gets there
(the kernel ODE's loss decreases monotonically for rtrl; noisy online steps stay within a few times the
initial loss), while a run with too large a learning rate grows geometrically and passes the bound
within a few chunks, long before float32 overflows. The ``+ 1`` keeps the bound meaningful for
targets near zero. Using the chunk's own targets makes the bound follow heavy-tailed user data.

`check_values` raises `Diverged`, a `rnnntk.RunError` (the ``rnnntk`` command prints its message
without a traceback) that is also a `FloatingPointError` (what earlier versions raised).
"""

from __future__ import annotations

import numpy as np

from ._checks import RunError

#: a chunk diverged when its mean loss (or mean squared output) exceeds this many times E Y^2 + 1
DIVERGENCE_FACTOR = 1e3


class Diverged(RunError, FloatingPointError):
    """Training ran away (non-finite, or past the bound of `rnnntk.divergence`)."""


def bound(y_second_moment) -> np.ndarray:
    """``DIVERGENCE_FACTOR (E Y^2 + 1)`` (elementwise)."""
    return DIVERGENCE_FACTOR * (np.asarray(y_second_moment, np.float64) + 1.0)


def second_moment(ys, axis=-1) -> np.ndarray:
    """``mean Y^2`` over ``axis`` (non-finite targets ignored; they are the data checks' business)."""
    y = np.asarray(ys, np.float64)
    y = np.where(np.isfinite(y), y, 0.0)
    return np.mean(y * y, axis=axis)


def first_bad(loss_mean, limit) -> tuple[int, ...] | None:
    """The index of the first member whose ``loss_mean`` is not finite or exceeds ``limit``
    (broadcast against each other), or None."""
    lm = np.asarray(loss_mean, np.float64)
    bad = ~np.isfinite(lm) | (lm > np.broadcast_to(np.asarray(limit, np.float64), lm.shape))
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def check_values(
    values,
    scale_m2,
    *,
    what: str,
    where: str,
    setting: str,
    square: bool = False,
    member=None,
    scale_name: str = "E Y^2",
) -> None:
    """Raise `Diverged` if ``values [..., steps]`` hold a non-finite number, or if for any member
    (the leading axes) the mean over the steps of ``values`` (of ``values^2`` with ``square``)
    exceeds `bound` ``(scale_m2)``.

    Arguments:
        values: losses (``square=False``) or outputs (``square=True``), last axis the steps.
        scale_m2: ``E Y^2`` of the targets, broadcastable to ``values.shape[:-1]``.
        what: ``"training loss"``, ``"network outputs"``, ...; where: width, estimator, chunk.
        setting: the setting to lower, named with its config group (``"training.alpha = 10"``).
        member: optional function from a member's index to a description of it.
        scale_name: how the message names ``scale_m2``.
    """
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return
    finite = np.isfinite(v)
    stat = np.mean(v * v if square else v, axis=-1)
    lim = bound(scale_m2)
    idx = first_bad(np.where(np.all(finite, axis=-1), stat, np.inf), lim)
    if idx is None:
        return
    who = f" ({member(idx)})" if member is not None else ""
    lim_i = float(np.broadcast_to(lim, stat.shape)[idx])
    if not np.all(finite[idx]):
        detail = f"non-finite {what}"
    else:
        kind = "mean squared" if square else "mean"
        detail = (
            f"{kind} {what} {float(stat[idx]):.3g} exceeds the divergence bound "
            f"{DIVERGENCE_FACTOR:g} x ({scale_name} + 1) = {lim_i:.3g}"
        )
    raise Diverged(f"training diverged: {where}{who}: {detail}; lower {setting}")

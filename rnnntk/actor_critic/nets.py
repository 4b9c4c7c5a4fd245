"""The single-hidden-layer networks of the actor and the critic, and their empirical kernel.

A width-``N`` network with parameters ``theta^i = (c^i, w^i)`` in ``R x R^n`` maps a state-action
feature ``z`` in ``R^n`` to::

    g(z) = N^{-beta} sum_i c^i sigma(w^i . z),

with ``grad_{c^i} g = N^{-beta} sigma(w^i . z)`` and ``grad_{w^i} g = N^{-beta} c^i sigma'(w^i . z) z``.
The critic is ``Q = g`` with parameters ``(c, w)``, the actor's logits are ``f = g`` with parameters
``(chat, what)``. Initialisation, i.i.d. over units: ``c ~ Rademacher`` (or ``N(0, 1)``),
``w ~ N(0, s_w^2 I_n)``.

The empirical kernel ``K^N(z, z') = N^{2 beta - 1} grad g(z) . grad g(z')``, i.e.::

    K^N(z, z') = (1/N) sum_i [ sigma(w^i.z) sigma(w^i.z') + (c^i)^2 sigma'(w^i.z) sigma'(w^i.z') z.z' ],

is the Monte Carlo estimate (over units) of the limit kernel in `rnnntk.actor_critic.kernel`.

Conventions. Gradients are taken with respect to the parameters as drawn, ``(c^i, w^i)`` with
``w ~ N(0, s_w^2 I_n)``: the seed paper's model, the update the networks actually make (in
neural-tangents' NTK parameterisation, ``w = s_w omega`` with ``omega`` trained, the second term
would carry a factor ``s_w^2``). ``activation="erf"`` is the plain error function, ``"erf_unit"``
is ``erf(sqrt(pi) v / 2)``; ``"relu"``, ``"tanh"`` and ``"sigmoid"`` are accepted as well.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._checks import ConfigError, check_positive, check_positive_int, require
from ..diagonal.network import C_SECOND_MOMENT, Activation, get_activation

Array = jax.Array


class Net(NamedTuple):
    """Parameters of one width-``N`` network on ``n``-dimensional features."""

    c: Array  # [N]    output weights
    w: Array  # [N, n] input weights


def init_net(key: Array, width: int, n_in: int, *, s_w: float = 1.0, c_dist: str = "rademacher", dtype=None) -> Net:
    """Draw ``(c^i, w^i)`` i.i.d.: ``c ~ Rademacher`` or ``N(0, 1)``, ``w ~ N(0, s_w^2 I_n)``.

    Arguments:
        key: a PRNG key; width: ``N``; n_in: the feature dimension ``n = d + A``.
        s_w: standard deviation of the input weights.
        c_dist: ``"rademacher"`` or ``"normal"``.
        dtype: parameter dtype (default: JAX's default float).

    Returns:
        `Net` with ``c [N]``, ``w [N, n]``.
    """
    width = check_positive_int(width, "width")
    n_in = check_positive_int(n_in, "n_in")
    s_w = check_positive(s_w, "s_w")
    require(c_dist in C_SECOND_MOMENT, "c_dist", c_dist, f"one of {sorted(C_SECOND_MOMENT)}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    kc, kw = jax.random.split(key)
    if c_dist == "rademacher":
        c = jax.random.rademacher(kc, (width,), dtype=dtype)
    else:
        c = jax.random.normal(kc, (width,), dtype=dtype)
    return Net(c, s_w * jax.random.normal(kw, (width, n_in), dtype=dtype))


def unit_activations(w: Array, Z: Array, act: Activation) -> tuple[Array, Array]:
    """``(sigma(w^i . z_p), sigma'(w^i . z_p))``, each ``[P, N]``, for features ``Z [P, n]``."""
    return act.fn(Z @ w.T)


def scale(width: int, beta, dtype) -> Array:
    """``N^{-beta}``."""
    return jnp.power(jnp.asarray(width, dtype), -jnp.asarray(beta, dtype))


def outputs(net: Net, Z: Array, *, beta, act: Activation) -> Array:
    """``g(z_p) = N^{-beta} sum_i c^i sigma(w^i . z_p)`` for features ``Z [P, n]``: returns ``[P]``."""
    s, _ = unit_activations(net.w, Z, act)
    return scale(net.c.shape[0], beta, net.c.dtype) * (s @ net.c)


def as_activation(activation: str | Activation) -> Activation:
    """An actor-critic activation: a name (``relu`` allowed) or an `Activation` as it is."""
    if isinstance(activation, Activation):
        return activation
    return get_activation(activation, allow_relu=True)


def empirical_kernel(
    net: Net, Z: Array, *, activation: str | Activation | None = None, act: Activation | None = None
) -> Array:
    """``K^N [P, P]`` (module docstring) at the parameters ``net`` on features ``Z [P, n]``.

    ``activation``: a name (``"tanh"``, ``"erf"``, ``"erf_unit"``, ``"sigmoid"``, ``"relu"``) or an
    `Activation`; ``act`` is the older keyword for an `Activation`. Exactly one must be given (no
    default: the network and its limit kernel must name the same activation).
    """
    if (activation is None) == (act is None):
        raise ConfigError("empirical_kernel: pass exactly one of activation= (a name such as 'tanh') or act=")
    act = as_activation(activation if activation is not None else act)
    n = net.c.shape[0]
    s, ds = unit_activations(net.w, Z, act)
    return (s @ s.T + ((ds * (net.c * net.c)[None, :]) @ ds.T) * (Z @ Z.T)) / n

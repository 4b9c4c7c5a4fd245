"""Gaussian expectations with closed forms, shared by the Elman limit and the actor-critic kernel.

For a centred Gaussian pair ``(u, u')`` with variances ``s11, s22`` and covariance ``s12``:
``erf`` gives the arcsine kernel (Williams 1997) and ``relu`` the arc-cosine kernels of degree 1
and 0 (Cho and Saul 2009).
"""

from __future__ import annotations

import jax.numpy as jnp


def erf_expectations(s11, s22, s12, *, scale: float = 1.0):
    """``(E[phi(u) phi(u')], E[phi'(u) phi'(u')])`` for ``phi(z) = erf(scale z)``: the plain ``erf``
    by default, ``erf_unit`` with ``scale=ERF_UNIT_SCALE``."""
    c = 2.0 * scale**2
    d11, d22 = 1.0 + c * s11, 1.0 + c * s22
    K = (2.0 / jnp.pi) * jnp.arcsin(jnp.clip(c * s12 / jnp.sqrt(d11 * d22), -1.0, 1.0))
    Kd = (2.0 * c / jnp.pi) / jnp.sqrt(d11 * d22 - (c * s12) ** 2)
    return K, Kd


def relu_expectations(s11, s22, s12):
    """Arc-cosine kernels of degree 1 and 0 (``relu'(0) = 0``: a zero variance gives ``K' = 0``)."""
    r = jnp.sqrt(s11 * s22)
    pos = r > 0
    cos = jnp.clip(jnp.where(pos, s12 / jnp.where(pos, r, 1.0), 0.0), -1.0, 1.0)
    th = jnp.arccos(cos)
    sin = jnp.sqrt(jnp.maximum(1.0 - cos * cos, 0.0))
    K = r * (sin + (jnp.pi - th) * cos) / (2.0 * jnp.pi)
    Kd = jnp.where(pos, (jnp.pi - th) / (2.0 * jnp.pi), 0.0)
    return K, Kd

"""float64 switched on in one place: the `float64` context (also a decorator).

JAX computes in float32 unless ``jax_enable_x64`` is set. The limit kernels, the evaluation of the
networks and the experiments that compare them need float64; they enter this context (or decorate
their ``run`` with it) instead of setting the flag themselves, and the previous setting is restored
on exit, so code that runs afterwards sees the precision it expects.
"""

from __future__ import annotations

import contextlib

import jax


@contextlib.contextmanager
def float64(enabled: bool = True):
    """Run the body with ``jax_enable_x64 = enabled``; restore the previous value on exit.

    Example:
        >>> with rnnntk.float64():
        ...     K = rnnntk.limit_kernel(xs, b0=0.5, s_w=1.0, burn=50)
    """
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", bool(enabled))
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)

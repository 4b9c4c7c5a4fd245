"""The base classes of data sources and targets: a new source or target is one subclass.

A source (`Source`) draws the inputs ``X_0, X_1, ...`` (or reads them) and says what it is through
class attributes; a target (`Target`) maps a path, or windows of it, to ``Y``. Everything that
used to ask "which source is this?" asks the object instead: `rnnntk.data.make_dataset` calls
`Source.dataset`, the study asks `Source.one_path`, the mean-field trainer `Source.synthetic` and
`Target.finite_memory`. The concrete classes are frozen dataclasses (hashable: they are static
arguments of the jitted samplers), registered by name in `rnnntk.data.SOURCES` and
`rnnntk.data.TARGETS` for the configs.

A new synthetic source subclasses `Source` with ``synthetic = True`` and implements `Source.sample`;
a new target subclasses `Target` and implements `Target.clean` (and `Target.on_windows` when its
memory is finite).
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from .._checks import ConfigError

Array = jax.Array


class Source:
    """A data source. Subclasses are frozen dataclasses of their options."""

    #: a stationary chain that `sample` can draw independent paths of (any length, any key)
    synthetic: ClassVar[bool] = False
    #: brings its own targets (`dataset` ignores the ``target`` argument)
    own_targets: ClassVar[bool] = False
    #: one fixed sequence (a user's file): every seed reads it, limits read disjoint segments of it
    one_path: ClassVar[bool] = False

    def input_dim(self, dim: int) -> int:
        """The input dimension ``d`` of the data, given the configured ``data.dim`` (a source with a
        dimension of its own returns that)."""
        return dim

    def sample(self, key: Array, length: int, dim: int, dtype) -> Array:
        """A stationary path ``[length, dim]`` (traceable; `rnnntk.data.sample_path` jits it)."""
        raise ConfigError(f"{type(self).__name__} cannot sample paths: it is not a synthetic chain")

    def dataset(self, key: Array, length: int, *, dim: int, target: Target, dtype) -> tuple[Array, Array]:
        """``(xs [length, d], ys [length])`` from one key: for a synthetic chain, a path that starts
        ``target.lag`` steps early (so the pairs are stationary from the first one) and its targets."""
        from .dataset import sample_path

        kp, ky = jax.random.split(key)
        xs = sample_path(kp, self, length + target.lag, dim, dtype)
        ys = target.apply(ky, xs)
        return xs[target.lag :], ys

    def segment(self, start: int, length: int):
        """Steps ``start .. start + length - 1`` of a fixed sequence (`one_path` sources only)."""
        raise ConfigError(f"{type(self).__name__} has no fixed sequence to read segments of")


class Target:
    """A target ``Y_k = f*(X_k, X_{k-1}, ...) + noise``. Subclasses are frozen dataclasses with a
    ``noise`` field (the standard deviation of independent Gaussian noise)."""

    #: steps drawn before the first returned sample (the lags ``f*`` reads)
    lag: ClassVar[int] = 0

    def finite_memory(self) -> int | None:
        """``m`` when ``Y_k`` depends on ``X_{k-m+1}..X_k`` only, or None (infinite memory)."""
        return None

    def clean(self, xs: Array) -> Array:
        """``f*`` on a path that starts ``lag`` steps early: ``[len(xs) - lag]``, without noise."""
        raise NotImplementedError

    def on_windows(self, windows: Array) -> Array:
        """``f*`` on windows ``[B, m, d]`` (row ``-1`` is ``X_k``): ``[B]``, without noise."""
        raise ConfigError(f"{type(self).__name__} has infinite memory: expected a finite-memory target")

    def realised_by_elman(self, *, activation: str, window: int) -> bool:
        """Whether a mean-field Elman student with this activation reading windows of this length
        can represent ``f*`` exactly (see `rnnntk.elman.meanfield.realisable`)."""
        return False

    def _noisy(self, key: Array, y: Array) -> Array:
        if float(self.noise) > 0:
            y = y + self.noise * jax.random.normal(key, y.shape, y.dtype)
        return y

    def apply(self, key: Array, xs: Array) -> Array:
        """Targets with noise from ``key`` for a path that starts ``lag`` steps early."""
        return self._noisy(key, self.clean(xs))

    def windows(self, key: Array, windows: Array) -> Array:
        """Targets with noise from ``key`` on windows ``[B, m', d]`` with ``m'`` at least the memory."""
        m = self.finite_memory()
        if m is None:
            self.on_windows(windows)  # raises, naming the target
        if windows.shape[1] < m:
            raise ConfigError(f"windows of length {windows.shape[1]} are shorter than the target's memory m = {m}")
        return self._noisy(key, self.on_windows(windows))


def unit_projection(x: Array) -> Array:
    """``u . x`` with ``u = (1, ..., 1) / sqrt(d)`` along the last axis of ``x [..., d]``."""
    d = x.shape[-1]
    return x @ (jnp.ones((d,), x.dtype) / jnp.sqrt(jnp.asarray(d, x.dtype)))

"""Data (spec section 1): ergodic Markov chains ``X_0, X_1, ...`` in ``R^d`` and targets ``Y_k``.

Sources (frozen dataclasses, hashable, so they are static arguments of jitted samplers):

- `AR1`: ``X_{k+1} = rho X_k + sqrt(1 - rho^2) eps_{k+1}``, ``X_0 ~ N(0, I_d)`` (stationary from 0).
- `FiniteState`: an irreducible aperiodic chain on ``m`` states with transition matrix ``P``,
  each state embedded as a point of ``R^d``; started from the invariant law.
- `Logistic`: ``X_{k+1} = 4 X_k (1 - X_k)`` per coordinate, optionally plus ``N(0, noise^2)``
  and clipped to ``[0, 1]``; started from the invariant arcsine law.
- `Npz`: a user's own ``X [K, d]`` and ``Y [K]`` from an ``.npz`` file.
- `Real` (``real``, `rnnntk.data.realdata`): a real series shipped inside an installed package
  (``sunspots``, ``co2``, ``macro``), standardised, as one-step-ahead forecasting with a split in
  time; `make_dataset` returns the training part.
- `LOB` (``lob``, `rnnntk.data.lob`): a synthetic limit order book; features (order-flow imbalance,
  spread, queue imbalance, last mid move) and the next mid-price move as target.

`Npz`, `Real` and `LOB` bring their own targets (the ``target`` argument is ignored for them).

Targets with finite memory, ``Y_k = f*(X_k, ..., X_{k-m+1}) + noise``:

- `SinLag`: ``sin(2 u . X_k) + 0.5 cos(u . X_{k-1})`` with ``u = (1, ..., 1) / sqrt(d)``.
- `Teacher`: the output of a fixed random width-``width`` network of spec section 2 with
  ``beta = 1/2`` (fading, infinite memory), run from zero memory over ``burn`` earlier samples.
- `ElmanTeacher`: the output of a fixed random mean-field Elman network (`rnnntk.elman`,
  ``param="mean_field"``) reading the last ``memory`` inputs ``X_{k-m+1}..X_k`` from zero state:
  finite memory ``m``, and exactly realisable by a mean-field Elman student reading the same
  windows (the target of `rnnntk.elman.meanfield`).

`window_targets` evaluates a finite-memory target on windows ``[B, m, d]`` (the last row is
``X_k``); `apply_target` on a path is the same function on the sliding windows of the path.

`make_dataset` draws a path and its targets from one key; the path is stationary from its first
returned sample (samplers draw the lags a target needs before it).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, check_finite_array, check_nonnegative_int, check_positive_int, require
from .lob import LOB
from .realdata import Real
from .sources import Source, Target, unit_projection

Array = jax.Array


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class AR1(Source):
    """Gaussian AR(1) chain, stationary law ``N(0, I_d)``."""

    rho: float = 0.5
    synthetic = True

    def __post_init__(self):
        require(-1.0 < float(self.rho) < 1.0, "data.rho", self.rho, "a number with |rho| < 1")

    def sample(self, key, length, dim, dtype):
        k0, k1 = jax.random.split(key)
        x0 = jax.random.normal(k0, (dim,), dtype)
        eps = jax.random.normal(k1, (length - 1, dim), dtype)
        a, s = jnp.asarray(self.rho, dtype), jnp.sqrt(jnp.asarray(1.0 - self.rho**2, dtype))

        def ar(x, e):
            x = a * x + s * e
            return x, x

        _, rest = jax.lax.scan(ar, x0, eps)
        return jnp.concatenate([x0[None], rest])


@dataclass(frozen=True)
class FiniteState(Source):
    """A chain on ``states`` points of ``R^d``.

    ``transition`` (``[m][m]``, rows summing to 1) and ``embedding`` (``[m][d]``) may be given;
    otherwise both are drawn from ``seed`` (a transition matrix with all entries positive, hence
    irreducible and aperiodic, and ``N(0, I_d)`` points).
    """

    states: int = 5
    seed: int = 0
    transition: tuple | None = None
    embedding: tuple | None = None
    synthetic = True

    def __post_init__(self):
        check_positive_int(self.states, "data.states")
        if self.transition is not None:
            object.__setattr__(self, "transition", _as_tuple(self.transition))
        if self.embedding is not None:
            object.__setattr__(self, "embedding", _as_tuple(self.embedding))

    def matrices(self, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(P [m, m], embedding [m, d], invariant law [m])`` in float64."""
        m = self.states
        rng = np.random.default_rng(self.seed)
        if self.transition is None:
            P = rng.exponential(size=(m, m)) + 0.05
            P /= P.sum(axis=1, keepdims=True)
        else:
            P = np.asarray(self.transition, np.float64)
            if P.shape != (m, m):
                raise ConfigError(f"data.transition has shape {P.shape}: expected [{m}, {m}] (data.states = {m})")
            if np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-10):
                raise ConfigError("data.transition is not stochastic: expected entries >= 0 and rows summing to 1")
            # primitive (irreducible and aperiodic) iff P^((m-1)^2 + 1) > 0 (Wielandt)
            Q = np.linalg.matrix_power((P > 0).astype(np.float64), (m - 1) ** 2 + 1)
            if not np.all(Q > 0):
                raise ConfigError("data.transition is not irreducible and aperiodic: the chain is not ergodic")
        if self.embedding is None:
            E = np.random.default_rng(self.seed + 1).standard_normal((m, dim))
        else:
            E = np.asarray(self.embedding, np.float64)
            if E.shape != (m, dim):
                raise ConfigError(f"data.embedding has shape {E.shape}: expected [{m}, {dim}] (states, dim)")
        evals, evecs = np.linalg.eig(P.T)
        v = np.real(evecs[:, np.argmin(np.abs(evals - 1.0))])
        return P, E, v / v.sum()

    def sample(self, key, length, dim, dtype):
        k0, k1 = jax.random.split(key)
        P, E, v = self.matrices(dim)
        logP = jnp.log(jnp.asarray(P, dtype))
        s0 = jax.random.choice(k0, self.states, p=jnp.asarray(v, dtype))

        def fs(s, k):
            s = jax.random.categorical(k, logP[s])
            return s, s

        _, rest = jax.lax.scan(fs, s0, jax.random.split(k1, length - 1))
        states = jnp.concatenate([s0[None], rest])
        return jnp.asarray(E, dtype)[states]


@dataclass(frozen=True)
class Logistic(Source):
    """The logistic map ``x -> 4 x (1 - x)`` per coordinate (invariant density
    ``1 / (pi sqrt(x (1 - x)))``), optionally with additive noise and clipping to ``[0, 1]``."""

    noise: float = 0.0
    synthetic = True

    def __post_init__(self):
        require(float(self.noise) >= 0.0, "data.noise", self.noise, "a number >= 0")

    def sample(self, key, length, dim, dtype):
        k0, k1 = jax.random.split(key)
        u = jax.random.uniform(k0, (dim,), dtype)
        x0 = jnp.sin(jnp.pi * u / 2) ** 2  # arcsine law
        eps = self.noise * jax.random.normal(k1, (length - 1, dim), dtype)

        def lg(x, e):
            x = jnp.clip(4.0 * x * (1.0 - x) + e, 0.0, 1.0)
            return x, x

        _, rest = jax.lax.scan(lg, x0, eps)
        return jnp.concatenate([x0[None], rest])


#: inputs of a user's file beyond this magnitude are refused unless standardised (`Npz`)
NPZ_MAX_ABS = 50.0
#: a coordinate (or the target) whose standard deviation is outside this range is warned about
NPZ_STD_RANGE = (0.1, 10.0)


@dataclass(frozen=True)
class Npz(Source):
    """A user's sequence: arrays ``x_key`` (``[K, d]``) and ``y_key`` (``[K]``) in an ``.npz`` file.

    The model assumes inputs of order one: the memory is ``tanh(w . x + b S)`` with ``w ~ N(0, s_w^2)``,
    so inputs of size 50 saturate every unit, and the limit's quadrature step shrinks in proportion
    to the largest ``|x|`` (about 250 nodes per coordinate at ``|x| ~ 1``, 7e5 at 5000). Inputs with
    ``max |x| > NPZ_MAX_ABS = 50`` are therefore refused, and a coordinate whose standard deviation is
    outside ``NPZ_STD_RANGE = [0.1, 10]`` (inputs or target) is warned about, unless ``standardise``
    (``standardise_y``) rescales them to mean 0 and standard deviation 1. The statistics are those of
    the whole file: all of it is training data (the study trains on it and builds its limit from it;
    there is no held-out part).
    """

    path: str
    x_key: str = "X"
    y_key: str = "Y"
    standardise: bool = False  # X <- (X - mean) / std per coordinate
    standardise_y: bool = False  # Y <- (Y - mean) / std
    own_targets = True
    one_path = True

    def __post_init__(self):
        for f in ("standardise", "standardise_y"):
            v = getattr(self, f)
            require(isinstance(v, (bool, np.bool_)), f"data.{f}", v, "true or false")

    def input_dim(self, dim: int) -> int:
        return int(np.shape(self.load()[0])[1])

    def dataset(self, key, length, *, dim, target, dtype):
        X, Y = self.load()
        if X.shape[0] < length:
            raise ConfigError(f"data.path = {self.path!r} holds {X.shape[0]} steps but {length} were requested")
        return jnp.asarray(X[:length], dtype), jnp.asarray(Y[:length], dtype)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Read and validate ``(X [K, d], Y [K])`` (standardised if asked; see the class docstring)."""
        X, Y = self._read()
        X, Y = X.astype(np.float64), Y.astype(np.float64)
        if self.standardise:
            X = _standardised(X, f"{self.x_key} in data.path = {self.path!r}")
        if self.standardise_y:
            Y = _standardised(Y[:, None], f"{self.y_key} in data.path = {self.path!r}")[:, 0]
        self._check_scale(X, Y)
        return X, Y

    def segment(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps ``start .. start + length - 1`` of `load`, or `ConfigError` if the file is shorter."""
        X, Y = self.load()
        if start + length > X.shape[0]:
            raise ConfigError(
                f"data.path = {self.path!r} holds {X.shape[0]} steps but steps {start} to {start + length - 1} "
                "were requested"
            )
        return X[start : start + length], Y[start : start + length]

    def _check_scale(self, X: np.ndarray, Y: np.ndarray) -> None:
        import warnings

        xmax = float(np.max(np.abs(X))) if X.size else 0.0
        if xmax > NPZ_MAX_ABS:
            raise ConfigError(
                f"data.path = {self.path!r}: {self.x_key} reaches |x| = {xmax:.3g}, far from the unit scale the "
                f"model assumes (at most {NPZ_MAX_ABS:g}: larger inputs saturate every unit and the limit's "
                "quadrature needs nodes in proportion to |x|); set data.standardise=true to standardise the "
                "inputs with the file's mean and standard deviation, or rescale them"
            )
        lo, hi = NPZ_STD_RANGE
        sx = X.std(axis=0) if X.shape[0] > 1 else np.ones(X.shape[1])
        off = [j for j, v in enumerate(sx) if not lo <= v <= hi]
        if off and not self.standardise:
            warnings.warn(
                f"data.path = {self.path!r}: {self.x_key} coordinate(s) {off} have standard deviation "
                f"{[float(f'{sx[j]:.3g}') for j in off]}, outside [{lo:g}, {hi:g}]; the model assumes inputs of "
                "order one (data.standardise=true standardises them)",
                stacklevel=3,
            )
        sy = float(Y.std()) if Y.shape[0] > 1 else 1.0
        if not lo <= sy <= hi and not self.standardise_y:
            warnings.warn(
                f"data.path = {self.path!r}: {self.y_key} has standard deviation {sy:.3g}, outside [{lo:g}, {hi:g}]; "
                "learning rates and the kernel regime assume targets of order one (data.standardise_y=true "
                "standardises them)",
                stacklevel=3,
            )

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        path = os.path.expanduser(str(self.path))
        if not os.path.isfile(path):
            raise ConfigError(
                f"data.path = {self.path!r}: no such file (expected an .npz with arrays "
                f"{self.x_key!r} [K, d] and {self.y_key!r} [K])"
            )
        try:
            with np.load(path, allow_pickle=False) as f:
                keys = set(f.files)
                missing = [k for k in (self.x_key, self.y_key) if k not in keys]
                if missing:
                    raise ConfigError(f"data.path = {self.path!r} lacks array(s) {missing}; it holds {sorted(keys)}")
                X, Y = np.asarray(f[self.x_key]), np.asarray(f[self.y_key])
        except ConfigError:
            raise
        except Exception as e:  # not a zip / not an npz
            raise ConfigError(f"data.path = {self.path!r} is not a readable .npz file ({e})") from None
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.dtype.kind not in "iuf":
            raise ConfigError(
                f"{self.x_key} in {self.path!r} has shape {X.shape}, dtype {X.dtype}: expected a numeric [K, d] array"
            )
        if Y.ndim != 1 or Y.dtype.kind not in "iuf":
            raise ConfigError(
                f"{self.y_key} in {self.path!r} has shape {Y.shape}, dtype {Y.dtype}: expected a numeric [K] array"
            )
        if Y.shape[0] != X.shape[0]:
            raise ConfigError(
                f"{self.x_key} has {X.shape[0]} steps but {self.y_key} has {Y.shape[0]} "
                f"in {self.path!r}: expected the same K"
            )
        check_finite_array(X, f"{self.x_key} in {self.path!r}")
        check_finite_array(Y, f"{self.y_key} in {self.path!r}")
        return X, Y


def _standardised(A: np.ndarray, name: str) -> np.ndarray:
    """``(A - mean) / std`` per column; a constant column cannot be standardised."""
    mean, std = A.mean(axis=0), A.std(axis=0)
    flat = [j for j, v in enumerate(std) if not v > 0.0]
    if flat:
        raise ConfigError(f"{name}: column(s) {flat} are constant and cannot be standardised (data.standardise)")
    return (A - mean) / std


def _as_tuple(a):
    return tuple(_as_tuple(x) for x in a) if isinstance(a, (list, tuple, np.ndarray)) else float(a)


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class SinLag(Target):
    """``Y_k = sin(2 u . X_k) + 0.5 cos(u . X_{k-1}) + noise``, ``u = 1 / sqrt(d)``."""

    noise: float = 0.0
    lag = 1

    def __post_init__(self):
        require(float(self.noise) >= 0.0, "target.noise", self.noise, "a number >= 0")

    def finite_memory(self) -> int:
        return 2

    def clean(self, xs):
        p = unit_projection(xs)
        return jnp.sin(2.0 * p[1:]) + 0.5 * jnp.cos(p[:-1])

    def on_windows(self, windows):
        return jnp.sin(2.0 * unit_projection(windows[:, -1])) + 0.5 * jnp.cos(unit_projection(windows[:, -2]))


@dataclass(frozen=True)
class Delay(Target):
    """``Y_k = sin(2 u . X_{k - lag}) + noise``, ``u = 1 / sqrt(d)``: a pure delay line.

    With independent inputs (``data.rho = 0``) only the memory can predict ``Y``, and truncated
    backpropagation through ``tau <= lag`` steps never sees the input that matters.
    """

    lag: int = 3
    noise: float = 0.0

    def __post_init__(self):
        check_positive_int(self.lag, "target.lag")
        require(float(self.noise) >= 0.0, "target.noise", self.noise, "a number >= 0")

    def clean(self, xs):
        return jnp.sin(2.0 * unit_projection(xs))[: xs.shape[0] - self.lag]


@dataclass(frozen=True)
class Teacher(Target):
    """A fixed random network of spec section 2 (``beta = 1/2``) as target, plus noise."""

    width: int = 64
    seed: int = 12345
    b0: float = 0.5
    s_w: float = 1.0
    burn: int = 64
    noise: float = 0.0

    def __post_init__(self):
        check_positive_int(self.width, "target.width")
        check_nonnegative_int(self.burn, "target.burn")
        require(float(self.noise) >= 0.0, "target.noise", self.noise, "a number >= 0")
        from ..diagonal.network import check_contraction

        check_contraction(self.b0)

    @property
    def lag(self) -> int:
        return self.burn

    def clean(self, xs):
        from ..diagonal.network import init_params, predict

        tp = init_params(jax.random.key(self.seed), self.width, xs.shape[1], b0=self.b0, s_w=self.s_w, dtype=xs.dtype)
        return predict(tp, xs, beta=0.5)[self.lag :]


@dataclass(frozen=True)
class ElmanTeacher(Target):
    """``Y_k = f*(X_{k-m+1}, ..., X_k) + noise``: a fixed random mean-field Elman network.

    ``f*`` is `rnnntk.elman.elman_apply` with ``param="mean_field"`` and ``pool="last"`` (width
    ``M = width``, read from zero state over the ``m = memory`` inputs), with independent Gaussian
    entries of the variances below drawn from ``seed`` (`ElmanTeacher.params`). Entries of variance ``O(1)``
    make the teacher's recurrence and output ``O(M^{-1/2})``; the defaults ``var_w = var_v = M``
    make them ``O(1)``, so that the target has memory and an ``O(1)`` variance.
    """

    memory: int = 4
    width: int = 4
    seed: int = 12345
    var_w: float = 4.0
    var_u: float = 1.0
    var_b: float = 0.0
    var_v: float = 4.0
    activation: str = "erf"
    noise: float = 0.0

    def __post_init__(self):
        from ..elman.network import check_variance, get_elman_activation

        check_positive_int(self.memory, "target.memory")
        check_positive_int(self.width, "target.width")
        for f in ("var_w", "var_u", "var_b", "var_v"):
            check_variance(getattr(self, f), f"target.{f}")
        get_elman_activation(self.activation)
        require(float(self.noise) >= 0.0, "target.noise", self.noise, "a number >= 0")

    @property
    def lag(self) -> int:
        return self.memory - 1

    def finite_memory(self) -> int:
        return self.memory

    def clean(self, xs):
        K = xs.shape[0] - self.lag  # the window ending at step k + lag, for k = 0..K-1
        return self.on_windows(jnp.stack([xs[j : j + K] for j in range(self.lag + 1)], axis=1))

    def on_windows(self, windows):
        from ..elman.network import _apply

        m = self.memory
        return _apply(self.params(windows.shape[2], windows.dtype), windows[:, windows.shape[1] - m :], "last",
                      self.activation)  # fmt: skip

    def realised_by_elman(self, *, activation: str, window: int) -> bool:
        return self.activation == activation and self.memory == window and float(self.noise) == 0.0

    def params(self, dim: int, dtype=None):
        """The teacher's `rnnntk.elman.ElmanParams` for input dimension ``dim``: independent
        Gaussian entries drawn in float64 by NumPy from ``seed`` and then cast, so the target is
        the same function in every precision."""
        from ..elman.network import ElmanParams

        dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
        W, U, b, v = (jnp.asarray(a, dtype) for a in _teacher_arrays(self, int(dim)))
        return ElmanParams(W=W, U=U, b=b, v=v, param="mean_field")


@functools.lru_cache(maxsize=32)
def _teacher_arrays(t: ElmanTeacher, dim: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(t.seed)
    M = t.width
    shapes = {"var_w": (M, M), "var_u": (dim, M), "var_b": (M,), "var_v": (M,)}
    return tuple(np.sqrt(float(getattr(t, f))) * rng.standard_normal(sh) for f, sh in shapes.items())


def target_memory(target) -> int | None:
    """The memory ``m`` of a finite-memory target (``Y_k`` depends on ``X_{k-m+1}..X_k``), or
    None for a target with infinite memory (`Teacher`): `Target.finite_memory`."""
    return target.finite_memory()


def window_targets(key: Array, windows: Array, target) -> Array:
    """A finite-memory target on windows ``[B, m, d]`` (row ``-1`` is ``X_k``, row ``-j`` is
    ``X_{k-j+1}``), plus noise from ``key``: ``[B]``. ``m`` must be at least the target's memory;
    `ElmanTeacher` reads the last ``target.memory`` rows from zero state (`Target.windows`)."""
    return target.windows(key, windows)


SOURCES = {"ar1": AR1, "finite_state": FiniteState, "logistic": Logistic, "npz": Npz, "real": Real, "lob": LOB}
TARGETS = {"sin_lag": SinLag, "delay": Delay, "teacher": Teacher, "elman_teacher": ElmanTeacher}


def build_source(name: str, **options):
    """A source from its registry name and options, with errors naming the field."""
    require(name in SOURCES, "data.source", name, f"one of {sorted(SOURCES)}")
    return _build(SOURCES[name], "data", options)


def build_target(name: str, **options):
    """A target from its registry name and options."""
    require(name in TARGETS, "target.name", name, f"one of {sorted(TARGETS)}")
    return _build(TARGETS[name], "target", options)


def _build(cls, prefix, options):
    import dataclasses

    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(f"{prefix} option(s) {unknown} not understood by {cls.__name__}: expected {sorted(fields)}")
    return cls(**options)


# --------------------------------------------------------------------------- sampling


@partial(jax.jit, static_argnames=("source", "length", "dim", "dtype"))
def sample_path(key: Array, source, length: int, dim: int, dtype=jnp.float32) -> Array:
    """A stationary path ``[length, dim]`` of a synthetic source (`Source.sample`, jitted)."""
    if not getattr(source, "synthetic", False):
        raise ConfigError(f"sample_path cannot sample {type(source).__name__}: expected a synthetic source "
                          f"(one of {sorted(k for k, c in SOURCES.items() if c.synthetic)})")  # fmt: skip
    return source.sample(key, length, dim, dtype)


def apply_target(key: Array, xs: Array, target) -> Array:
    """Targets for a path that starts ``target.lag`` steps early: returns ``[len(xs) - lag]``
    (`Target.apply`)."""
    if not isinstance(target, Target):
        raise ConfigError(f"unknown target {target!r}: expected one of {sorted(TARGETS)} (a rnnntk.data.Target)")
    return target.apply(key, xs)


def make_dataset(
    key: Array,
    length: int,
    *,
    dim: int = 1,
    source=AR1(),
    target=SinLag(),
    dtype=None,
) -> tuple[Array, Array]:
    """Draw ``(xs [length, dim], ys [length])`` from one key.

    Arguments:
        key: a PRNG key (path and target noise are derived from it).
        length: number of samples ``K``.
        dim: input dimension ``d`` (ignored for `Npz`, which has its own).
        source: `AR1`, `FiniteState`, `Logistic`, `Npz`, `Real` or `LOB`.
        target: `SinLag`, `Delay`, `Teacher` or `ElmanTeacher` (ignored for `Npz`, `Real` and `LOB`,
            which have their own ``Y``).
        dtype: floating dtype (default: JAX's default float).

    Returns:
        ``(xs, ys)``; ``ys[k]`` depends on ``xs[k], xs[k-1], ...`` (and on samples drawn before
        ``xs[0]`` for the first ``target.lag`` steps, so the pairs are stationary).

    Example:
        >>> xs, ys = make_dataset(jax.random.key(0), 1000, dim=2, source=AR1(rho=0.8))
    """
    length = check_positive_int(length, "length")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    if not isinstance(source, Source):
        raise ConfigError(f"unknown source {source!r}: expected one of {sorted(SOURCES)} (a rnnntk.data.Source)")
    if not source.own_targets:
        dim = check_positive_int(dim, "dim")
    return source.dataset(key, length, dim=dim, target=target, dtype=dtype)

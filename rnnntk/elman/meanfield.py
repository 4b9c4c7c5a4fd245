"""The mean-field Elman network trained by gradient descent on the population risk of a
finite-memory target (spec section 5; "Global optimality of Elman-type RNNs in the mean-field
regime").

The network
-----------
Width ``N``, a window ``x_1..x_m`` of inputs in ``R^d`` read from zero state, activation
``sigma``::

    h^i_0     = 0
    h^i_{t+1} = sigma( (1/N) sum_j W^{ij} h^j_t + U^i . x_{t+1} )        t = 0..m-1
    yhat(x)   = (1/N) sum_i c^i h^i_m

This is `rnnntk.elman.elman_apply` with ``param="mean_field"`` and ``pool="last"``; its symbols
map to the ones above as ``h -> s`` (the states after the activation), ``W^{ij} -> W_{ji}``
(`rnnntk.elman` writes the recurrence ``W^T s``: a naming convention for i.i.d. entries),
``U^i -> U[:, i] / sqrt(d)`` (a constant rescaling of the input weights) and ``c -> v``. The
bias ``b`` of `rnnntk.elman` is zero and frozen by default (``var_b = 0``, ``train_bias=False``),
as in the paper's network; ``train_bias=True`` trains it like ``U``.

Initialisation: all entries independent, ``W ~ N(0, var_w)``, ``U ~ N(0, var_u)``,
``c ~ N(0, var_v)`` (`rnnntk.elman.elman_init`). At this centred initialisation the recurrent
term and the output are ``O(N^{-1/2})``: the mean-field limit starts from the zero function.
The paper's global-optimality theorem assumes an initial law expressive enough for the weights
(in particular for the feedback); an i.i.d. Gaussian law has full support, but we do not check
the paper's conditions beyond that -- the experiments measure what happens.

The objective
-------------
A finite-memory target ``Y = f*(X_{k-m+1}, ..., X_k) + noise``: `rnnntk.data.ElmanTeacher` (a
fixed mean-field Elman network of width ``M``; realisable -- `realisable` -- when the student
reads the teacher's windows with the teacher's activation: ``N / M`` copies of every teacher unit
are the teacher, so the global minimum of the risk is 0 at every width that is a multiple of
``M`` and in the mean-field limit), or `rnnntk.data.SinLag` (memory 2; not exactly realisable at
any finite width), and the population risk

    R(theta) = E_pi [ (Y - yhat(X_{k-m+1..k}))^2 ] / 2

over windows of the stationary chain. **Estimator (our choice): online SGD.** Every step draws a
fresh batch of ``B`` (``batch``) independent windows, each a length-``m`` stretch of the
stationary chain started from its stationary law (`rnnntk.data.sample_path`), so the batch
gradient is an unbiased estimate of ``grad R`` and there is no fixed training sample to overfit;
the held-out risk of the experiments is measured on a separate fixed sample. All widths and all
seeds of a study read the same batches at the same step (common random numbers).

Learning rates: the mean-field scaling
--------------------------------------
With output ``(1/N) sum_i c^i h^i`` and recurrence ``(1/N) sum_j W^{ij} h^j``,

- ``d yhat / d c^i = h^i_m / N = O(1/N)``, and likewise ``d yhat / d U^i = O(1/N)`` (the state
  ``h^i`` enters the output with weight ``c^i / N``), ``d yhat / d b^i = O(1/N)``;
- ``d yhat / d W^{ij} = (1/N) sum_t h^j_t (d yhat / d z^i_{t+1}) = O(1/N^2)``, since every
  pre-activation derivative ``d yhat / d z^i_t`` is ``O(1/N)``.

So plain gradient descent would move a ``c^i`` by ``O(1/N)`` and a ``W^{ij}`` by ``O(1/N^2)``
per unit of learning rate. Each parameter moves ``O(1)`` in ``O(1)`` training time with the
per-parameter learning rates (`mean_field_rates`)

    c, U, b:  alpha * N          W:  alpha * N^2

i.e. one step is ``theta <- theta - alpha * Lambda_N grad R_batch(theta)`` and training time is
``t = k alpha`` after ``k`` steps: as ``alpha -> 0`` this is the gradient flow
``d theta / dt = -Lambda_N grad R`` whose ``N -> infinity`` limit is the mean-field dynamics.
The per-entry displacements ``|W^{ij}(t) - W^{ij}(0)|``, ``|c^i(t) - c^i(0)|`` at a fixed ``t``
are then ``O(1)`` and converge as ``N`` grows (tested).

Coupling across widths (neuronal embedding)
-------------------------------------------
`embedded_init` draws one width-``N_max`` network per seed and gives the width-``N`` network its
first ``N`` units: ``W[:N, :N]``, ``U[:, :N]``, ``c[:N]``. Under i.i.d. initialisation this is the
neuronal embedding of the paper's Example 2.3 (unit ``i`` carries the same ``(U^i, c^i)`` and the
pair ``(i, j)`` the same ``W^{ij}`` at every width), so all widths are coupled to one mean-field
trajectory, and with common batches to the same SGD noise.

Numerics
--------
Gradients are exact backpropagation through the window (`jax.value_and_grad` of the unrolled
network, BPTT). A chunk of ``L`` steps is three programs: `sample_batches` draws the batches of
all seeds (compiled once per problem and chunk length, shared by every width), `train_chunk`
runs the steps as one ``lax.scan`` vmapped over seeds, `evaluate` gives the outputs on held-out
windows and the displacement from the initial parameters.
An update moves a parameter by ``O(alpha)``, far above float32 resolution, so parameters are
updated in place (no ``theta_0 + delta`` split); float64 works throughout. Cost per step:
``O(B m N^2)`` (the recurrent matrix-vector products) and ``O(N^2)`` memory per seed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from .._checks import ConfigError, check_positive, check_positive_int, require
from ..data.dataset import AR1, SinLag, sample_path, target_memory, window_targets
from ..divergence import Diverged, check_values, second_moment
from .network import ElmanParams, check_elman_params, elman_apply, elman_init, get_elman_activation

Array = jax.Array

#: the parameters whose displacement `displacement` and `evaluate` report, in this order
DISPLACED = ("W", "U", "c", "b")

#: steps per program in `train_meanfield` (bounds the memory of the pre-drawn batches)
CHUNK = 1024

#: how many times each program was traced (compiled) in this process
TRACES: Counter = Counter()


@dataclass(frozen=True)
class Problem:
    """What the network learns and from which windows (hashable: a static argument of programs).

    Attributes:
        source: the stationary chain (`AR1`, `FiniteState` or `Logistic`).
        target: a finite-memory target (`rnnntk.data.ElmanTeacher` or `rnnntk.data.SinLag`).
        dim: the input dimension ``d``.
        window: the sequence length ``m`` (at least the target's memory).
        batch: windows per gradient step ``B``.
        activation: the student's ``sigma`` (``"erf"``, ``"tanh"``, ``"relu"``).
    """

    source: object = AR1()
    target: object = SinLag()
    dim: int = 1
    window: int = 2
    batch: int = 32
    activation: str = "erf"

    def __post_init__(self):
        require(
            getattr(self.source, "synthetic", False),
            "data.source",
            type(self.source).__name__,
            "ar1, finite_state or logistic (a chain the trainer can sample windows of)",
        )
        mem = target_memory(self.target)
        require(
            mem is not None,
            "target.name",
            type(self.target).__name__,
            "a finite-memory target: elman_teacher or sin_lag",
        )
        check_positive_int(self.dim, "data.dim")
        check_positive_int(self.window, "window")
        require(self.window >= mem, "window", self.window, f"an integer >= the target's memory m = {mem}")
        check_positive_int(self.batch, "batch")
        get_elman_activation(self.activation)


def realisable(problem: Problem, *, var_b: float, train_bias: bool) -> bool:
    """Whether the global minimum of the risk is 0 (in the mean-field limit, and at every width
    that is a multiple of the teacher's: copies of the teacher's units): the target is a noiseless
    `rnnntk.data.ElmanTeacher` with the student's activation reading the student's window, and
    the student can match the teacher's biases (trained, or both zero)."""
    t = problem.target
    return t.realised_by_elman(activation=problem.activation, window=problem.window) and (
        train_bias or (float(var_b) == 0.0 and float(t.var_b) == 0.0)
    )


# --------------------------------------------------------------------------- data


def draw_dtype():
    """The dtype random numbers are drawn in: float64 when available (``jax_enable_x64``), whatever
    the precision of the run, so that float32 and float64 runs of one seed see the same numbers
    up to rounding (JAX draws different numbers from one key in different dtypes)."""
    return jnp.dtype(jnp.float64) if jax.config.jax_enable_x64 else jnp.dtype(jnp.float32)


def sample_windows(key: Array, problem: Problem, count: int, dtype) -> tuple[Array, Array]:
    """``count`` independent windows ``[count, m, d]`` of the stationary chain and their targets
    ``[count]`` (noise included), drawn in `draw_dtype` and returned in ``dtype``."""
    kx, ky = jax.random.split(key)
    keys = jax.random.split(kx, count)
    xs = jax.vmap(lambda k: sample_path(k, problem.source, problem.window, problem.dim, draw_dtype()))(keys)
    ys = window_targets(ky, xs, problem.target)
    return xs.astype(dtype), ys.astype(dtype)


# --------------------------------------------------------------------------- initialisation


def embedded_init(
    key: Array, width: int, max_width: int, dim: int, *, var_w: float, var_u: float, var_b: float, var_v: float, dtype
) -> ElmanParams:
    """The width-``N`` network of the neuronal embedding: the first ``N = width`` units of one
    width-``max_width`` draw of `rnnntk.elman.elman_init` (``param="mean_field"``) from ``key``
    (drawn in `draw_dtype`, returned in ``dtype``).

    Every width drawn from the same key and ``max_width`` sees the same units, so the width-``N``
    network is a sub-network of every wider one (module docstring)."""
    check_positive_int(width, "width")
    check_positive_int(max_width, "max_width")
    require(width <= max_width, "width", width, f"an integer <= max_width = {max_width}")
    p = elman_init(
        key, max_width, dim, var_w=var_w, var_u=var_u, var_b=var_b, var_v=var_v, param="mean_field", dtype=draw_dtype()
    )
    return jax.tree.map(lambda a: a.astype(dtype), sub_network(p, width))


def sub_network(params: ElmanParams, width: int) -> ElmanParams:
    """The first ``width`` units of ``params`` (``W[:N, :N]``, ``U[:, :N]``, ``b[:N]``, ``v[:N]``)."""
    n = width
    return ElmanParams(W=params.W[:n, :n], U=params.U[:, :n], b=params.b[:n], v=params.v[:n], param=params.param)


# --------------------------------------------------------------------------- risk and rates


def batch_risk(params: ElmanParams, xs: Array, ys: Array, activation: str) -> Array:
    """``(1/B) sum_p (Y_p - yhat(x_p))^2 / 2`` over windows ``xs [B, m, d]``, targets ``ys [B]``."""
    f = elman_apply(params, xs, pool="last", activation=activation)
    return 0.5 * jnp.mean((ys - f) ** 2)


def mean_field_rates(width: int, *, train_bias: bool = False, dtype=None) -> ElmanParams:
    """Per-parameter learning-rate multipliers ``Lambda_N``: ``N^2`` for ``W``, ``N`` for ``U``,
    ``c`` (``v``) and ``b`` (``0`` for a frozen bias). See the module docstring."""
    n = float(check_positive_int(width, "width"))
    dt = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    s = lambda x: jnp.asarray(x, dt)
    return ElmanParams(W=s(n * n), U=s(n), b=s(n if train_bias else 0.0), v=s(n), param="mean_field")


def sgd_step(params: ElmanParams, rates: ElmanParams, lr, xs: Array, ys: Array, activation: str):
    """One step ``theta <- theta - lr * Lambda_N grad R_batch(theta)`` (BPTT through the window).
    Returns ``(params, batch risk before the step)``."""
    loss, g = jax.value_and_grad(batch_risk)(params, xs, ys, activation)
    new = jax.tree.map(lambda p, gr, r: p - (lr * r) * gr, params, g, rates)
    return new, loss


# --------------------------------------------------------------------------- training programs


@partial(jax.jit, static_argnames=("problem", "steps", "dtype"))
def sample_batches(data_keys: Array, step0, *, problem: Problem, steps: int, dtype) -> tuple[Array, Array]:
    """The batches of steps ``step0 .. step0 + steps - 1`` of every seed: ``xs [S, steps, B, m, d]``,
    ``ys [S, steps, B]``. Step ``k`` of seed ``s`` reads the windows of ``fold_in(data_keys[s], k)``,
    whatever the width and however a run is cut into chunks (common random numbers); drawn in
    `draw_dtype` and returned in ``dtype``."""
    TRACES["sample"] += 1
    S, L, B = data_keys.shape[0], steps, problem.batch

    def keys_of(key, k):  # the keys `sample_windows` uses for step k
        kx, ky = jax.random.split(jax.random.fold_in(key, k))
        return jax.random.split(kx, B), ky

    step0 = jnp.asarray(step0)
    ks = step0 + jnp.arange(steps, dtype=step0.dtype)
    wkeys, nkeys = jax.vmap(lambda key: jax.vmap(lambda k: keys_of(key, k))(ks))(data_keys)
    # one flat vmap over all S L B windows compiles much faster than nested ones
    draw = draw_dtype()
    flat = jax.vmap(lambda k: sample_path(k, problem.source, problem.window, problem.dim, draw))(wkeys.reshape(-1))
    xs = flat.reshape(S, L, B, problem.window, problem.dim)
    ys = jax.vmap(jax.vmap(lambda k, x: window_targets(k, x, problem.target)))(nkeys, xs)
    return xs.astype(dtype), ys.astype(dtype)


@partial(jax.jit, static_argnames=("activation",), donate_argnames=("params",))
def train_chunk(params: ElmanParams, rates: ElmanParams, xs: Array, ys: Array, lr, *, activation: str):
    """SGD steps of every seed on its batches, one ``lax.scan`` over the steps, ``vmap`` over seeds.

    Arguments:
        params: `ElmanParams` with a leading seed axis (``W [S, N, N]``, ...); donated.
        rates: `mean_field_rates` (shared by the seeds).
        xs, ys: batches ``[S, L, B, m, d]`` and ``[S, L, B]`` (`sample_batches`).
        lr: the base learning rate ``alpha`` (training time advances by ``alpha`` per step).
        activation: the student's activation (static).

    Returns:
        ``(params, batch_risk [S, L])``: the parameters after ``L`` steps and the batch risk
        before each step.
    """
    TRACES["chunk"] += 1

    def one(p, x, y):
        return jax.lax.scan(lambda q, b: sgd_step(q, rates, lr, b[0], b[1], activation), p, (x, y))

    return jax.vmap(one)(params, xs, ys)


@partial(jax.jit, static_argnames=("activation",))
def evaluate(params: ElmanParams, params0: ElmanParams, xs: Array, *, activation: str) -> tuple[Array, Array]:
    """Outputs ``[S, P]`` of every seed's network on the windows ``xs [P, m, d]``, and the RMS
    displacement per entry ``[S, 4]`` of ``(W, U, c, b)`` from ``params0`` (`displacement`)."""
    TRACES["evaluate"] += 1
    out = jax.vmap(lambda q: elman_apply(q, xs, pool="last", activation=activation))(params)
    d = displacement(params, params0)
    return out, jnp.stack([d[k] for k in DISPLACED], axis=-1)


def train_meanfield(
    params: ElmanParams,
    problem: Problem,
    *,
    lr: float,
    steps: int,
    key: Array,
    train_bias: bool = False,
) -> tuple[ElmanParams, Array]:
    """Train one mean-field Elman network by online SGD on the population risk.

    Arguments:
        params: `ElmanParams` with ``param="mean_field"`` (e.g. from `embedded_init`).
        problem: `Problem`: chain, target, window ``m``, batch ``B``, activation.
        lr: the base learning rate ``alpha > 0``; per-parameter rates are `mean_field_rates`
            (``alpha N^2`` for ``W``, ``alpha N`` for ``U``, ``c``, ``b``), training time
            ``t = steps * alpha``.
        steps: number of SGD steps.
        key: data key (step ``k`` reads the batch of ``fold_in(key, k)``).
        train_bias: also train ``b`` (frozen by default).

    Returns:
        ``(params, batch_loss [steps])``: trained parameters and the batch risk before each step.

    Raises:
        `rnnntk.RunError` when training diverged: a non-finite batch risk or parameter, or a batch
        risk past ``1e3 (E Y^2 + 1)`` over a program of steps (`rnnntk.divergence`).

    Example:
        >>> from rnnntk.data import ElmanTeacher
        >>> prob = Problem(target=ElmanTeacher(memory=3), window=3, batch=16)
        >>> p0 = embedded_init(jax.random.key(0), 64, 64, 1, var_w=1.0, var_u=1.0, var_b=0.0, var_v=1.0,
        ...                    dtype=jnp.float64)
        >>> p, loss = train_meanfield(p0, prob, lr=0.1, steps=100, key=jax.random.key(1))
    """
    n, d = check_elman_params(params)
    if params.param != "mean_field":
        raise ConfigError(f"params.param = {params.param!r} is not allowed: expected 'mean_field'")
    if d != problem.dim:
        raise ConfigError(f"params.U has input dimension d = {d} but problem.dim = {problem.dim}")
    check_positive(lr, "lr")
    steps = check_positive_int(steps, "steps")
    dtype = params.W.dtype
    rates = mean_field_rates(n, train_bias=train_bias, dtype=dtype)
    p = jax.tree.map(lambda a: jnp.array(a[None], copy=True), params)  # a copy: train_chunk donates it
    losses = []
    for start in range(0, steps, CHUNK):  # at most two programs: full chunks and the remainder
        L = min(CHUNK, steps - start)
        xs, ys = sample_batches(key[None], jnp.asarray(start, jnp.int32), problem=problem, steps=L, dtype=dtype)
        p, loss = train_chunk(p, rates, xs, ys, jnp.asarray(lr, dtype), activation=problem.activation)
        check_values(  # runaway training is an error (rnnntk.divergence)
            loss,
            second_moment(jnp.reshape(ys, (1, -1))),
            what="batch risk",
            where=f"width N = {n}, steps {start} to {start + L - 1}",
            setting=f"lr (now {float(lr):g})",
        )
        losses.append(loss[0])
    if not all(bool(jnp.all(jnp.isfinite(a))) for a in (p.W, p.U, p.b, p.v)):
        raise Diverged(f"training diverged: width N = {n}: non-finite parameters after step {steps}; lower lr")
    return jax.tree.map(lambda a: a[0], p), jnp.concatenate(losses)


def displacement(params: ElmanParams, params0: ElmanParams) -> dict[str, Array]:
    """Root-mean-square displacement per entry, ``(mean_{entries} |theta - theta_0|^2)^{1/2}``,
    of ``W``, ``U``, ``c`` (``v``) and ``b``, over the last axes (leading seed axes kept)."""

    def rms(a, a0, k):
        return jnp.sqrt(jnp.mean((a - a0) ** 2, axis=tuple(range(-k, 0))))

    return {
        "W": rms(params.W, params0.W, 2),
        "U": rms(params.U, params0.U, 2),
        "c": rms(params.v, params0.v, 1),
        "b": rms(params.b, params0.b, 1),
    }

"""Ensembles of online runs as one program, sharded over the available devices.

An ensemble of one width ``N`` is ``S`` seeds times ``G`` grid points (``alpha``, ``beta`` pairs):

- every seed has its own initial parameters ``theta_0`` and its own data path, shared by all of
  its grid points (and, in a study, by all widths: common random numbers);
- the trainer (`rnnntk.diagonal.train`) is vmapped over the grid inside a vmap over seeds, and a chunk of
  ``L`` steps of the whole ensemble is one jitted ``lax.scan`` program;
- the seed axis is sharded over a 1-D device mesh (``jax.sharding``), so ``S`` seeds on ``D``
  devices run ``S / D`` per device; seeds are padded to a multiple of ``D`` and the padding is
  dropped from the results. Results are identical to one device.

One compiled program per (width, grid size, chunk length, estimator): `TRACES` counts traces so
tests can assert that chunks and repeated calls do not recompile.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .network import Activation, Estimator, Params, _predict, init_params
from .train import TrainState, _train_scan, init_state

Array = jax.Array

#: how many times each ensemble program was traced (compiled) in this process
TRACES: Counter = Counter()


class Ensemble(NamedTuple):
    """The state of ``S`` seeds x ``G`` grid points of one width."""

    params0: Params  # c [S, N], w [S, N, d], b [S, N]
    state: TrainState  # leaves [S, G, ...]


def device_mesh(devices=None):
    """A 1-D mesh over ``devices`` (default: all) with axis ``"seed"``, or None for one device."""
    devices = jax.devices() if devices is None else list(devices)
    if len(devices) <= 1:
        return None
    return jax.sharding.Mesh(np.asarray(devices), ("seed",))


def padded_seeds(seeds: int, mesh) -> int:
    """Seeds rounded up to a multiple of the mesh size."""
    d = 1 if mesh is None else mesh.devices.size
    return -(-seeds // d) * d


def shard(tree, mesh):
    """Place every leaf with its leading (seed) axis split over ``mesh`` (no-op without a mesh)."""
    if mesh is None:
        return tree
    spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seed"))
    return jax.tree.map(lambda a: jax.device_put(a, spec), tree)


def init_ensemble(
    keys: Array, width: int, dim: int, grid: int, *, grad: str, dtype, mesh=None, model=None, **model_kw
) -> Ensemble:
    """``params0`` from one key per seed (``keys [S]``) and a zero state for ``grid`` grid points.

    The initial law is ``model`` (a `rnnntk.diagonal.DiagonalRNN`) or the loose keywords ``model_kw``
    of `init_params`; given both, they must agree (`ConfigError` otherwise)."""
    from .._model import check_agrees
    from .model import DiagonalRNN

    if model is None:
        model = DiagonalRNN(**model_kw)  # checks the contraction outside jit
    else:
        check_agrees(model, **model_kw)
    kw = tuple(sorted(model.kwargs().items()))
    return shard(_init(keys, width, dim, grid, grad, jnp.dtype(dtype).name, kw), mesh)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _init(keys, width, dim, grid, grad, dtype, model_kw):
    params0 = jax.vmap(lambda k: init_params(k, width, dim, dtype=dtype, **dict(model_kw)))(keys)
    one = init_state(jax.tree.map(lambda a: a[0], params0), grad=grad)
    S = keys.shape[0]
    state = jax.tree.map(lambda a: jnp.broadcast_to(a, (S, grid) + a.shape), one)
    return Ensemble(params0, state)


#: On a CPU, the members of an ensemble advance in blocks whose working set (``theta_0``, ``delta``
#: and the sensitivities of every member in the block) stays within about half of a typical
#: last-level cache, one block after the other: vmapping every member makes each step stream the
#: whole ensemble from memory once it outgrows the cache. Measured on 2 cores (L3 32 MiB; 16
#: members, float32, d = 1, rtrl): at N = 102400 (3.7 MB per member, 59 MB in all) blocks of one
#: member ran 7.2e8 unit-steps/s and a vmap of 4 members 8.1e8, against 3.9e8 with all 16 vmapped;
#: at N = 25600 (15 MB in all) and below, one vmap of all members is as fast or faster.
CPU_BLOCK_BYTES = 16 * 2**20


def member_block(width: int, dim: int, itemsize: int, members: int, *, platform: str, mesh=None) -> int:
    """How many members `train_chunk` advances together: 0 for all at once (one vmap, the layout
    for accelerators and for a device mesh), else a block of at most ``members - 1`` members whose
    working set is about `CPU_BLOCK_BYTES` (CPU only). The results do not depend on it."""
    if mesh is not None or platform != "cpu":
        return 0
    per_member = width * itemsize * (6 + 3 * dim)  # c, b, their deltas, S, J^b; w, its delta, J^w
    block = max(1, CPU_BLOCK_BYTES // per_member)
    return 0 if block >= members else int(block)


@partial(jax.jit, static_argnames=("est", "act", "block"), donate_argnames=("state",))
def _chunk(params0, state, xs, ys, lr_scale, alphas, betas, est: Estimator, act: Activation, block: int = 0):
    TRACES["chunk"] += 1  # runs at trace time only

    def run(p0, st, x, y, a, b):
        return _train_scan(p0, st, x, y, lr_scale, b, a, est, act)

    if block == 0:  # every member in one vmap: seeds (outer) x grid points (inner)

        def per_seed(p0, st, x, y):
            return jax.vmap(lambda s, a, b: run(p0, s, x, y, a, b))(st, alphas, betas)

        state, metrics = jax.vmap(per_seed)(params0, state, xs, ys)
        return state, metrics.loss  # loss [S, G, L]
    S, G = xs.shape[0], alphas.shape[0]
    each = lambda t: jax.tree.map(lambda v: jnp.repeat(v, G, axis=0), t)  # per seed -> per member  # noqa: E731
    flat = lambda t: jax.tree.map(lambda v: v.reshape((S * G,) + v.shape[2:]), t)  # noqa: E731
    members = (each(params0), flat(state), each(xs), each(ys), jnp.tile(alphas, S), jnp.tile(betas, S))
    state, metrics = jax.lax.map(lambda m: run(*m), members, batch_size=block)
    return jax.tree.map(lambda v: v.reshape((S, G) + v.shape[1:]), state), metrics.loss.reshape(S, G, -1)


def train_chunk(ens: Ensemble, xs, ys, lr_scale, alphas, betas, *, est: Estimator, act: Activation):
    """Advance every member by ``L`` steps on its seed's data ``xs [S, L, d]``, ``ys [S, L]``.

    ``lr_scale [L]`` multiplies the learning rate of each step (0 freezes the parameters, e.g. for
    burn-in and for padding the last chunk). Returns ``(ensemble, loss [S, G, L])``. The input
    state is donated (its buffers are reused).
    """
    dt = np.dtype(ens.params0.c.dtype.name)  # convert on the host: no device op per shape
    mesh = _mesh_of(ens.params0.c)
    xs, ys = shard((np.asarray(xs, dt), np.asarray(ys, dt)), mesh)
    c = ens.params0.c
    block = member_block(c.shape[1], ens.params0.w.shape[-1], dt.itemsize, c.shape[0] * len(alphas),
                         platform=next(iter(c.devices())).platform, mesh=mesh)  # fmt: skip
    state, loss = _chunk(
        ens.params0,
        ens.state,
        xs,
        ys,
        np.asarray(lr_scale, dt),
        np.asarray(alphas, dt),
        np.asarray(betas, dt),
        est,
        act,
        block,
    )
    return Ensemble(ens.params0, state), loss


def _mesh_of(a):
    sh = getattr(a, "sharding", None)
    mesh = getattr(sh, "mesh", None)
    return mesh if isinstance(mesh, jax.sharding.Mesh) and mesh.devices.size > 1 else None


@partial(jax.jit, static_argnames=("act",))
def _predict_ensemble(params0, delta, xs, betas, act: Activation):
    TRACES["predict"] += 1

    def per_seed(p0, d):
        def per_point(dd, b):
            return _predict(jax.tree.map(jnp.add, p0, dd), xs, b, act)

        return jax.vmap(per_point)(d, betas)

    return jax.vmap(per_seed)(params0, delta)


def predict_ensemble(ens: Ensemble, xs, betas, *, act: Activation, dtype=None) -> Array:
    """Outputs of every member with frozen parameters on the path ``xs``: ``[S, G, K]``.

    ``dtype`` (e.g. float64) evaluates in higher precision than training (``theta_0 + delta`` is
    formed in that precision, so no update is rounded away)."""
    p0, delta = ens.params0, ens.state.delta
    if dtype is not None and jnp.dtype(dtype) != p0.c.dtype:
        p0, delta = jax.tree.map(lambda a: a.astype(dtype), (p0, delta))
    dt = np.dtype(p0.c.dtype.name)
    return _predict_ensemble(p0, delta, np.asarray(xs, dt), np.asarray(betas, dt), act)


def to_host(ens: Ensemble) -> dict[str, np.ndarray]:
    """The ensemble as a flat dict of NumPy arrays (for checkpoints)."""
    out = {f"params0.{k}": np.asarray(v) for k, v in ens.params0._asdict().items()}
    out.update({f"delta.{k}": np.asarray(v) for k, v in ens.state.delta._asdict().items()})
    for k in ("S", "Jw", "Jb", "step"):
        out[f"state.{k}"] = np.asarray(getattr(ens.state, k))
    return out


def from_host(d: dict[str, np.ndarray], mesh=None) -> Ensemble:
    """Inverse of `to_host`."""
    p0 = Params(*(jnp.asarray(d[f"params0.{k}"]) for k in Params._fields))
    delta = Params(*(jnp.asarray(d[f"delta.{k}"]) for k in Params._fields))
    st = TrainState(delta, *(jnp.asarray(d[f"state.{k}"]) for k in ("S", "Jw", "Jb", "step")))
    return shard(Ensemble(p0, st), mesh)

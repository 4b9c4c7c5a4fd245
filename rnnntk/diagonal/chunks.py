"""One chunked training loop for ensembles: a generator over chunks with divergence checks and
checkpoints, shared by the study and the experiments that train networks online.

A run is a list of `Chunk` s (`layout` for the study's ``floor(T N)`` steps after a frozen burn-in,
`schedule` for a long run with a decaying learning rate); `train_chunks` trains an `Ensemble`
(`rnnntk.diagonal.ensemble`) chunk by chunk on the data a callback returns, checks every chunk's training
loss for divergence (`rnnntk.divergence.check_values`) and yields ``(chunk, ensemble, loss)``;
after the caller has used a chunk, it saves a `Checkpoint` when given one, so a run started again
resumes after the last finished chunk (`Checkpoint.load`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..divergence import check_values, second_moment
from .ensemble import Ensemble, from_host, to_host, train_chunk


class Chunk(NamedTuple):
    """One chunk of ``L`` online steps of a run."""

    index: int  # 0, 1, ... for training chunks; negative for the frozen burn-in chunks before them
    lo: int  # the chunk's first step in the run's data
    lr: np.ndarray  # [L] learning-rate multipliers (`rnnntk.diagonal.train.train_steps`' lr_scale)
    counted: np.ndarray | None  # [L] the steps that count as training (checked, reported); None: frozen
    step: np.ndarray | None  # [L] training step of each step (None for a frozen chunk)


def chunk_layout(T: float, n: int, chunks: int, burn: int) -> tuple[int, int, int]:
    """``(K, L, burn_chunks)`` of a width ``n``: ``K = floor(T n)`` training steps (at least one) in
    ``chunks`` chunks of ``L`` steps, after ``burn_chunks`` frozen chunks covering ``burn`` steps."""
    K = max(1, int(math.floor(T * n)))
    L = -(-K // chunks)
    return K, L, -(-burn // L) if burn else 0


def layout(T: float, n: int, chunks: int, burn: int, dtype=np.float32) -> list[Chunk]:
    """The chunks of `chunk_layout`: frozen burn-in chunks (indices ``-burn_chunks .. -1``), then
    ``chunks`` training chunks, the last padded with frozen steps past ``K``."""
    K, L, bc = chunk_layout(T, n, chunks, burn)
    out = [Chunk(c, (c + bc) * L, np.zeros(L, dtype), None, None) for c in range(-bc, 0)]
    for c in range(chunks):
        k = c * L + np.arange(L)
        out.append(Chunk(c, (bc + c) * L, (k < K).astype(dtype), k < K, k))
    return out


def schedule(steps: int, chunk: int, lr: Callable[[int, int], np.ndarray]) -> list[Chunk]:
    """``ceil(steps / chunk)`` training chunks of ``chunk`` steps; ``lr(lo, L)`` gives the multipliers
    of steps ``lo .. lo + L - 1`` (e.g. `rnnntk.diagonal.train.decay_schedule`), zero past ``steps``."""
    out = []
    for c in range(math.ceil(steps / chunk)):
        k = c * chunk + np.arange(chunk)
        out.append(Chunk(c, c * chunk, np.asarray(lr(c * chunk, chunk)) * (k < steps), np.ones(chunk, bool), k))
    return out


@dataclass
class Checkpoint:
    """A run's state after its last finished chunk, in one ``.npz`` with the fingerprint of the settings."""

    path: str
    fingerprint: str
    mesh: Any = None

    def load(self, *extras: str) -> tuple[Ensemble, int, dict[str, np.ndarray]] | None:
        """``(ensemble, chunks_done, extras)`` from the file, or None when it is absent, damaged (with a
        warning) or of other settings. ``chunks_done`` counts from the first chunk of the layout:
        resume with the chunks whose index is at least it."""
        from ..run.runctx import load_npz, warn

        saved = load_npz(self.path, self.fingerprint, what="checkpoint")
        if saved is None:
            return None
        try:
            return from_host(saved, self.mesh), int(saved["chunks_done"]), {k: saved[k] for k in extras}
        except (KeyError, ValueError) as e:
            warn(f"checkpoint {self.path} is damaged ({type(e).__name__}: {e}); the run starts afresh")
            return None

    def save(self, ens: Ensemble, chunks_done: int, extras: dict[str, Any]) -> None:
        """Atomic: an interruption loses at most the chunk in progress."""
        from ..run.runctx import save_npz

        save_npz(self.path, dict(**to_host(ens), chunks_done=chunks_done, **extras), self.fingerprint)


def resume(checkpoint: Checkpoint | None, plan: Sequence[Chunk], *extras: str, what: str = ""):
    """``(ensemble, extras, remaining chunks)`` from the checkpoint, or None to start afresh."""
    if checkpoint is None:
        return None
    got = checkpoint.load(*extras)
    if got is None:
        return None
    ens, done, saved = got
    rest = [c for c in plan if c.index >= done]
    print(f"resuming {what} after chunk {len(plan) - len(rest)} of {len(plan)}", file=sys.stderr)
    return ens, saved, rest


def train_chunks(
    ens: Ensemble,
    plan: Sequence[Chunk],
    data: Callable[[Chunk], tuple[Any, Any]],
    *,
    alphas,
    betas,
    est,
    act,
    where: Callable[[Chunk], str],
    setting: str,
    member=None,
    progress: Callable[[Iterable], Iterable] | None = None,
    checkpoint: Checkpoint | None = None,
    extras: Callable[[], dict[str, Any]] | None = None,
) -> Iterator[tuple[Chunk, Ensemble, np.ndarray]]:
    """Train ``ens`` chunk by chunk; yield ``(chunk, ensemble, loss [S, G, L] float64)``.

    ``data(chunk)`` returns the chunk's ``(xs [S, L, d], ys [S, L])``. The loss of the counted steps
    of each training chunk is checked against its targets' scale (`check_values`: ``where(chunk)``
    and ``setting`` name the place and the setting to lower; ``member`` describes a member's index).
    With a ``checkpoint``, the state and ``extras()`` are saved after the caller has used the chunk
    (when the generator is resumed), with ``chunks_done`` the index after the chunk.
    """
    chunks = progress(plan) if progress is not None else plan
    for ch in chunks:
        xs, ys = data(ch)
        ens, loss = train_chunk(ens, xs, ys, ch.lr, alphas, betas, est=est, act=act)
        loss = np.asarray(loss, np.float64)
        if ch.counted is not None and ch.counted.any():
            check_values(
                loss[..., ch.counted],
                second_moment(np.asarray(ys)[:, ch.counted])[:, None],
                what="training loss",
                where=where(ch),
                setting=setting,
                member=member,
            )
        yield ch, ens, loss
        if checkpoint is not None:
            checkpoint.save(ens, ch.index + 1, extras() if extras is not None else {})


def train_all(ens: Ensemble, plan: Sequence[Chunk], data, **kw) -> Ensemble:
    """`train_chunks` run to its end (same keywords): the ensemble after the last chunk."""
    for item in train_chunks(ens, plan, data, **kw):
        ens = item[1]
    return ens

"""What an experiment sees of its run: an output directory, loggers, figures, tables, resumable stages.

Every experiment module ``rnnntk.experiments.<name>`` exposes ``run(cfg, ctx) -> dict``. It reads
its options from ``cfg`` (a composed Hydra/OmegaConf config), computes, and reports through
``ctx``; it never talks to a logging service or the file system directly. The returned dict
(JSON-serialisable) is written to ``results.json``.

- ``ctx.log(metrics, step=)``: scalar metrics (to every logger, and ``metrics.jsonl``).
- ``ctx.figure(fig, name)``: ``figures/<name>.png`` and ``.pdf``, and an image for the loggers.
- ``ctx.table(name, columns, rows)``: ``tables/<name>.csv`` and a logger table.
- ``ctx.line(name, x, ys, xname=)``: a line plot the dashboard can compare across runs.
- ``ctx.cached(name, fn, key=)``: run ``fn()`` once; its result (a dict of arrays/numbers) is saved in
  ``stages/<name>.npz`` with the fingerprint of the settings it depends on (``key``, by default the
  whole run's settings) and loaded instead of recomputed when a later run has the same fingerprint.
  A stage computed under other settings, or a damaged file, is recomputed (with a warning).
- ``ctx.summary(values)``: the run's headline numbers (W&B summary, ``results.json``).
- ``ctx.progress(iterable, total=, desc=)``: a progress bar on stderr (plain lines every few
  seconds when stderr is not a terminal, e.g. in a SLURM log).

Files are written under a temporary name unique to the writer (pid and a random suffix) and renamed
into place, so an interrupted write leaves no half-written file and two writers never collide.
"""

from __future__ import annotations

import csv
import json
import math
import os
import secrets
import sys
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class Logger(Protocol):
    """A destination for metrics, images and tables (W&B, local files, nothing)."""

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None: ...

    def log_image(self, name: str, path: str) -> None: ...

    def log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None: ...

    def log_line(self, name: str, x: list[float], ys: dict[str, list[float]], xname: str) -> None: ...

    def finish(self) -> None: ...


class NullLogger:
    """Logs nothing (``logger=none``)."""

    def log(self, metrics, step=None):
        pass

    def log_image(self, name, path):
        pass

    def log_table(self, name, columns, rows):
        pass

    def log_line(self, name, x, ys, xname):
        pass

    def finish(self):
        pass


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else str(f)
    if isinstance(x, (np.integer,)):
        return int(x)
    if hasattr(x, "tolist"):  # jax arrays
        return _jsonable(np.asarray(x))
    return x


FINGERPRINT = "__fingerprint__"
#: what a truncated or corrupt .npz raises on load
DAMAGED = (zipfile.BadZipFile, ValueError, EOFError, KeyError, OSError)


def warn(msg: str) -> None:
    sys.stderr.write(f"warning: {msg}\n")
    sys.stderr.flush()


def tmp_name(path: str) -> str:
    """A temporary name next to ``path``, unique to this writer (pid and a random suffix)."""
    d, b = os.path.split(path)
    stem, ext = os.path.splitext(b)
    return os.path.join(d, f".{stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{ext}")


def save_npz(path: str, arrays: dict[str, Any], fingerprint: str | None = None) -> None:
    """Write ``arrays`` (and their fingerprint) to ``path`` atomically."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    extra = {FINGERPRINT: np.asarray(fingerprint)} if fingerprint else {}
    tmp = tmp_name(path)
    try:
        np.savez(tmp, **arrays, **extra)
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_npz(path: str, fingerprint: str | None = None, what: str = "stage") -> dict[str, np.ndarray] | None:
    """The arrays in ``path`` if it exists, loads and carries ``fingerprint`` (when given); None
    otherwise, with a warning naming the file when it is damaged or was made with other settings."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
    except DAMAGED as e:
        warn(f"{what} {path} is damaged ({type(e).__name__}: {e}); recomputing it")
        return None
    stored = str(out.pop(FINGERPRINT)) if FINGERPRINT in out else None
    if fingerprint is not None and stored != fingerprint:
        warn(f"{what} {path} was computed with other settings; recomputing it")
        return None
    return out


@dataclass
class RunContext:
    """Output directory and loggers of one run (see the module docstring).

    ``fingerprint``: of the run's settings, the default key of `cached` stages (None: stages are
    not checked). ``shared_dir``: where stages marked ``share=True`` are shared between the jobs of
    a sweep, keyed by their fingerprint."""

    out_dir: str
    loggers: list = field(default_factory=list)
    quiet: bool = False
    fingerprint: str | None = None
    shared_dir: str | None = None
    reused: list = field(default_factory=list)
    summaries: dict = field(default_factory=dict)

    def __post_init__(self):
        os.makedirs(self.out_dir, exist_ok=True)
        self._seen = set()  # metric lines already in metrics.jsonl (a resumed run does not repeat them)
        p = os.path.join(self.out_dir, "metrics.jsonl")
        if os.path.exists(p):
            with open(p) as f:
                self._seen = {line.rstrip("\n") for line in f}
        self._step = -1

    def path(self, *parts: str) -> str:
        p = os.path.join(self.out_dir, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    # ------------------------------------------------------------------ reporting
    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Log scalar ``metrics``; without ``step`` they get the next step (a row of their own)."""
        m = _jsonable(metrics)
        line = json.dumps({"step": step, **m})
        if line not in self._seen:
            self._seen.add(line)
            with open(self.path("metrics.jsonl"), "a") as f:
                f.write(line + "\n")
        step = self._step + 1 if step is None else int(step)
        self._step = max(self._step, step)
        for lg in self.loggers:
            lg.log(m, step=step)

    def summary(self, values: dict[str, Any]) -> None:
        """Headline numbers of the run (kept in ``results.json`` and the W&B summary)."""
        values = _jsonable(values)
        self.summaries.update(values)
        for lg in self.loggers:
            if hasattr(lg, "summary"):
                lg.summary(values)

    def figure(self, fig, name: str) -> list[str]:
        from .plots import save

        paths = save(fig, self.path("figures", name))
        for lg in self.loggers:
            lg.log_image(name, paths[0])
        return paths

    def table(self, name: str, columns: list[str], rows: list[list[Any]]) -> str:
        p = self.path("tables", f"{name}.csv")
        rows = _jsonable(rows)
        tmp = tmp_name(p)
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns)
            w.writerows(rows)
        os.replace(tmp, p)
        for lg in self.loggers:
            lg.log_table(name, list(columns), rows)
        return p

    def line(self, name: str, x, ys: dict[str, Any], xname: str = "t") -> None:
        x = _jsonable(np.asarray(x))
        ys = {k: _jsonable(np.asarray(v)) for k, v in ys.items()}
        for lg in self.loggers:
            lg.log_line(name, x, ys, xname)

    def save_results(self, results: dict) -> str:
        p = self.path("results.json")
        tmp = tmp_name(p)
        with open(tmp, "w") as f:
            json.dump(_jsonable(results), f, indent=2)
        os.replace(tmp, p)
        return p

    def save_run(self, results: dict, provenance: dict, files: tuple[str, ...] = ()) -> tuple[str, dict]:
        """``results.json`` of a finished run: the experiment's ``results`` with the summary keys,
        the provenance record and the W&B identity; logged with ``files`` as a W&B artifact.
        Returns its path and the results as saved."""
        results = dict(results)
        results["summary"] = self.summaries
        results["provenance"] = provenance
        for lg in self.loggers:
            if getattr(lg, "identity", None):
                results["wandb"] = lg.identity | {"mode": lg.mode}
        path = self.save_results(results)
        for lg in self.loggers:
            if hasattr(lg, "log_artifact"):
                lg.log_artifact([path, *files])
        return path, results

    def finish(self) -> None:
        for lg in self.loggers:
            lg.finish()

    # ------------------------------------------------------------------ resumable work
    def cached(
        self, name: str, fn: Callable[[], dict[str, Any]], *, key: Any = None, share: bool = False
    ) -> dict[str, np.ndarray]:
        """Compute ``fn()`` once per fingerprint; later calls (also after a restart) load it.

        ``key``: the settings the stage depends on (a JSON-able object; its fingerprint is stored
        with the stage); by default the run's fingerprint. ``share``: also keep the stage in
        ``shared_dir`` for other jobs of the same sweep (used by the limits)."""
        from .provenance import fingerprint

        fp = fingerprint(key) if key is not None else self.fingerprint
        p = self.path("stages", f"{name}.npz")
        out = load_npz(p, fp)
        if out is not None:
            self.reused.append(name)
            return out
        shared = os.path.join(self.shared_dir, f"{name}-{fp[:20]}.npz") if (share and self.shared_dir and fp) else None
        if shared is not None:
            out = load_npz(shared, fp, what="shared stage")
            if out is not None:
                save_npz(p, out, fp)
                self.reused.append(f"{name} (from the sweep's cache)")
                return out
        out = {k: np.asarray(v) for k, v in fn().items()}
        save_npz(p, out, fp)
        if shared is not None:
            save_npz(shared, out, fp)
        return out

    def has_stage(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.out_dir, "stages", f"{name}.npz"))

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        return _progress(iterable, total=total, desc=desc, quiet=self.quiet)


#: seconds between progress lines when stderr is not a terminal
PLAIN_EVERY = 10.0


def _progress(iterable, *, total, desc, quiet, stream=None):
    """A progress bar redrawn in place on a terminal; plain lines (at most one every
    `PLAIN_EVERY` seconds, and the last) in a log file."""
    stream = stream or sys.stderr
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    tty = hasattr(stream, "isatty") and stream.isatty()
    t0 = last = time.time()
    done = 0
    for i, item in enumerate(iterable):
        yield item
        if quiet:
            continue
        done = i + 1
        now = time.time()
        el = now - t0
        if total:
            eta = el / done * (total - done)
            if tty:
                bar = "#" * int(20 * done / total)
                stream.write(f"\r{desc} [{bar:<20}] {done}/{total} {el:.0f}s eta {eta:.0f}s")
            elif now - last >= PLAIN_EVERY or done == total:
                stream.write(f"{desc}: {done}/{total} done, {el:.0f}s elapsed, eta {eta:.0f}s\n")
                last = now
        elif tty:
            stream.write(f"\r{desc} {done} {el:.0f}s")
        elif now - last >= PLAIN_EVERY:
            stream.write(f"{desc}: {done} done, {el:.0f}s elapsed\n")
            last = now
        stream.flush()
    if not quiet and tty:
        stream.write("\n")

"""What an experiment sees of its run: an output directory, loggers, figures, tables, resumable stages.

Every experiment module ``rnnntk.experiments.<name>`` exposes ``run(cfg, ctx) -> dict``. It reads
its options from ``cfg`` (a composed Hydra/OmegaConf config), computes, and reports through
``ctx``; it never talks to a logging service or the file system directly. The returned dict
(JSON-serialisable) is written to ``results.json``.

- ``ctx.log(metrics, step=)``: scalar metrics (to every logger, and ``metrics.jsonl``).
- ``ctx.figure(fig, name)``: ``figures/<name>.png`` and ``.pdf``, and an image for the loggers.
- ``ctx.table(name, columns, rows)``: ``tables/<name>.csv`` and a logger table.
- ``ctx.line(name, x, ys, xname=)``: a line plot the dashboard can compare across runs.
- ``ctx.cached(name, fn)``: run ``fn()`` once; its result (a dict of arrays/numbers) is saved in
  ``stages/<name>.npz`` and loaded instead of recomputed when the run is started again.
- ``ctx.progress(iterable, total=, desc=)``: a progress bar on stderr.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
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


@dataclass
class RunContext:
    """Output directory and loggers of one run (see the module docstring)."""

    out_dir: str
    loggers: list = field(default_factory=list)
    quiet: bool = False

    def __post_init__(self):
        os.makedirs(self.out_dir, exist_ok=True)

    def path(self, *parts: str) -> str:
        p = os.path.join(self.out_dir, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    # ------------------------------------------------------------------ reporting
    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        m = _jsonable(metrics)
        with open(self.path("metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": step, **m}) + "\n")
        for lg in self.loggers:
            lg.log(m, step=step)

    def figure(self, fig, name: str) -> list[str]:
        from .plots import save

        paths = save(fig, self.path("figures", name))
        for lg in self.loggers:
            lg.log_image(name, paths[0])
        return paths

    def table(self, name: str, columns: list[str], rows: list[list[Any]]) -> str:
        p = self.path("tables", f"{name}.csv")
        rows = _jsonable(rows)
        with open(p, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns)
            w.writerows(rows)
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
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            json.dump(_jsonable(results), f, indent=2)
        os.replace(tmp, p)
        return p

    def finish(self) -> None:
        for lg in self.loggers:
            lg.finish()

    # ------------------------------------------------------------------ resumable work
    def cached(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
        """Compute ``fn()`` once per run directory; later calls (also after a restart) load it."""
        p = self.path("stages", f"{name}.npz")
        if os.path.exists(p):
            with np.load(p, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        out = {k: np.asarray(v) for k, v in fn().items()}
        tmp = p[:-4] + ".tmp.npz"
        np.savez(tmp, **out)
        os.replace(tmp, p)  # atomic: an interrupted save leaves no half-written stage
        return out

    def has_stage(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.out_dir, "stages", f"{name}.npz"))

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        return _progress(iterable, total=total, desc=desc, quiet=self.quiet)


def _progress(iterable, *, total, desc, quiet):
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    t0 = time.time()
    for i, item in enumerate(iterable):
        yield item
        if not quiet:
            done = i + 1
            el = time.time() - t0
            if total:
                eta = el / done * (total - done)
                bar = "#" * int(20 * done / total)
                sys.stderr.write(f"\r{desc} [{bar:<20}] {done}/{total} {el:.0f}s eta {eta:.0f}s")
            else:
                sys.stderr.write(f"\r{desc} {done} {el:.0f}s")
            sys.stderr.flush()
    if not quiet:
        sys.stderr.write("\n")

"""Logger back-ends for `rnnntk.run.runctx.RunContext`: Weights & Biases, or nothing.

Weights & Biases runs in offline mode unless the configuration says otherwise
(``logger.mode=online``): nothing waits for a server, and the run directory (inside the run's
output directory) is uploaded later with ``wandb sync <dir>``. ``logger=none`` never imports
wandb.

``logger.mode=online`` without an API key or without a reachable server falls back to offline
mode with one warning line (within a few seconds); ``logger.mode=online_strict`` stops the run with
a `RunError` instead.

Conventions (so a dashboard can compare the runs of a sweep): the runs of one multirun share a
group named after the sweep directory, ``job_type`` is the experiment, the tags hold the scale and
the experiment, the display name is the run's overrides (``training.beta=0.6``), and the run id is
derived from the run directory and the settings' fingerprint, so a resumed run continues its W&B
run while a run with other settings in the same directory starts a new one.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
from typing import Any
from urllib.parse import urlparse

from .._checks import RunError, require

MODES = ("offline", "online", "online_strict", "disabled")


def make_loggers(cfg, out_dir: str, info: dict | None = None) -> list:
    """Loggers named by ``cfg.logger.name`` (``"wandb"`` or ``"none"``). ``info``: see `identity`."""
    name = str(cfg.logger.name)
    require(name in ("wandb", "none"), "logger.name", name, '"wandb" or "none"')
    if name == "none":
        return []
    return [WandbLogger(cfg, out_dir, info)]


def identity(cfg, out_dir: str, info: dict | None = None) -> dict[str, Any]:
    """W&B ``group``, ``job_type``, ``tags``, ``name`` and ``id`` of a run.

    ``info`` may hold ``sweep_dir`` (the multirun's directory: the group), ``overrides`` (the run's
    overrides as ``key=value,...``: the display name), ``fingerprint`` (of the settings: part of the
    id), ``run_id``, ``name`` and ``group`` (explicit values). ``logger.group``,
    ``logger.run_name`` and ``logger.run_id`` win when set."""
    info = info or {}
    lg = cfg.logger
    exp = str(cfg.experiment.name)
    group = lg.get("group") or info.get("group")
    if not group and info.get("sweep_dir"):
        sweep = os.path.abspath(str(info["sweep_dir"]))
        root = os.path.abspath(str(cfg.get("out_root") or "."))
        group = os.path.relpath(sweep, root) if sweep.startswith(root + os.sep) else os.path.basename(sweep)
    tags = [str(cfg.get("scale", "")), exp, *[str(t) for t in (lg.get("tags") or [])]]
    name = lg.get("run_name") or info.get("name") or info.get("overrides") or exp
    seed = os.path.abspath(out_dir) + "|" + str(info.get("fingerprint", ""))
    # under `wandb agent` the agent's run id (WANDB_RUN_ID) ties the run to its sweep
    run_id = (
        lg.get("run_id")
        or os.environ.get("WANDB_RUN_ID")
        or info.get("run_id")
        or hashlib.sha256(seed.encode()).hexdigest()[:20]
    )
    return {
        "group": str(group) if group else None,
        "job_type": exp,
        "tags": [t for t in dict.fromkeys(tags) if t],
        "name": str(name),
        "id": str(run_id),
    }


def _api_host() -> str:
    return urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"


def online_problem(timeout: float = 3.0) -> str | None:
    """Why W&B cannot log online from here (no API key, server unreachable), or None."""
    host = _api_host()
    if not os.environ.get("WANDB_API_KEY"):
        import netrc

        try:
            auth = netrc.netrc().authenticators(host)
        except (OSError, netrc.NetrcParseError):
            auth = None
        if not auth:
            return "no W&B API key (set WANDB_API_KEY or run `wandb login`)"
    result: dict[str, Any] = {}

    def connect():  # in a thread: a name lookup can block longer than the socket timeout
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result["ok"] = True
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    t.join(timeout + 1.0)
    if not result.get("ok"):
        why = result.get("error") or f"no answer within {timeout:g} s"
        return f"cannot reach {host} ({why})"
    return None


def _fallback_warning(problem: str) -> None:
    sys.stderr.write(
        f"warning: logger.mode=online: {problem}; logging offline instead (upload later with wandb sync; "
        "logger.mode=online_strict fails instead)\n"
    )


def wandb_table(wandb, columns: list[str], rows: list[list[Any]]):
    """A ``wandb.Table`` of ``rows``; a column may mix numbers and labels (a width and ``"limit"``)."""
    return wandb.Table(columns=columns, data=rows, allow_mixed_types=True)


class WandbLogger:
    """A W&B run whose files live in ``<out_dir>/wandb``."""

    def __init__(self, cfg, out_dir: str, info: dict | None = None):
        from omegaconf import OmegaConf

        lg = cfg.logger
        mode = str(lg.get("mode", "offline"))
        require(mode in MODES, "logger.mode", mode, ", ".join(f'"{m}"' for m in MODES))
        strict = mode == "online_strict"
        if mode.startswith("online"):
            problem = online_problem()
            if problem and strict:
                raise RunError(
                    f"logger.mode=online_strict: {problem}; use logger.mode=offline and upload later with wandb sync"
                )
            if problem:
                _fallback_warning(problem)
                mode = "offline"
            else:
                mode = "online"
        if mode == "offline":
            os.environ["WANDB_MODE"] = "offline"  # also for any child process wandb starts
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self._wandb = wandb
        ident = self.identity = identity(cfg, out_dir, info)
        config = OmegaConf.to_container(cfg, resolve=True)
        if info and info.get("provenance"):
            config["provenance"] = info["provenance"]
        system = bool(lg.get("system_metrics", False))

        def init(mode):
            settings = wandb.Settings(x_disable_stats=not system, console="off", silent=True, init_timeout=15)
            return wandb.init(
                project=str(lg.get("project", "rnnntk")),
                entity=lg.get("entity"),
                group=ident["group"],
                job_type=ident["job_type"],
                tags=ident["tags"],
                name=ident["name"],
                id=ident["id"],
                resume="allow",
                dir=out_dir,
                mode=mode,
                config=config,
                settings=settings,
                reinit="finish_previous",
            )

        try:
            self.run = init(mode)
        except Exception as e:  # a server that does not answer in time, a rejected key
            if mode != "online":
                raise
            if strict:
                raise RunError(f"logger.mode=online_strict: W&B did not start ({type(e).__name__}: {e})") from None
            _fallback_warning(f"W&B did not start ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            mode = "offline"
            os.environ["WANDB_MODE"] = "offline"
            self.run = init(mode)
        self.mode = mode
        self.step = 0

    @property
    def run_dir(self) -> str:
        return os.path.dirname(self.run.dir)  # .../wandb/offline-run-*/files -> the run folder

    def _step(self, step):
        self.step = max(self.step, step if step is not None else self.step)
        return self.step

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if scalars:
            self.run.log(scalars, step=self._step(step))

    def log_image(self, name: str, path: str) -> None:
        self.run.log({f"figures/{name}": self._wandb.Image(path)}, step=self._step(None))

    def log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.run.log({f"tables/{name}": wandb_table(self._wandb, columns, rows)}, step=self._step(None))

    def log_line(self, name: str, x: list[float], ys: dict[str, list[float]], xname: str) -> None:
        plot = self._wandb.plot.line_series(xs=x, ys=list(ys.values()), keys=list(ys.keys()), title=name, xname=xname)
        self.run.log({f"curves/{name}": plot}, step=self._step(None))

    def summary(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            self.run.summary[k] = v

    def log_artifact(self, paths: list[str], name: str = "results") -> None:
        """``results.json`` and the resolved config (and whatever else) as one artifact."""
        art = self._wandb.Artifact(f"{name}-{self.run.id}", type="results")
        for p in paths:
            if os.path.exists(p):
                art.add_file(p)
        self.run.log_artifact(art)

    def finish(self) -> None:
        self.run.finish()

"""Logger back-ends for `rnnntk.runctx.RunContext`: Weights & Biases, or nothing.

Weights & Biases runs in offline mode unless the configuration says otherwise
(``logger.mode=online``): nothing waits for a server, and the run directory (inside the run's
output directory) is uploaded later with ``wandb sync <dir>``. ``logger=none`` never imports
wandb.
"""

from __future__ import annotations

import os
from typing import Any

from ._checks import require


def make_loggers(cfg, out_dir: str) -> list:
    """Loggers named by ``cfg.logger.name`` (``"wandb"`` or ``"none"``)."""
    name = str(cfg.logger.name)
    require(name in ("wandb", "none"), "logger.name", name, '"wandb" or "none"')
    if name == "none":
        return []
    return [WandbLogger(cfg, out_dir)]


def wandb_table(wandb, columns: list[str], rows: list[list[Any]]):
    """A ``wandb.Table`` of ``rows``; a column may mix numbers and labels (a width and ``"limit"``)."""
    return wandb.Table(columns=columns, data=rows, allow_mixed_types=True)


class WandbLogger:
    """A W&B run whose files live in ``<out_dir>/wandb``."""

    def __init__(self, cfg, out_dir: str):
        from omegaconf import OmegaConf

        lg = cfg.logger
        mode = str(lg.get("mode", "offline"))
        require(mode in ("offline", "online", "disabled"), "logger.mode", mode, '"offline", "online" or "disabled"')
        if mode == "offline":
            os.environ["WANDB_MODE"] = "offline"  # also for any child process wandb starts
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self._wandb = wandb
        settings = wandb.Settings(x_disable_stats=True, console="off", silent=True)
        self.run = wandb.init(
            project=str(lg.get("project", "rnnntk")),
            entity=lg.get("entity"),
            group=lg.get("group"),
            tags=[str(t) for t in (lg.get("tags") or [])],
            name=lg.get("run_name"),
            dir=out_dir,
            mode=mode,
            config=OmegaConf.to_container(cfg, resolve=True),
            settings=settings,
            reinit="finish_previous",
        )
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

    def finish(self) -> None:
        self.run.finish()

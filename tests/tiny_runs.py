"""One tiny run of an experiment through ``rnnntk.run.compose`` + ``run`` with every W&B payload
built, and the checks every experiment's run must pass (an image logged, results saved, figures
and the resolved config written). test_cli runs each experiment this way; an experiment with a
dedicated test file runs here once, from that file, which adds its own assertions on the results."""

import json
import os

from rnnntk.run import compose, run

QUIET = ["logger=none", "progress=false"]


class PayloadLogger:
    """Builds every W&B object an experiment logs (tables, line plots, images, summaries) without
    starting a W&B run: a payload that W&B rejects fails here, as it would in a real run."""

    def __init__(self):
        import wandb

        self.wandb, self.logged = wandb, []

    def log(self, metrics, step=None):
        self.logged.append(metrics)

    def log_image(self, name, path):
        self.logged.append(self.wandb.Image(path))

    def log_table(self, name, columns, rows):
        from rnnntk.run import wandb_table

        self.logged.append(wandb_table(self.wandb, columns, rows))

    def log_line(self, name, x, ys, xname):
        self.logged.append(self.wandb.plot.line_series(xs=x, ys=list(ys.values()), keys=list(ys), xname=xname))

    def summary(self, values):
        self.logged.append(values)

    def finish(self):
        pass


def run_tiny(tmp_path, monkeypatch, name, *overrides):
    """Run experiment ``name`` at scale=tiny in ``tmp_path`` with the payload logger, check what every
    run must produce, and return its results."""
    cfg = compose([f"experiment={name}", "scale=tiny", *QUIET, *overrides], out_dir=str(tmp_path))
    payloads = PayloadLogger()
    with monkeypatch.context() as m:
        m.setattr("rnnntk.run.loggers.make_loggers", lambda cfg, out_dir, info=None: [payloads])
        results = run(cfg)
    assert any(isinstance(p, payloads.wandb.Image) for p in payloads.logged)
    assert isinstance(results, dict) and results
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved.keys() == results.keys()
    figs = os.listdir(tmp_path / "figures")
    assert any(f.endswith(".png") for f in figs) and any(f.endswith(".pdf") for f in figs)
    assert (tmp_path / "config.resolved.yaml").exists()
    return results

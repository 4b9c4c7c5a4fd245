"""The elman_kernel experiment at a tiny size: it runs from its config, reports, and resumes."""

import json
import os

import numpy as np
import pytest
from tiny_runs import run_tiny

from rnnntk import ConfigError
from rnnntk.run import compose, run

QUIET = ["scale=tiny", "logger=none", "progress=false"]


def test_elman_kernel_runs_tiny_and_resumes(tmp_path, monkeypatch):
    # the tiny run of `rnnntk experiment=elman_kernel scale=tiny`, with test_cli's checks (run_tiny)
    res = run_tiny(tmp_path, monkeypatch, "elman_kernel")
    assert res["widths"] == [8, 16] and res["seeds"] == 2
    assert set(res["deviation"]) == {"elman_last", "elman_mean", "diagonal"}
    for s, d in res["deviation"].items():
        d = np.asarray(d)
        assert d.shape == (2, 2) and np.all(np.isfinite(d)) and np.all(d > 0), s
        assert np.all(d < 2.0), s  # a width-8 kernel is rough, but of the limit's size
    for name in ("elman_kernel.png", "elman_kernel.pdf"):
        assert os.path.getsize(tmp_path / "figures" / name) > 0
    assert (tmp_path / "tables" / "elman_kernel.csv").read_text().startswith("width,seeds,elman_last_mean")
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().split("\n") if line]
    assert [m["width"] for m in logged if "width" in m] == [8, 16]
    # a second run loads every stage instead of recomputing: identical numbers
    again = run(compose(["experiment=elman_kernel", *QUIET], out_dir=str(tmp_path)))
    assert again["deviation"] == res["deviation"]


@pytest.mark.parametrize(
    "override,match",
    [
        ("experiment.elman.activation=sigmoid", r"activation = 'sigmoid'"),
        ("experiment.elman.pools=[max]", r"experiment.elman.pools = \['max'\]"),
        ("experiment.elman.var_w=-1", r"experiment.elman.var_w = -1"),
        ("experiment.length=0", r"experiment.length = 0"),
        ("sweep.widths=[8]", r"sweep.widths = \[8\] .*at least 2 widths"),
    ],
)
def test_elman_kernel_bad_config_fails_before_running(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        run(compose(["experiment=elman_kernel", *QUIET, override], out_dir=str(tmp_path)))
    assert not os.path.exists(tmp_path / "stages")

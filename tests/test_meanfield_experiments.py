"""The mean-field experiments reject bad configuration before anything is compiled (their runs at
scale=tiny are in test_cli)."""

import os

import pytest

from rnnntk import ConfigError, meanfield as mf
from rnnntk.run import compose, run

QUIET = ["scale=tiny", "logger=none", "progress=false"]


@pytest.mark.parametrize(
    "experiment,override,match",
    [
        ("meanfield_loss", "experiment.lr=0", r"experiment.lr = 0 "),
        ("meanfield_loss", "experiment.horizon=2.5", r"experiment.horizon = 2.5 .*multiple of .* = 1 "),
        ("meanfield_loss", "experiment.window=2", r"experiment.window = 2 .*memory m = 4"),
        ("meanfield_loss", "experiment.batch=0", r"experiment.batch = 0"),
        ("meanfield_loss", "experiment.eval_size=-5", r"experiment.eval_size = -5"),
        ("meanfield_loss", "experiment.activation=sigmoid", r"activation = 'sigmoid'"),
        ("meanfield_loss", "experiment.init.var_w=-1", r"experiment.init.var_w = -1"),
        ("meanfield_loss", "+experiment.init.var_x=1", r"experiment.init option\(s\) \['var_x'\]"),
        ("meanfield_loss", "experiment.train_bias=maybe", r"experiment.train_bias = 'maybe'"),
        ("meanfield_loss", "target=teacher", r"target.name = 'Teacher' .*finite-memory"),
        ("meanfield_loss", "target.memory=0", r"target.memory = 0"),
        ("meanfield_loss", "experiment.comparison.target.name=sine", r"experiment.comparison: target.name = 'sine'"),
        ("meanfield_loss", "experiment.comparison.train_bias=1", r"comparison: experiment.train_bias = 1 "),
        ("meanfield_loss", "sweep.widths=[8,4]", r"sweep.widths = \[8, 4\] .*increasing order"),
        ("meanfield_coupling", "sweep.widths=[8,16,24]", r"sweep.widths = \[8, 16, 24\] .*two pairs \(N, 2N\)"),
        ("meanfield_coupling", "sweep.widths=[8,16]", r"sweep.widths = \[8, 16\] .*at least 3 distinct"),
        ("meanfield_coupling", "data=npz data.path=/nonexistent.npz", r"no such file"),
    ],
)
def test_bad_configuration_fails_before_any_compilation(tmp_path, experiment, override, match):
    before = sum(mf.TRACES.values())
    with pytest.raises(ConfigError, match=match):
        run(compose([f"experiment={experiment}", *QUIET, *override.split()], out_dir=str(tmp_path)))
    assert sum(mf.TRACES.values()) == before
    assert not os.path.exists(tmp_path / "stages")


def test_targets_and_scales_compose():
    cfg = compose(["experiment=meanfield_loss"])
    assert cfg.target.name == "elman_teacher" and cfg.data.dim == 2
    cfg = compose(["experiment=meanfield_loss", "target=sin_lag", "scale=paper"])
    assert cfg.target.name == "sin_lag" and list(cfg.sweep.widths)[-1] == 4096

"""Fan-out and fan-in: a study split over the jobs of a multirun, joined by rnnntk-aggregate."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf
from subprocess_env import COMPILE_CACHE, offline_env

from rnnntk import ConfigError, RunError
from rnnntk.diagonal import join_studies, spec_from_config
from rnnntk.run import compose, load_jobs, run
from rnnntk.run.aggregate import aggregate

QUIET = ["logger=none", "progress=false"]


@pytest.fixture(scope="module")
def split_sweep(tmp_path_factory):
    """``'sweep.widths=[8],[16]'``: one width per job, aggregated by the multirun's callback."""
    tmp = tmp_path_factory.mktemp("split")
    sweep = tmp / "sweep"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnntk.run.cli",
            "-m",
            "experiment=convergence",
            "scale=tiny",
            *QUIET,
            "sweep.widths=[8],[16]",
            f"hydra.sweep.dir={sweep}",
            f"compile_cache={COMPILE_CACHE}",
        ],
        cwd=tmp,
        env=offline_env(tmp),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return sweep, out


def test_split_sweep_aggregated_equals_one_run(split_sweep, tmp_path):
    sweep, out = split_sweep
    assert "aggregated 2 jobs" in out.stdout
    agg = json.loads((sweep / "aggregate" / "results.json").read_text())
    one = run(compose(["experiment=convergence", "scale=tiny", *QUIET, "sweep.widths=[8,16]"], out_dir=str(tmp_path)))
    assert len(agg["slopes"]) == len(one["slopes"]) == 2
    for a, b in zip(agg["slopes"], one["slopes"]):
        assert {"grad", "alpha", "beta", "slope", "lo", "hi", "floor"} <= set(a)
        assert (a["grad"], a["alpha"], a["beta"]) == (b["grad"], b["alpha"], b["beta"])
        assert abs(a["slope"] - b["slope"]) < 1e-12
        assert a["floor"] == b["floor"]
    for k in ("D", "loss", "t", "floor", "limit_loss"):
        np.testing.assert_allclose(
            np.asarray(agg["study"]["per_grad"]["rtrl"][k], float),
            np.asarray(one["study"]["per_grad"]["rtrl"][k], float),
            rtol=1e-12,
            atol=0,
        )
    assert agg["study"]["widths"] == [8, 16]
    assert (sweep / "aggregate" / "figures" / "convergence_rtrl.png").exists()
    table = (sweep / "aggregate" / "tables" / "convergence.csv").read_text().splitlines()
    assert len(table) == 1 + 2 * 2 * 2  # header, betas x widths x seeds
    assert [j["dir"] for j in agg["provenance"]["jobs"]] == ["sweep.widths=[16]", "sweep.widths=[8]"]
    # each job holds one width and no slope; the second job reused the first one's limit
    part = json.loads((sweep / "sweep.widths=[16]" / "results.json").read_text())
    assert part["partial"] and "slope" not in part["slopes"][0]
    assert len(list((sweep / ".limit_cache").glob("*.npz"))) == 1  # the path limit's moments, computed once
    assert out.stderr.count("limit_rtrl_path (from the sweep's cache)") == 1


def test_a_missing_or_failed_job_is_named(split_sweep, tmp_path):
    sweep, _ = split_sweep
    broken = tmp_path / "sweep"
    shutil.copytree(sweep, broken)
    (broken / "sweep.widths=[16]" / "results.json").unlink()
    with pytest.raises(RunError, match=r"job sweep.widths=\[16\] has no results.json"):
        aggregate(str(broken), logger="none")
    shutil.rmtree(broken / "sweep.widths=[16]")
    with pytest.raises(RunError, match=r"job sweep.widths=\[16\] is missing"):
        load_jobs(str(broken))
    # the console script says the same in one line, exit 1
    out = subprocess.run(
        [sys.executable, "-m", "rnnntk.run.aggregate", str(broken), "--logger", "none"],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "sweep.widths=[16] is missing" in out.stderr


def test_jobs_of_different_studies_are_not_joined(split_sweep, tmp_path):
    sweep, _ = split_sweep
    other = tmp_path / "sweep"
    shutil.copytree(sweep, other)
    p = other / "sweep.widths=[16]" / "config.resolved.yaml"
    cfg = OmegaConf.load(p)
    cfg.model.b0 = 0.3
    OmegaConf.save(cfg, p)
    with pytest.raises(RunError, match=r"not parts of one study: they differ in model.b0"):
        aggregate(str(other), logger="none")


def test_a_single_run_that_cannot_make_its_figure_fails_before_compiling(tmp_path):
    from rnnntk.diagonal import ensemble

    before = sum(ensemble.TRACES.values())
    with pytest.raises(ConfigError, match=r"needs at least 2.*rnnntk -m .*rnnntk-aggregate"):
        run(compose(["experiment=convergence", "scale=tiny", *QUIET, "sweep.widths=[8]"], out_dir=str(tmp_path)))
    assert sum(ensemble.TRACES.values()) == before
    assert not (tmp_path / "stages").exists()


def _part(widths, grid, S=2, C=3, B=4):
    """A synthetic study part whose numbers encode (width, alpha, beta)."""
    alphas = list(dict.fromkeys(a for a, _ in grid))
    D = np.array(
        [[[[n + 10 * a + 100 * b + s + c / 10 for c in range(C)] for a, b in grid] for s in range(S)] for n in widths]
    )
    return {
        "widths": widths,
        "grid": [list(g) for g in grid],
        "per_grad": {
            "rtrl": {
                "t": [[n * c for c in range(C)] for n in widths],
                "D": D.tolist(),
                "loss": (-D[..., : B - 1]).tolist(),
                "bin_t": [[0.1, 0.2, 0.3] for n in widths],
                "limit_t": [0.0, 1.0],
                "limit_loss": [[a, a + 1] for a in alphas],
                "floor": [[a * 2] * C for a in alphas],
                "floor_t": [0.0, 0.5, 1.0],
            }
        },
    }


def test_join_studies_places_every_width_and_grid_point(tmp_path):
    """Split over widths and over beta at once; the join equals the part that was made whole."""
    cfg = compose(
        [
            "experiment=convergence",
            "scale=tiny",
            "sweep.widths=[8,16]",
            "training.beta=[0.6,0.75]",
            "training.alpha=[2,5]",
        ]
    )
    spec = spec_from_config(cfg)
    g_all = spec.grid
    whole = _part([8, 16], g_all)
    parts = [
        _part([8], [g for g in g_all if g[1] == 0.6]),
        _part([8], [g for g in g_all if g[1] == 0.75]),
        _part([16], g_all),
    ]
    res = join_studies(spec, parts)
    r = res.per_grad["rtrl"]
    np.testing.assert_array_equal(r.D, np.asarray(whole["per_grad"]["rtrl"]["D"]))
    np.testing.assert_array_equal(r.loss, np.asarray(whole["per_grad"]["rtrl"]["loss"]))
    np.testing.assert_array_equal(r.t, np.asarray(whole["per_grad"]["rtrl"]["t"]))
    np.testing.assert_array_equal(r.limit_loss, [[2, 3], [5, 6]])
    with pytest.raises(RunError, match="no job holds estimator rtrl, width 16, alpha=2, beta=0.6"):
        join_studies(spec, parts[:2])


@pytest.mark.parametrize("name", ["beta_phase", "loss_curves", "estimators"])
def test_every_study_experiment_reports_a_joined_study(split_sweep, tmp_path, name):
    """The other experiments built on the study join the same parts (their figures need no
    training: the jobs' parts are relabelled as that experiment's)."""
    sweep, _ = split_sweep
    other = tmp_path / "sweep"
    shutil.copytree(sweep, other, ignore=shutil.ignore_patterns("aggregate"))
    for p in other.glob("*/config.resolved.yaml"):
        cfg = OmegaConf.load(p)
        cfg.experiment.name = name
        OmegaConf.save(cfg, p)
    res = aggregate(str(other), logger="none", quiet=True)
    assert res["study"]["widths"] == [8, 16]
    assert list((other / "aggregate" / "figures").glob("*.png"))
    if name == "beta_phase":
        assert [r["beta"] for r in res["slopes"]] == [0.6, 0.75] and all("slope" in r for r in res["slopes"])
    if name == "loss_curves":
        assert all(len(v["mean_abs_gap_to_limit"]) == 2 for v in res["gaps"].values())

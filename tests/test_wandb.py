"""W&B runs a dashboard can compare, read back from the offline run files; the offline fallback."""

import glob
import json
import os
import subprocess
import sys
import time

import pytest
from subprocess_env import COMPILE_CACHE, offline_env

from rnnntk import RunError
from rnnntk.run import compose, run


def _run_file(run_dir):
    files = glob.glob(os.path.join(str(run_dir), "wandb", "offline-run-*", "run-*.wandb"))
    assert len(files) >= 1, f"no W&B run in {run_dir}"
    return sorted(files)


def _read(path):
    """The run record, summary values, history rows and artifacts of an offline run file."""
    from wandb_records import records

    run, summary, rows, artifacts = None, {}, [], []
    for r in records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            run = r.run
        elif kind == "summary":
            for u in r.summary.update:
                summary[u.key or "/".join(u.nested_key)] = json.loads(u.value_json)
        elif kind == "history":
            rows.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item})
        elif kind == "artifact":
            artifacts.append((r.artifact.type, sorted(m.path for m in r.artifact.manifest.contents)))
    return run, summary, rows, artifacts


def test_sweep_runs_share_a_group_and_are_named_by_their_overrides(tmp_path):
    sweep = tmp_path / "sweep"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnntk.run.cli",
            "-m",
            "experiment=convergence",
            "scale=tiny",
            "progress=false",
            "training.beta=0.6,0.75",
            "logger.project=cmp",
            "logger.tags=[study]",
            f"hydra.sweep.dir={sweep}",
            f"compile_cache={COMPILE_CACHE}",
        ],
        cwd=tmp_path,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jobs = sorted(d for d in os.listdir(sweep) if d.startswith("training.beta="))
    assert jobs == ["training.beta=0.6", "training.beta=0.75"]  # logger.* stays out of the names
    groups, ids = set(), set()
    for job in jobs:
        run_rec, summary, rows, artifacts = _read(_run_file(sweep / job)[0])
        groups.add(run_rec.run_group)
        ids.add(run_rec.run_id)
        assert run_rec.job_type == "convergence"
        assert {"tiny", "convergence", "study"} <= set(run_rec.tags)
        assert run_rec.display_name == job
        config = {u.key: json.loads(u.value_json) for u in run_rec.config.update}
        assert config["training"]["beta"] == float(job.split("=")[1])  # the swept value is a scalar field
        local = json.loads((sweep / job / "results.json").read_text())
        assert config["provenance"]["fingerprint"] == local["provenance"]["fingerprint"]
        assert {"jax", "numpy", "wandb"} <= set(local["provenance"]["versions"])
        assert local["provenance"]["devices"]
        # one grid point: common summary keys next to the per-point ones
        assert summary["slope"] == pytest.approx(local["slopes"][0]["slope"], abs=0)
        assert summary["floor"] == pytest.approx(local["slopes"][0]["floor"], abs=0)
        assert summary[f"slope/rtrl/beta={float(job.split('=')[1]):g}"] == summary["slope"]
        assert local["summary"]["slope"] == summary["slope"]
        assert local["wandb"]["group"] == "sweep" and local["wandb"]["id"] == run_rec.run_id
        # every floor value has a row of its own (a step each)
        floors = [r for r in rows if "limit/rtrl/floor_alpha=5" in r]
        assert len(floors) == 3 and len({r["_step"] for r in floors}) == 3
        assert all("_step" in r for r in rows)
        assert ("results", ["config.resolved.yaml", "results.json"]) in artifacts
    assert groups == {"sweep"} and len(ids) == 2
    # the aggregate (a split over beta) is a run of the same group; its slopes are the jobs'
    agg_run, agg_summary, _, _ = _read(_run_file(sweep / "aggregate")[0])
    assert agg_run.run_group == "sweep" and agg_run.display_name == "aggregate"
    agg = json.loads((sweep / "aggregate" / "results.json").read_text())
    per_job = [json.loads((sweep / j / "results.json").read_text())["slopes"][0]["slope"] for j in jobs]
    assert [r["slope"] for r in agg["slopes"]] == per_job
    assert agg_summary["slope/rtrl/beta=0.6"] == per_job[0]


def test_a_resumed_run_continues_its_wandb_run(tmp_path):
    args = ["experiment=memory", "scale=tiny", "progress=false", "logger.mode=offline"]
    d = str(tmp_path / "r")

    def ids():  # offline-run-<time>-<id>
        return [os.path.basename(os.path.dirname(f)).rsplit("-", 1)[1] for f in _run_file(d)]

    run(compose(args, out_dir=d))
    run(compose(args, out_dir=d))
    assert len(ids()) == 2 and len(set(ids())) == 1
    run(compose([*args, "model.b0=0.3"], out_dir=d))  # other settings: another W&B run
    assert len(set(ids())) == 2
    run(compose([*args, "model.b0=0.3", "resume=false"], out_dir=d))  # a fresh start: another one
    assert len(set(ids())) == 3
    run(compose([*args, "model.b0=0.3"], out_dir=d))  # resuming the fresh start continues it
    assert len(set(ids())) == 3 and ids()[-1] == ids()[-2]


def test_online_without_key_or_network_falls_back_to_offline_quickly(tmp_path, monkeypatch, capsys):
    from rnnntk.run import WandbLogger

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    for key, why in ((None, "no W&B API key"), ("0" * 40, "cannot reach")):
        if key:
            monkeypatch.setenv("WANDB_API_KEY", key)  # a key, but this machine has no network
        cfg = compose(["experiment=memory", "scale=tiny", "logger.mode=online"])
        t0 = time.time()
        lg = WandbLogger(cfg, str(tmp_path / (key or "nokey")))
        took = time.time() - t0
        lg.finish()
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert lg.mode == "offline"
        assert len(err) == 1 and err[0].startswith("warning: logger.mode=online: " + why)
        assert "logging offline instead" in err[0]
        assert took < 30, f"the fallback took {took:.0f} s"


def test_online_strict_fails_with_one_line(tmp_path, monkeypatch):
    env = offline_env(tmp_path, HOME=str(tmp_path))
    env.pop("WANDB_API_KEY", None)
    env.pop("WANDB_MODE", None)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnntk.run.cli",
            "experiment=memory",
            "scale=tiny",
            "logger.mode=online_strict",
            f"hydra.run.dir={tmp_path}/run",
            f"compile_cache={COMPILE_CACHE}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: logger.mode=online_strict: no W&B API key")
    from rnnntk.run import WandbLogger

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    with pytest.raises(RunError, match="online_strict: cannot reach"):
        WandbLogger(compose(["experiment=memory", "logger.mode=online_strict"]), str(tmp_path / "x"))


def test_system_metrics_can_be_switched_on(tmp_path):
    from rnnntk.run import WandbLogger

    on = WandbLogger(compose(["experiment=memory", "logger.system_metrics=true"]), str(tmp_path / "on"))
    assert on.run.settings.x_disable_stats is False
    on.finish()
    off = WandbLogger(compose(["experiment=memory"]), str(tmp_path / "off"))
    assert off.run.settings.x_disable_stats is True
    off.finish()

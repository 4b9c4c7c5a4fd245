"""The SLURM launcher on a real scheduler: a sweep split over widths through `launcher=slurm` runs end
to end and its jobs join into the run over all widths,
and a GPU request the cluster cannot grant stops before submitting with a message naming the field.

Needs a running cluster: `sudo scripts/slurm_cluster.sh start` (one node on this machine; .ci/run
starts it). Skips, with the reason, where sbatch is absent or no node is up.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from subprocess_env import COMPILE_CACHE

from rnnntk.run import explain_sbatch_error, sbatch_test_args

ROOT = Path(__file__).resolve().parents[1]
RNNNTK = [sys.executable, "-c", "from rnnntk.run.cli import main; main()"]


def _cluster_up() -> str | None:
    """None when a SLURM node is idle or busy, else why the real-scheduler tests skip."""
    if shutil.which("sbatch") is None:
        return "sbatch not found (no SLURM here; start one with: sudo scripts/slurm_cluster.sh start)"
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"sinfo failed: {e}"
    states = r.stdout.split()
    if r.returncode != 0 or not any(s.startswith(("idle", "mixed", "allocated")) for s in states):
        answer = r.stdout.strip() or r.stderr.strip()
        return f"no SLURM node up (sinfo: {answer}); run: sudo scripts/slurm_cluster.sh start"
    return None


_WHY_NOT = _cluster_up()
needs_cluster = pytest.mark.skipif(_WHY_NOT is not None, reason=str(_WHY_NOT))


def test_explain_sbatch_error_names_the_field():
    msg = explain_sbatch_error("sbatch: error: Invalid generic resource (gres) specification")
    assert "hydra.launcher.gpus_per_node" in msg and "launcher=slurm" in msg
    assert "hydra.launcher.mem_gb" in explain_sbatch_error("Requested node configuration is not available")
    assert explain_sbatch_error("sbatch: error: something else") is None


def test_sbatch_test_args_follow_the_launcher_fields():
    args = sbatch_test_args(
        {
            "gpus_per_node": 1,
            "cpus_per_task": 8,
            "mem_gb": 64,
            "timeout_min": 720,
            "partition": None,
            "additional_parameters": {"mail_type": "END"},
        }
    )
    assert args[:2] == ["sbatch", "--test-only"]
    assert {"--gpus-per-node=1", "--cpus-per-task=8", "--mem=64G", "--time=720", "--mail-type=END"} <= set(args)
    assert not any(a.startswith("--partition") for a in args)


@needs_cluster
def test_split_sweep_through_slurm_joins_to_one_run(tmp_path):
    """One width per SLURM job; the multirun's callback joins them into the run over both widths."""
    from rnnntk.run import compose, run

    sweep = tmp_path / "sweep"
    cmd = [
        *RNNNTK,
        "-m",
        "experiment=convergence",
        "scale=tiny",
        "sweep.widths=[8],[16]",
        "launcher=slurm",
        "logger=none",
        "progress=false",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2",
        "hydra.launcher.timeout_min=10",
        f"hydra.sweep.dir={sweep}",
        f"out_root={tmp_path / 'out'}",
        f"compile_cache={COMPILE_CACHE}",
    ]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    results = sorted(sweep.glob("sweep.widths=*/results.json"))
    assert [p.parent.name for p in results] == ["sweep.widths=[16]", "sweep.widths=[8]"], r.stderr[-3000:]
    assert list((sweep / ".submitit").glob("*/*_log.out")), "no SLURM job logs: the jobs did not run through sbatch"
    agg = json.loads((sweep / "aggregate" / "results.json").read_text())
    one = run(
        compose(
            [
                "experiment=convergence",
                "scale=tiny",
                "logger=none",
                "progress=false",
                "sweep.widths=[8,16]",
                f"out_root={tmp_path / 'out'}",
            ],
            out_dir=str(tmp_path / "one"),
        )
    )
    assert len(agg["slopes"]) == len(one["slopes"]) == 2
    for a, b in zip(agg["slopes"], one["slopes"]):
        assert (a["grad"], a["alpha"], a["beta"]) == (b["grad"], b["alpha"], b["beta"])
        assert abs(a["slope"] - b["slope"]) < 1e-12 and a["floor"] == b["floor"]


@needs_cluster
def test_gpu_preset_on_a_cpu_cluster_names_the_field(tmp_path):
    gres = subprocess.run(["sinfo", "-h", "-o", "%G"], capture_output=True, text=True, timeout=20).stdout
    if "gpu" in gres:
        pytest.skip("this cluster has GPUs: the GPU preset is valid here")
    cmd = [
        *RNNNTK,
        "-m",
        "experiment=kernel",
        "scale=tiny",
        "launcher=slurm_gpu",
        "logger=none",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Invalid generic resource" in r.stderr and "hydra.launcher.gpus_per_node" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "sweep" / ".submitit").exists(), "a job was submitted before the check"

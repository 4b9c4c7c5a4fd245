"""The command line, configs, sweeps, logging and resuming (tiny sizes)."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf
from subprocess_env import COMPILE_CACHE, offline_env
from tiny_runs import QUIET, run_tiny

from rnnntk import ConfigError
from rnnntk.run import compose, list_experiments, run


def _cli(tmp_path, *args, timeout=600):
    cmd = [sys.executable, "-m", "rnnntk.run.cli", *args, f"compile_cache={COMPILE_CACHE}"]
    out = subprocess.run(cmd, cwd=tmp_path, env=offline_env(tmp_path), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


# Experiments whose dedicated test runs them at scale=tiny through compose + run with run_tiny (the
# checks below included), so one tiny run serves both sets of assertions.
COVERED = {
    "actor_critic": "test_ac_experiment.py::test_all_figures_at_tiny_size_and_resume",
    "actor_critic_scaling": "test_ac_scaling.py::test_tiny_run",
    "elman_kernel": "test_elman_experiment.py::test_elman_kernel_runs_tiny_and_resumes",
}


@pytest.mark.parametrize("name", [n for n in list_experiments() if n not in COVERED])
def test_every_experiment_composes_and_runs_tiny(tmp_path, name, monkeypatch):
    # (that the other scales compose, with their presets, is test_presets.py's
    # test_every_experiment_has_its_three_presets_and_no_scales_block; the experiments in COVERED
    # run these checks in their own test files)
    run_tiny(tmp_path, monkeypatch, name)


def test_covered_experiments_exist():
    assert set(COVERED) <= set(list_experiments())


def test_scale_preset_under_command_line_overrides(tmp_path):
    cfg = compose(["experiment=convergence", "scale=tiny", "sweep.seeds=3"])
    assert list(cfg.sweep.widths) == [8, 16]  # from the tiny preset
    assert cfg.sweep.seeds == 3  # the command line wins
    assert cfg.limit.bags == 2
    assert cfg.meta.preset == "convergence_tiny"
    with pytest.raises(ConfigError, match=r"scale = 'huge' .* one of \['medium', 'paper', 'quick', 'tiny'\]"):
        compose(["experiment=convergence", "scale=huge"])


@pytest.mark.parametrize(
    "override,match",
    [
        ("training.beta=1.5", r"training.beta = 1.5 .* \[1/2, 1\]"),
        ("model.b0=1.2", r"model.b0 = 1.2 .* b0 \* sup\|sigma'\| < 1"),
        ("model.activation=relu", r"model.activation = 'relu' .*\['erf', 'erf_unit', 'sigmoid', 'tanh'\] .*bounded"),
        ("training.grad=adam", r"training.grad = 'adam' .*\"rtrl\", \"tbptt:<tau>\""),
        ("sweep.widths=[0,8]", r"sweep.widths = 0"),
        ("data=npz", r"data.path is required with data=npz"),
        ("data=npz data.path=/nonexistent/seq.npz", r"no such file"),
        ("logger.name=tensorboard", r"logger.name = 'tensorboard'"),
        ("data.dim=3", r"data.dim = 3 .*monte_carlo"),
        ("precision=float16", r"precision = 'float16'"),
        # degenerate sizes and grids: nothing to fit, nothing to draw
        ("training.beta=[]", r"training.beta = \[\] .*non-empty list of numbers in \[1/2, 1\]"),
        ("training.grad=[]", r"training.grad = \[\] .*non-empty list of \"rtrl\" or \"tbptt:<tau>\""),
        ("training.alpha=[]", r"training.alpha = \[\] .*non-empty list"),
        ("sweep.widths=[]", r"sweep.widths = \[\] .*non-empty list of integers >= 1"),
        ("limit.P=1", r"limit.P = 1 .*integer >= 10"),
        ("limit.P=9", r"limit.P = 9 .*integer >= 10"),
        ("limit.bags=2 limit.Q=3", r"limit.Q = 3 .*integer >= 10"),
        ("limit.bags=0", r"limit.bags = 0 .*integer >= 1"),
        ("+limit.n_w=0", r"limit.n_w = 0 .*integer >= 1"),
        ("limit.tol=1.5", r"limit.tol = 1.5 .*a number in \(0, 1\)"),
        # keys that no group has, added with + or ++
        ("+training.foo=1", r"training.foo \(added with \+\) is not a field of the group training: .*'alpha', 'beta'"),
        ("++limit.pp=3", r"limit.pp \(added with \+\) is not a field of the group limit: .*'P', 'Q'.*'samples'"),
        ("+experiment.foo=1", r"experiment.foo \(added with \+\) is not a field of experiment=convergence"),
        ("+data.foo=1", r"data option\(s\) \['foo'\] not understood by AR1"),
        ("+foo=1", r"foo is not a setting: expected one of \[.*'training'"),
        ("~training.burn", r"removing training.burn is not supported"),
        ("meta.preset=x", r"meta.\* is bookkeeping"),
        ("experiment.reads=[data]", r"experiment.reads is fixed by the experiment's config"),
    ],
)
def test_bad_configuration_fails_before_any_compilation(tmp_path, override, match):
    from rnnntk.diagonal import ensemble

    before = sum(ensemble.TRACES.values())
    with pytest.raises(ConfigError, match=match):
        run(compose(["scale=tiny", *QUIET, *override.split()], out_dir=str(tmp_path)))
    assert sum(ensemble.TRACES.values()) == before
    assert not (tmp_path / "stages").exists()


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, monkeypatch):
    from rnnntk.diagonal import chunks

    args = ["experiment=convergence", "scale=tiny", *QUIET, "training.chunks=3", "sweep.widths=[8,12,16]"]
    whole = run(compose(args, out_dir=str(tmp_path / "whole")))

    calls = {"n": 0}
    real = chunks.train_chunk  # the one chunked training loop (rnnntk.diagonal.chunks.train_chunks) calls it

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 9:  # mid-way through the second width (6 calls per width: 3 burn-in, 3 chunks)
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(chunks, "train_chunk", crashing)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run(compose(args, out_dir=str(out)))
    assert len(glob.glob(str(out / "stages" / "convergence_width_*"))) == 1  # the first width is saved
    assert len(glob.glob(str(out / "checkpoints" / "*.npz"))) == 1  # and the chunks done of the second
    monkeypatch.setattr(chunks, "train_chunk", real)
    resumed = run(compose(args, out_dir=str(out)))
    a, b = whole["study"]["per_grad"]["rtrl"], resumed["study"]["per_grad"]["rtrl"]
    np.testing.assert_array_equal(np.asarray(a["D"]), np.asarray(b["D"]))
    np.testing.assert_array_equal(np.asarray(a["loss"]), np.asarray(b["loss"]))
    assert not glob.glob(str(out / "checkpoints" / "*.npz"))  # finished widths leave no checkpoint


def test_no_retracing_across_chunks_and_repeated_widths(tmp_path):
    from rnnntk.diagonal import ensemble

    before = dict(ensemble.TRACES)
    run(
        compose(
            [
                "experiment=convergence",
                "scale=tiny",
                *QUIET,
                "training.chunks=4",
                "training.grad=[rtrl]",
                "sweep.widths=[8,16]",
                "limit.bags=1",
            ],
            out_dir=str(tmp_path),
        )
    )
    # one chunk program and one evaluation program per width (2 widths x 1 estimator), whatever
    # the number of chunks
    assert ensemble.TRACES["chunk"] - before.get("chunk", 0) <= 2
    assert ensemble.TRACES["predict"] - before.get("predict", 0) <= 2


def test_wandb_offline_run_holds_metrics_and_images(tmp_path):
    from wandb_records import history

    _cli(tmp_path, "experiment=convergence", "scale=tiny", "progress=false", f"out_root={tmp_path}/out")
    run_files = glob.glob(str(tmp_path / "out" / "convergence" / "tiny" / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(run_files) == 1, "the W&B run lives inside the run directory"
    rows = history(run_files[0])
    keys = set().union(*rows)
    assert any(k.startswith("D/rtrl/N=16/") for k in keys)
    assert any(k.startswith("loss/rtrl/") for k in keys)
    assert any(k.startswith("slope/rtrl/") for k in keys)
    d = [json.loads(r["D/rtrl/N=16/alpha=5,beta=0.75"]) for r in rows if "D/rtrl/N=16/alpha=5,beta=0.75" in r]
    local = [
        json.loads(x) for x in (tmp_path / "out" / "convergence" / "tiny" / "metrics.jsonl").read_text().splitlines()
    ]
    want = [m["D/rtrl/N=16/alpha=5,beta=0.75"] for m in local if "D/rtrl/N=16/alpha=5,beta=0.75" in m]
    np.testing.assert_allclose(d, want)  # the same numbers as the local metrics file
    files = os.path.dirname(run_files[0])
    pngs = glob.glob(os.path.join(files, "files", "media", "images", "**", "*.png"), recursive=True)
    assert any(os.path.basename(p).startswith("convergence_rtrl") for p in pngs)
    with open(pngs[0], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    tables = glob.glob(os.path.join(files, "files", "media", "table", "**", "*.table.json"), recursive=True)
    table = json.loads(open(tables[0]).read())
    assert table["columns"] == ["grad", "alpha", "beta", "N", "seed", "T", "D_N(T)"]
    assert len(table["data"]) == 2 * 2 * 2  # betas x widths x seeds
    # the history links the image file, which is on disk
    img = [json.loads(r["figures/convergence_rtrl/path"]) for r in rows if "figures/convergence_rtrl/path" in r]
    assert img and os.path.exists(os.path.join(files, "files", img[0]))


def test_logger_none_does_not_import_wandb(tmp_path):
    code = (
        "import sys\n"
        "from rnnntk.run.cli import compose, run\n"
        "args = ['experiment=memory', 'scale=tiny', 'logger=none', 'progress=false']\n"
        f"args.append({f'compile_cache={COMPILE_CACHE}'!r})\n"
        f"run(compose(args, out_dir={str(tmp_path)!r}))\n"
        "assert 'wandb' not in sys.modules, 'wandb was imported'\n"
    )
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, env=offline_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]


# The 2x2 grid through a launcher that starts one process per job. The default (basic) launcher's
# multiruns are test_wandb.py::test_sweep_runs_share_a_group_and_are_named_by_their_overrides (jobs
# named by their overrides, each with its results.json) and test_aggregate.py's split_sweep; the grid
# itself is Hydra's sweeper, the same for every launcher.
@pytest.mark.parametrize("launcher", ["submitit_local"])
def test_multirun_sweep_2x2(tmp_path, launcher):
    _cli(
        tmp_path,
        "-m",
        "experiment=memory",
        "scale=tiny",
        "logger=none",
        "progress=false",
        f"launcher={launcher}",
        "model.b0=0.3,0.5",
        "sweep.seeds=1,2",
        f"out_root={tmp_path}/out",
        timeout=900,
    )
    results = sorted(glob.glob(str(tmp_path / "out" / "multirun" / "memory" / "tiny" / "*" / "results.json")))
    assert len(results) == 4, results
    rates = sorted(json.loads(open(r).read())["rate"] for r in results)
    assert rates == [0.3, 0.3, 0.5, 0.5]
    dirs = {os.path.basename(os.path.dirname(r)) for r in results}
    assert "model.b0=0.3,sweep.seeds=1" in dirs


def test_config_records_resolved_values(tmp_path):
    cfg = compose(["experiment=kernel", "scale=tiny"])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["logger"]["group"] is None  # a multirun names its group after the sweep
    assert resolved["experiment"]["P"] == 20


def test_chunk_layout_covers_the_steps_with_the_fewest_chunk_lengths():
    """Against a naive search: ``L`` is the shortest chunk such that ``chunks`` chunks hold the
    ``floor(T n)`` steps, and the burn-in takes the fewest whole chunks that hold ``burn`` steps."""
    from rnnntk.diagonal import chunk_layout

    rng = np.random.default_rng(3)
    for _ in range(200):
        T, n = float(rng.uniform(0.01, 3.0)), int(rng.integers(1, 5000))
        chunks, burn = int(rng.integers(1, 40)), int(rng.integers(0, 300))
        K, L, b = chunk_layout(T, n, chunks, burn)
        k_ref = max(1, int(np.floor(T * n)))
        l_ref = next(m for m in range(1, k_ref + 1) if m * chunks >= k_ref)
        b_ref = next(c for c in range(burn + 1) if c * l_ref >= burn)
        assert (K, L, b) == (k_ref, l_ref, b_ref), (T, n, chunks, burn)

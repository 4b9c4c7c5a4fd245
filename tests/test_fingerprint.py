"""Runs never reuse stale or damaged files: fingerprints on stages and checkpoints, atomic writes,
resuming without duplicated metric lines, plain progress lines in logs, clear output-dir errors."""

import glob
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import open_dict

from rnnntk import RunError, provenance
from rnnntk.run import RunContext, compose, load_npz, run, tmp_name
from rnnntk.run.runctx import _progress

QUIET = ["logger=none", "progress=false"]
CONV = ["experiment=convergence", "scale=tiny", *QUIET]


def _D(res):
    return np.asarray(res["study"]["per_grad"]["rtrl"]["D"])


def test_fingerprint_is_stable_and_ignores_only_non_numeric_settings():
    a = compose(["experiment=convergence", "scale=tiny"])
    b = compose(["experiment=convergence", "scale=tiny", "logger=none", "progress=false", "resume=false"])
    c = compose(["experiment=convergence", "scale=tiny", "training.alpha=2"])
    fa, fb, fc = (provenance.fingerprint(provenance.settings(x)) for x in (a, b, c))
    assert fa == fb  # loggers, progress bars and resuming do not change numbers
    assert fa != fc
    s = provenance.settings(a)
    assert "logger" not in s and "hydra" not in s and "out_root" not in s
    assert set(s["versions"]) == {"jax", "jaxlib", "numpy", "rnnntk"}
    # canonical: key order does not matter
    assert provenance.fingerprint({"a": 1, "b": [1, 2]}) == provenance.fingerprint({"b": [1, 2], "a": 1})
    assert provenance.differences(s, provenance.settings(c)) == ["training.alpha: 5.0 -> 2"]
    assert provenance.fingerprint({"alpha": 2}) == provenance.fingerprint({"alpha": 2.0})


def test_rerun_with_other_alpha_in_the_same_directory_equals_a_fresh_run(tmp_path, capsys):
    d = str(tmp_path / "D")
    run(compose([*CONV, "training.alpha=2"], out_dir=d))
    capsys.readouterr()
    rerun = run(compose([*CONV, "training.alpha=5"], out_dir=d))
    err = capsys.readouterr().err
    assert "training.alpha: 2 -> 5" in err  # the run says what changed
    fresh = run(compose([*CONV, "training.alpha=5"], out_dir=str(tmp_path / "fresh")))
    np.testing.assert_array_equal(_D(rerun), _D(fresh))
    assert [r["slope"] for r in rerun["slopes"]] == [r["slope"] for r in fresh["slopes"]]
    saved = json.loads((tmp_path / "D" / "results.json").read_text())
    assert saved["provenance"]["fingerprint"] == fresh["provenance"]["fingerprint"]
    # the limit does not depend on alpha: its stages were reused, the widths were not
    assert "the run in" in err and "limit_rtrl_path" in err.split("reused")[-1]
    assert "convergence_width" not in err.split("reused")[-1]


def test_an_edited_value_between_runs_is_detected_and_recomputed(tmp_path, capsys):
    """A yaml edit reaches the run as a different composed value (simulated by changing the
    composed config): the stages that depend on it are recomputed, the result is the fresh one."""
    d = str(tmp_path / "D")
    run(compose(CONV, out_dir=d))
    capsys.readouterr()
    cfg = compose(CONV, out_dir=d)
    with open_dict(cfg):
        cfg.target.noise = float(cfg.target.noise) + 0.05
    edited = run(cfg)
    err = capsys.readouterr().err
    assert "target.noise" in err
    assert "was computed with other settings" in err  # the limit and the widths depend on the target
    cfg2 = compose(CONV, out_dir=str(tmp_path / "fresh"))
    with open_dict(cfg2):
        cfg2.target.noise = float(cfg2.target.noise) + 0.05
    np.testing.assert_array_equal(_D(edited), _D(run(cfg2)))


def test_damaged_stage_and_checkpoint_are_named_and_recomputed(tmp_path, capsys):
    d = tmp_path / "D"
    whole = run(compose(CONV, out_dir=str(d)))
    stage = d / "stages" / "convergence_width_rtrl_N16.npz"
    stage.write_bytes(stage.read_bytes()[:100])  # truncated
    (d / "checkpoints").mkdir(exist_ok=True)
    (d / "checkpoints" / "convergence_rtrl_N16.npz").write_bytes(b"not a zip file")
    (d / "stages" / "limit_rtrl_path.npz").write_bytes(b"")
    capsys.readouterr()
    again = run(compose(CONV, out_dir=str(d)))
    err = capsys.readouterr().err
    assert f"stage {stage} is damaged" in err
    assert "checkpoint" in err and "convergence_rtrl_N16.npz is damaged" in err
    assert "limit_rtrl_path.npz is damaged" in err
    np.testing.assert_array_equal(_D(whole), _D(again))


def test_resume_says_so_and_does_not_duplicate_metric_lines(tmp_path, monkeypatch, capsys):
    from rnnntk.diagonal import chunks

    args = [*CONV, "training.chunks=3", "sweep.widths=[8,12]"]
    calls = {"n": 0}
    real = chunks.train_chunk  # the one chunked training loop (rnnntk.diagonal.chunks.train_chunks) calls it

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 8:  # in the second width
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(chunks, "train_chunk", crashing)
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        run(compose(args, out_dir=str(out)))
    monkeypatch.setattr(chunks, "train_chunk", real)
    capsys.readouterr()
    run(compose(args, out_dir=str(out)))
    err = capsys.readouterr().err
    assert "resuming the run in" in err and "resuming rtrl N=12 after chunk" in err
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(set(lines)), "a resumed run repeated metric lines"
    chunks = [json.loads(x) for x in lines if '"chunk"' in x]
    assert sorted((m["width"], m["chunk"]) for m in chunks) == [(8, 0), (8, 1), (8, 2), (12, 0), (12, 1), (12, 2)]
    run(compose(args, out_dir=str(out)))  # a third start (everything cached) adds no line either
    assert (out / "metrics.jsonl").read_text().splitlines() == lines


def test_two_writers_of_one_file_never_collide_and_readers_see_whole_files(tmp_path):
    p = str(tmp_path / "shared.npz")
    assert tmp_name(p) != tmp_name(p)
    assert os.path.basename(tmp_name(p)).startswith(f".shared.{os.getpid()}.")
    code = (
        "import sys, numpy as np\n"
        "from rnnntk.run.runctx import save_npz\n"
        "for _ in range(40):\n"
        "    save_npz(sys.argv[1], {'x': np.full(20000, float(sys.argv[2]))}, 'fp')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, p, v]) for v in ("1", "2")]
    while any(q.poll() is None for q in procs):
        if os.path.exists(p):
            x = load_npz(p, "fp")["x"]  # never partial: a replaced file is whole
            assert x.shape == (20000,) and len(set(x.tolist())) == 1
    assert [q.wait() for q in procs] == [0, 0]
    assert not glob.glob(str(tmp_path / ".*tmp*")), "temporary files left behind"
    assert load_npz(p, "other") is None  # another fingerprint is not reused


def test_cached_stage_carries_its_key(tmp_path, capsys):
    ctx = RunContext(str(tmp_path), fingerprint="run")
    calls = []
    f = lambda: calls.append(1) or {"a": np.arange(3)}
    ctx.cached("s", f, key={"x": 1})
    ctx.cached("s", f, key={"x": 1})
    assert len(calls) == 1
    ctx.cached("s", f, key={"x": 2})
    assert len(calls) == 2 and "computed with other settings" in capsys.readouterr().err


def test_progress_is_plain_lines_when_not_a_terminal():
    buf = io.StringIO()
    list(_progress(range(5), total=5, desc="rtrl N=8", quiet=False, stream=buf))
    text = buf.getvalue()
    assert "\r" not in text
    assert text.splitlines()[-1].startswith("rtrl N=8: 5/5 done")


def test_unwritable_output_directory_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunError, match="cannot write to the output directory"):
        run(compose(CONV, out_dir=str(blocker / "sub")))
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run(
        [sys.executable, "-m", "rnnntk.run.cli", *CONV, f"hydra.run.dir={blocker}/sub"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: cannot write to the output directory {blocker}/sub; choose another one with hydra.run.dir=... "
        "(hydra.sweep.dir=... for a multirun) or out_root=..."
    ]

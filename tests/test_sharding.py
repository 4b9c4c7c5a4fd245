"""Ensembles sharded over several (host) devices give the results of one device."""

import json
import os
import subprocess
import sys

import numpy as np
from subprocess_env import COMPILE_CACHE

CODE = """
import json, os, sys
import jax
from rnnntk.run.cli import compose, run
from rnnntk.diagonal import ensemble
r = run(compose(["experiment=convergence", "scale=tiny", "logger=none", "progress=false", "sweep.seeds=3",
                 "precision=float64", "training.chunks=2", f"compile_cache={sys.argv[2]}"], out_dir=sys.argv[1]))
print(json.dumps({"devices": len(jax.devices()), "traces": ensemble.TRACES["chunk"],
                  "D": r["study"]["per_grad"]["rtrl"]["D"], "loss": r["study"]["per_grad"]["rtrl"]["loss"]}))
"""


def _start(tmp_path, name, devices):
    env = dict(os.environ, MPLBACKEND="Agg", MPLCONFIGDIR=str(tmp_path / "mpl"))
    # appended: the suite's compile flags (conftest) stay
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    cmd = [sys.executable, "-c", CODE, str(tmp_path / name), str(COMPILE_CACHE or tmp_path / "jax-cache")]
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"  # files: no pipe to fill while the other runs
    with open(out, "w") as o, open(err, "w") as e:
        return subprocess.Popen(cmd, env=env, stdout=o, stderr=e), out, err


def _result(started):
    proc, out, err = started
    proc.wait(timeout=600)
    assert proc.returncode == 0, open(err).read()[-3000:]
    return json.loads(open(out).read().strip().splitlines()[-1])


def test_sharded_ensemble_equals_one_device(tmp_path):
    # the two processes are independent: run them side by side
    procs = _start(tmp_path, "one", 1), _start(tmp_path, "four", 4)
    one, four = (_result(p) for p in procs)
    assert one["devices"] == 1 and four["devices"] == 4
    # 3 seeds on 4 devices: padded to 4 and the padding dropped; float64 results agree to
    # roundoff (the per-seed programs are the same computation on a different batch layout)
    np.testing.assert_allclose(np.asarray(four["D"]), np.asarray(one["D"]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(four["loss"]), np.asarray(one["loss"]), rtol=1e-12, atol=1e-14)
    assert four["traces"] == one["traces"] == 2  # one program per width, also when sharded

"""Ensembles sharded over several (host) devices give the results of one device."""

import json
import os
import subprocess
import sys

import numpy as np

CODE = """
import json, os, sys
import jax
from rnnntk.run.cli import compose, run
from rnnntk.diagonal import ensemble
r = run(compose(["experiment=convergence", "scale=tiny", "logger=none", "progress=false", "sweep.seeds=3",
                 "precision=float64", "training.chunks=2"], out_dir=sys.argv[1]))
print(json.dumps({"devices": len(jax.devices()), "traces": ensemble.TRACES["chunk"],
                  "D": r["study"]["per_grad"]["rtrl"]["D"], "loss": r["study"]["per_grad"]["rtrl"]["loss"]}))
"""


def _run(tmp_path, name, devices):
    env = dict(os.environ, MPLBACKEND="Agg", MPLCONFIGDIR=str(tmp_path / "mpl"))
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path / name)], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sharded_ensemble_equals_one_device(tmp_path):
    one = _run(tmp_path, "one", 1)
    four = _run(tmp_path, "four", 4)
    assert one["devices"] == 1 and four["devices"] == 4
    # 3 seeds on 4 devices: padded to 4 and the padding dropped; float64 results agree to
    # roundoff (the per-seed programs are the same computation on a different batch layout)
    np.testing.assert_allclose(np.asarray(four["D"]), np.asarray(one["D"]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(four["loss"]), np.asarray(one["loss"]), rtol=1e-12, atol=1e-14)
    assert four["traces"] == one["traces"] == 2  # one program per width, also when sharded

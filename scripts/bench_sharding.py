"""Throughput of an ensemble sharded over host devices against one device.

    python scripts/bench_sharding.py [--seeds 8] [--width 16000] [--steps 2000] [--devices 2]

Runs the same ensemble chunk (seeds x one grid point, rtrl, float32) in subprocesses with
``--xla_force_host_platform_device_count`` 1 and ``--devices``, and prints unit-steps per second,
their ratio, and the CPU time per wall-clock second (how many cores were busy), with XLA's default
threading and with its intra-op (Eigen) threading off; then one device pinned to one core, the
baseline in which each device owns a core. On a CPU host XLA already spreads one device's fused
loops over all cores, so sharding over host devices gains little there; the ratio to the pinned
baseline is the scaling that separate accelerators give. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import jax, jax.numpy as jnp, numpy as np
from rnnntk.diagonal import device_mesh, get_activation, init_ensemble, padded_seeds, parse_grad, train_chunk
seeds, width, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cpu0 = time.process_time()
mesh = device_mesh()
S = padded_seeds(seeds, mesh)
keys = jax.random.split(jax.random.key(0), S)
ens = init_ensemble(keys, width, 1, 1, grad="rtrl", dtype=jnp.float32, mesh=mesh, b0=0.5, s_w=1.0,
                    c_dist="rademacher", activation="tanh")
rng = np.random.default_rng(0)
xs = rng.standard_normal((S, steps, 1)).astype(np.float32)
ys = rng.standard_normal((S, steps)).astype(np.float32)
lr = np.ones(steps, np.float32)
kw = dict(est=parse_grad("rtrl"), act=get_activation("tanh"))
ens, loss = train_chunk(ens, xs, ys, lr, [1.0], [0.75], **kw)
loss.block_until_ready()
times, cpus = [], []
for _ in range(3):
    t, c = time.perf_counter(), time.process_time()
    ens, loss = train_chunk(ens, xs, ys, lr, [1.0], [0.75], **kw)
    loss.block_until_ready()
    times.append(time.perf_counter() - t)
    cpus.append((time.process_time() - c) / times[-1])
i = sorted(range(3), key=times.__getitem__)[1]
dt = times[i]
print(json.dumps({"devices": len(jax.devices()), "seconds": dt, "unit_steps_per_s": seeds * width * steps / dt,
                  "cores_busy": cpus[i]}))
"""


def measure(devices: int, seeds: int, width: int, steps: int, single: bool, cores: int | None = None) -> dict:
    """One child process with ``devices`` host devices; ``single``: XLA's intra-op threading off;
    ``cores=1``: the process pinned to one core (what one device gets when each has its own)."""
    flags = f"--xla_force_host_platform_device_count={devices}"
    if single:
        flags += " --xla_cpu_multi_thread_eigen=false"
    env = dict(os.environ, XLA_FLAGS=flags)
    pin = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if cores == 1 else None
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(seeds), str(width), str(steps)],
        env=env,
        preexec_fn=pin,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--width", type=int, default=16000)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=2)
    a = ap.parse_args()
    print(f"{a.seeds} seeds x N={a.width}, {a.steps} steps, rtrl float32")
    many_default = None
    for single in (False, True):
        one = measure(1, a.seeds, a.width, a.steps, single)
        many = measure(a.devices, a.seeds, a.width, a.steps, single)
        if not single:
            many_default = many
        print("single-threaded devices" if single else "XLA default threading")
        for name, r in (("1 device ", one), (f"{a.devices} devices", many)):
            print(
                f"  {name}: {r['unit_steps_per_s']:.3e} unit-steps/s ({r['seconds']:.2f} s, "
                f"{r['cores_busy']:.1f} cores busy)"
            )
        print(f"  speed-up : {many['unit_steps_per_s'] / one['unit_steps_per_s']:.2f}x")
    pinned = measure(1, a.seeds, a.width, a.steps, False, cores=1)
    print(
        f"1 device pinned to one core: {pinned['unit_steps_per_s']:.3e} unit-steps/s "
        f"({pinned['cores_busy']:.1f} cores busy); {a.devices} devices (default threading) / pinned: "
        f"{many_default['unit_steps_per_s'] / pinned['unit_steps_per_s']:.2f}x"
    )


if __name__ == "__main__":
    main()

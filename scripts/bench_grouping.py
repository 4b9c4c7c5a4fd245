"""Should a study run several widths as one program? Measures what grouping could save.

    python scripts/bench_grouping.py                      # the quick `convergence` study's shapes
    python scripts/bench_grouping.py --widths 1000 4000 16000 64000 --seeds 16

A study (`rnnntk.diagonal.study`) trains each width as its own jitted program: ``S`` seeds x ``G`` grid
points, ``T N`` steps in ``chunks`` chunks after a frozen burn-in. Every width therefore costs one
compilation of the chunk program. Grouping widths into one program saves compilations but
computes more, because a width ``N`` trains ``T N`` steps and the group must run as many steps
as its widest member (smaller members frozen for the rest):

- ``separate``: what the study does, one program per width, timed from a cold in-memory cache
  (compilation included) and again warm (compute only);
- ``packed``: the units of all widths of a group side by side in one network, i.e. one program of
  width ``sum N`` run for the steps of the widest member; timed the same way. This is a lower
  bound on a real packed layout, which would add a segmented output sum and per-width scales;
- ``padded``: every member padded to the widest, i.e. ``|group| x S`` seeds of the widest width.

Each row is measured in a fresh process without the persistent compilation cache, so the cold
times are what a first run pays; rerunning a study with ``compile_cache`` set pays the warm ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from rnnntk.diagonal import chunk_layout

CHILD = r"""
import json, sys, time
import jax, jax.numpy as jnp, numpy as np
from rnnntk.diagonal import chunk_layout, get_activation, init_ensemble, parse_grad, train_chunk
width, seeds, grid, steps, chunks, burn = (int(a) for a in sys.argv[1:7])
_, L, burn_chunks = chunk_layout(steps, 1, chunks, burn)  # the study's chunking of `steps` steps
kw = dict(est=parse_grad("rtrl"), act=get_activation("tanh"))
alphas, betas = [5.0] * grid, list(np.linspace(0.6, 0.9, grid))
rng = np.random.default_rng(0)
xs = rng.standard_normal((seeds, L, 1)).astype(np.float32)
ys = rng.standard_normal((seeds, L)).astype(np.float32)
lr = np.ones(L, np.float32)

def run():
    t0 = time.perf_counter()
    keys = jax.random.split(jax.random.key(0), seeds)
    ens = init_ensemble(keys, width, 1, grid, grad="rtrl", dtype=jnp.float32, b0=0.5, s_w=1.0,
                        c_dist="rademacher", activation="tanh")
    for _ in range(chunks + burn_chunks):
        ens, loss = train_chunk(ens, xs, ys, lr, alphas, betas, **kw)
        np.asarray(loss)  # the study reads the losses back after every chunk
    return time.perf_counter() - t0

cold = run()
warm = min(run() for _ in range(2))
print(json.dumps({"cold": cold, "warm": warm}))
"""


def measure(width: int, seeds: int, grid: int, steps: int, chunks: int, burn: int) -> dict:
    env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE="false")
    args = [str(v) for v in (width, seeds, grid, steps, chunks, burn)]
    out = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def groups_of(widths: list[int]) -> list[list[int]]:
    """Consecutive groups worth asking about: every prefix of the widths (small widths first)."""
    return [widths[:k] for k in range(2, len(widths) + 1)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[100, 400, 1600, 6400, 25600])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--grid", type=int, default=3, help="alpha x beta points (the quick convergence has 3 betas)")
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--burn", type=int, default=60)
    a = ap.parse_args(argv)
    common = (a.seeds, a.grid)
    steps = {n: chunk_layout(a.T, n, a.chunks, a.burn)[0] for n in a.widths}
    print(f"S={a.seeds} seeds x G={a.grid} grid points, T={a.T}, {a.chunks} chunks, burn {a.burn}, rtrl float32")
    sep = {n: measure(n, *common, steps[n], a.chunks, a.burn) for n in a.widths}
    print(f"{'separate: width':>22} {'cold s':>8} {'warm s':>8} {'compile s':>10}")
    for n, r in sep.items():
        print(f"{n:>22} {r['cold']:8.2f} {r['warm']:8.2f} {r['cold'] - r['warm']:10.2f}")
    head = ("group", "separate cold", "packed cold", "padded cold", "separate warm", "packed warm")
    print("\n" + " ".join(f"{h:>{w}}" for h, w in zip(head, (30, 14, 12, 12, 14, 12), strict=True)))
    for g in groups_of(a.widths):
        top = max(g)
        packed = measure(sum(g), *common, steps[top], a.chunks, a.burn)
        padded = measure(top, a.seeds * len(g), a.grid, steps[top], a.chunks, a.burn)
        sc = sum(sep[n]["cold"] for n in g)
        sw = sum(sep[n]["warm"] for n in g)
        print(
            f"{str(g):>30} {sc:14.2f} {packed['cold']:12.2f} {padded['cold']:12.2f} {sw:14.2f} {packed['warm']:12.2f}"
            f"   packed/separate cold {packed['cold'] / sc:.2f}x, warm {packed['warm'] / sw:.2f}x"
        )


if __name__ == "__main__":
    main()

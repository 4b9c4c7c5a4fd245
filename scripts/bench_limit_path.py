"""The long-path limit against today's P-history limit at the quick convergence settings.

    python scripts/bench_limit_path.py                    # L = 2e4, 1e5, 1e6 and P = 1000 (a few minutes)
    python scripts/bench_limit_path.py --L 20000 100000   # other path lengths
    python scripts/bench_limit_path.py --json out.json

Settings of ``experiment=convergence`` at the quick scale: AR(1) data (``rho = 0.5``, ``d = 1``),
the ``sin_lag`` target, ``b0 = 0.5``, ``s_w = 1`` (``configs/model/diagonal.yaml``), ``rtrl``,
``alpha = 5``, ``T = 1``, ``Q = 1000`` evaluation histories, ``burn = 60``.

Each row builds ``paths`` (default 2) limits on independent paths in a fresh process (its peak
resident memory, ``getrusage``, is its own) and reports ``h_T`` on the same ``Q`` evaluation
histories: the floor estimate ``(mean_q var_paths h_T(xi_q))^{1/2}`` (for two paths, their rms
distance over ``sqrt 2``), the time per limit (the first includes compiling; the mean of the
others is reported), and the peak memory above the process's memory before the first limit.

- ``path L``: `rnnntk.diagonal.limit_path.path_limit` with its default nodes (32 x 6 folded, ``F = 288``) on a
  path of ``L`` histories; memory ``O(F^2 + chunk F)`` whatever ``L``.
- ``P-history``: today's solver, one bag of ``P = 1000`` histories (default quadrature,
  ``tol = 1e-8`` as ``configs/limit/quadrature.yaml``): ``K [P, P]``, ``Kx [Q, P]``, the flow and
  ``off_sample``. The quick figures average 8 bags: their floor is the one-bag floor over
  ``sqrt 8`` at 8 times the time.

Measured on the project's 2-core machine while shared (load average 4 to 5; ``paths`` in
brackets; the floor from few paths scatters by a factor 2 or more; nodes folded, ``F = 288``):

    limit               floor      s per limit   peak MiB (above base)
    P-history P=1000    2.0e-2 [3]     6.5         569 (285)   8 bags: floor ~7e-3, ~52 s
    path L=2e4          6.9e-3 [5]     0.8         440 (165)
    path L=1e5          3.2e-3 [5]     2.5         440 (166)
    path L=1e6          8.8e-4 [3]    12.7         455 (181)
    path L=2e6          5.0e-4 [3]    25.5         513 (232)

The floor falls like ``L^{-1/2}`` (``3.2e-3 / sqrt 10 = 1.0e-3`` at ``L = 10^6``); peak memory
grows by the ``O(L)`` input arrays only (the path and targets, host and device copies).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

BURN, Q, ALPHA, T, B0, SW = 60, 1000, 5.0, 1.0, 0.5, 1.0


def one(kind: str, L: int, paths: int) -> dict:
    """Build ``paths`` limits of one kind in this process and return the measurements."""
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    import rnnntk
    from rnnntk.diagonal import kernel_flow, limit_kernel, off_sample, path_limit

    xe, _ = rnnntk.make_dataset(jax.random.key(12345), Q + BURN, dim=1, dtype="float64")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hs, times = [], []
    for p in range(paths):
        xs, ys = rnnntk.make_dataset(jax.random.fold_in(jax.random.key(L), p), L + BURN, dim=1, dtype="float64")
        xs, ys = jax.block_until_ready((xs, ys))
        t0 = time.perf_counter()
        if kind == "path":
            h = path_limit(xs, ys, xe, t=T, alpha=ALPHA, b0=B0, s_w=SW, burn=BURN).h[0, 0]
        else:
            kw = dict(b0=B0, s_w=SW, burn=BURN, tol=1e-8)
            flow = kernel_flow(limit_kernel(xs, **kw), ys[BURN:], alpha=ALPHA, t=T, symmetric=True)
            h = np.asarray(off_sample(flow, limit_kernel(xs, xs_eval=xe, burn_eval=BURN, **kw), alpha=ALPHA))[0]
        times.append(time.perf_counter() - t0)
        hs.append(np.asarray(h))
    hs = np.stack(hs)
    floor = math.sqrt(float(np.mean(np.var(hs, axis=0, ddof=1))))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(
        kind=kind, L=L, paths=paths, floor=floor, first_s=times[0],
        time_s=float(np.mean(times[1:])) if paths > 1 else None, peak_mib=peak,
        extra_mib=peak - base, finite=bool(np.all(np.isfinite(hs))),
    )  # fmt: skip


def run(kind: str, L: int, paths: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", kind, str(L), str(paths)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return dict(kind=kind, L=L, paths=paths, error=out.stderr.strip().splitlines()[-1:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def show(r: dict) -> None:
    name = f"path L={r['L']:.0e}" if r["kind"] == "path" else f"P-history P={r['L']}"
    if "error" in r:
        print(f"{name:>20} | failed: {r['error']}", flush=True)
        return
    again = "       -" if r["time_s"] is None else f"{r['time_s']:>8.2f}"
    print(
        f"{name:>20} | {r['floor']:>9.2e} | {again} {r['first_s']:>8.2f} |"
        f" {r['peak_mib']:>8.0f} {r['extra_mib']:>8.0f}",
        flush=True,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--L", type=float, nargs="*", default=[2e4, 1e5, 1e6], help="path lengths")
    ap.add_argument("--P", type=int, default=1000, help="histories of the P-history limit (0: skip)")
    ap.add_argument("--paths", type=int, default=2, help="independent limits per row")
    ap.add_argument("--json")
    ap.add_argument("--one", nargs=3, metavar=("kind", "L", "paths"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        kind, L, paths = args.one
        print(json.dumps(one(kind, int(L), int(paths))))
        return 0
    print(f"quick convergence settings, rtrl, Q = {Q}; one process per row; load average {os.getloadavg()[0]:.2f}")
    hdr = f"{'limit':>20} | {'floor':>9} | {'time s':>8} {'1st s':>8} | {'peak MiB':>8} {'+MiB':>8}"
    print(hdr)
    print("-" * len(hdr))
    grid = ([("phist", args.P)] if args.P else []) + [("path", int(L)) for L in args.L]
    rows = []
    for kind, L in grid:
        r = run(kind, L, args.paths)
        show(r)
        rows.append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The limit kernel at scale: time and peak memory against P (histories) and M (samples).

    python scripts/bench_limit.py            # full grid, up to P = 10^4 and M = 10^6 (~15 min)
    python scripts/bench_limit.py --quick    # smaller grid (~2 min)
    python scripts/bench_limit.py --json out.json

Each configuration runs ``rnnntk.limit_kernel`` (float64, ``rtrl``, AR(1) path, ``burn = 60``,
Monte Carlo with ``M`` samples, or the default quadrature with its ``M`` nodes) in a fresh
process, so that its peak resident memory (``getrusage``) is its own. Reported: the time of a
second call (compile excluded; skipped when the first took over 20 s, of which compiling is a few
seconds) and of the first, the process peak RSS, the size of the ``[P, P]`` result, and the peak
minus the memory of the process before the first call (JAX, the path, the nodes). The cost
is ``O(M (P + burn) d)`` for the recursions plus ``2 M P^2 (d + 2)`` flops for the products;
memory is the kernel matrix plus a bounded working set (``rnnntk.diagonal.ntk.MEMORY_BUDGET``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

BURN = 60


def one(P: int, M: int, d: int, method: str) -> dict:
    """Run a single configuration in this process and return its measurements."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import rnnntk

    xs, _ = rnnntk.make_dataset(jax.random.key(0), P + BURN, dim=d)
    kw = dict(b0=0.5, s_w=1.0, burn=BURN)
    if method == "monte_carlo":
        kw.update(method="monte_carlo", samples=M, key=jax.random.key(1))
    jax.block_until_ready(xs)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    K = jax.block_until_ready(rnnntk.limit_kernel(xs, **kw))
    first = time.perf_counter() - t
    second = None
    if first < 20.0:  # long runs: compiling (a few seconds) is a small part of the first call
        del K
        t = time.perf_counter()
        K = jax.block_until_ready(rnnntk.limit_kernel(xs, **kw))
        second = time.perf_counter() - t
    if method != "monte_carlo":
        from rnnntk.diagonal import initial_law_nodes

        M = len(initial_law_nodes(xs, b0=0.5, s_w=1.0).b)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(
        P=P, M=M, d=d, method=method, first_s=first, second_s=second, peak_mib=peak, base_mib=base,
        kernel_mib=K.size * K.dtype.itemsize / 2**20, finite=bool(jax.numpy.all(jax.numpy.isfinite(K))),
    )  # fmt: skip


def run(P: int, M: int, d: int, method: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", str(P), str(M), str(d), method]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return dict(P=P, M=M, d=d, method=method, error=out.stderr.strip().splitlines()[-1:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def show(r: dict) -> None:
    if "error" in r:
        print(f"{r['method']:>11} {r['d']:>2} {r['P']:>6} {r['M']:>8} | failed: {r['error']}", flush=True)
        return
    extra = r["peak_mib"] - r["base_mib"]
    again = "       -" if r["second_s"] is None else f"{r['second_s']:>8.2f}"
    print(
        f"{r['method']:>11} {r['d']:>2} {r['P']:>6} {r['M']:>8} | {again} {r['first_s']:>8.2f} |"
        f" {r['peak_mib']:>8.0f} {r['kernel_mib']:>8.1f} {extra:>8.0f}",
        flush=True,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--one", nargs=4, metavar=("P", "M", "d", "method"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        P, M, d, method = args.one
        print(json.dumps(one(int(P), int(M), int(d), method)))
        return 0
    if args.quick:
        grid = [(P, 2048, 1, "monte_carlo") for P in (250, 1000, 2000)]
        grid += [(200, M, 1, "monte_carlo") for M in (10**4, 10**5, 3 * 10**5)]
        grid += [(1000, 0, 1, "quadrature")]
    else:
        grid = [(P, 2048, 1, "monte_carlo") for P in (1000, 2000, 5000, 10000)]
        grid += [(200, M, 1, "monte_carlo") for M in (10**4, 10**5, 10**6)]
        grid += [(1000, 10**5, 1, "monte_carlo"), (1000, 2048, 8, "monte_carlo"), (5000, 2048, 8, "monte_carlo")]
        grid += [(P, 0, 1, "quadrature") for P in (1000, 5000)]
    print(f"limit_kernel, float64, rtrl, burn = {BURN}; one process per row; load average {os.getloadavg()[0]:.2f}")
    hdr = (
        f"{'method':>11} {'d':>2} {'P':>6} {'M':>8} | {'time s':>8} {'1st s':>8} |"
        f" {'peak MiB':>8} {'K MiB':>8} {'+MiB':>8}"
    )
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for cfg in grid:
        r = run(*cfg)
        show(r)
        rows.append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

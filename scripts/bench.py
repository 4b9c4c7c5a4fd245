"""Online-training throughput: rnnntk against a NumPy loop, a jitted step and the fused floor.

    python scripts/bench.py            # full run, ~10 min on 2 idle CPU cores
    python scripts/bench.py --quick    # fewer widths, shorter runs, ~4 min
    python scripts/bench.py --json out.json

Throughput is in unit-steps per second: one hidden unit updated for one online step (``N K / t``
for ``K`` steps of a width-``N`` network). Every configuration trains with ``rtrl``,
``beta = 0.75``, ``alpha = 1`` on an AR(1) path and is timed against

- ``numpy``:  the same algorithm as a plain NumPy loop over steps, written the way a notebook would
  (parameters updated in place, no ``theta_0 + delta``);
- ``jit-step``: one ``jax.jit``-compiled step (the same bare update) called from a Python loop;
- ``floor``: a minimal fused ``lax.scan`` of the bare update (parameters carried directly, no
  validation, no displacement bookkeeping, no per-step outputs), written here;
- ``steps``: ``rnnntk.train_steps(..., check=False)`` (the scan the library runs);
- ``online``: ``rnnntk.train_online`` (input validation, zero state, the scan, the non-finite
  check with its host synchronisation, ``theta_0 + delta``).

Timing: compile excluded (one warm-up call), ``block_until_ready``, methods interleaved in each
of ``R`` rounds so that background load hits them alike; the table gives the median time and
ratios as the median over rounds of the per-round ratio. Scanned runs use enough steps that one
call takes ~0.3 s (``--quick``: ~0.1 s); the Python loops use fewer steps (their per-step cost
does not depend on the run length). ``cpu`` is the process CPU time over the wall-clock time of
the ``online`` calls: about 1 for one busy thread on an idle machine, below 1 when other processes
take the cores (the wall-clock numbers are then noisy), above 1 when XLA splits a kernel over
threads (large ``N``). The CPU-time ratios next to it are a load-insensitive check for the
single-threaded sizes. Memory: ``xla MiB`` is what the compiled ``train_online`` program
allocates (arguments + outputs + temporaries, from XLA's memory analysis); the process peak RSS
is printed at the end. Further sections: throughput against the number of steps (per-call
overhead), float64 against float32, and an ensemble of 8 networks of ``N = 4000`` under
``jax.vmap`` against one network of ``N = 32000``. Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)  # float32 runs pass float32 arrays explicitly

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import rnnntk  # noqa: E402
from rnnntk.train import _train_scan_checked, init_state, train_steps  # noqa: E402

BETA, ALPHA = 0.75, 1.0


# --------------------------------------------------------------------------- baselines


def numpy_train(c, w, b, xs, ys, beta, alpha):
    """RTRL online SGD as a notebook would write it: a Python loop, NumPy arrays."""
    c, w, b = c.copy(), w.copy(), b.copy()
    n, d = w.shape
    S = np.zeros(n, c.dtype)
    Jw = np.zeros((n, d), c.dtype)
    Jb = np.zeros(n, c.dtype)
    out_scale = n**-beta
    lr = alpha * n ** (beta - 2)
    for x, y in zip(xs, ys):
        z = w @ x + b * S
        s = np.tanh(z)
        ds = 1 - s * s
        Jw = ds[:, None] * (x[None, :] + b[:, None] * Jw)
        Jb = ds * (S + b * Jb)
        yhat = out_scale * (c @ s)
        g = lr * (y - yhat)
        gc = g * c
        c += g * s
        w += gc[:, None] * Jw
        b += gc * Jb
        S = s
    return c, w, b


def bare_step(carry, inp, beta, alpha):
    """The bare update: parameters carried directly, no outputs."""
    c, w, b, S, Jw, Jb = carry
    x, y = inp
    n = c.shape[0]
    z = w @ x + b * S
    s = jnp.tanh(z)
    ds = 1 - s * s
    a = ds * b
    Jw = ds[:, None] * x[None, :] + a[:, None] * Jw
    Jb = ds * S + a * Jb
    yhat = n**-beta * (c @ s)
    g = alpha * n ** (beta - 2) * (y - yhat)
    gc = g * c
    return (c + g * s, w + gc[:, None] * Jw, b + gc * Jb, s, Jw, Jb), None


def _zero_carry(c, w, b):
    return (c, w, b, jnp.zeros_like(b), jnp.zeros_like(w), jnp.zeros_like(b))


def _floor(c, w, b, xs, ys, beta, alpha):
    carry, _ = jax.lax.scan(lambda cr, i: bare_step(cr, i, beta, alpha), _zero_carry(c, w, b), (xs, ys))
    return carry[:3]


floor_train = jax.jit(_floor, static_argnames=("beta", "alpha"))
_jit_step = jax.jit(lambda carry, x, y, beta, alpha: bare_step(carry, (x, y), beta, alpha)[0], static_argnums=(3, 4))


def jit_step_train(c, w, b, xs, ys, beta, alpha):
    """A jitted single step called from a Python loop (inputs fed from host arrays)."""
    carry = _zero_carry(c, w, b)
    for x, y in zip(xs, ys):
        carry = _jit_step(carry, x, y, beta, alpha)
    return carry[:3]


# --------------------------------------------------------------------------- timing


def _run(f):
    t, c = time.perf_counter(), time.process_time()
    jax.block_until_ready(f())
    return time.perf_counter() - t, time.process_time() - c


CPU = {}  # method -> process CPU times of the last `timed` call


def timed(methods: dict, rounds: int) -> dict:
    """Warm each callable up, then time them interleaved for ``rounds`` rounds.

    Returns wall-clock times per method; the process CPU times go to ``CPU``.
    """
    for f in methods.values():
        _run(f)
    times = {k: [] for k in methods}
    CPU.clear()
    CPU.update({k: [] for k in methods})
    for _ in range(rounds):
        for k, f in methods.items():
            wall, cpu = _run(f)
            times[k].append(wall)
            CPU[k].append(cpu)
    return times


def cpu_share(times, method) -> float:
    """Median CPU time / wall time: ~1 for one busy thread on an idle machine, less when other
    processes take the cores, more when XLA runs a kernel on several threads."""
    return statistics.median(c / w for c, w in zip(CPU[method], times[method]))


def ratio(times, a, b, work_a=1.0, work_b=1.0):
    """Median over rounds of throughput(a) / throughput(b)."""
    return statistics.median((work_a / ta) / (work_b / tb) for ta, tb in zip(times[a], times[b]))


def steps_for(seconds: float, n: int, rate: float, lo: int = 200) -> int:
    return max(lo, int(seconds * rate / n))


def loop_rate(fn, args, n: int, probe: int = 100) -> float:
    """Rough unit-steps/s of a Python-loop baseline from a short probe run."""
    fn(*args[:3], args[3][:10], args[4][:10], BETA, ALPHA)
    t = time.perf_counter()
    jax.block_until_ready(fn(*args[:3], args[3][:probe], args[4][:probe], BETA, ALPHA))
    return n * probe / (time.perf_counter() - t)


def problem(n: int, d: int, k: int, dtype, seed: int = 0):
    p = rnnntk.init_params(jax.random.key(seed), n, d, dtype=dtype)
    xs, ys = rnnntk.make_dataset(jax.random.key(1000 + seed), k, dim=d, dtype=dtype)
    return p, xs, ys


def xla_mib(p, xs, ys) -> float:
    """MiB allocated by the compiled training program of `train_online` (arguments, outputs, temporaries)."""
    est, act = rnnntk.network.parse_grad("rtrl"), rnnntk.network.get_activation("tanh")
    st = init_state(p)
    m = _train_scan_checked.lower(p, st, xs, ys, None, BETA, ALPHA, est, act).compile().memory_analysis()
    if m is None:
        return float("nan")
    return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes) / 2**20


# --------------------------------------------------------------------------- sections


def throughput_table(widths, dims, seconds, rounds, loop_seconds):
    """Main table: unit-steps/s of every method, float32."""
    rows = []
    hdr = (
        f"{'d':>2} {'N':>7} {'K':>7} | {'numpy':>9} {'jit-step':>9} {'floor':>9} {'steps':>9} {'online':>9} |"
        f" {'on/floor':>8} {'on/numpy':>8} {'on/jit':>7} {'on/steps':>8} | {'xla MiB':>7} {'cpu':>4}"
        f" | {'cpu-time on/floor':>17} {'on/numpy':>8}"
    )
    print("\nThroughput, float32, rtrl (unit-steps/s; ratios: median of per-round ratios)")
    print(hdr)
    print("-" * len(hdr))
    for d in dims:
        for n in widths:
            k = steps_for(seconds, n, 3e8)
            p, xs, ys = problem(n, d, k, jnp.float32)
            pn = tuple(np.asarray(a) for a in p)
            xn, yn = np.asarray(xs), np.asarray(ys)
            # the Python loops: fewer steps, their cost per step does not depend on the run length
            k_np = min(k, steps_for(loop_seconds, n, loop_rate(numpy_train, (*pn, xn, yn), n), lo=50))
            k_js = min(k, steps_for(loop_seconds, n, loop_rate(jit_step_train, (*p, xn, yn), n), lo=50))
            methods = {
                "numpy": lambda pn=pn, xn=xn, yn=yn, k=k_np: numpy_train(*pn, xn[:k], yn[:k], BETA, ALPHA),
                "jit-step": lambda p=p, xn=xn, yn=yn, k=k_js: jit_step_train(*p, xn[:k], yn[:k], BETA, ALPHA),
                "floor": lambda p=p, xs=xs, ys=ys: floor_train(*p, xs, ys, BETA, ALPHA),
                "steps": lambda p=p, xs=xs, ys=ys: train_steps(
                    p, init_state(p), xs, ys, beta=BETA, alpha=ALPHA, check=False
                ),
                "online": lambda p=p, xs=xs, ys=ys: rnnntk.train_online(p, xs, ys, beta=BETA, alpha=ALPHA),
            }
            work = {"numpy": n * k_np, "jit-step": n * k_js, "floor": n * k, "steps": n * k, "online": n * k}
            t = timed(methods, rounds)
            rate = {m: work[m] / statistics.median(t[m]) for m in methods}
            r = {
                f"online/{m}": ratio(t, "online", m, work["online"], work[m])
                for m in ("floor", "numpy", "jit-step", "steps")
            }
            rc = {f"online/{m}": ratio(CPU, "online", m, work["online"], work[m]) for m in ("floor", "numpy")}
            share = cpu_share(t, "online")
            mib = xla_mib(p, xs, ys)
            print(
                f"{d:>2} {n:>7} {k:>7} | {rate['numpy']:>9.3g} {rate['jit-step']:>9.3g} {rate['floor']:>9.3g}"
                f" {rate['steps']:>9.3g} {rate['online']:>9.3g} | {r['online/floor']:>8.2f}"
                f" {r['online/numpy']:>8.2f} {r['online/jit-step']:>7.2f} {r['online/steps']:>8.2f} | {mib:>7.2f}"
                f" {share:>4.2f} | {rc['online/floor']:>17.2f} {rc['online/numpy']:>8.2f}",
                flush=True,
            )
            rows.append(
                dict(
                    d=d, N=n, K=k, K_numpy=k_np, K_jit_step=k_js, rate=rate, ratios=r, cpu_time_ratios=rc,
                    cpu_share=share, xla_mib=mib,
                )
            )  # fmt: skip
    return rows


def steps_scaling(n, ks, rounds):
    """train_online against the floor as the run gets longer: the per-call overhead."""
    print(f"\nScaling with the number of steps K (float32, d = 1, N = {n})")
    print(f"{'K':>8} | {'floor':>9} {'online':>9} | {'on/floor':>8} | {'online ms':>9}")
    rows = []
    for k in ks:
        p, xs, ys = problem(n, 1, k, jnp.float32)
        t = timed(
            {
                "floor": lambda p=p, xs=xs, ys=ys: floor_train(*p, xs, ys, BETA, ALPHA),
                "online": lambda p=p, xs=xs, ys=ys: rnnntk.train_online(p, xs, ys, beta=BETA, alpha=ALPHA),
            },
            rounds,
        )
        rate = {m: n * k / statistics.median(v) for m, v in t.items()}
        r = ratio(t, "online", "floor")
        ms = 1e3 * statistics.median(t["online"])
        print(f"{k:>8} | {rate['floor']:>9.3g} {rate['online']:>9.3g} | {r:>8.2f} | {ms:>9.2f}", flush=True)
        rows.append(dict(N=n, K=k, rate=rate, online_over_floor=r))
    return rows


def call_overhead(n, k, rounds):
    """Fixed cost of one call: a run of a few steps, where the scan itself is negligible."""
    p, xs, ys = problem(n, 1, k, jnp.float32)
    t = timed(
        {
            "floor": lambda: floor_train(*p, xs, ys, BETA, ALPHA),
            "steps(check=False)": lambda: train_steps(p, init_state(p), xs, ys, beta=BETA, alpha=ALPHA, check=False),
            "steps(check=True)": lambda: train_steps(p, init_state(p), xs, ys, beta=BETA, alpha=ALPHA),
            "online": lambda: rnnntk.train_online(p, xs, ys, beta=BETA, alpha=ALPHA),
        },
        max(rounds, 21),
    )
    ms = {m: 1e3 * statistics.median(v) for m, v in t.items()}
    print(f"\nTime of one call of {k} steps (N = {n}, float32): validation, dispatch, host synchronisation")
    print("  " + ", ".join(f"{m} {v:.3f} ms" for m, v in ms.items()))
    return dict(N=n, K=k, ms=ms)


def width_scaling_note(rows):
    """Throughput per unit against N for train_online (from the main table)."""
    print("\nScaling with N (train_online, float32): time per step against N")
    print(f"{'d':>2} {'N':>7} | {'us/step':>9} {'ns/unit-step':>12}")
    for r in rows:
        rate = r["rate"]["online"]
        print(f"{r['d']:>2} {r['N']:>7} | {1e6 * r['N'] / rate:>9.2f} {1e9 / rate:>12.3f}")


def float64_cost(widths, dims, seconds, rounds):
    print("\nfloat64 against float32 (train_online; cost = time64 / time32 for the same steps)")
    print(f"{'d':>2} {'N':>7} {'K':>7} | {'f32':>9} {'f64':>9} | {'cost':>5}")
    rows = []
    for d in dims:
        for n in widths:
            k = steps_for(seconds, n, 3e8)
            p, xs, ys = problem(n, d, k, jnp.float64)
            p32 = jax.tree.map(lambda a: a.astype(jnp.float32), p)
            x32, y32 = xs.astype(jnp.float32), ys.astype(jnp.float32)
            t = timed(
                {
                    "f32": lambda p=p32, xs=x32, ys=y32: rnnntk.train_online(p, xs, ys, beta=BETA, alpha=ALPHA),
                    "f64": lambda p=p, xs=xs, ys=ys: rnnntk.train_online(p, xs, ys, beta=BETA, alpha=ALPHA),
                },
                rounds,
            )
            rate = {m: n * k / statistics.median(v) for m, v in t.items()}
            cost = ratio(t, "f32", "f64")
            print(f"{d:>2} {n:>7} {k:>7} | {rate['f32']:>9.3g} {rate['f64']:>9.3g} | {cost:>5.2f}", flush=True)
            rows.append(dict(d=d, N=n, K=k, rate=rate, cost=cost))
    return rows


def ensemble(seeds, n_each, seconds, rounds):
    """jax.vmap over train_steps(check=False) on stacked params/state against one wide network."""
    n_one = seeds * n_each
    k = steps_for(seconds, n_one, 3e8)
    ps = [problem(n_each, 1, k, jnp.float32, seed=s) for s in range(seeds)]
    P = jax.tree.map(lambda *a: jnp.stack(a), *[p for p, _, _ in ps])
    X = jnp.stack([x for _, x, _ in ps])
    Y = jnp.stack([y for _, _, y in ps])
    S0 = jax.vmap(init_state)(P)

    @jax.jit
    def run_ensemble(P, S0, X, Y):
        return jax.vmap(lambda p, s, x, y: train_steps(p, s, x, y, beta=BETA, alpha=ALPHA, check=False))(P, S0, X, Y)

    p1, x1, y1 = problem(n_one, 1, k, jnp.float32)
    s1 = init_state(p1)
    t = timed(
        {
            "ensemble": lambda: run_ensemble(P, S0, X, Y),
            "one": lambda: train_steps(p1, s1, x1, y1, beta=BETA, alpha=ALPHA, check=False),
        },
        rounds,
    )
    rate = {m: n_one * k / statistics.median(v) for m, v in t.items()}
    r = ratio(t, "ensemble", "one")
    rc = ratio(CPU, "ensemble", "one")
    print(f"\nEnsemble (float32, d = 1, K = {k}): vmap over {seeds} seeds of N = {n_each} against one N = {n_one}")
    print(
        f"  ensemble {rate['ensemble']:.3g} unit-steps/s, one network {rate['one']:.3g}: ratio {r:.2f}"
        f" (cpu-time ratio {rc:.2f})"
    )
    return dict(seeds=seeds, N_each=n_each, N_one=n_one, K=k, rate=rate, ratio=r, cpu_time_ratio=rc)


def targets(rows, ens):
    """The issue's targets, on wall-clock ratios (and, for reference, on CPU-time ratios)."""
    by = {(r["d"], r["N"]): r for r in rows}
    checks = []
    for n, f_floor, f_np in [(1000, 0.7, 5.0), (16000, 0.7, 1.5)]:
        r = by.get((1, n))
        if r is None:
            continue
        for m, want in (("floor", f_floor), ("numpy", f_np)):
            label = f"train_online >= {want}x {'the floor' if m == 'floor' else 'the NumPy loop'} at N = {n}"
            checks.append((label, r["ratios"][f"online/{m}"], r["cpu_time_ratios"][f"online/{m}"], want))
    label = f"ensemble {ens['seeds']} x N = {ens['N_each']} >= 0.8x one N = {ens['N_one']}"
    checks.append((label, ens["ratio"], ens["cpu_time_ratio"], 0.8))
    print("\nTargets (float32, d = 1): wall-clock ratio (CPU-time ratio)")
    for label, got, cpu, want in checks:
        print(f"  [{'ok' if got >= want else 'MISS'}] {label}: {got:.2f} ({cpu:.2f})")
    return [
        dict(target=label, value=got, cpu_time_value=cpu, required=want, met=bool(got >= want))
        for label, got, cpu, want in checks
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer widths and repeats (~2 min)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        widths, dims, seconds, loop_seconds, rounds = (100, 1000, 16000, 100000), (1, 8), 0.1, 0.1, 5
        ks = (1000, 4000, 16000, 64000)
    else:
        widths, dims, seconds, loop_seconds, rounds = (100, 1000, 4000, 16000, 100000), (1, 8), 0.3, 0.3, 7
        ks = (1000, 4000, 16000, 64000, 256000)
    print(
        f"rnnntk {rnnntk.__version__}, jax {jax.__version__}, numpy {np.__version__}, {platform.processor() or ''}"
        f" {os.cpu_count()} CPUs, devices {jax.devices()}, load average {os.getloadavg()[0]:.2f}"
    )
    t0 = time.time()
    rows = throughput_table(widths, dims, seconds, rounds, loop_seconds)
    width_scaling_note(rows)
    steps = steps_scaling(1000, ks, rounds)
    overhead = call_overhead(1000, 8, rounds)
    f64 = float64_cost((1000, 16000, 100000), (1, 8), seconds, rounds)
    ens = ensemble(8, 4000, seconds * 2, rounds)
    tg = targets(rows, ens)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS {rss:.0f} MiB; {time.time() - t0:.0f} s; load average {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    table=rows,
                    steps=steps,
                    call_overhead=overhead,
                    float64=f64,
                    ensemble=ens,
                    targets=tg,
                    peak_rss_mib=rss,
                ),
                f,
                indent=1,
            )
    return 0 if all(t["met"] for t in tg) else 1


if __name__ == "__main__":
    sys.exit(main())

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
- ``floor``: the fastest fused ``lax.scan`` of the bare update written here (`floor_step`: six
  carried arrays overwritten in place, ``[N]`` vectors and a scalar input at ``d = 1``, no
  validation, no displacement bookkeeping, no per-step outputs; the faster of two unrolls per round);
- ``steps``: ``rnnntk.train_steps(..., check=False)`` (the scan the library runs);
- ``online``: ``rnnntk.train_online`` (input validation, zero state, the scan, the non-finite
  check with its host synchronisation, ``theta_0 + delta``).

Roofline: after the table, every method's work per unit-step (flops, ``tanh`` calls, the least
bytes moved, and the bytes and kernels of its compiled loop) next to what one core attains at the
same ``N``, measured in the same run (`machine`: a triad pass, ``tanh`` and multiply-add rates
inside compiled loops; `machine_global`: DRAM bandwidth, matmul FLOP/s, one dispatch), so that
every rate reads as a fraction of a limit (`roofline`, `print_roofline`). On the CPU these rates
are per CPU-second of the process; on an accelerator (``scripts/bench_gpu.sh``) per wall-clock
second.

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
overhead), float64 against float32 with the reasons (traffic and float64 rates), an
ensemble of 8 networks of ``N = 4000`` under ``jax.vmap`` against one network of ``N = 32000``, and
a study's ensemble chunk at ``N = 102400`` (4 seeds x 4 grid points) all vmapped against the
cache-sized blocks of members the studies use on a CPU (``--study-ensemble``: only this section).
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import sys
import time
from functools import partial

import jax

jax.config.update("jax_enable_x64", True)  # float32 runs pass float32 arrays explicitly

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import rnnntk  # noqa: E402
from rnnntk.diagonal import UNROLL, init_state, train_steps  # noqa: E402
from rnnntk.diagonal.train import _train_online_jit, _train_scan  # noqa: E402

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
    """The bare update: parameters carried directly, no outputs (``w``, ``Jw`` are ``[N, d]``)."""
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


def floor_step(carry, inp, out_scale, lr):
    """The floor's step: for ``d = 1`` six ``[N]`` vectors ``(c, w, b, S, J^w, J^b)`` and a scalar
    input (``w * x``); for ``d > 1`` ``w``, ``J^w`` are ``[N, d]`` and ``w . x`` an explicit sum over
    the ``d`` columns (elementwise, so it fuses into the activation's pass). Every carried array is
    overwritten by its update (XLA writes it in place)."""
    c, w, b, S, Jw, Jb = carry
    x, y = inp
    if w.ndim == 1:
        s = jnp.tanh(w * x + b * S)
        ds = 1 - s * s
        a = ds * b
        Jw = ds * x + a * Jw
    else:
        z = b * S
        for j in range(w.shape[1]):
            z = z + w[:, j] * x[j]
        s = jnp.tanh(z)
        ds = 1 - s * s
        a = ds * b
        Jw = ds[:, None] * x[None, :] + a[:, None] * Jw
    Jb = ds * S + a * Jb
    g = lr * (y - out_scale * jnp.dot(c, s))
    gc = g * c
    return (c + g * s, w + (gc * Jw if w.ndim == 1 else gc[:, None] * Jw), b + gc * Jb, s, Jw, Jb), None


def _zero_carry(c, w, b):
    return (c, w, b, jnp.zeros_like(b), jnp.zeros_like(w), jnp.zeros_like(b))


def _floor(c, w, b, xs, ys, beta, alpha, unroll):
    if w.shape[1] == 1:
        w, xs = w[:, 0], xs[:, 0]
    n = c.shape[0]
    out_scale, lr = jnp.asarray(n**-beta, c.dtype), jnp.asarray(alpha * n ** (beta - 2), c.dtype)
    step = partial(floor_step, out_scale=out_scale, lr=lr)
    carry, _ = jax.lax.scan(step, _zero_carry(c, w, b), (xs, ys), unroll=unroll)
    return carry[:3]


#: The floor is timed at these unrolls; each round takes the fastest (the best floor we can write).
FLOOR_UNROLLS = (2, 4)
_floor_jit = jax.jit(_floor, static_argnames=("beta", "alpha", "unroll"), donate_argnums=())


def floor_train(c, w, b, xs, ys, beta, alpha, unroll=FLOOR_UNROLLS[-1]):
    return _floor_jit(c, w, b, xs, ys, beta, alpha, unroll)


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
    est, act = rnnntk.diagonal.network.parse_grad("rtrl"), rnnntk.diagonal.network.get_activation("tanh")
    m = _train_online_jit.lower(p, xs, ys, None, BETA, ALPHA, est, act).compile().memory_analysis()
    if m is None:
        return float("nan")
    return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes) / 2**20


# --------------------------------------------------------------------------- the machine and the work


#: On the CPU, rates are per CPU-second of this process (robust to other processes' load); on an
#: accelerator, per wall-clock second (the host's CPU time says nothing about the device).
ON_CPU = jax.default_backend() == "cpu"


def _clock() -> float:
    return time.process_time() if ON_CPU else time.perf_counter()


def _best_cpu(f, rounds: int = 5) -> float:
    """Least time (`_clock`) of ``rounds`` calls after a warm-up."""
    jax.block_until_ready(f())
    best = float("inf")
    for _ in range(rounds):
        c = _clock()
        jax.block_until_ready(f())
        best = min(best, _clock() - c)
    return max(best, 1e-9)


@partial(jax.jit, static_argnames="reps")
def _pass_loop(a, b, reps):
    # one pass per iteration: read a and b, write a in place (a triad); no unroll, so that XLA
    # cannot fuse consecutive passes into one
    return jax.lax.fori_loop(0, reps, lambda i, ab: (ab[0] * 0.999 + ab[1], ab[1]), (a, b))


@partial(jax.jit, static_argnames="reps")
def _tanh_loop(a, reps):
    return jax.lax.fori_loop(0, reps, lambda i, a: jnp.tanh(a) * 1.5, a)


@partial(jax.jit, static_argnames="reps")
def _fma_loop(a, reps):
    def body(i, a):
        for _ in range(32):  # 32 dependent multiply-adds per element, one fused pass
            a = a * 0.999 + 0.001
        return a

    return jax.lax.fori_loop(0, reps, body, a)


_PROBES: dict = {}


def machine(n: int, dtype) -> dict:
    """What one core attains on ``[n]`` vectors of ``dtype`` inside a compiled loop, per CPU-second:
    ``bw`` bytes/s of a triad pass (read two vectors, write one: the trainers' passes look like
    this, so the per-pass cost of a loop iteration at this ``n`` is included), ``tanh`` calls/s,
    ``flops`` of fused multiply-adds. Cached per ``(n, dtype)``."""
    key = (n, jnp.dtype(dtype).name)
    if key not in _PROBES:
        a, b = jnp.ones(n, dtype), jnp.full(n, 0.5, dtype)
        reps = max(4, int(1e8 / n))
        _PROBES[key] = dict(
            bw=3 * n * a.itemsize * reps / _best_cpu(lambda: _pass_loop(a, b, reps)),
            tanh=n * reps / _best_cpu(lambda: _tanh_loop(a, reps)),
            flops=64 * n * (reps // 4) / _best_cpu(lambda: _fma_loop(a, reps // 4)),
        )
    return _PROBES[key]


def machine_global() -> dict:
    """Whole-machine figures: DRAM triad bandwidth (wall clock, 64 MiB vectors), float32 matmul
    flop/s (2048^2, wall clock, all cores) and the time of one dispatch of a jitted step."""
    n = 1 << 24
    a, b = jnp.ones(n, jnp.float32), jnp.full(n, 0.5, jnp.float32)

    def wall(f, rounds=3):
        jax.block_until_ready(f())
        ts = []
        for _ in range(rounds):
            t = time.perf_counter()
            jax.block_until_ready(f())
            ts.append(time.perf_counter() - t)
        return min(ts)

    dram = 3 * n * 4 * 8 / wall(lambda: _pass_loop(a, b, 8))
    m = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    matmul = 2 * 2048**3 / wall(lambda: mm(m))
    p = rnnntk.init_params(jax.random.key(0), 100, 1, dtype=jnp.float32)
    carry = _zero_carry(*p)
    x, y = jnp.ones(1, jnp.float32), jnp.float32(0.0)
    dispatch = wall(lambda: _jit_step(carry, x, y, BETA, ALPHA), 21)
    return dict(dram_bw=dram, matmul_flops=matmul, dispatch_s=dispatch)


def work(method: str, d: int, itemsize: int) -> dict:
    """Work of one unit-step (one unit, one online step) of ``rtrl`` with ``tanh``.

    ``flops``: z = w.x + b S (2d + 2), ds = 1 - s^2 (2), a = ds b (1), J^w (3d), J^b (3), the output
    sum c.s (2), gc = g c (1), the updates of c (2), w (2d), b (2): ``7d + 15``; ``theta_0 + delta``
    adds the sums forming theta (d + 2). ``tanh``: one call. ``bytes``: the least traffic, every
    carried array read and written once (c, w, b, S, J^w, J^b: ``2 (4 + 2d)`` numbers) plus, for
    ``theta_0 + delta``, reading theta_0 (``2 + d``). For NumPy, the traffic of its array operations
    as written in `numpy_train` (each one a pass over its operands).
    """
    flops, tanh = 7 * d + 15, 1
    nums = 2 * (4 + 2 * d)
    if method in ("online", "steps"):
        flops += d + 2
        nums += 2 + d
    if method == "numpy":
        # (reads, writes) of each array operation of numpy_train's loop body, in vector lengths
        ops = [
            (d, 1), (2, 1), (2, 1), (1, 1), (1, 1), (1, 1),  # w @ x, b S, +, tanh, s s, 1 -
            (1 + d, d), (d, d), (1 + d, d),  # b Jw, x +, ds *
            (2, 1), (2, 1), (2, 1), (2, 0),  # b Jb, S +, ds *, c @ s
            (1, 1), (1, 1), (2, 1),  # g c, g s, c +=
            (1 + d, d), (2 * d, d), (2, 1), (2, 1),  # gc Jw, w +=, gc Jb, b +=
        ]  # fmt: skip
        nums = sum(r + w for r, w in ops)
    return dict(flops=flops, tanh=tanh, bytes=nums * itemsize)


_SHAPE = re.compile(r"\b(f16|bf16|f32|f64|s32|u32|s64|pred)\[([0-9,]*)\]")
_ITEM = dict(f16=2, bf16=2, f32=4, f64=8, s32=4, u32=4, s64=8, pred=1)


def _nbytes(type_text: str) -> int:
    total = 0
    for t, dims in _SHAPE.findall(type_text):
        size = 1
        for x in dims.split(","):
            size *= int(x) if x else 1
        total += _ITEM[t] * size
    return total


def xla_bytes(compiled, n: int, d: int, steps_per_iteration: int, kernels: bool = False):
    """Bytes per unit-step that XLA's compiled loop moves: over the kernels (fusions, copies, custom
    calls) of the scan's loop body, the size of every operand plus the result, per unit and step.

    Every kernel is a separate pass over memory on the CPU backend, so this is the traffic of the
    program as compiled (operands that a kernel reads twice counted once). Only arrays along the unit
    axis (``[N]``, ``[N, d]``) count: a kernel that reads one sample of the path ``xs [K, d]`` is
    handed the whole array but touches one element of it.
    """
    unit = {_ITEM["f32"] * n, _ITEM["f32"] * n * d, _ITEM["f64"] * n, _ITEM["f64"] * n * d}
    text = compiled.as_text()
    bodies = set(re.findall(r"body=%?([\w.\-]+)", text)) or set(re.findall(r"ENTRY %?([\w.\-]+)", text))
    best, count = 0, 0
    for name in bodies:
        m = re.search(r"\n(?:ENTRY )?%?" + re.escape(name) + r" [^\n]*\{\n(.*?)\n\}", text, re.S)
        if m is None:
            continue
        shapes, total, nk = {}, 0, 0
        for line in m.group(1).splitlines():
            d = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (\([^=]*?\)|\S+) ([\w\-]+)\((.*?)\)", line)
            if d is None:
                continue
            var, typ, op, args = d.groups()
            shapes[var] = _nbytes(typ)
            if op in ("fusion", "copy", "custom-call", "dot", "reduce"):
                sizes = [shapes[var]] + [shapes.get(a.strip().lstrip("%"), 0) for a in args.split(",")]
                total += sum(b for b in sizes if b in unit)
                nk += 1
        if total > best:
            best, count = total, nk
    per = best / (n * steps_per_iteration)
    return (per, count / steps_per_iteration) if kernels else per


def roof(w: dict, mach: dict, bytes_per: float) -> tuple[float, str]:
    """Attainable unit-steps/s of one core: the least of the bandwidth, tanh and flop limits."""
    limits = {"memory": mach["bw"] / bytes_per, "tanh": mach["tanh"] / w["tanh"], "flops": mach["flops"] / w["flops"]}
    bound = min(limits, key=limits.get)
    return limits[bound], bound


def serial(w: dict, mach: dict, bytes_per: float) -> float:
    """Unit-steps/s if memory passes, tanh and flops did not overlap at all (sum of their times)."""
    return 1.0 / (bytes_per / mach["bw"] + w["tanh"] / mach["tanh"] + w["flops"] / mach["flops"])


# --------------------------------------------------------------------------- sections


def throughput_table(widths, dims, seconds, rounds, loop_seconds, mach_global):
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
                **{
                    f"floor-u{u}": lambda p=p, xs=xs, ys=ys, u=u: floor_train(*p, xs, ys, BETA, ALPHA, u)
                    for u in FLOOR_UNROLLS
                },
                "steps": lambda p=p, xs=xs, ys=ys: train_steps(
                    p, init_state(p), xs, ys, beta=BETA, alpha=ALPHA, check=False
                ),
                "online": lambda p=p, xs=xs, ys=ys: rnnntk.train_online(p, xs, ys, beta=BETA, alpha=ALPHA),
            }
            work_ = {"numpy": n * k_np, "jit-step": n * k_js, "floor": n * k, "steps": n * k, "online": n * k}
            t = timed(methods, rounds)
            # the floor: in each round the faster of its unrolls
            for times in (t, CPU):
                times["floor"] = [min(v) for v in zip(*(times[f"floor-u{u}"] for u in FLOOR_UNROLLS))]
            names = ("numpy", "jit-step", "floor", "steps", "online")
            rate = {m: work_[m] / statistics.median(t[m]) for m in names}
            rate_cpu = {m: work_[m] / statistics.median(CPU[m]) for m in names}
            r = {
                f"online/{m}": ratio(t, "online", m, work_["online"], work_[m])
                for m in ("floor", "numpy", "jit-step", "steps")
            }
            rc = {
                f"online/{m}": ratio(CPU, "online", m, work_["online"], work_[m])
                for m in ("floor", "numpy", "jit-step", "steps")
            }
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
                    d=d, N=n, K=k, K_numpy=k_np, K_jit_step=k_js, rate=rate, rate_per_cpu_second=rate_cpu, ratios=r,
                    cpu_time_ratios=rc, cpu_share=share, xla_mib=mib,
                    roofline=roofline(p, xs, ys, rate_cpu if ON_CPU else rate, mach_global),
                )
            )  # fmt: skip
    return rows


def roofline(p, xs, ys, rate_cpu, mach_global) -> dict:
    """Work, XLA traffic and attainable rate of every method at this ``(N, d)`` (per CPU-second)."""
    n, d = p.w.shape
    itemsize = p.c.dtype.itemsize
    mach = machine(n, p.c.dtype)
    est, act = rnnntk.diagonal.network.parse_grad("rtrl"), rnnntk.diagonal.network.get_activation("tanh")
    compiled = {
        "floor": (_floor_jit.lower(*p, xs, ys, BETA, ALPHA, FLOOR_UNROLLS[-1]).compile(), FLOOR_UNROLLS[-1]),
        "steps": (_train_scan.lower(p, init_state(p), xs, ys, None, BETA, ALPHA, est, act).compile(), UNROLL),
        "online": (_train_online_jit.lower(p, xs, ys, None, BETA, ALPHA, est, act).compile(), UNROLL),
        "jit-step": (_jit_step.lower(_zero_carry(*p), xs[0], ys[0], BETA, ALPHA).compile(), 1),
    }
    out = {}
    for m in ("numpy", "jit-step", "floor", "steps", "online"):
        w = work(m, d, itemsize)
        bx, nk = xla_bytes(compiled[m][0], n, d, compiled[m][1], True) if m in compiled else (float(w["bytes"]), 0)
        attain, bound = roof(w, mach, w["bytes"])
        if m == "jit-step" and n / mach_global["dispatch_s"] < attain:
            attain, bound = n / mach_global["dispatch_s"], "calls"  # one dispatch per step
        out[m] = dict(
            **w, xla_bytes=bx, measured=rate_cpu[m], roof=attain, bound=bound, roof_xla=roof(w, mach, bx)[0],
            serial_xla=serial(w, mach, bx), kernels_per_step=nk,
        )  # fmt: skip
    out["machine"] = mach
    return out


def print_roofline(rows, glob):
    print(
        "\nRoofline (float32, rtrl; per unit-step; "
        + (
            "rates per CPU-second of one process, so that other load does not move them)"
            if ON_CPU
            else f"rates per wall-clock second on {jax.devices()[0].device_kind})"
        )
    )
    print(
        f"machine: DRAM triad {glob['dram_bw'] / 1e9:.1f} GB/s, float32 matmul {glob['matmul_flops'] / 1e9:.0f} GFLOP/s"
        f" (all cores, wall clock), one jitted dispatch {1e6 * glob['dispatch_s']:.1f} us"
    )
    print(
        "pass = GB/s of a triad pass over [N] vectors in a compiled loop, tanh = calls/s, fma = FLOP/s of a fused"
        " multiply-add chain (one core, at this N); B min = least traffic, B xla = traffic of the compiled loop,"
        " kern = its kernels (passes) per step;"
        " roof = min(pass/B, tanh/calls, fma/flops) with B min, roof-xla with B xla, serial = 1 / (B xla/pass +"
        " calls/tanh + flops/fma)"
    )
    hdr = (
        f"{'d':>2} {'N':>7} {'pass':>5} {'tanh':>7} {'fma':>7} | {'method':>8} {'flops':>5} {'B min':>5} {'B xla':>6}"
        f" {'kern':>4} |"
        f" {'measured':>8} {'roof':>8} {'bound':>6} {'frac':>5} | {'roof-xla':>8} {'frac':>5} |"
        f" {'serial':>8} {'frac':>5}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        rf = r["roofline"]
        mach = rf["machine"]
        for i, m in enumerate(("numpy", "jit-step", "floor", "steps", "online")):
            x = rf[m]
            lead = (
                f"{r['d']:>2} {r['N']:>7} {mach['bw'] / 1e9:>5.0f} {mach['tanh']:>7.2g} {mach['flops']:>7.2g}"
                if i == 0
                else " " * 32
            )
            print(
                f"{lead} | {m:>8} {x['flops']:>5} {x['bytes']:>5} {x['xla_bytes']:>6.0f}"
                f" {x['kernels_per_step']:>4.1f} |"
                f" {x['measured']:>8.3g}"
                f" {x['roof']:>8.3g} {x['bound']:>6} {x['measured'] / x['roof']:>5.2f} | {x['roof_xla']:>8.3g}"
                f" {x['measured'] / x['roof_xla']:>5.2f} | {x['serial_xla']:>8.3g}"
                f" {x['measured'] / x['serial_xla']:>5.2f}"
            )


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
    """train_online in float64 against float32, with the reasons: per dtype the traffic of the
    compiled loop and the machine's pass, tanh and FMA rates at this ``N``, and the cost the serial
    model (passes + tanh + flops, one after the other) predicts from them."""
    print("\nfloat64 against float32 (train_online; cost = time64 / time32 for the same steps, wall and CPU time)")
    print(
        f"{'d':>2} {'N':>7} {'K':>7} | {'f32':>9} {'f64':>9} | {'cost':>5} {'cpu':>5} | {'B xla':>9} {'pass GB/s':>9}"
        f" {'tanh/s':>15} {'fma/s':>15} | {'model':>5}"
    )
    rows = []
    est, act = rnnntk.diagonal.network.parse_grad("rtrl"), rnnntk.diagonal.network.get_activation("tanh")
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
            cost_cpu = ratio(CPU, "f32", "f64")
            info = {}
            for name, (pp, xx, yy) in {"f32": (p32, x32, y32), "f64": (p, xs, ys)}.items():
                compiled = _train_online_jit.lower(pp, xx, yy, None, BETA, ALPHA, est, act).compile()
                w = work("online", d, pp.c.dtype.itemsize)
                mach = machine(n, pp.c.dtype)
                bx = xla_bytes(compiled, n, d, UNROLL)
                info[name] = dict(xla_bytes=bx, machine=mach, serial=serial(w, mach, bx))
            a, b = info["f32"], info["f64"]
            model = a["serial"] / b["serial"]
            ma, mb = a["machine"], b["machine"]
            print(
                f"{d:>2} {n:>7} {k:>7} | {rate['f32']:>9.3g} {rate['f64']:>9.3g} | {cost:>5.2f} {cost_cpu:>5.2f} |"
                f" {a['xla_bytes']:>4.0f}/{b['xla_bytes']:<4.0f} {ma['bw'] / 1e9:>4.0f}/{mb['bw'] / 1e9:<4.0f}"
                f" {ma['tanh']:>7.2g}/{mb['tanh']:<7.2g} {ma['flops']:>7.2g}/{mb['flops']:<7.2g} | {model:>5.2f}",
                flush=True,
            )
            rows.append(dict(d=d, N=n, K=k, rate=rate, cost=cost, cost_cpu=cost_cpu, model=model, detail=info))
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


def study_ensemble(n, seeds, grid, seconds, rounds):
    """A study's ensemble chunk (`rnnntk.diagonal.ensemble.train_chunk`'s program) at one width:
    ``seeds x grid`` members all in one vmap against the cache-sized blocks of members it uses on
    a CPU (`member_block`), and the same work as one network trained alone per member."""
    from rnnntk.diagonal.ensemble import _chunk, init_ensemble, member_block
    from rnnntk.diagonal.network import get_activation
    from rnnntk.diagonal.train import parse_grad

    members = seeds * grid
    k = steps_for(seconds, n * members, 4e8)
    block = member_block(n, 1, 4, members, platform=jax.devices()[0].platform)
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(0), s))(jnp.arange(seeds))
    ens = init_ensemble(keys, n, 1, grid, grad="rtrl", dtype=jnp.float32)
    p1, x1, y1 = problem(n, 1, k, jnp.float32)
    xs, ys = jnp.broadcast_to(x1, (seeds,) + x1.shape), jnp.broadcast_to(y1, (seeds,) + y1.shape)
    args = (xs, ys, jnp.ones(k, jnp.float32), jnp.full(grid, ALPHA, jnp.float32), jnp.full(grid, BETA, jnp.float32))
    static = (parse_grad("rtrl"), get_activation("tanh"))
    state = {b: [jax.tree.map(jnp.array, ens.state)] for b in (0, block)}

    def chunk(b):
        def go():
            state[b][0], loss = _chunk(ens.params0, state[b][0], *args, *static, b)  # the state is donated
            return loss

        return go

    s1 = init_state(p1)
    methods = {
        "vmap": chunk(0),
        "blocks": chunk(block),
        "alone": lambda: train_steps(p1, s1, x1, y1, beta=BETA, alpha=ALPHA, check=False),
    }
    t = timed(methods, rounds)
    work = {"vmap": members, "blocks": members, "alone": 1}
    rate = {m: work[m] * n * k / statistics.median(v) for m, v in t.items()}
    r = ratio(t, "blocks", "vmap")
    ra = ratio(t, "blocks", "alone", work_a=members)
    print(
        f"\nStudy ensemble (float32, d = 1, K = {k}): {seeds} seeds x {grid} grid points of N = {n},"
        f" blocks of {block or members}"
    )
    print(
        f"  all vmapped {rate['vmap']:.3g} unit-steps/s, in blocks {rate['blocks']:.3g}, one network alone"
        f" {rate['alone']:.3g}: blocks/vmap {r:.2f} (cpu-time {ratio(CPU, 'blocks', 'vmap'):.2f}),"
        f" blocks/alone {ra:.2f}"
    )
    return dict(N=n, seeds=seeds, grid=grid, K=k, block=block, rate=rate, blocks_over_vmap=r, blocks_over_alone=ra)


def targets(rows, ens):
    """The issue's targets, on wall-clock ratios (and, for reference, on CPU-time ratios)."""
    by = {(r["d"], r["N"]): r for r in rows}
    checks = []
    for n, f_floor, f_np in [(1000, 0.9, 5.0), (16000, 0.9, 1.5), (100000, 0.9, 1.5)]:
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
    ap.add_argument("--widths", help="comma-separated widths N of the main table (default: by --quick)")
    ap.add_argument("--dims", help="comma-separated input dimensions d of the main table (default 1,8)")
    ap.add_argument("--table-only", action="store_true", help="only the main table and the roofline")
    ap.add_argument("--float64", action="store_true", help="with --table-only: also the float64 section")
    ap.add_argument("--study-ensemble", action="store_true", help="only the study-ensemble section (N = 102400)")
    args = ap.parse_args(argv)
    if args.quick:
        widths, dims, seconds, loop_seconds, rounds = (100, 1000, 16000, 100000), (1, 8), 0.1, 0.1, 5
        ks = (1000, 4000, 16000, 64000)
    else:
        widths, dims, seconds, loop_seconds, rounds = (100, 1000, 4000, 16000, 100000), (1, 8), 0.3, 0.3, 7
        ks = (1000, 4000, 16000, 64000, 256000)
    if args.widths:
        widths = tuple(int(x) for x in args.widths.split(","))
    if args.dims:
        dims = tuple(int(x) for x in args.dims.split(","))
    print(
        f"rnnntk {rnnntk.__version__}, jax {jax.__version__}, numpy {np.__version__}, {platform.processor() or ''}"
        f" {os.cpu_count()} CPUs, devices {jax.devices()}, load average {os.getloadavg()[0]:.2f}"
    )
    t0 = time.time()
    if args.study_ensemble:
        study_ensemble(102400, 4, 4, 0.4 if args.quick else 1.0, rounds)
        return 0
    glob = machine_global()
    rows = throughput_table(widths, dims, seconds, rounds, loop_seconds, glob)
    print_roofline(rows, glob)
    if args.table_only:
        if args.float64:
            float64_cost(widths, dims, seconds, rounds)
        return 0
    width_scaling_note(rows)
    steps = steps_scaling(1000, ks, rounds)
    overhead = call_overhead(1000, 8, rounds)
    f64 = float64_cost((1000, 16000, 100000), (1, 8), seconds, rounds)
    ens = ensemble(8, 4000, seconds * 2, rounds)
    study = study_ensemble(102400, 4, 4, seconds * 4, rounds)
    tg = targets(rows, ens)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS {rss:.0f} MiB; {time.time() - t0:.0f} s; load average {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    machine=glob,
                    table=rows,
                    steps=steps,
                    call_overhead=overhead,
                    float64=f64,
                    ensemble=ens,
                    study_ensemble=study,
                    targets=tg,
                    peak_rss_mib=rss,
                ),
                f,
                indent=1,
            )
    return 0 if all(t["met"] for t in tg) else 1


if __name__ == "__main__":
    sys.exit(main())

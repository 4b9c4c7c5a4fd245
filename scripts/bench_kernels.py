"""Throughput of the actor-critic trainer and of two kernels, each against its previous
implementation (kept here, verbatim in substance) and against a physical floor.

    python scripts/bench_kernels.py                      # all sections, 3 rounds
    python scripts/bench_kernels.py ac --rounds 5        # one section: ac, elman or limit
    python scripts/bench_kernels.py elman --width 8192   # the Elman NTK at the paper's width

Sections:

- ``ac``: `rnnntk.actor_critic.train_seeds`'s jitted program at the quick-scale shapes (5 states,
  3 actions, one-hot states, 4 seeds vmapped, float32, ``beta = 0.75``) against the previous
  step (dense ``[P, N]`` preactivation updates, random numbers drawn inside the scan), and against
  a floor: a scan whose step does the least any implementation must, per unit and seed, evaluate
  the activation on the 8 preactivations a step reads (critic at ``(x, a)`` and ``(x', a')``,
  actor at the ``A = 3`` pairs of ``x`` and of ``x'``), their 8 output sums, and write them back.
  Throughput in unit-steps/s (seeds x units x steps / s).
- ``elman``: `rnnntk.elman_init`'s draw and `rnnntk.elman_empirical_ntks` (both pools) at the
  experiment's shapes (``B = 24`` sequences of ``T = 16`` steps, ``d = 1``, erf, float64) against
  the previous draw (`jax.random.normal`, checked bit for bit) and NTK, against the kernel's
  ``2 (T - 1)`` products alone (``W^T [n, B]`` forward, ``W [n, 2 B]`` backward, the floor of any
  exact method) and against a square float64 GEMM (the machine's multiply-add rate); wall-clock and
  CPU-time ratios.
- ``limit``: `rnnntk.diagonal.limit.limit_kernel` on an AR(1) path (quadrature, ``d = 1``) split into its
  parts: the features of the nodes and the products ``sum_u omega_u phi_u phi_u^T`` (one GEMM per
  chunk of nodes); the products' flop rate is compared with a plain float64 matmul of the same
  shapes timed in the same round.

Timing: compile excluded (one warm-up call), ``block_until_ready``; the methods of a section are
interleaved in each of ``R`` rounds so that background load hits them alike, and each ratio is
printed per round and as the median over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

import jax

jax.config.update("jax_enable_x64", True)  # float32 runs pass float32 arrays explicitly

import jax.numpy as jnp  # noqa: E402

import rnnntk  # noqa: E402
from rnnntk import actor_critic as ac  # noqa: E402
from rnnntk.actor_critic import finite as F  # noqa: E402
from rnnntk.actor_critic.mdp import features  # noqa: E402
from rnnntk.actor_critic.nets import scale  # noqa: E402
from rnnntk.diagonal.network import get_activation  # noqa: E402
from rnnntk.elman import network as elman  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def rounds_table(methods: dict, rounds: int, work: dict, unit: str, base: str, cpu: dict | None = None) -> dict:
    """Run ``methods`` interleaved for ``rounds`` rounds; print rates and per-round ratios to ``base``.

    With a dict ``cpu``, also record each call's CPU time of this process (all its threads) into
    it and print the CPU-time ratios: on a shared machine the wall time counts the other
    processes' load, the CPU time much less so."""
    for f in methods.values():  # warm-up (compile)
        jax.block_until_ready(f())
    times = {k: [] for k in methods}
    cpus = {k: [] for k in methods}
    for _ in range(rounds):
        for k, f in methods.items():
            c0 = time.process_time()
            times[k].append(timed(f))
            cpus[k].append(time.process_time() - c0)
    for k in methods:
        ratios = [b / t for b, t in zip(times[base], times[k])]
        med = statistics.median(times[k])
        rate = f"{work[k] / med:10.3g} {unit}" if k in work else " " * 11 + " " * len(unit)
        per = " ".join(f"{r:6.2f}" for r in ratios)
        ratio = statistics.median(ratios)
        print(f"  {k:>16}: {med * 1e3:9.1f} ms  {rate}  {base} time / time, per round: {per}, median {ratio:.2f}")
    if cpu is not None:
        cpu.update(cpus)
        print("  CPU time (all threads of this process):")
        for k in methods:
            ratios = [b / t for b, t in zip(cpus[base], cpus[k])]
            med = statistics.median(cpus[k])
            rate = f"{work[k] / med:10.3g} {unit}/cpu" if k in work else " " * 11 + " " * (len(unit) + 4)
            per = " ".join(f"{r:6.2f}" for r in ratios)
            print(
                f"  {k:>16}: {med * 1e3:9.1f} ms  {rate}  {base} / cpu, per round: {per},"
                f" median {statistics.median(ratios):.2f}"
            )
    return times


# --------------------------------------------------------------------------- actor-critic


def _old_rows(net0, dnet, p, size=1):
    sl = partial(jax.lax.dynamic_slice_in_dim, start_index=p, slice_size=size, axis=0)
    return sl(net0.U) + sl(dnet.U)


def _old_out_rows(net0, dnet, p, size, beta, act):
    s, _ = act.fn(_old_rows(net0, dnet, p, size))
    return scale(net0.c.shape[0], beta, net0.c.dtype) * (s @ (net0.c + dnet.c))


def _old_update(nets0, delta, G, mdp, h, k, x, a, x1, a1, act):
    """The previous `transition_update`: displacements of the preactivations on all ``P`` pairs."""
    A = mdp.n_actions
    (q0, f0), (dq, df) = nets0, delta
    n, dt = q0.c.shape[0], q0.c.dtype
    s_n = scale(n, h.beta, dt)
    lr = jnp.power(jnp.asarray(n, dt), 2.0 * h.beta - 2.0)
    p, p1 = x * A + a, x1 * A + a1
    c = q0.c + dq.c
    s, ds = act.fn(_old_rows(q0, dq, p)[0])
    s1, _ = act.fn(_old_rows(q0, dq, p1)[0])
    Q, Q1 = s_n * jnp.dot(c, s), s_n * jnp.dot(c, s1)
    td = mdp.r[x, a] + mdp.gamma * Q1 - Q
    gq = lr * h.alpha * td * s_n
    d_critic = F.PairNet(dq.c + gq * s, dq.U + G[:, p][:, None] * (gq * c * ds)[None, :])
    chat = f0.c + df.c
    sh, dsh = act.fn(_old_rows(f0, df, x * A, A))
    pi = jax.nn.softmax(s_n * (sh @ chat))
    coef = jax.nn.one_hot(a, A, dtype=dt) - pi
    gf = lr * F.actor_rate(jnp.asarray(k, dt) / n, h) * Q * s_n
    Gx = jax.lax.dynamic_slice_in_dim(G, x * A, A, axis=1)
    d_actor = F.PairNet(df.c + gf * (coef @ sh), df.U + Gx @ ((gf * coef)[:, None] * dsh * chat[None, :]))
    return F.ACNets(d_critic, d_actor), td


def _old_step(nets0, G, mdp, h, key, state, act):
    """The previous `sample_step` (stationary sampling): random numbers drawn inside the step."""
    A, k = mdp.n_actions, state.step
    kx, ka, _, _, _ = jax.random.split(jax.random.fold_in(key, k), 5)
    f0, df = nets0.actor, state.delta.actor
    x1 = jax.random.categorical(kx, jnp.log(mdp.P[state.x, state.a])).astype(jnp.int32)
    a1 = jax.random.categorical(ka, _old_out_rows(f0, df, x1 * A, A, h.beta, act)).astype(jnp.int32)
    delta, _ = _old_update(nets0, state.delta, G, mdp, h, k, state.x, state.a, x1, a1, act)
    return F.ACState(delta, x1, a1, k + 1)


@partial(jax.jit, static_argnames=("width", "every", "n_save", "act"))
def _old_seeds(keys, mdp, h, *, width, every, n_save, act):
    """The previous `_seeds` (as `finite._seeds`, stationary sampling, Rademacher ``c``)."""
    Z = features(mdp).astype(jnp.float32)
    G = Z @ Z.T

    def one(key):
        ki, kr = jax.random.split(key)
        nets0 = F.on_pairs(F.init_nets(ki, width, mdp, dtype=jnp.float32), features(mdp))
        ks, kc = jax.random.split(kr)
        kx, ka = jax.random.split(ks)
        x = jax.random.categorical(kx, jnp.log(mdp.nu)).astype(jnp.int32)
        zero = jax.tree.map(jnp.zeros_like, nets0)
        a = jax.random.categorical(ka, _old_out_rows(nets0.actor, zero.actor, x * 3, 3, h.beta, act)).astype(jnp.int32)
        state = F.ACState(zero, x, a, jnp.zeros((), jnp.int32))

        def save(st):
            return F.outputs_on_pairs(F.current(nets0, st.delta), beta=h.beta, act=act)

        def outer(st, _):
            st, _ = jax.lax.scan(lambda s, _: (_old_step(nets0, G, mdp, h, kc, s, act), None), st, None, length=every)
            return st, save(st)

        return jax.lax.scan(outer, state, None, length=n_save)[1]

    return jax.vmap(one)(keys)


@partial(jax.jit, static_argnames=("n_steps",))
def _ac_floor(R, c, n_steps):
    """Per step and seed: the activation of 8 preactivation rows, their 8 output sums, all 8 rows
    written back (``R [S, 8, N]``, ``c [S, N]``)."""

    def body(carry, _):
        R, c = carry
        s = jnp.tanh(R)
        out = jnp.einsum("skn,sn->sk", s, c)
        R = R + (1e-7 * out)[:, :, None] * (1.0 - s * s)
        return (R, c + 1e-7 * s[:, 0]), None

    return jax.lax.scan(body, (R, c), None, length=n_steps)[0]


def bench_ac(rounds: int, widths, seeds: int, horizon: float) -> None:
    mdp = ac.random_mdp(0, 5, 3, gamma=0.8)
    mdp = mdp._replace(**{k: v.astype(jnp.float32) for k, v in mdp._asdict().items()})
    h = F.Hyper(*(jnp.asarray(v, jnp.float32) for v in F.Hyper(0.75, 50.0, 20.0, 1.0, 0.5)))
    act = get_activation("tanh", allow_relu=True)
    keys = jax.random.split(jax.random.key(1), seeds)
    n_save = 10
    print(f"actor-critic: 5 states, 3 actions, {seeds} seeds vmapped, float32, horizon {horizon}, {n_save} saves")
    for N in widths:
        every = max(1, round(horizon * N / n_save))
        steps = every * n_save
        R = jax.random.normal(jax.random.key(2), (seeds, 8, N), jnp.float32)
        c = jnp.ones((seeds, N), jnp.float32)
        new = partial(
            F._seeds, keys, mdp, h, width=N, every=every, n_save=n_save, act=act, sampling="stationary",
            s_w=1.0, c_dist="rademacher", dtype=jnp.dtype(jnp.float32),
        )  # fmt: skip
        methods = {
            "old": partial(_old_seeds, keys, mdp, h, width=N, every=every, n_save=n_save, act=act),
            "new": new,
            "floor": partial(_ac_floor, R, c, steps),
        }
        print(f" N = {N}: {steps} steps")
        work = {k: seeds * N * steps for k in methods}
        rounds_table(methods, rounds, work, "unit-steps/s", "old")


# --------------------------------------------------------------------------- Elman NTK


def _old_derivatives(params, x, pool, phi):
    """The previous per-sequence derivatives: one `jax.vjp` of the unrolled network."""
    n = params.b.shape[0]
    a = elman.width_scale(params.param, n)
    eps = jnp.zeros((x.shape[0], n), x.dtype)

    def f(U, b, v, eps):
        S = elman._states(params.W, U, b, x, eps, a, phi)
        return elman._readout(S, v, a, pool), S

    _, vjp, S = jax.vjp(f, params.U, params.b, params.v, eps, has_aux=True)
    gU, gb, gv, delta = vjp(jnp.ones((), x.dtype))
    return gU, gb, gv, S, delta


@partial(jax.jit, static_argnames=("pool", "activation"))
def _old_elman_ntk(params, xs, pool, activation):
    """The previous `elman._empirical_ntk` (vjp per sequence, vmapped; one pool per call)."""
    phi = elman.ELMAN_ACTIVATIONS[activation]
    B, n = xs.shape[0], params.b.shape[0]
    a = elman.width_scale(params.param, n)
    gU, gb, gv, S, D = jax.vmap(lambda x: _old_derivatives(params, x, pool, phi))(xs)
    cw, cu, cb, cv = params.variances if params.param == "ntk" else (1.0, 1.0, 1.0, 1.0)
    K = cu * (gU.reshape(B, -1) @ gU.reshape(B, -1).T) + cb * (gb @ gb.T) + cv * (gv @ gv.T)
    Gs = jnp.einsum("pti,qsi->ptqs", S[:, :-1], S[:, :-1])
    Gd = jnp.einsum("pti,qsi->ptqs", D[:, 1:], D[:, 1:])
    return K + (cw * a * a) * jnp.einsum("ptqs,ptqs->pq", Gs, Gd)


@partial(jax.jit, static_argnames=("n", "d", "dtype"))
def _old_draw(key, sd, n, d, dtype):
    """The previous `elman._draw`: `jax.random.normal` for each parameter."""
    kw, ku, kb, kv = jax.random.split(key, 4)
    return (
        sd[0] * jax.random.normal(kw, (n, n), dtype),
        sd[1] * jax.random.normal(ku, (d, n), dtype),
        sd[2] * jax.random.normal(kb, (n,), dtype),
        sd[3] * jax.random.normal(kv, (n,), dtype),
    )


@partial(jax.jit, static_argnames=("steps",))
def _products(W, S, D, steps):
    """The kernel's ``2 (T - 1)`` products alone, as `elman._forward` and `elman._backward` form
    them: ``W^T`` laid out once, then ``T - 1`` products ``W^T [n, B]`` and ``T - 1`` products
    ``W [n, 2 B]`` (the forward and backward recursions, each step waiting for the last)."""
    Wt = jax.lax.optimization_barrier(W.T)
    s = jax.lax.scan(lambda s, _: (jnp.tanh(Wt @ s * 0.01), None), S, None, length=steps)[0]
    d = jax.lax.scan(lambda d, _: (jnp.tanh(W @ d * 0.01), None), D, None, length=steps)[0]
    return s, d


def bench_elman(rounds: int, width: int) -> None:
    B, T, d = 24, 16, 1
    var = dict(var_w=1.0, var_u=1.0, var_b=0.1, var_v=1.0)
    xs = jax.random.normal(jax.random.key(1), (B, T, d), jnp.float64)
    key = jax.random.key(0)
    p = rnnntk.elman_init(key, width, d, **var, dtype=jnp.float64)
    pools = ("last", "mean")
    f64 = jnp.dtype(jnp.float64)
    same = all(
        bool(jnp.array_equal(o, w))
        for o, w in zip(_old_draw(key, jnp.ones(4), width, d, f64), elman._draw(key, jnp.ones(4), width, d, f64))
    )
    S = jax.random.normal(jax.random.key(3), (width, B), jnp.float64)
    D = jax.random.normal(jax.random.key(4), (width, 2 * B), jnp.float64)
    m = 2048
    A = jax.random.normal(jax.random.key(5), (m, m), jnp.float64)
    gemm = jax.jit(lambda A: A @ A)
    old = [_old_elman_ntk(p, xs, pool, "erf") for pool in pools]
    new = elman.elman_empirical_ntks(p, xs, pools=pools, activation="erf")
    err = max(float(jnp.max(jnp.abs(o - k)) / jnp.max(jnp.abs(o))) for o, k in zip(old, new))
    flops = 2.0 * (T - 1) * width * width * 3 * B  # forward B columns, backward 2 B, per step
    print(f"Elman empirical NTK: n = {width}, B = {B}, T = {T}, d = {d}, erf, float64, pools {pools}")
    print(f"  max |new - old| / max |old| = {err:.2e}; new draw == old draw bit for bit: {same}")
    print(
        f"  products: {2 * (T - 1)} of [n, n] x [n, {B} or {2 * B}], {flops / 1e9:.0f} GFLOP"
        f" (the rest of the kernel, the Gram matrices, ~{2 * 3 * (B * T) ** 2 * width / 1e9:.0f} GFLOP)"
    )
    methods = {
        "old draw": lambda: _old_draw(key, jnp.ones(4), width, d, f64),
        "new draw": lambda: elman._draw(key, jnp.ones(4), width, d, f64),
        "old ntk 2 pools": lambda: [_old_elman_ntk(p, xs, pool, "erf") for pool in pools],
        "new ntk 2 pools": lambda: elman.elman_empirical_ntks(p, xs, pools=pools, activation="erf"),
        "new ntk per pool": lambda: [rnnntk.elman_empirical_ntk(p, xs, pool=pool, activation="erf") for pool in pools],
        "products alone": partial(_products, p.W, S, D, T - 1),
        f"GEMM {m}": partial(gemm, A),
    }
    work = {"new ntk 2 pools": flops, "products alone": flops, f"GEMM {m}": 2.0 * m**3}
    cpu = {}
    t = rounds_table(methods, rounds, work, "flop/s", "old ntk 2 pools", cpu)
    for label, u in (("wall", t), ("cpu", cpu)):
        for new in ("new ntk 2 pools", "new ntk per pool"):
            per = [
                (od + o) / (nd + nw)
                for od, o, nd, nw in zip(u["old draw"], u["old ntk 2 pools"], u["new draw"], u[new])
            ]
            print(
                f"  per network (draw + both pools), old / new ({new}), {label} time per round: "
                + " ".join(f"{r:.2f}" for r in per)
                + f", median {statistics.median(per):.2f}"
            )


# --------------------------------------------------------------------------- limit kernel


def bench_limit(rounds: int, P: int = 400, burn: int = 60, d: int = 1) -> None:
    """`limit_kernel` split into node features and products, products against a plain matmul;
    ``old``: the previous `limit_kernel` (chunks of 2048 nodes, the last one padded)."""
    from rnnntk.diagonal.limit import balanced_chunk, initial_law_nodes, limit_kernel
    from rnnntk.diagonal.network import C_SECOND_MOMENT, parse_grad, unit_features
    from rnnntk.diagonal.ntk import flat_psi, kernel_sum, weighted_phi

    xs, _ = rnnntk.make_dataset(jax.random.key(0), P + burn, dim=d, dtype=jnp.float64)
    nodes = initial_law_nodes(xs, b0=0.5, s_w=1.0)
    w, b, om = (jnp.asarray(a, jnp.float64) for a in nodes)
    U = w.shape[0]
    chunk = balanced_chunk(U, 2048)  # as limit_kernel (default chunk 2048)
    est, act = parse_grad("rtrl"), get_activation("tanh")
    c2 = jnp.full_like(om, C_SECOND_MOMENT["rademacher"])
    n_chunks = -(-U // chunk)
    pad = n_chunks * chunk - U

    def padded(a):
        return jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)]).reshape(n_chunks, chunk, *a.shape[1:])

    blocks = tuple(padded(a) for a in (w, b, om, c2))

    @jax.jit
    def features(blocks):  # the features of limit_kernel's chunks, no product
        def body(acc, blk):
            wc, bc, o, cc = blk
            f = unit_features(wc, bc, xs, burn=burn, est=est, act=act)
            return acc + jnp.sum(weighted_phi(f, o, cc)[:, :1]) + jnp.sum(flat_psi(f)[:, :1]), None

        return jax.lax.scan(body, jnp.zeros((), jnp.float64), blocks)[0]

    @jax.jit
    def factors(blocks):  # the flattened factors of every chunk, [n_chunks, P, chunk (d + 2)]
        def one(blk):
            wc, bc, o, cc = blk
            f = unit_features(wc, bc, xs, burn=burn, est=est, act=act)
            return weighted_phi(f, o, cc), flat_psi(f)

        return jax.lax.map(one, blocks)

    A, Bm = factors(blocks)

    @jax.jit
    def products(A, Bm):  # the products as limit_kernel forms them: one [P, c] x [c, P] per chunk
        return jax.lax.scan(lambda K, ab: (K + ab[0] @ ab[1].T, None), jnp.zeros((P, P), jnp.float64), (A, Bm))[0]

    A2, B2 = A.transpose(1, 0, 2).reshape(P, -1), Bm.transpose(1, 0, 2).reshape(P, -1)
    matmul = jax.jit(lambda A, B: A @ B.T)  # one plain matmul of the same total shape
    flops = 2.0 * P * P * A2.shape[1]
    useful = 2.0 * P * P * U * (d + 2)  # without the zero-weight padding nodes
    full = partial(limit_kernel, xs, b0=0.5, s_w=1.0, burn=burn)
    err = float(jnp.max(jnp.abs(products(A, Bm) - full())) / jnp.max(jnp.abs(full())))
    print(f"limit kernel: d = {d}, P = Q = {P}, {U} quadrature nodes in {n_chunks} chunks of {chunk}, float64")
    print(
        f"  products as a GEMM of [{P}, {A2.shape[1]}] x [{A2.shape[1]}, {P}]: {flops / 1e9:.2f} GFLOP;"
        f" |products - limit_kernel| / max = {err:.1e}"
    )
    old = partial(
        kernel_sum, w, b, om, c2, xs, burn_a=burn, est=est, act=act, chunk=2048
    )  # the previous limit_kernel once its nodes are built
    methods = {
        "old": lambda: (initial_law_nodes(xs, b0=0.5, s_w=1.0), old()),
        "limit_kernel": full,
        "features": partial(features, blocks),
        "products": partial(products, A, Bm),
        "plain matmul": partial(matmul, A2, B2),
    }
    t = rounds_table(methods, rounds, {"products": flops, "plain matmul": flops}, "flop/s", "old")
    frac = [m / p * useful / flops for m, p in zip(t["plain matmul"], t["products"])]
    share = [p / k for p, k in zip(t["products"], t["limit_kernel"])]
    print(
        "  products' useful flop rate / plain matmul's rate, per round: "
        + " ".join(f"{r:.2f}" for r in frac)
        + f", median {statistics.median(frac):.2f}"
    )
    print(
        "  products' share of limit_kernel's time, per round: "
        + " ".join(f"{r:.2f}" for r in share)
        + f", median {statistics.median(share):.2f}"
    )


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sections", nargs="*", default=["ac", "elman", "limit"], choices=["ac", "elman", "limit"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ac-widths", type=int, nargs="+", default=[250, 1000, 4000])
    ap.add_argument("--ac-seeds", type=int, default=4)
    ap.add_argument("--ac-horizon", type=float, default=2.0)
    ap.add_argument("--width", type=int, default=8192, help="Elman NTK width")
    args = ap.parse_args(argv)
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {jax.local_device_count()} device(s)")
    if "ac" in args.sections:
        bench_ac(args.rounds, args.ac_widths, args.ac_seeds, args.ac_horizon)
    if "elman" in args.sections:
        bench_elman(args.rounds, args.width)
    if "limit" in args.sections:
        bench_limit(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The finite-vs-limit study behind the convergence figures (spec section 4).

For each gradient estimator, width ``N``, seed and grid point ``(alpha, beta)``, a network is
trained online for ``floor(T N)`` steps on its seed's path (all widths of a seed read the same
path: common random numbers), in ``chunks`` equal chunks. At ``t = 0`` and at the end of every
chunk the network is evaluated with frozen parameters on the ``Q`` histories of an evaluation
path and compared with the limit ``h_t`` there: ``D_N(t) = (E |yhat^N_t - h_t|^2)^{1/2}``. The
online training loss is recorded in bins of training time, next to the limit's ``L(t)``.

The limit's law ``pi`` is an empirical law, which leaves an error in ``h_t`` that no width removes
(a floor under ``D_N``). ``law = "path"`` (``limit.law=path``, the configs' default): the long-path
limit of `rnnntk.diagonal.limit_path` on the ``path_length`` histories of one path, through ``F x F``
moments accumulated in ``batches`` consecutive batches (one streaming pass per estimator serves
every alpha, beta and time); ``h_t`` and ``L(t)`` from the pooled moments, the floor by the
delete-one-batch jackknife. ``beta = 1/2`` is refused there (each member's initial outputs would be
needed along the whole path). ``law = "histories"``: ``pi`` is an empirical law of ``P``
histories, with an error of order ``P^{-1/2}``. Two modes:

- ``bags = 1`` (the specification's numerics): ``pi`` is the empirical law of the ``P`` evaluation
  histories themselves (``Q = P``). With ``floor=True`` the same limit is also built on an
  independent path and evaluated off the sample; their distance divided by ``sqrt 2`` estimates
  the floor.
- ``bags = M >= 2`` (an extension): ``M`` independent limits, each on its own path of ``P``
  histories, are evaluated off the sample on the ``Q`` evaluation histories and averaged. The
  average estimates the limit on ``pi`` with a fluctuation ``M^{1/2}`` times smaller (the cost grows
  like ``M P^2``, against ``P^2`` for one larger sample and a ``P^3`` eigendecomposition); the floor is
  the standard error of that average, from the spread between the bags. The ``O(1/P)`` bias of
  each bag is not reduced.

For ``beta = 1/2`` the limit is a random ODE: each member is compared with the solution started
at its own initial outputs (spec section 3; ``law = "histories"``, ``bags = 1`` only).

Resumable: the limit kernels, each finished width and the training state after every chunk are
saved in the run directory, so a run started again continues where it stopped and loses at most
one chunk.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ConfigError, RunError, check_positive_int, require
from .._model import LimitOptions, check_agrees
from ..data.dataset import Npz, make_dataset
from ..divergence import check_values, second_moment
from ..precision import float64
from ..run.config import as_list, build_data, limit_options_from_config, model_from_config
from ..run.provenance import file_digest, fingerprint, versions
from .chunks import Checkpoint, chunk_layout, layout, resume, train_chunks
from .cost import study_cost
from .ensemble import device_mesh, init_ensemble, padded_seeds, predict_ensemble
from .limit import flow_at, limit_kernel, limit_loss, off_sample, prepare_flow
from .limit_path import (
    ODD_ACTIVATIONS,
    PathMoments,
    coefficients,
    eval_features,
    path_loss,
    path_moment_batches,
    path_nodes,
    pool_moments,
    prepare_path_flow,
)
from .model import DiagonalRNN
from .network import C_SECOND_MOMENT, get_activation, parse_grad


@dataclass
class StudySpec:
    """Everything a study computes from (see `spec_from_config`)."""

    grads: list[str]
    alphas: list[float]
    betas: list[float]
    widths: list[int]
    seeds: int
    T: float
    chunks: int
    train_burn: int
    P: int
    limit_burn: int
    limit_options: LimitOptions
    model: DiagonalRNN
    source: Any
    target: Any
    dim: int
    precision: str = "float32"
    seed: int = 0
    floor: bool = True
    bags: int = 1
    Q: int | None = None  # evaluation histories when bags > 1 (default P)
    loss_bins: int = 40
    limit_times: int = 101
    law: str = "histories"  # "path": the long-path limit (rnnntk.diagonal.limit_path); "histories": P-history kernels
    path_length: int = 200_000  # law = "path": histories of the limit's path
    batches: int = 8  # law = "path": batch means along the path for the floor (delete-one jackknife)

    @property
    def grid(self) -> list[tuple[float, float]]:
        """Grid points ``(alpha, beta)``, alpha-major."""
        return list(itertools.product(self.alphas, self.betas))

    @property
    def n_eval(self) -> int:
        if self.law == "path":
            return self.Q or self.P
        return self.P if self.bags == 1 else (self.Q or self.P)

    @property
    def model_kw(self) -> dict[str, Any]:
        """The model's hyperparameters as keywords (read-only: they come from `model`)."""
        return self.model.kwargs()

    @property
    def limit_kw(self) -> dict[str, Any]:
        """The limit's node options as keywords of `limit_kernel` (from `limit_options`)."""
        return self.limit_options.diagonal_kw()


def spec_from_config(cfg, **overrides) -> StudySpec:
    """A `StudySpec` from the common config groups (``training``, ``limit``, ``sweep``, ...)."""
    source, target, dim = build_data(cfg)
    tr, lim = cfg.training, cfg.limit
    spec = StudySpec(
        grads=[str(g) for g in as_list(tr.grad)],
        alphas=[float(a) for a in as_list(tr.alpha)],
        betas=[float(b) for b in as_list(tr.beta)],
        widths=[int(w) for w in as_list(cfg.sweep.widths)],
        seeds=int(cfg.sweep.seeds),
        T=float(tr.T),
        chunks=int(tr.chunks),
        train_burn=int(tr.burn),
        P=int(lim.P),
        limit_burn=int(lim.burn),
        limit_options=limit_options_from_config(cfg),
        model=model_from_config(cfg),
        source=source,
        target=target,
        dim=dim,
        precision=str(cfg.precision),
        seed=int(cfg.seed),
        floor=bool(lim.get("floor", True)),
        bags=int(lim.get("bags", 1)),
        Q=int(lim.Q) if lim.get("Q") is not None else None,
        law=str(lim.get("law", "histories")),
        path_length=int(lim.get("path_length", 200_000)),
        batches=int(lim.get("batches", 8)),
    )
    for k, v in overrides.items():
        if k == "model_kw":  # loose hyperparameters next to the config's model: they must agree
            check_agrees(spec.model, **v)
            continue
        setattr(spec, k, v)
    check_spec(spec)
    return spec


#: the limit laws of `StudySpec.law`
LAWS = ("path", "histories")


def check_spec(spec: StudySpec) -> None:
    require(spec.law in LAWS, "limit.law", spec.law, f"one of {list(LAWS)}")
    if spec.law == "path":
        check_path_law(spec.path_length, spec.batches, spec.betas)
        if spec.source.one_path:
            _path_segment(spec)
        return
    require(spec.bags >= 1, "limit.bags", spec.bags, "an integer >= 1")
    if spec.bags > 1 and 0.5 in spec.betas:
        raise ConfigError(
            "training.beta = 0.5 (a random ODE started at each network's own outputs) needs limit.bags = 1"
        )
    if spec.source.one_path:
        _check_npz_segments(spec)


#: the fewest path histories per batch of the path law (the floor's batch means)
MIN_BATCH_HISTORIES = 10


def check_path_law(path_length, batches, betas) -> None:
    """The long-path limit's settings (``limit.law=path``); ``betas`` from ``training.beta``."""
    n = check_positive_int(path_length, "limit.path_length")
    b = check_positive_int(batches, "limit.batches")
    require(b >= 2, "limit.batches", batches, "an integer >= 2 (the floor is the spread between the path's batches)")
    require(
        n >= b * MIN_BATCH_HISTORIES,
        "limit.path_length",
        path_length,
        f"an integer >= {b * MIN_BATCH_HISTORIES} ({MIN_BATCH_HISTORIES} histories per batch, limit.batches = {b})",
    )
    if any(float(x) == 0.5 for x in betas):
        raise ConfigError(
            "training.beta = 0.5 is not available with limit.law = path: at beta = 1/2 the limit starts from "
            "each network's own random initial outputs, which the path limit would need along its whole path "
            "(limit.path_length steps) for every width and seed, a second pass over the path per width as costly "
            "as training; use limit.law=histories limit.bags=1 for beta = 0.5 (allowed: limit.law in "
            f"{list(LAWS)})"
        )


def _path_segment(spec: StudySpec) -> tuple[int, int]:
    """``(start, length)`` of the limit's path in a user's file (law ``path``): the file after the
    evaluation histories, at most ``limit.path_length + limit.burn`` steps."""
    K = spec.source.load()[0].shape[0]
    start = spec.n_eval + spec.limit_burn
    length = min(spec.path_length + spec.limit_burn, K - start)
    need = spec.batches * MIN_BATCH_HISTORIES + spec.limit_burn
    if length < need:
        raise ConfigError(
            f"data.path = {spec.source.path!r} holds {K} steps but the path limit needs {start + need}: the "
            f"evaluation histories ({start} steps) and a path of at least limit.burn + {MIN_BATCH_HISTORIES} x "
            f"limit.batches = {need} steps after them; lower limit.Q or limit.batches"
        )
    return start, length


def _limit_segments(spec: StudySpec) -> int:
    """Limits built besides the one on the evaluation histories: the bags, or the floor's second path."""
    return spec.bags if spec.bags > 1 else int(spec.floor)


def _npz_segment(spec: StudySpec, m: int) -> tuple[int, int]:
    """``(start, length)`` in a user's file of the path of limit bag ``m`` (or of the floor's second
    path, ``m = 0``): disjoint segments after the evaluation histories, which start the file."""
    ev, lb = spec.n_eval + spec.limit_burn, spec.P + spec.limit_burn
    return ev + m * lb, lb


def _check_npz_segments(spec: StudySpec) -> None:
    """A user's file is one path: the bags (or the floor's second path) read disjoint segments of it,
    after the evaluation histories. Identical segments would report a floor of zero."""
    K = spec.source.load()[0].shape[0]
    M = _limit_segments(spec)
    need = _npz_segment(spec, M)[0] if M else spec.n_eval + spec.limit_burn
    if K < need:
        what = (
            f"{M} bag(s) of limit.P + limit.burn = {spec.P + spec.limit_burn} steps each"
            if spec.bags > 1
            else f"a second path of limit.P + limit.burn = {spec.P + spec.limit_burn} steps for the floor"
        )
        raise ConfigError(
            f"data.path = {spec.source.path!r} holds {K} steps but the limit needs {need}: the evaluation "
            f"histories ({spec.n_eval + spec.limit_burn} steps) and {what}, on disjoint segments of the file "
            "(the same segment would report a floor of zero); lower limit.P or limit.bags"
            + (", or set limit.floor=false" if spec.bags == 1 else ", or set limit.bags=1 limit.floor=false")
        )


@dataclass
class GradResult:
    """Results of one estimator. Arrays are indexed ``[width, seed, grid point, ...]``."""

    t: np.ndarray  # [W, C + 1] evaluation times (t = 0 and chunk ends)
    D: np.ndarray  # [W, S, G, C + 1] distance to the limit
    loss: np.ndarray  # [W, S, G, B] online training loss, mean per bin of training time (NaN: no bin) (NaN: no step)
    bin_t: np.ndarray  # [W, B] bin centres per width (NaN past the width's bin count)
    limit_t: np.ndarray  # [Tl] times of the limit loss curve
    limit_loss: np.ndarray  # [A, Tl] L(t) per alpha (mean over bags)
    floor: np.ndarray  # [A, C + 1] estimated discretisation floor at the nominal times (nan if off)
    floor_t: np.ndarray  # [C + 1] nominal times T j / C


@dataclass
class StudyResult:
    spec: StudySpec
    per_grad: dict[str, GradResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        s = self.spec
        return {
            "grads": s.grads,
            "grid": [list(g) for g in s.grid],
            "widths": s.widths,
            "seeds": s.seeds,
            "T": s.T,
            "P": s.P,
            "bags": s.bags,
            "Q": s.n_eval,
            "law": s.law,
            "path_length": s.path_length,
            "per_grad": {g: {k: np.asarray(v).tolist() for k, v in vars(r).items()} for g, r in self.per_grad.items()},
        }


def grad_result_from_json(d: dict[str, Any]) -> GradResult:
    """A `GradResult` from its ``to_json`` form (``"nan"`` strings back to NaN)."""
    return GradResult(**{k: np.asarray(v, dtype=np.float64) for k, v in d.items()})


def join_studies(spec: StudySpec, parts: list[dict[str, Any]], names: list[str] | None = None) -> StudyResult:
    """One `StudyResult` over ``spec`` (all widths, grid points and estimators) from the
    ``to_json`` forms of studies that each hold a part of them (the jobs of a split sweep).

    Raises `RunError` naming a width, grid point or estimator that no part holds."""
    names = names or [f"part {i}" for i in range(len(parts))]
    parsed = [
        {
            "widths": [int(w) for w in p["widths"]],
            "grid": [tuple(float(x) for x in g) for g in p["grid"]],
            "alphas": list(dict.fromkeys(float(g[0]) for g in p["grid"])),  # the order of spec.alphas
            "per_grad": {g: grad_result_from_json(r) for g, r in p["per_grad"].items()},
        }
        for p in parts
    ]

    def holder(grad, n=None, point=None, alpha=None):
        for p in parsed:
            if grad not in p["per_grad"] or (n is not None and n not in p["widths"]):
                continue
            if point is not None and point not in p["grid"]:
                continue
            if alpha is not None and alpha not in p["alphas"]:
                continue
            return p
        what = (
            f"estimator {grad}"
            + (f", width {n}" if n is not None else "")
            + (f", alpha={point[0]:g}, beta={point[1]:g}" if point is not None else "")
        )
        raise RunError(f"no job holds {what}: the sweep is incomplete (jobs: {', '.join(names)})")

    result = StudyResult(spec)
    for grad in spec.grads:
        first = holder(grad)["per_grad"][grad]
        W, G, A = len(spec.widths), len(spec.grid), len(spec.alphas)
        S, C1, B = first.D.shape[1], first.D.shape[-1], first.loss.shape[-1]
        t, D, loss = np.zeros((W, C1)), np.zeros((W, S, G, C1)), np.zeros((W, S, G, B))
        bin_t = np.zeros((W, B))
        for i, n in enumerate(spec.widths):
            for g, point in enumerate(spec.grid):
                p = holder(grad, n, point)
                r, ji, jg = p["per_grad"][grad], p["widths"].index(n), p["grid"].index(point)
                t[i], D[i, :, g], loss[i, :, g] = r.t[ji], r.D[ji, :, jg], r.loss[ji, :, jg]
                bin_t[i] = r.bin_t[ji]
        limit_loss = np.zeros((A, first.limit_loss.shape[-1]))
        floor = np.zeros((A, first.floor.shape[-1]))
        for ai, a in enumerate(spec.alphas):
            p = holder(grad, alpha=a)
            r, ja = p["per_grad"][grad], p["alphas"].index(a)
            limit_loss[ai], floor[ai] = r.limit_loss[ja], r.floor[ja]
        result.per_grad[grad] = GradResult(
            t=t,
            D=D,
            loss=loss,
            bin_t=bin_t,
            limit_t=first.limit_t,
            limit_loss=limit_loss,
            floor=floor,
            floor_t=first.floor_t,
        )
    return result


# --------------------------------------------------------------------------- the limit side


class LimitOnEval:
    """The limit ``h_t`` of one estimator and one ``alpha`` on the evaluation histories."""

    def __init__(self, bags: list[dict[str, np.ndarray]], alpha: float, symmetric: bool, floor_bag=None):
        self.alpha = alpha
        self.odes = [prepare_flow(b["K"], b["y"], alpha=alpha, symmetric=symmetric) for b in bags]
        self.cross = [b.get("Kx") for b in bags]  # None: the bag's sample is the evaluation set
        self.floor_ode = None
        if floor_bag is not None:
            self.floor_ode = prepare_flow(floor_bag["K"], floor_bag["y"], alpha=alpha, symmetric=symmetric)
            self.floor_cross = floor_bag["Kx"]

    def _bag(self, m: int, t, h0=None) -> np.ndarray:
        flow = flow_at(self.odes[m], t, h0)
        if self.cross[m] is None:
            return np.asarray(flow.h)
        return np.asarray(off_sample(flow, self.cross[m], alpha=self.alpha))

    def h(self, t, h0=None) -> np.ndarray:
        """``h_t`` on the evaluation histories, ``[T, Q]`` (mean over bags)."""
        return np.mean([self._bag(m, t, h0) for m in range(len(self.odes))], axis=0)

    def floor(self, t) -> np.ndarray:
        """The estimated discretisation error of `h` at times ``t`` (rms over the histories)."""
        M = len(self.odes)
        if M > 1:
            hs = np.stack([self._bag(m, t) for m in range(M)])  # [M, T, Q]
            return np.sqrt(np.mean(hs.var(axis=0, ddof=1), axis=-1) / M)
        if self.floor_ode is None:
            return np.full(np.atleast_1d(t).shape, np.nan)
        h2 = np.asarray(off_sample(flow_at(self.floor_ode, t), self.floor_cross, alpha=self.alpha))
        return np.sqrt(np.mean((self.h(t) - h2) ** 2, axis=-1)) / math.sqrt(2.0)

    def loss(self, t, ys: list[np.ndarray]) -> np.ndarray:
        """``L(t)``: each bag's training loss on its own sample, averaged over bags."""
        return np.mean([np.asarray(limit_loss(flow_at(o, t), y)) for o, y in zip(self.odes, ys)], axis=0)


class PathLimitOnEval:
    """The long-path limit (`rnnntk.diagonal.limit_path`) of one estimator and one ``alpha`` on the
    evaluation histories, from the moments of ``B`` consecutive batches of one path: ``h_t`` and
    ``L(t)`` from the pooled moments, the floor by the delete-one-batch jackknife."""

    def __init__(self, stage: dict[str, np.ndarray], alpha: float, symmetric: bool):
        self.alpha, self.symmetric = alpha, symmetric
        self.batches = _stage_batches(stage)
        self.Phi = np.asarray(stage["Phi_eval"])  # [Q, F]
        self.pooled = pool_moments(self.batches)
        self.ode = prepare_path_flow(self.pooled, alpha=alpha, symmetric=symmetric)

    def _h(self, ode, mom, t) -> np.ndarray:
        return coefficients(ode, mom.b_psi, t)[0] @ self.Phi.T  # [T, Q]

    def h(self, t, h0=None) -> np.ndarray:
        """``h_t`` on the evaluation histories, ``[T, Q]``."""
        if h0 is not None:
            raise RunError("the path limit has no beta = 1/2 initial field: set limit.law=histories limit.bags=1")
        return self._h(self.ode, self.pooled, t)

    def floor(self, t) -> np.ndarray:
        """The estimated error of `h` from the finite path at times ``t`` (rms over the evaluation
        histories of the delete-one-batch jackknife standard error)."""
        B = len(self.batches)
        hs = []
        for j in range(B):
            mom = pool_moments(self.batches, drop=j)
            hs.append(self._h(prepare_path_flow(mom, alpha=self.alpha, symmetric=self.symmetric), mom, t))
        hs = np.stack(hs)  # [B, T, Q]
        var = (B - 1) / B * np.sum((hs - hs.mean(axis=0)) ** 2, axis=0)
        return np.sqrt(np.mean(var, axis=-1))

    def loss(self, t, ys=None) -> np.ndarray:
        """``L(t) = E_pi (y - h_t)^2 / 2`` on the law of the path."""
        return path_loss(self.pooled, coefficients(self.ode, self.pooled.b_psi, t))[0]


def _stage_batches(stage: dict[str, np.ndarray]):
    G = np.asarray(stage["G"])
    H = np.asarray(stage["H"]) if "H" in stage else G
    return [
        PathMoments(G[j], H[j], stage["b_psi"][j][None], stage["b_phi"][j][None], stage["r2"][j][None], int(c))
        for j, c in enumerate(np.asarray(stage["count"]))
    ]


def path_limit_stage(spec: StudySpec, grad: str, key, xe, *, progress=None) -> dict[str, np.ndarray]:
    """The moments of the limit's path per batch (``G [B, F, F]``, ``H`` for ``tbptt``, ``b_psi``,
    ``b_phi [B, F]``, ``r2``, ``count [B]``) and the features ``Phi_eval [Q, F]`` of the
    evaluation histories: one pass over the path serves every alpha, beta and time. ``progress``
    wraps the iterable of the path's batches (`path_moment_batches`)."""
    m, kw = spec.model_kw, spec.limit_kw
    if spec.source.one_path:
        x, y = (np.asarray(a, np.float64) for a in spec.source.segment(*_path_segment(spec)))
    else:
        x, y = (
            np.asarray(a)
            for a in make_dataset(
                key, spec.path_length + spec.limit_burn, dim=spec.dim, source=spec.source, target=spec.target,
                dtype=jnp.float64,
            )
        )  # fmt: skip
    act = get_activation(m["activation"])
    method = kw.get("method", "quadrature")
    nodes = path_nodes(
        spec.dim,
        b0=m["b0"],
        s_w=m["s_w"],
        method="monte_carlo" if method == "monte_carlo" else "quadrature",
        n_w=kw.get("n_w"),
        n_b=kw.get("n_b"),
        w_rule=kw.get("w_rule", "legendre_cdf"),
        samples=spec.limit_options.path_samples,
        key=jax.random.fold_in(jax.random.key(spec.seed), 7),
        fold=method != "monte_carlo" and act.name in ODD_ACTIVATIONS,
    )
    c2 = C_SECOND_MOMENT[m["c_dist"]]
    est = parse_grad(grad, allow_bptt=False)
    moms = path_moment_batches(
        nodes, x, y, burn=spec.limit_burn, est=est, act=act, c2=c2, batches=spec.batches, progress=progress
    )
    out = {
        "G": np.stack([mm.G for mm in moms]),
        "b_psi": np.stack([mm.b_psi[0] for mm in moms]),
        "b_phi": np.stack([mm.b_phi[0] for mm in moms]),
        "r2": np.array([mm.r2[0] for mm in moms]),
        "count": np.array([mm.count for mm in moms]),
        "Phi_eval": np.asarray(eval_features(nodes, np.asarray(xe, np.float64), burn=spec.limit_burn, act=act, c2=c2)),
    }
    if est.kind != "rtrl":
        out["H"] = np.stack([mm.H for mm in moms])
    return out


def _kernel_kwargs(spec: StudySpec, grad: str) -> dict[str, Any]:
    """Keyword arguments of `limit_kernel` for this study's initial law and estimator."""
    m = spec.model_kw
    return dict(
        b0=m["b0"],
        s_w=m["s_w"],
        burn=spec.limit_burn,
        grad=grad,
        c_dist=m["c_dist"],
        activation=m["activation"],
        **spec.limit_kw,
    )


def _limit_bag(spec: StudySpec, grad: str, key, xe, segment: int = 0) -> dict[str, np.ndarray]:
    """Kernel ``K [P, P]`` and targets ``y [P]`` on a fresh path from ``key`` (and the cross kernel
    ``Kx [Q, P]`` to the evaluation path ``xe`` when given). A user's file has one path: bag
    ``segment`` reads its own disjoint segment of it (`_npz_segment`)."""
    kw = _kernel_kwargs(spec, grad)
    if spec.source.one_path:
        x, y = (jnp.asarray(a, jnp.float64) for a in spec.source.segment(*_npz_segment(spec, segment)))
    else:
        x, y = make_dataset(
            key, spec.P + spec.limit_burn, dim=spec.dim, source=spec.source, target=spec.target, dtype=jnp.float64
        )
    out = {"K": np.asarray(limit_kernel(x, **kw)), "y": np.asarray(y[spec.limit_burn :])}
    if xe is not None:
        out["Kx"] = np.asarray(limit_kernel(x, xs_eval=xe, burn_eval=spec.limit_burn, **kw))
    return out


#: StudySpec fields a limit kernel does not depend on
_NOT_LIMIT = ("grads", "alphas", "betas", "widths", "seeds", "T", "chunks", "train_burn", "precision", "loss_bins")


def stage_key(spec: StudySpec, kind: str, **extra) -> dict[str, Any]:
    """The settings a stage of the study depends on (its fingerprint is stored with the stage).

    ``kind="limit"``: the limit's law, data and quadrature (not widths, alphas, betas or training
    time), so every job of a split sweep shares it. ``kind="width"``: everything but the other
    widths (each width trains on a prefix of one path per seed, the same whatever the widths)."""
    d = {k: (repr(v) if k in ("source", "target") else v) for k, v in vars(spec).items()}
    if isinstance(spec.source, Npz) and os.path.isfile(spec.source.path):
        d["data_sha256"] = file_digest(spec.source.path)  # the file's content, not only its name
    if kind == "limit":
        skip = ("bags", "floor") if spec.law == "path" else ("path_length", "batches")
        d = {k: v for k, v in d.items() if k not in _NOT_LIMIT + skip}
    elif kind == "width":
        d.pop("widths")
        if not jax.config.jax_threefry_partitionable:  # then a path's prefix depends on its length
            d["widths"] = spec.widths
    d.update(kind=kind, versions=versions(), threefry_partitionable=bool(jax.config.jax_threefry_partitionable))
    return d | extra


def build_limit(spec: StudySpec, ctx, grad: str, keys, xe, ye, tag: str) -> tuple[dict[float, LimitOnEval], list]:
    """The limit per alpha for one estimator, with its bag kernels cached in the run directory (and
    shared between the jobs of a sweep, keyed by the fingerprint of what they depend on)."""
    symmetric = parse_grad(grad).kind == "rtrl"
    g = grad.replace(":", "")

    def key(part):
        return stage_key(spec, "limit", grad=grad, part=part)

    if spec.law == "path":
        desc = f"limit {grad} path ({spec.batches} batches)"
        stage = ctx.cached(  # named without the tag: the studies of one sweep share it
            f"limit_{g}_path",
            lambda: path_limit_stage(
                spec, grad, keys["path"], xe, progress=lambda it: ctx.progress(it, total=spec.batches, desc=desc)
            ),
            key=key("path"),
            share=True,
        )
        return {a: PathLimitOnEval(stage, a, symmetric) for a in spec.alphas}, []
    if spec.bags == 1:

        def on_eval():
            K = limit_kernel(xe, **_kernel_kwargs(spec, grad))
            return {"K": np.asarray(K), "y": np.asarray(ye[spec.limit_burn :])}

        bags = [ctx.cached(f"{tag}_limit_{g}", on_eval, key=key("eval"), share=True)]
        floor_bag = (
            ctx.cached(
                f"{tag}_limit_{g}_floor",
                lambda: _limit_bag(spec, grad, keys["floor"], xe),
                key=key("floor"),
                share=True,
            )
            if spec.floor
            else None
        )
    else:
        bags = [
            ctx.cached(
                f"{tag}_limit_{g}_bag{m}",
                lambda m=m: _limit_bag(spec, grad, jax.random.fold_in(keys["bags"], m), xe, segment=m),
                key=key(f"bag{m}"),
                share=True,
            )
            for m in ctx.progress(range(spec.bags), desc=f"limit {grad} ({spec.bags} bags)")
        ]
        floor_bag = None
    lims = {a: LimitOnEval(bags, a, symmetric, floor_bag) for a in spec.alphas}
    return lims, [b["y"] for b in bags]


# --------------------------------------------------------------------------- the study


def _dtype(precision: str):
    return jnp.float64 if precision == "float64" else jnp.float32


def _keys(spec: StudySpec):
    base = jax.random.key(spec.seed)
    names = ("eval", "floor", "init", "data", "bags", "path")
    return {k: jax.random.fold_in(base, i) for i, k in enumerate(names)}


def _steps(spec: StudySpec, n: int) -> tuple[int, int, int]:
    return chunk_layout(spec.T, n, spec.chunks, spec.train_burn)


def _loss_bin(k, n: int, T: float, bins: int) -> np.ndarray:
    """The bin of training time ``[T j / bins, T (j + 1) / bins)`` holding step ``k`` (time ``k / n``);
    the relative 1e-9 keeps a step on a bin edge in the bin it starts."""
    j = np.floor(np.asarray(k, np.float64) * bins / (T * n) * (1.0 + 1e-9)).astype(int)
    return np.minimum(j, bins - 1)


def last_loss(loss: np.ndarray) -> np.ndarray:
    """The loss of the last bin that holds steps, per member: ``loss [..., B] -> [...]`` (NaN
    only where every bin is empty)."""
    loss = np.asarray(loss, np.float64)
    ok = np.isfinite(loss)
    idx = np.where(ok.any(axis=-1), loss.shape[-1] - 1 - np.argmax(ok[..., ::-1], axis=-1), 0)
    out = np.take_along_axis(loss, idx[..., None], axis=-1)[..., 0]
    return np.where(ok.any(axis=-1), out, np.nan)


def loss_bin_count(spec: StudySpec, n: int) -> int:
    """Bins of training time for the online loss of width ``n``: the largest count up to
    ``loss_bins`` for which every bin holds a training step (at most ``K`` bins for ``K`` steps, and
    the last step reaches the last bin), so that no bin is empty by construction. It depends on the
    width alone, so a width's results are the same whichever other widths share its run (a split
    sweep joins to the run over all widths)."""
    K = _steps(spec, n)[0]
    for bins in range(max(1, int(spec.loss_bins)), 1, -1):
        if bins <= K and _loss_bin(K - 1, n, spec.T, bins) == bins - 1:
            return bins
    return 1


def bin_centres(spec: StudySpec, n: int) -> np.ndarray:
    """``[loss_bins]`` centres of the loss bins of width ``n``, NaN past its `loss_bin_count`."""
    bins = loss_bin_count(spec, n)
    out = np.full(int(spec.loss_bins), np.nan)
    out[:bins] = (np.arange(bins) + 0.5) * spec.T / bins
    return out


def run_study(spec: StudySpec, ctx, *, tag: str = "study") -> StudyResult:
    """Run (or resume) the study; report per-chunk metrics through ``ctx``. Prints its estimated
    cost first (`rnnntk.diagonal.cost.study_cost`)."""
    check_spec(spec)
    print(f"{tag}: {study_cost(spec).describe()}", flush=True)
    with float64():  # the limit is float64
        return _run(spec, ctx, tag)


def _run(spec: StudySpec, ctx, tag: str) -> StudyResult:
    keys = _keys(spec)
    xe, ye = make_dataset(
        keys["eval"],
        spec.n_eval + spec.limit_burn,
        dim=spec.dim,
        source=spec.source,
        target=spec.target,
        dtype=jnp.float64,
    )
    xe, ye = np.asarray(xe), np.asarray(ye)
    mesh = device_mesh()
    S_pad = padded_seeds(spec.seeds, mesh)
    dtype = _dtype(spec.precision)
    result = StudyResult(spec)

    # one data path per seed, long enough for the widest network (common random numbers)
    Lmax = max(_steps(spec, n)[1] * (spec.chunks + _steps(spec, n)[2]) for n in spec.widths)
    seed_ids = np.arange(S_pad) % spec.seeds  # padding seeds repeat real ones and are dropped
    dkeys = jax.vmap(lambda s: jax.random.fold_in(keys["data"], s))(jnp.asarray(seed_ids))
    if spec.source.one_path:  # a user's file: the same sequence for every seed
        x1, y1 = make_dataset(keys["data"], Lmax, source=spec.source, dtype=dtype)
        xs_all = np.broadcast_to(np.asarray(x1), (S_pad,) + x1.shape)
        ys_all = np.broadcast_to(np.asarray(y1), (S_pad,) + y1.shape)
    else:
        sample = partial(make_dataset, length=Lmax, dim=spec.dim, source=spec.source, target=spec.target, dtype=dtype)
        xs_all, ys_all = (np.asarray(a) for a in jax.jit(jax.vmap(sample))(dkeys))
    ikeys = jax.vmap(lambda s: jax.random.fold_in(keys["init"], s))(jnp.asarray(seed_ids))
    paths = _Paths(xs_all, ys_all, ikeys, mesh, xe, ye)

    step = 0
    nominal = spec.T * np.arange(spec.chunks + 1) / spec.chunks
    limit_t = np.linspace(0.0, spec.T, spec.limit_times)
    for grad in spec.grads:
        lims, bag_ys = build_limit(spec, ctx, grad, keys, xe, ye, tag)
        limit_loss_a = np.stack([lims[a].loss(limit_t, bag_ys) for a in spec.alphas])
        floor = np.stack([lims[a].floor(nominal) for a in spec.alphas])
        for j, t in enumerate(nominal):  # one history row per nominal time
            ctx.log(
                {f"limit/{grad}/floor_alpha={a:g}": float(floor[i, j]) for i, a in enumerate(spec.alphas)}
                | {"t": float(t)},
                step=step + j,
            )
        step += spec.chunks + 1

        ts, Ds, losses = [], [], []
        for n in spec.widths:
            name = f"{tag}_width_{grad.replace(':', '')}_N{n}"

            def train(n=n, grad=grad, lims=lims, step=step):
                return _train_width(spec, ctx, grad, n, paths, lims, tag, step)

            w = ctx.cached(name, train, key=stage_key(spec, "width", grad=grad, width=n))
            ckpt = _checkpoint_path(ctx, tag, grad, n)
            if os.path.exists(ckpt):  # the width is finished: its results are in the stage
                os.remove(ckpt)
            step += spec.chunks + 1
            ts.append(w["t"])
            Ds.append(w["D"][: spec.seeds])
            losses.append(w["loss"][: spec.seeds])
        result.per_grad[grad] = GradResult(
            t=np.stack(ts),
            D=np.stack(Ds),
            loss=np.stack(losses),
            bin_t=np.stack([bin_centres(spec, n) for n in spec.widths]),
            limit_t=limit_t,
            limit_loss=limit_loss_a,
            floor=floor,
            floor_t=nominal,
        )
    return result


class _Paths(NamedTuple):
    """What every width of a study shares: the training paths of the seeds, their initial keys, the
    device mesh and the evaluation path."""

    xs: np.ndarray  # [S, Lmax, d]
    ys: np.ndarray  # [S, Lmax]
    ikeys: Any  # [S] keys of the initial parameters
    mesh: Any
    xe: np.ndarray  # [Q + limit_burn, d]
    ye: np.ndarray


def _train_width(spec: StudySpec, ctx, grad: str, n: int, paths: _Paths, lims, tag: str, step0: int) -> dict:
    """Train every seed and grid point of width ``n`` (resuming from its checkpoint) and record the
    distance to the limit after each chunk and the online loss per bin of training time."""
    K, _, _ = _steps(spec, n)
    C, G, B = spec.chunks, len(spec.grid), loss_bin_count(spec, n)
    alphas_g, betas_g = (np.array(v) for v in zip(*spec.grid))
    est, act, dtype = parse_grad(grad, allow_bptt=False), spec.model.act, _dtype(spec.precision)
    xe, ye, S_pad = paths.xe, paths.ye, paths.xs.shape[0]
    m2_eval = second_moment(ye[spec.limit_burn :])

    def member(idx):
        s, g = idx[0], idx[1]
        return f"seed {s % spec.seeds}, alpha = {alphas_g[g]:g}, beta = {betas_g[g]:g}"

    def outputs(ens, chunk):
        y = np.asarray(predict_ensemble(ens, xe, betas_g, act=act), np.float64)[..., spec.limit_burn :]
        check_values(
            y,
            m2_eval,
            what="network outputs on the evaluation path",
            where=f"width N = {n}, estimator {grad}, {chunk}",
            setting="training.alpha",
            square=True,
            member=member,
        )
        return y

    plan = layout(spec.T, n, C, spec.train_burn, np.dtype(jnp.dtype(dtype).name))
    ckpt = Checkpoint(_checkpoint_path(ctx, tag, grad, n), fingerprint(stage_key(spec, "width", grad=grad, width=n)),
                      paths.mesh)  # fmt: skip
    saved = resume(ckpt, plan, "D", "t", "loss_sum", "loss_cnt", "h0", what=f"{grad} N={n}")
    if saved is not None:
        ens, arrays, plan = saved
        D, ts, loss_sum, loss_cnt, h0 = (arrays[k] for k in ("D", "t", "loss_sum", "loss_cnt", "h0"))
    else:
        ens = init_ensemble(paths.ikeys, n, spec.dim, G, grad=grad, dtype=dtype, mesh=paths.mesh, model=spec.model)
        D, ts = np.zeros((S_pad, G, C + 1)), np.zeros(C + 1)
        loss_sum, loss_cnt = np.zeros((S_pad, G, B)), np.zeros((B,))
        h0 = outputs(ens, "at initialisation")
        D[..., 0] = _distances(h0, lims, alphas_g, betas_g, 0.0, h0)

    run = train_chunks(
        ens,
        plan,
        lambda ch: (paths.xs[:, ch.lo : ch.lo + len(ch.lr)], paths.ys[:, ch.lo : ch.lo + len(ch.lr)]),
        alphas=alphas_g,
        betas=betas_g,
        est=est,
        act=act,
        where=lambda ch: f"width N = {n}, estimator {grad}, chunk {ch.index + 1} of {C}",
        setting="training.alpha",
        member=member,
        progress=lambda it: ctx.progress(it, total=len(plan), desc=f"{grad} N={n}"),
        checkpoint=ckpt,
        extras=lambda: dict(D=D, t=ts, loss_sum=loss_sum, loss_cnt=loss_cnt, h0=h0),
    )
    for ch, ens, loss in run:
        if ch.counted is None:  # frozen burn-in of the memory
            continue
        c, valid = ch.index, ch.counted
        b = _loss_bin(ch.step[valid], n, spec.T, B)
        np.add.at(loss_sum, (slice(None), slice(None), b), loss[..., valid])
        np.add.at(loss_cnt, b, 1)
        ts[c + 1] = t = min((c + 1) * len(ch.lr), K) / n
        D[..., c + 1] = _distances(outputs(ens, f"after chunk {c + 1} of {C}"), lims, alphas_g, betas_g, t, h0)
        metrics = {"grad": grad, "width": n, "chunk": c, "t": t}
        for g, (a, bb) in enumerate(zip(alphas_g, betas_g)):
            key = f"alpha={a:g},beta={bb:g}"
            metrics[f"D/{grad}/N={n}/{key}"] = float(D[: spec.seeds, g, c + 1].mean())
            if valid.any():  # tiny runs can have chunks past the last step (K < chunks)
                metrics[f"loss/{grad}/N={n}/{key}"] = float(loss[: spec.seeds, g][:, valid].mean())
        ctx.log(metrics, step=step0 + c + 1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a bin without steps is missing: NaN
        loss = np.where(loss_cnt > 0, loss_sum / loss_cnt, np.nan)
    pad = np.full(loss.shape[:-1] + (int(spec.loss_bins) - B,), np.nan)  # a common bin axis for all widths
    return {"t": ts, "D": D, "loss": np.concatenate([loss, pad], axis=-1)}


def _distances(yhat, lims, alphas_g, betas_g, t, h0) -> np.ndarray:
    """``D [S, G]`` of outputs ``yhat [S, G, Q]`` from the limit at time ``t``."""
    S, G, _ = yhat.shape
    out = np.zeros((S, G))
    cache = {}
    for g, (a, b) in enumerate(zip(alphas_g, betas_g)):
        if b == 0.5:  # random ODE: each member against the solution from its own h_0
            for s in range(S):
                h = lims[a].h(t, h0[s, g])[0]
                out[s, g] = float(np.sqrt(np.mean((yhat[s, g] - h) ** 2)))
        else:
            if a not in cache:
                cache[a] = lims[a].h(t)[0]
            out[:, g] = np.sqrt(np.mean((yhat[:, g] - cache[a][None, :]) ** 2, axis=-1))
    return out


def _checkpoint_path(ctx, tag: str, grad: str, n: int) -> str:
    return ctx.path("checkpoints", f"{tag}_{grad.replace(':', '')}_N{n}.npz")

"""What the mean-field experiments share: their configuration, and the training of every width and
seed of one study (`rnnntk.elman.meanfield`), resumable width by width.

Configuration (``cfg.experiment``):

- ``window``: the sequence length ``m`` (null: the target's memory);
- ``batch``: windows per SGD step ``B``; ``lr``: the base rate ``alpha``; ``horizon``: the
  training time ``T`` (``T / alpha`` steps); ``saves``: evaluations at ``t = j T / saves``
  (``T / (alpha saves)`` must be an integer: equal chunks, one compiled program per width);
- ``eval_size``: held-out windows ``P`` on which the risk and the outputs are measured;
- ``activation``, ``init`` (``var_w``, ``var_u``, ``var_b``, ``var_v``), ``train_bias``: the student.

Random numbers (all derived from ``cfg.seed``): seed ``s`` draws its initial network
(`rnnntk.elman.meanfield.embedded_init`: every width is the first ``N`` units of one draw at the widest
width) and its batches from keys shared by all widths (common random numbers); the held-out
windows are shared by all seeds and widths.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rnnntk._checks import ConfigError, check_positive, check_positive_int, require
from rnnntk.data import build_target, target_memory
from rnnntk.divergence import check_values, second_moment
from rnnntk.elman import (
    Problem,
    check_variance,
    embedded_init,
    evaluate,
    get_elman_activation,
    mean_field_rates,
    realisable,
    sample_batches,
    sample_windows,
    train_chunk,
)
from rnnntk.run import as_list, build_data

VARIANCES = ("var_w", "var_u", "var_b", "var_v")


@dataclass(frozen=True)
class Setup:
    """One study: the problem, the schedule and the student's initial law."""

    problem: Problem
    lr: float
    saves: int
    steps_per_save: int
    eval_size: int
    init: tuple  # ((name, variance), ...)
    train_bias: bool
    dtype: str

    @property
    def steps(self) -> int:
        return self.saves * self.steps_per_save

    @property
    def horizon(self) -> float:
        return self.steps * self.lr

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.saves + 1) * self.steps_per_save * self.lr


def _bool(value, field: str) -> bool:
    require(isinstance(value, bool), field, value, "true or false")
    return bool(value)


def setup_from(cfg, *, target=None, overrides=None) -> Setup:
    """The `Setup` of ``cfg`` (``target`` and ``overrides`` of ``init``/``train_bias`` for a
    comparison run). Raises `ConfigError` naming the field."""
    ex = cfg.experiment
    source, main_target, dim = build_data(cfg)
    target = main_target if target is None else target
    overrides = overrides or {}
    mem = target_memory(target)
    require(
        mem is not None,
        "target.name",
        type(target).__name__,
        "a finite-memory target: elman_teacher or sin_lag (teacher has infinite memory)",
    )
    window = ex.get("window")
    if window is None:
        window = target_memory(main_target) or mem
    window = check_positive_int(window, "experiment.window")
    require(window >= mem, "experiment.window", window, f"an integer >= the target's memory m = {mem}")
    batch = check_positive_int(ex.batch, "experiment.batch")
    act = str(ex.activation)
    get_elman_activation(act)
    problem = Problem(source=source, target=target, dim=dim, window=window, batch=batch, activation=act)
    lr = check_positive(ex.lr, "experiment.lr")
    horizon = check_positive(ex.horizon, "experiment.horizon")
    saves = check_positive_int(ex.saves, "experiment.saves")
    per = horizon / (lr * saves)
    require(
        abs(per - round(per)) < 1e-9 * max(1.0, per) and round(per) >= 1,
        "experiment.horizon",
        ex.horizon,
        f"a positive multiple of experiment.lr * experiment.saves = {lr * saves:g} (equal chunks of steps)",
    )
    init = dict(ex.init)
    init.update(overrides.get("init", {}))
    unknown = sorted(set(init) - set(VARIANCES))
    if unknown:
        raise ConfigError(f"experiment.init option(s) {unknown} not understood: expected {list(VARIANCES)}")
    for v in VARIANCES:
        require(v in init, f"experiment.init.{v}", None, "a finite number >= 0")
        init[v] = check_variance(init[v], f"experiment.init.{v}")
    train_bias = _bool(overrides.get("train_bias", ex.train_bias), "experiment.train_bias")
    eval_size = check_positive_int(ex.eval_size, "experiment.eval_size")
    dtype = str(cfg.precision)
    return Setup(problem, lr, saves, int(round(per)), eval_size, tuple(init.items()), train_bias, dtype)


def comparison_setup(cfg) -> Setup | None:
    """The comparison study of ``experiment.comparison`` (a target and the student's changes), or None."""
    comp = cfg.experiment.get("comparison")
    if comp is None:
        return None
    from omegaconf import OmegaConf

    comp = OmegaConf.to_container(comp, resolve=True)
    unknown = sorted(set(comp) - {"target", "init", "train_bias"})
    if unknown:
        raise ConfigError(
            f"experiment.comparison option(s) {unknown} not understood: expected target, init, train_bias"
        )
    t = dict(comp.get("target") or {})
    name = t.pop("name", None)
    require(name is not None, "experiment.comparison.target.name", name, "a target name (e.g. sin_lag)")
    try:
        return setup_from(cfg, target=build_target(str(name), **t), overrides=comp)
    except ConfigError as e:
        raise ConfigError(f"experiment.comparison: {e}") from None


def check_widths(cfg, *, minimum: int = 2) -> list[int]:
    widths = [check_positive_int(w, "sweep.widths") for w in as_list(cfg.sweep.widths)]
    require(
        len(widths) >= minimum and widths == sorted(set(widths)),
        "sweep.widths",
        widths,
        f"at least {minimum} distinct widths in increasing order",
    )
    check_positive_int(cfg.sweep.seeds, "sweep.seeds")
    return widths


def describe(s: Setup) -> str:
    t = s.problem.target
    name = type(t).__name__
    if name == "ElmanTeacher":
        tname = f"Elman teacher (M={t.width}, m={t.memory})"
    else:
        tname = "sin_lag"
    bias = "trained bias" if s.train_bias else ("no bias" if dict(s.init)["var_b"] == 0 else "frozen bias")
    return f"{tname}, window m={s.problem.window}, d={s.problem.dim}, {s.problem.activation}, {bias}"


def is_realisable(s: Setup) -> bool:
    return realisable(s.problem, var_b=dict(s.init)["var_b"], train_bias=s.train_bias)


def run_widths(ctx, tag: str, setup: Setup, widths: list[int], seeds: int, base_key, *, keep_outputs: bool) -> dict:
    """Train every width and seed of a study; one resumable stage per width (``<tag>_width_<N>``).

    Returns a dict of arrays: ``times [J+1]``, ``risk [W, S, J+1]`` (held-out risk),
    ``risk0`` (the zero predictor's held-out risk ``mean Y^2 / 2``), ``batch_risk [W, S, J]`` (mean
    batch risk over each chunk), ``displacement [W, S, J+1, 4]`` (RMS per entry of ``W, U, c, b``),
    ``outputs [W, S, J+1, P]`` if ``keep_outputs``, and ``seconds [W]``.
    """
    p = setup.problem
    dtype = jnp.dtype(setup.dtype)
    var = dict(setup.init)
    max_width = max(widths)
    xs_eval, ys_eval = sample_windows(jax.random.fold_in(base_key, 13), p, setup.eval_size, dtype)
    y = np.asarray(ys_eval, np.float64)
    data_keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(base_key, 12), s) for s in range(seeds)])
    lr = jnp.asarray(setup.lr, dtype)
    lr_name = f"experiment.lr (now {setup.lr:g})"
    m2_eval = second_moment(y)
    L = setup.steps_per_save

    def seed(idx):
        return f"seed {idx[0]}"

    rows = []
    for n in ctx.progress(widths, desc=tag):

        def one(n=n):
            t0 = time.time()
            ps = [
                embedded_init(
                    jax.random.fold_in(jax.random.fold_in(base_key, 11), s), n, max_width, p.dim, **var, dtype=dtype
                )
                for s in range(seeds)
            ]
            params0 = jax.tree.map(lambda *a: jnp.stack(a), *ps)
            params = jax.tree.map(jnp.copy, params0)
            del ps
            rates = mean_field_rates(n, train_bias=setup.train_bias, dtype=dtype)
            out, dsp = evaluate(params, params0, xs_eval, activation=p.activation)
            outputs, disp, batch = [np.asarray(out, np.float64)], [np.asarray(dsp, np.float64)], []
            for j in range(setup.saves):
                xs, ys = sample_batches(data_keys, jnp.asarray(j * L, jnp.int32), problem=p, steps=L, dtype=dtype)
                params, loss = train_chunk(params, rates, xs, ys, lr, activation=p.activation)
                out, dsp = evaluate(params, params0, xs_eval, activation=p.activation)
                # divergence (rnnntk.divergence): the chunk's batch risk against its targets' scale,
                # and the held-out outputs against the held-out targets'
                where = f"{tag}: width N = {n}, chunk {j + 1} of {setup.saves}"
                ys_m2 = np.asarray(ys, np.float64).reshape(seeds, -1)
                check_values(loss, second_moment(ys_m2), what="batch risk", where=where, setting=lr_name, member=seed)
                check_values(
                    out, m2_eval, what="held-out outputs", where=where, setting=lr_name, square=True, member=seed
                )
                outputs.append(np.asarray(out, np.float64))
                disp.append(np.asarray(dsp, np.float64))
                batch.append(np.asarray(loss, np.float64).mean(axis=-1))
            out = np.stack(outputs, axis=1)  # [S, J+1, P]
            res = {
                "risk": 0.5 * np.mean((y[None, None, :] - out) ** 2, axis=-1),
                "batch_risk": np.stack(batch, axis=1),
                "displacement": np.stack(disp, axis=1),
                "seconds": np.asarray(time.time() - t0),
            }
            if keep_outputs:
                res["outputs"] = out
            return res

        r = ctx.cached(f"{tag}_width_{n}", one)
        rows.append(r)
        ctx.log(
            {
                "width": n,
                f"{tag}/risk_final": float(r["risk"][:, -1].mean()),
                f"{tag}/seconds": float(r["seconds"]),
            }
        )
    out = {
        "times": setup.times,
        "risk0": float(0.5 * np.mean(y**2)),
        "seconds": np.asarray([float(r["seconds"]) for r in rows]),
    }
    for k in ("risk", "batch_risk", "displacement") + (("outputs",) if keep_outputs else ()):
        out[k] = np.stack([r[k] for r in rows])
    return out


def steps_label(s: Setup) -> str:
    return f"alpha={s.lr:g}, B={s.problem.batch}, {s.steps} steps, T={s.horizon:g}"

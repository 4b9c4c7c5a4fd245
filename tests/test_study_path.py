"""The studies' long-path limit (``limit.law=path``): the identity with the P-history solver through
the study's own code path, an honest floor, the config checks, and the cost estimate."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rnnntk.cli import compose
from rnnntk.config import validate

import rnnntk.diagonal.study as study
from rnnntk import ConfigError, make_dataset
from rnnntk.diagonal.cost import study_cost
from rnnntk.diagonal.study import PathLimitOnEval, build_limit, path_limit_stage, spec_from_config

QUIET = ["logger=none", "progress=false"]
NODES = ["+limit.n_w=12", "+limit.n_b=5", "+limit.w_rule=legendre_cdf"]


class _Ctx:
    """A run context that computes every stage (no run directory)."""

    def cached(self, name, fn, *, key=None, share=False):
        return {k: np.asarray(v) for k, v in fn().items()}

    def progress(self, it, total=None, desc=""):
        return it


@pytest.fixture
def x64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


@pytest.mark.parametrize("grad", ["rtrl", "tbptt:2"])
def test_path_law_on_the_evaluation_histories_is_the_p_history_solver(grad, monkeypatch, x64):
    """`build_limit` with law=path, its path being the evaluation path (pi the empirical law of the
    same histories, the same nodes, folded), gives law=histories bags=1's h_t and L(t) to 1e-9
    (both are the closed-form solution on the same kernel; roundoff of F x F against P x P
    eigendecompositions: measured below 1e-13)."""
    args = ["experiment=convergence", "scale=tiny", f"training.grad={grad}", "training.alpha=[2.0,5.0]", *NODES]
    hist = spec_from_config(compose([*args, "limit.law=histories", "limit.bags=1", "limit.floor=false"]))
    path = dataclasses.replace(hist, law="path", path_length=hist.n_eval, batches=3)
    assert path.n_eval == hist.n_eval == 30
    xe, ye = make_dataset(jax.random.key(11), hist.n_eval + hist.limit_burn, dim=1, dtype=jnp.float64)
    xe, ye = np.asarray(xe), np.asarray(ye)
    keys = study._keys(hist)
    lims_h, ys_h = build_limit(hist, _Ctx(), grad, keys, xe, ye, "t")
    monkeypatch.setattr(study, "make_dataset", lambda key, length, **kw: (xe[:length], ye[:length]))
    lims_p, _ = build_limit(path, _Ctx(), grad, keys, xe, ye, "t")
    t = np.array([0.0, 0.2, 0.5])
    for a in hist.alphas:
        assert isinstance(lims_p[a], PathLimitOnEval)
        hh, hp = lims_h[a].h(t), lims_p[a].h(t)
        assert hh.shape == hp.shape == (3, 30)
        np.testing.assert_allclose(hp, hh, rtol=0, atol=1e-9 * np.abs(hh).max())
        assert np.abs(hh[-1]).max() > 0.05  # a non-trivial flow
        lh, lp = lims_h[a].loss(t, ys_h), lims_p[a].loss(t)
        np.testing.assert_allclose(lp, lh, rtol=1e-9)


def test_jackknife_floor_matches_the_spread_of_independent_paths(x64):
    """The delete-one-batch jackknife floor of one path agrees with the error of one limit measured
    as the spread between limits on 16 independent paths: ratio in [0.6, 1.5] (measured 0.83; the
    spread of 16 paths has a relative error near 20%, and a 6-batch jackknife reads slightly low).
    At t = 0 both are exactly 0 (h_0 = 0)."""
    spec = spec_from_config(compose(["experiment=convergence", "scale=tiny", "+limit.n_w=8", "+limit.n_b=4"]))
    spec = dataclasses.replace(spec, path_length=3000, batches=6, Q=200)
    xe, _ = make_dataset(jax.random.key(2), spec.n_eval + spec.limit_burn, dim=1, dtype=jnp.float64)
    t = np.array([0.0, 0.5])
    hs, floors = [], []
    for r in range(16):
        lim = PathLimitOnEval(path_limit_stage(spec, "rtrl", jax.random.key(100 + r), np.asarray(xe)), 5.0, True)
        hs.append(lim.h(t))
        floors.append(lim.floor(t))
    hs, floors = np.stack(hs), np.stack(floors)  # [R, T, Q], [R, T]
    assert np.all(floors[:, 0] == 0.0) and np.all(hs[:, 0] == 0.0)
    spread = np.sqrt(np.mean(hs[:, 1].var(axis=0, ddof=1)))  # the error of one limit
    ratio = floors[:, 1].mean() / spread
    assert 0.6 < ratio < 1.5, ratio


def test_batches_pool_to_the_whole_path(x64):
    """Batch moments pooled are the moments of the whole path (states carried across batches), to
    1e-12 relative; the batches themselves differ."""
    from rnnntk.diagonal.limit_path import path_moment_batches, path_moments, path_nodes, pool_moments
    from rnnntk.diagonal.network import get_activation, parse_grad

    xs, ys = make_dataset(jax.random.key(7), 700, dim=1, dtype=jnp.float64)
    nodes = path_nodes(1, b0=0.5, s_w=1.3, method="quadrature", n_w=8, n_b=4)
    kw = dict(burn=40, est=parse_grad("tbptt:3"), act=get_activation("tanh"), chunk=64)
    whole = path_moments(nodes, np.asarray(xs), np.asarray(ys), **kw)
    parts = path_moment_batches(nodes, np.asarray(xs), np.asarray(ys), batches=5, **kw)
    assert [p.count for p in parts] == [132] * 5 and whole.count == 660
    pooled = pool_moments(parts)
    for a, b in zip(pooled[:5], whole[:5]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert np.abs(parts[0].G - parts[1].G).max() > 1e-3


def test_batch_moments_report_progress_once_per_batch(x64):
    """`path_moment_batches` hands its progress callback the batch indices once, and the moments do
    not depend on it (bit-identical with and without)."""
    from rnnntk.diagonal.limit_path import path_moment_batches, path_nodes
    from rnnntk.diagonal.network import get_activation, parse_grad

    xs, ys = make_dataset(jax.random.key(7), 400, dim=1, dtype=jnp.float64)
    nodes = path_nodes(1, b0=0.5, s_w=1.3, method="quadrature", n_w=8, n_b=4)
    kw = dict(burn=40, est=parse_grad("rtrl"), act=get_activation("tanh"), chunk=50, batches=3)
    calls, seen = [], []

    def progress(it):
        calls.append(len(it))
        for j in it:
            seen.append(j)
            yield j

    with_p = path_moment_batches(nodes, np.asarray(xs), np.asarray(ys), progress=progress, **kw)
    without = path_moment_batches(nodes, np.asarray(xs), np.asarray(ys), **kw)
    assert calls == [3] and seen == [0, 1, 2]
    for a, b in zip(with_p, without):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("quiet", [False, True])
def test_path_limit_reports_its_batches_through_the_run_context(quiet, tmp_path, capsys, x64):
    """`build_limit` with law=path reports the path's batches through ``ctx.progress`` (in a log at
    most one line every few seconds, and always the last), nothing with ``progress=false`` (a
    quiet context), and nothing when the stage is loaded instead of computed."""
    from rnnntk.run.runctx import RunContext

    spec = spec_from_config(compose(["experiment=convergence", "scale=tiny", *NODES]))
    spec = dataclasses.replace(spec, path_length=300, batches=4)
    xe, ye = make_dataset(jax.random.key(2), spec.n_eval + spec.limit_burn, dim=1, dtype=jnp.float64)
    ctx = RunContext(str(tmp_path), quiet=quiet)
    build_limit(spec, ctx, "rtrl", study._keys(spec), np.asarray(xe), np.asarray(ye), "t")
    first = capsys.readouterr().err
    build_limit(spec, ctx, "rtrl", study._keys(spec), np.asarray(xe), np.asarray(ye), "t")
    second = capsys.readouterr().err
    assert ("limit rtrl path (4 batches): 4/4 done" in first) != quiet
    assert "limit rtrl path" not in second and ctx.reused == ["limit_rtrl_path"]


@pytest.mark.parametrize(
    "override,match",
    [
        ("limit.law=kernels", r"limit.law = 'kernels' is not allowed: expected \"path\" .* or \"histories\""),
        ("limit.batches=1", r"limit.batches = 1 .*integer >= 2"),
        ("limit.path_length=0", r"limit.path_length = 0"),
        ("limit.path_length=30", r"limit.path_length = 30 .*integer >= 40"),
        ("training.beta=[0.5,0.75]", r"training.beta = 0.5 is not available with limit.law = path.*histories"),
    ],
)
def test_path_law_settings_are_checked_before_running(override, match):
    cfg = compose(["experiment=convergence", "scale=tiny", *QUIET, override])
    with pytest.raises(ConfigError, match=match):
        validate(cfg)


def test_beta_half_runs_with_the_histories_law():
    validate(compose(["experiment=convergence", "scale=tiny", *QUIET, "training.beta=0.5", "limit.law=histories",
                      "limit.bags=1"]))  # fmt: skip


def test_medium_exists_for_convergence_and_beta_phase_only():
    for name in ("convergence", "beta_phase"):
        cfg = compose([f"experiment={name}", "scale=medium", *QUIET])
        validate(cfg)
        spec = spec_from_config(cfg)
        assert max(spec.widths) >= 100_000 and {0.55, 0.6, 0.75, 0.9} <= set(spec.betas)
    with pytest.raises(ConfigError, match=r"scale = 'medium' is not allowed for experiment=loss_curves"):
        validate(compose(["experiment=loss_curves", "scale=medium", *QUIET]))


def test_cost_estimate_by_hand():
    """Widths 10 and 20, T = 1, 2 chunks, burn 5, 3 seeds, 2 alphas x 1 beta, rtrl, d = 1, tanh:
    N = 10 runs 5 burn + 10 steps, N = 20 runs 10 burn + 20 steps, and each is evaluated 3 times on
    Q + burn = 30 + 20 histories' steps; F = 3 x 32 x 6 / 2 = 288."""
    spec = spec_from_config(compose(["experiment=convergence", "scale=tiny", "training.alpha=[2.0,5.0]",
                                     "training.beta=0.75", "training.T=1.0", "training.burn=5"]))  # fmt: skip
    spec = dataclasses.replace(spec, widths=[10, 20], seeds=3, path_length=1000, batches=4)
    c = study_cost(spec)
    assert c.unit_steps == (10 * (15 + 150) + 20 * (30 + 150)) * 3 * 2 == 31500
    F = 288
    assert c.features == F
    flops = (1000 + spec.limit_burn) * 2 * F**2 + 2 * (1 + 4) * 10 * F**3
    assert c.limit_flops == pytest.approx(flops, rel=1e-12)
    limit_bytes = 8 * F**2 * (4 + 4) + 8 * 4096 * F * 6
    train_bytes = 3 * 2 * 20 * 6 * 4 + 3 * 30 * 2 * 4
    assert c.peak_bytes == max(limit_bytes, train_bytes)
    assert "3.15e+04 unit-steps" in c.describe()

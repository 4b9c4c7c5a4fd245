"""The mean-field Elman trainer: BPTT gradients against a hand-written backward loop and finite
differences, the mean-field learning rates, the realisable teacher, chunking and seeds, and the
behaviour in width (parameters move O(1) independently of N; outputs of widths N and 2N approach
each other)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_elman import naive_elman_output
from reference_meanfield import risk_and_grad

import rnnntk
from rnnntk import ConfigError
from rnnntk.data import AR1, ElmanTeacher, apply_target, make_dataset, sample_path, window_targets
from rnnntk.elman import (
    Problem,
    batch_risk,
    embedded_init,
    evaluate,
    mean_field_rates,
    sample_batches,
    sample_windows,
    sgd_step,
    sub_network,
    train_chunk,
    train_meanfield,
)
from rnnntk.run import fit_loglog

F64 = jnp.float64
V = dict(var_w=1.0, var_u=1.0, var_b=0.0, var_v=1.0)
TEACHER = ElmanTeacher(memory=3, width=4)
PROBLEM = Problem(source=AR1(rho=0.5), target=TEACHER, dim=2, window=3, batch=16)


def _leaves(p):
    return (p.W, p.U, p.b, p.v)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("activation", ["erf", "tanh"])
def test_bptt_gradient_matches_hand_written_backward_loop_and_finite_differences(activation):
    p = rnnntk.elman_init(jax.random.key(1), 6, 2, **{**V, "var_b": 0.3}, param="mean_field")
    xs = jax.random.normal(jax.random.key(2), (5, 4, 2))
    ys = jax.random.normal(jax.random.key(3), (5,))
    R, g = jax.value_and_grad(batch_risk)(p, xs, ys, activation)
    R_ref, g_ref = risk_and_grad(*(np.asarray(a) for a in _leaves(p)), np.asarray(xs), np.asarray(ys), activation)
    # the same sums in another order: float64 rounding only
    np.testing.assert_allclose(float(R), R_ref, rtol=1e-13)
    for a, r in zip(_leaves(g), g_ref):
        np.testing.assert_allclose(np.asarray(a), r, rtol=1e-11, atol=1e-16)
    # central differences along random directions: error h^2 R''' / 6 ~ 1e-10 relative at h = 1e-5,
    # rounding ~ 1e-16 / h = 1e-11; a wrong gradient (e.g. a missing 1/n) is off by O(1)
    rng = np.random.default_rng(0)
    h = 1e-5
    risk = jax.jit(batch_risk, static_argnums=3)
    for _ in range(3):
        d = [rng.standard_normal(np.shape(a)) for a in _leaves(p)]
        shift = lambda s, d=d: rnnntk.ElmanParams(*(a + s * u for a, u in zip(_leaves(p), d)), param="mean_field")
        fd = (float(risk(shift(h), xs, ys, activation)) - float(risk(shift(-h), xs, ys, activation))) / (2 * h)
        ad = sum(float(np.vdot(np.asarray(a), u)) for a, u in zip(_leaves(g), d))
        assert abs(fd - ad) <= 1e-7 * abs(ad)


def test_sgd_step_uses_the_mean_field_rates():
    n = 6
    p = rnnntk.elman_init(jax.random.key(4), n, 2, **{**V, "var_b": 0.3}, param="mean_field")
    xs = jax.random.normal(jax.random.key(5), (8, 3, 2))
    ys = jax.random.normal(jax.random.key(6), (8,))
    _, (gW, gU, gb, gv) = risk_and_grad(*(np.asarray(a) for a in _leaves(p)), np.asarray(xs), np.asarray(ys), "erf")
    lr = 0.3
    q, _ = sgd_step(p, mean_field_rates(n, dtype=F64), lr, xs, ys, "erf")
    np.testing.assert_allclose(q.W, np.asarray(p.W) - lr * n**2 * gW, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(q.U, np.asarray(p.U) - lr * n * gU, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(q.v, np.asarray(p.v) - lr * n * gv, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(q.b, p.b)  # frozen by default
    q, _ = sgd_step(p, mean_field_rates(n, train_bias=True, dtype=F64), lr, xs, ys, "erf")
    np.testing.assert_allclose(q.b, np.asarray(p.b) - lr * n * gb, rtol=1e-12, atol=1e-15)


def test_gradients_at_initialisation_scale_like_one_over_n_and_n_squared():
    """Why the rates are ``N`` and ``N^2``: at a centred initialisation the per-entry gradient of the
    risk is ``O(1/N)`` for ``c`` and ``U`` and ``O(1/N^2)`` for ``W``."""
    xs, ys = sample_windows(jax.random.key(6), PROBLEM, 256, F64)
    grad = jax.jit(jax.grad(batch_risk), static_argnums=3)
    rms = {}
    for n in (32, 512):
        per_seed = []
        for s in range(4):
            g = grad(embedded_init(jax.random.key(s), n, n, 2, **V, dtype=F64), xs, ys, "erf")
            per_seed.append([float(jnp.sqrt(jnp.mean(a**2))) for a in (g.W, g.U, g.v)])
        rms[n] = np.mean(per_seed, axis=0)
    ratio = rms[512] / rms[32]  # measured: W 1/360, U 1/24, c 1/16
    # expected 1/256 for W and 1/16 for U and c, up to O(N^-1/2) corrections at N = 32 and the
    # spread of 4 seeds: a factor 2 either way, which excludes the neighbouring powers of 16
    assert 1 / 512 < ratio[0] < 1 / 128, ratio
    assert np.all((1 / 32 < ratio[1:]) & (ratio[1:] < 1 / 8)), ratio


# --------------------------------------------------------------------------- targets


def test_teacher_at_its_weights_has_zero_risk_and_zero_gradient():
    p = TEACHER.params(2, F64)
    xs = jax.random.normal(jax.random.key(7), (64, 3, 2))
    ys = window_targets(None, xs, TEACHER)
    assert float(jnp.std(ys)) > 0.1  # a target that varies
    R, g = jax.value_and_grad(batch_risk)(p, xs, ys, "erf")
    assert float(R) == 0.0
    assert all(float(jnp.abs(a).max()) == 0.0 for a in _leaves(g))
    # a student of width 3 M made of 3 copies of every teacher unit is the same function
    k = 3
    copies = rnnntk.ElmanParams(
        W=jnp.tile(p.W, (k, k)), U=jnp.tile(p.U, (1, k)), b=jnp.tile(p.b, k), v=jnp.tile(p.v, k), param="mean_field"
    )
    R, g = jax.value_and_grad(batch_risk)(copies, xs, ys, "erf")
    assert float(R) < 1e-28 and all(float(jnp.abs(a).max()) < 1e-14 for a in _leaves(g))
    # and the test can fail: one output weight moved by 0.1 gives a risk of order (0.1 / M)^2
    moved = rnnntk.ElmanParams(W=p.W, U=p.U, b=p.b, v=p.v.at[0].add(0.1), param="mean_field")
    assert float(batch_risk(moved, xs, ys, "erf")) > 1e-5


def test_elman_teacher_on_a_path_reads_the_last_m_inputs_and_is_the_same_in_every_precision():
    t = ElmanTeacher(memory=3, width=4)
    path = sample_path(jax.random.key(8), AR1(), 12, 2, F64)
    ys = apply_target(None, path, t)
    p = t.params(2, F64)
    ref = [
        naive_elman_output(p.W, p.U, p.b, p.v, path[k - 2 : k + 1], pool="last", activation="erf", param="mean_field")
        for k in range(2, 12)
    ]
    np.testing.assert_allclose(ys, jnp.stack(ref), rtol=1e-13, atol=1e-15)
    xs, ys = make_dataset(jax.random.key(8), 40, dim=2, target=t, dtype=F64)
    assert xs.shape == (40, 2) and ys.shape == (40,)
    # drawn by NumPy in float64 and cast: the float32 teacher is the float64 one rounded
    np.testing.assert_allclose(np.asarray(t.params(2, jnp.float32).W), np.asarray(p.W), rtol=1e-7)


# --------------------------------------------------------------------------- programs


# --------------------------------------------------------------------------- behaviour in width

LADDER = [16, 32, 64, 128, 256]
SEEDS = 4


@pytest.fixture(scope="module")
def ladder():
    """Widths 16 ... 256 from one embedding, 4 seeds, training time T = 8 (16 steps of alpha = 1/2),
    evaluated at t = 0, 4, 8; and the widths 64 and 256 again with plain gradient descent
    (all rates 1) for contrast. Same programs: the rates are arguments."""
    lr, L, J = 0.5, 8, 2
    xs_eval, _ = sample_windows(jax.random.key(20), PROBLEM, 256, F64)
    keys = jnp.stack([jax.random.fold_in(jax.random.key(21), s) for s in range(SEEDS)])
    batches = [sample_batches(keys, jnp.asarray(j * L), problem=PROBLEM, steps=L, dtype=F64) for j in range(J)]
    res = {}
    for n in LADDER:
        p0 = jax.tree.map(
            lambda *a: jnp.stack(a),
            *[
                embedded_init(jax.random.fold_in(jax.random.key(22), s), n, 256, 2, **V, dtype=F64)
                for s in range(SEEDS)
            ],
        )
        kinds = {"mean_field": mean_field_rates(n, dtype=F64)}
        if n in (64, 256):
            kinds["plain"] = jax.tree.map(lambda r: jnp.where(r > 0, 1.0, 0.0), kinds["mean_field"])
        for kind, rates in kinds.items():
            p = jax.tree.map(jnp.copy, p0)
            out, disp = evaluate(p, p0, xs_eval, activation="erf")
            outs = [out]
            for xs, ys in batches:
                p, _ = train_chunk(p, rates, xs, ys, jnp.asarray(lr, F64), activation="erf")
                out, disp = evaluate(p, p0, xs_eval, activation="erf")
                outs.append(out)
            res[kind, n] = (np.stack(outs, axis=1), np.asarray(disp))
            if n == LADDER[0] and kind == "mean_field":
                res["params0"], res["params"], res["keys"] = p0, p, keys
    return res


def test_chunked_vmapped_training_equals_a_plain_loop_and_train_meanfield(ladder):
    """The ladder's width-16 run (batches from `sample_batches`, two chunks of a vmapped scan over
    four seeds) against plain jitted SGD steps on `sample_windows` batches, one seed at a time, and
    against `train_meanfield` (one program for the whole run)."""
    p0, p, keys = ladder["params0"], ladder["params"], ladder["keys"]
    n = LADDER[0]
    step = jax.jit(sgd_step, static_argnums=5)
    rates = mean_field_rates(n, dtype=F64)
    for s in (0, 3):
        q = jax.tree.map(lambda a, s=s: a[s], p0)
        for k in range(16):
            xs, ys = sample_windows(jax.random.fold_in(keys[s], k), PROBLEM, PROBLEM.batch, F64)
            q, _ = step(q, rates, 0.5, xs, ys, "erf")
        # the teacher is evaluated in a batched program there and alone here: rounding only
        for a, b in zip(_leaves(q), _leaves(jax.tree.map(lambda a, s=s: a[s], p))):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    q, loss = train_meanfield(jax.tree.map(lambda a: a[1], p0), PROBLEM, lr=0.5, steps=16, key=keys[1])
    assert loss.shape == (16,) and np.all(np.isfinite(loss))
    for a, b in zip(_leaves(q), _leaves(jax.tree.map(lambda a: a[1], p))):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    # float32: the same draws (made in float64, then rounded) and the same steps up to rounding;
    # 16 steps of O(1) updates keep float32 rounding (1.2e-7) at the 1e-6 level (measured 3e-7)
    p32 = jax.tree.map(lambda a: a[1].astype(jnp.float32), p0)
    q32, loss32 = train_meanfield(p32, PROBLEM, lr=0.5, steps=16, key=keys[1])
    assert np.all(np.isfinite(np.asarray(p32.W)))  # the caller's parameters are not donated
    assert q32.W.dtype == jnp.float32 and loss32.dtype == jnp.float32
    for a, b in zip(_leaves(q32), _leaves(q)):
        assert float(jnp.abs(a.astype(b.dtype) - b).max()) < 1e-5 * max(1.0, float(jnp.abs(b).max()))


def test_embedding_nests_the_widths():
    key = jax.random.key(9)
    small, mid = embedded_init(key, 8, 32, 2, **V, dtype=F64), embedded_init(key, 16, 32, 2, **V, dtype=F64)
    for a, b in zip(_leaves(small), _leaves(sub_network(mid, 8))):
        np.testing.assert_array_equal(a, b)
    full = rnnntk.elman_init(key, 32, 2, **V, param="mean_field", dtype=F64)
    np.testing.assert_array_equal(mid.W, full.W[:16, :16])


def test_parameters_move_order_one_independently_of_width(ladder):
    d64, d256 = ladder["mean_field", 64][1].mean(axis=0), ladder["mean_field", 256][1].mean(axis=0)
    # RMS displacement per entry of W, U, c at t = 8 (measured ~0.2 at every width, 16 to 256)
    assert np.all(d256[:3] > 0.05)
    # the mean-field limit fixes it; the corrections are O(N^-1/2) (12% at N = 64) plus the spread
    # of a mean over 4 seeds (measured ratio 256/64: W 1.03, U 1.23, c 1.05); plain gradient
    # descent gives 1/16 for W and 1/4 for U and c (measured 0.06, 0.37, 0.30)
    ratio = d256[:3] / d64[:3]
    assert np.all((0.75 < ratio) & (ratio < 1.33)), ratio
    plain = ladder["plain", 256][1].mean(axis=0)[:3] / ladder["plain", 64][1].mean(axis=0)[:3]
    assert plain[0] < 0.1 and np.all(plain[1:] < 0.5), plain


def test_outputs_of_widths_n_and_2n_approach_each_other(ladder):
    def dist(a, b):  # [S, t]
        return np.sqrt(np.mean((ladder["mean_field", a][0] - ladder["mean_field", b][0]) ** 2, axis=-1))

    sup = [dist(n, 2 * n).max(axis=1).mean() for n in LADDER[:-1]]
    final = [dist(n, 2 * n)[:, -1].mean() for n in LADDER[:-1]]
    # N^-1/2 predicts a ratio of 8^-1/2 = 0.35 between the pairs (128, 256) and (16, 32) (measured:
    # 0.31 for the sup over t, 0.34 at t = T); 0.6 leaves room for 4 seeds, and a width-independent
    # distance (no convergence) would give 1
    assert sup[-1] < 0.6 * sup[0] and final[-1] < 0.6 * final[0], (sup, final)
    slope = fit_loglog(LADDER[:-1], np.asarray(sup)).slope
    assert -1.0 < slope < -0.25, slope


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(target=rnnntk.Teacher()), r"target.name = 'Teacher' .* finite-memory"),
        (dict(target=TEACHER, window=2), r"window = 2 .* memory m = 3"),
        (dict(source=rnnntk.Npz(path="x.npz")), r"data.source = 'Npz'"),
        (dict(batch=0), r"batch = 0"),
        (dict(activation="sigmoid"), r"activation = 'sigmoid'"),
    ],
)
def test_problem_rejects_bad_fields(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Problem(**kwargs)


def test_trainer_rejects_bad_arguments():
    p = embedded_init(jax.random.key(0), 4, 4, 2, **V, dtype=F64)
    with pytest.raises(ConfigError, match=r"lr = 0"):
        train_meanfield(p, PROBLEM, lr=0, steps=1, key=jax.random.key(0))
    with pytest.raises(ConfigError, match=r"param = 'ntk'"):
        ntk = rnnntk.elman_init(jax.random.key(0), 4, 2, **V)
        train_meanfield(ntk, PROBLEM, lr=0.1, steps=1, key=jax.random.key(0))
    with pytest.raises(ConfigError, match=r"problem.dim = 1"):
        train_meanfield(p, Problem(target=TEACHER, window=3), lr=0.1, steps=1, key=jax.random.key(0))
    with pytest.raises(ConfigError, match=r"width = 8 .* max_width = 4"):
        embedded_init(jax.random.key(0), 8, 4, 2, **V, dtype=F64)
    with pytest.raises(ConfigError, match=r"target.memory = 0"):
        ElmanTeacher(memory=0)
    with pytest.raises(ConfigError, match=r"target.var_w = -1"):
        ElmanTeacher(var_w=-1)

"""The one chunked training loop (`rnnntk.diagonal.chunks`) against one unchunked run, its checkpoints, its
divergence check; and the `rnnntk.float64` switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnntk
from rnnntk.diagonal import (
    Checkpoint,
    chunk_layout,
    init_ensemble,
    layout,
    parse_grad,
    resume,
    schedule,
    train_all,
    train_chunks,
)
from rnnntk.divergence import Diverged

MODEL = rnnntk.DiagonalRNN(b0=0.6, s_w=1.4, activation="erf")


def _setup(steps):
    xs, ys = rnnntk.make_dataset(jax.random.key(3), steps, dim=1, dtype=jnp.float64)
    ens = init_ensemble(jax.random.key(4)[None], 12, 1, 1, grad="rtrl", dtype=jnp.float64, model=MODEL)
    return xs, ys, ens


def _kw(est="rtrl"):
    return dict(alphas=[2.0], betas=[0.75], est=parse_grad(est), act=MODEL.act, where=str, setting="training.alpha")


def test_layout_covers_the_steps_with_a_frozen_burn_in():
    K, L, bc = chunk_layout(2.0, 13, 4, 10)
    plan = layout(2.0, 13, 4, 10)
    assert [c.index for c in plan] == list(range(-bc, 4))
    assert all(c.counted is None and not c.lr.any() for c in plan[:bc])
    steps = np.concatenate([c.step[c.counted] for c in plan[bc:]])
    np.testing.assert_array_equal(steps, np.arange(K))  # every training step once, in order
    assert [c.lo for c in plan] == [i * L for i in range(len(plan))]


def test_chunked_run_equals_one_scan_over_the_whole_path():
    """The loop over a decaying schedule against `train_steps` on the concatenated path and learning
    rates (one scan): the same arithmetic in the same order, so equal to float64 roundoff."""
    steps, chunk = 70, 16
    xs, ys, ens = _setup(5 * chunk)
    plan = schedule(steps, chunk, lambda lo, L: rnnntk.decay_schedule(lo, L, k0=20.0, gamma=0.7))
    out = train_all(ens, plan, lambda ch: (xs[None, ch.lo : ch.lo + chunk], ys[None, ch.lo : ch.lo + chunk]), **_kw())
    lr = np.concatenate([c.lr for c in plan])
    assert lr[steps:].max() == 0.0 and lr[steps - 1] > 0  # the last chunk is padded with frozen steps
    p0 = jax.tree.map(lambda a: a[0], ens.params0)
    st, _ = MODEL.train_steps(p0, rnnntk.init_state(p0), xs, ys, beta=0.75, alpha=2.0, lr_scale=lr)
    for a, b in zip(out.state.delta, st.delta):
        np.testing.assert_allclose(np.asarray(a[0, 0]), np.asarray(b), rtol=1e-12, atol=1e-15)


def test_a_checkpointed_run_resumes_to_the_same_state(tmp_path):
    xs, ys, ens = _setup(80)
    plan = layout(4.0, 12, 3, 20, np.float64)
    data = lambda ch: (xs[None, ch.lo : ch.lo + len(ch.lr)], ys[None, ch.lo : ch.lo + len(ch.lr)])  # noqa: E731
    whole = train_all(ens, plan, data, **_kw())
    ens = _setup(80)[2]  # a fresh ensemble: training donates the state's buffers
    ck = Checkpoint(str(tmp_path / "ck.npz"), "settings-1")
    seen = []
    for ch, _, _ in train_chunks(ens, plan, data, checkpoint=ck, extras=lambda: {"n": np.asarray(len(seen))}, **_kw()):
        seen.append(ch.index)
        if len(seen) == 3:
            break  # interrupted: the third chunk is not saved (the save follows the caller's use)
    assert resume(Checkpoint(ck.path, "other settings"), plan) is None  # another fingerprint: afresh
    got = resume(ck, plan, "n", what="test")
    assert got is not None
    ens2, extras, rest = got
    assert int(extras["n"]) == 2 and [c.index for c in rest] == [c.index for c in plan[2:]]
    resumed = train_all(ens2, rest, data, **_kw())
    for a, b in zip(whole.state.delta, resumed.state.delta):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_diverging_chunk_raises_naming_the_place():
    xs, ys, ens = _setup(32)
    plan = schedule(32, 16, lambda lo, L: np.ones(L))
    kw = _kw() | dict(alphas=[1e6], where=lambda ch: f"chunk {ch.index + 1}")
    with pytest.raises(Diverged, match="chunk 1"):
        train_all(ens, plan, lambda ch: (xs[None, ch.lo : ch.lo + 16], ys[None, ch.lo : ch.lo + 16]), **kw)


def test_float64_switches_on_and_restores():
    before = bool(jax.config.jax_enable_x64)
    for outer in (False, True):
        jax.config.update("jax_enable_x64", outer)
        with rnnntk.float64():
            assert jnp.zeros(()).dtype == jnp.float64
        assert bool(jax.config.jax_enable_x64) is outer

        @rnnntk.float64()
        def f():
            return jnp.zeros(()).dtype

        assert f() == jnp.float64 and f() == jnp.float64  # a decorator, reusable
        assert bool(jax.config.jax_enable_x64) is outer
    jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize("grad", ["rtrl", "tbptt:3"])
def test_members_in_blocks_equal_one_vmap(grad):
    """On a CPU `train_chunk` advances the members in cache-sized blocks (`member_block`): every
    block size, also one that does not divide the members, gives the all-vmapped results to
    float64 roundoff (each member's arithmetic is the same; only the batching differs)."""
    from rnnntk.diagonal.ensemble import _chunk

    S, G, L, n, d = 3, 2, 40, 9, 2
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(5), s))(jnp.arange(S))
    ens = init_ensemble(keys, n, d, G, grad=grad, dtype=jnp.float64, model=MODEL)
    xs = 0.7 * jax.random.normal(jax.random.key(6), (S, L, d), jnp.float64)
    ys = jnp.sin(2.0 * xs[..., 0]) + 0.3
    args = (xs, ys, jnp.ones(L), jnp.asarray([2.0, 0.5]), jnp.asarray([0.6, 0.9]), parse_grad(grad), MODEL.act)
    copy = lambda: jax.tree.map(jnp.array, ens.state)  # noqa: E731  (the state is donated)
    ref_state, ref_loss = _chunk(ens.params0, copy(), *args, 0)
    assert ref_loss.shape == (S, G, L) and np.all(np.isfinite(np.asarray(ref_loss)))
    for block in (1, 4, 5):
        state, loss = _chunk(ens.params0, copy(), *args, block)
        np.testing.assert_allclose(np.asarray(loss), np.asarray(ref_loss), rtol=1e-12, atol=1e-15)
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(ref_state)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15)


def test_member_block_fits_the_cache_on_cpu_only():
    from rnnntk.diagonal.ensemble import CPU_BLOCK_BYTES, member_block

    per = 102400 * 4 * (6 + 3)
    assert member_block(102400, 1, 4, 16, platform="cpu") == max(1, CPU_BLOCK_BYTES // per)
    assert member_block(102400, 1, 4, 16, platform="cpu") < 16
    assert member_block(400, 1, 4, 16, platform="cpu") == 0  # all 16 fit: one vmap
    assert member_block(25600, 1, 4, 16, platform="cpu") == 0
    assert member_block(102400, 1, 4, 16, platform="gpu") == 0  # accelerators: one vmap
    assert member_block(102400, 1, 4, 16, platform="cpu", mesh=object()) == 0  # a device mesh: one vmap
    assert 0 < member_block(25600, 8, 8, 16, platform="cpu") < 16  # d = 8 in float64 outgrows it

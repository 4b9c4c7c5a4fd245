"""Sources and targets are classes: a new one is a subclass defined here, and it works through
`make_dataset`, the windows of the mean-field trainer and the study without editing the library."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnntk
from rnnntk.data import Source, Target, apply_target, make_dataset, sample_path, target_memory, window_targets


@dataclass(frozen=True)
class Rotation(Source):
    """A toy synthetic chain: a noisy rotation ``x_{k+1} = R x_k + s eps`` of the plane's first two
    coordinates (the others i.i.d. normal); stationary from ``N(0, I)`` for ``cos^2 + s^2 = 1``."""

    angle: float = 0.7
    synthetic = True

    def sample(self, key, length, dim, dtype):
        k0, k1 = jax.random.split(key)
        c, s = np.cos(self.angle), np.sin(self.angle)
        shrink = 0.6
        R = jnp.eye(dim, dtype=dtype).at[:2, :2].set(jnp.asarray(shrink * np.array([[c, -s], [s, c]]), dtype))
        scale = jnp.ones((dim,), dtype).at[:2].set(jnp.asarray(np.sqrt(1 - shrink**2), dtype))
        keep = jnp.zeros((dim,), dtype).at[:2].set(jnp.ones((), dtype))
        x0 = jax.random.normal(k0, (dim,), dtype)
        eps = jax.random.normal(k1, (length - 1, dim), dtype)

        def body(x, e):
            x = keep * (R @ x) + scale * e
            return x, x

        _, rest = jax.lax.scan(body, x0, eps)
        return jnp.concatenate([x0[None], rest])


@dataclass(frozen=True)
class Product(Target):
    """A toy finite-memory target: ``Y_k = x_k[0] x_{k-1}[0] + noise``."""

    noise: float = 0.0
    lag = 1

    def finite_memory(self):
        return 2

    def clean(self, xs):
        return xs[1:, 0] * xs[:-1, 0]

    def on_windows(self, windows):
        return windows[:, -1, 0] * windows[:, -2, 0]


def test_a_new_source_and_target_work_through_make_dataset():
    src, tgt = Rotation(angle=0.9), Product(noise=0.0)
    xs, ys = make_dataset(jax.random.key(0), 200, dim=3, source=src, target=tgt, dtype=jnp.float64)
    assert xs.shape == (200, 3) and ys.shape == (200,)
    # the targets are the product of each sample with the one before (the lag drawn before xs[0])
    np.testing.assert_allclose(np.asarray(ys[1:]), np.asarray(xs[1:, 0] * xs[:-1, 0]), rtol=1e-15)
    # the same path as the source's own sampler (make_dataset draws lag + length steps)
    kp, _ = jax.random.split(jax.random.key(0))
    full = sample_path(kp, src, 201, 3, jnp.float64)
    np.testing.assert_array_equal(np.asarray(full[1:]), np.asarray(xs))
    # the recursion holds step by step (a naive loop on the drawn path)
    c, s = np.cos(src.angle), np.sin(src.angle)
    R = 0.6 * np.array([[c, -s], [s, c]])
    resid = np.asarray(full[1:, :2]) - np.asarray(full[:-1, :2]) @ R.T
    assert np.std(resid) == pytest.approx(0.8, rel=0.15)  # the innovation's scale sqrt(1 - 0.36)
    # windows agree with the path
    win = jnp.stack([xs[:-1], xs[1:]], axis=1)
    np.testing.assert_allclose(np.asarray(window_targets(jax.random.key(1), win, tgt)), np.asarray(ys[1:]), rtol=1e-15)
    assert target_memory(tgt) == 2
    noisy = apply_target(jax.random.key(2), full, Product(noise=0.3))
    assert float(jnp.std(noisy - full[1:, 0] * full[:-1, 0])) == pytest.approx(0.3, rel=0.2)


def test_a_non_synthetic_source_cannot_be_sampled_and_an_unknown_object_is_refused():
    with pytest.raises(rnnntk.ConfigError, match="synthetic"):
        sample_path(jax.random.key(0), rnnntk.Npz(path="x.npz"), 10, 1)
    with pytest.raises(rnnntk.ConfigError, match="unknown source"):
        make_dataset(jax.random.key(0), 10, source=object())
    with pytest.raises(rnnntk.ConfigError, match="infinite memory"):
        window_targets(jax.random.key(0), jnp.ones((2, 3, 1)), rnnntk.Teacher())


def test_a_new_source_runs_through_the_study(tmp_path):
    from rnnntk.diagonal import run_study, spec_from_config
    from rnnntk.run import RunContext, compose

    cfg = compose(["experiment=convergence", "scale=tiny", "data.dim=2"])
    spec = spec_from_config(cfg, source=Rotation(), target=Product(), widths=[8, 16], seeds=1, grads=["rtrl"])
    res = run_study(spec, RunContext(out_dir=str(tmp_path), quiet=True))
    D = res.per_grad["rtrl"].D
    assert D.shape[:2] == (2, 1) and np.all(np.isfinite(D)) and np.all(D > 0)

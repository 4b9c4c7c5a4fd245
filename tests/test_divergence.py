"""Runaway training is an error in every trainer: non-finite values, or a loss (outputs) past the
bound ``1e3 (E Y^2 + 1)`` of `rnnntk.divergence`, raise `RunError` naming where and what to lower."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnntk import RunError, actor_critic as ac, init_params, init_state, make_dataset, train_steps
from rnnntk.data import ElmanTeacher
from rnnntk.divergence import DIVERGENCE_FACTOR, Diverged, bound, check_values
from rnnntk.elman import Problem, embedded_init, train_meanfield
from rnnntk.run import compose, run

QUIET = ["scale=tiny", "logger=none", "progress=false"]


def test_bound_is_relative_to_the_target_scale():
    m2 = np.array([0.0, 3.0])
    assert np.allclose(bound(m2), DIVERGENCE_FACTOR * (m2 + 1.0))
    # just below the bound passes, just above raises and names the member and the setting
    ok = np.stack([np.full(5, 0.999 * DIVERGENCE_FACTOR), np.full(5, 0.999 * 4 * DIVERGENCE_FACTOR)])
    check_values(ok, m2, what="training loss", where="here", setting="training.alpha")
    bad = ok.copy()
    bad[1, 2] = 4 * DIVERGENCE_FACTOR * 5  # the mean of member 1 passes 4e3
    with pytest.raises(RunError, match=r"here \(member 1\): mean training loss .* = 4e\+03; lower training.alpha"):
        check_values(
            bad, m2, what="training loss", where="here", setting="training.alpha", member=lambda i: f"member {i[0]}"
        )
    # squared outputs, and NaN, are divergence too; Diverged stays a FloatingPointError
    with pytest.raises(FloatingPointError, match="mean squared outputs"):
        check_values(np.full((1, 3), 40.0), 0.0, what="outputs", where="w", setting="s", square=True)
    with pytest.raises(Diverged, match="non-finite outputs"):
        check_values(np.array([[1.0, np.nan]]), 0.0, what="outputs", where="w", setting="s")


def test_study_run_away_is_a_run_error(tmp_path):
    """`rnnntk experiment=convergence scale=tiny training.alpha=1e4` used to exit 0 with D_N ~ 1e17."""
    cfg = compose(["experiment=convergence", *QUIET, "training.alpha=1e4"], out_dir=str(tmp_path))
    with pytest.raises(RunError, match=r"width N = 8, estimator rtrl, chunk 1 of 2 .*lower training.alpha"):
        run(cfg)


def test_train_steps_past_the_bound(key):
    p0 = init_params(key, 16, 1, b0=0.5, dtype=jnp.float64)
    xs, ys = make_dataset(jax.random.key(1), 40, dim=1, dtype=jnp.float64)
    st = init_state(p0)
    train_steps(p0, st, xs, ys, beta=0.5, alpha=1.0)  # a sane rate passes
    with pytest.raises(RunError, match=r"(divergence bound|non-finite).*lower alpha"):
        train_steps(p0, st, xs, ys, beta=0.5, alpha=1e4)


def test_meanfield_run_away_is_a_run_error():
    prob = Problem(target=ElmanTeacher(memory=2), window=2, batch=8)
    var = dict(var_w=1.0, var_u=1.0, var_b=0.0, var_v=1.0)
    p0 = embedded_init(jax.random.key(0), 16, 16, 1, **var, dtype=jnp.float64)
    train_meanfield(p0, prob, lr=0.05, steps=20, key=jax.random.key(1))
    with pytest.raises(RunError, match=r"width N = 16, steps 0 to 19: .*batch risk.*lower lr"):
        train_meanfield(p0, prob, lr=50.0, steps=20, key=jax.random.key(1))


def test_meanfield_experiment_run_away_is_a_run_error(tmp_path):
    args = ["experiment=meanfield_loss", *QUIET, "experiment.lr=20", "experiment.horizon=40"]
    with pytest.raises(RunError, match=r"meanfield_loss.*N = \d+, chunk \d of 2 .*lower experiment.lr \(now 20\)"):
        run(compose(args, out_dir=str(tmp_path)))


def test_actor_critic_run_away_is_a_run_error():
    mdp = ac.small_mdp()
    keys = jax.random.split(jax.random.key(0), 2)
    sane = ac.Hyper(beta=0.5, alpha=10.0, zeta0=1.0, t0=1.0, power=0.5)
    ac.train_seeds(keys, 50, mdp, sane, horizon=1.0, n_save=4)
    wild = sane._replace(alpha=1e5)
    with pytest.raises(RunError, match=r"actor-critic, width N = 50 \(save point \d.*lower alpha \(experiment.alpha\)"):
        ac.train_seeds(keys, 50, mdp, wild, horizon=1.0, n_save=4)


@pytest.mark.parametrize("experiment", ["beta_transition", "rtrl_fixed_width", "real_sequences"])
def test_diagonal_experiments_run_away_is_a_run_error(tmp_path, experiment):
    with pytest.raises(RunError, match=r"training diverged: .*width N = .*lower training.alpha \(now 10000\)"):
        run(compose([f"experiment={experiment}", *QUIET, "training.alpha=1e4"], out_dir=str(tmp_path)))

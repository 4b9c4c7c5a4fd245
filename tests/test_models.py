"""The model objects (`DiagonalRNN`, `Elman`, `LimitOptions`): the object path equals the function path,
the hyperparameters cannot differ between a model and a loose keyword, and the objects are static under jit.

Equalities are exact or to 1e-13 relative: both paths run the same function with the same inputs
in float64, so any difference beyond roundoff would be a different computation. Variances and
scales other than one, so a hyperparameter that one path drops cannot hide behind a default."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnntk
from rnnntk import DiagonalRNN, Elman, LimitOptions, actor_critic as ac

RTOL = 1e-13

DIAG = DiagonalRNN(b0=0.6, s_w=1.7, c_dist="normal", activation="erf")
ELMAN = Elman(var_w=1.5, var_u=2.0, var_b=0.2, var_v=0.7, param="ntk", activation="erf", pool="mean")


def _path(n=40, d=1, seed=3):
    return rnnntk.make_dataset(jax.random.key(seed), n, dim=d, dtype=jnp.float64)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=1e-14)


def test_diagonal_object_path_equals_function_path():
    xs, ys = _path()
    kw = dict(b0=0.6, s_w=1.7, c_dist="normal", activation="erf")
    key = jax.random.key(1)
    p = DIAG.init(key, 64, 1, dtype=jnp.float64)
    q = rnnntk.init_params(key, 64, 1, dtype=jnp.float64, **kw)
    for a, b in zip(p, q):
        _close(a, b)
    _close(DIAG.apply(p, xs, beta=0.75), rnnntk.predict(p, xs, beta=0.75, activation="erf"))
    trained = DIAG.train(p, xs, ys, beta=0.75, alpha=2.0, grad="tbptt:2")
    ref = rnnntk.train_online(p, xs, ys, beta=0.75, alpha=2.0, grad="tbptt:2", activation="erf")
    for a, b in zip(trained, ref):
        _close(a, b)
    _close(DIAG.empirical_kernel(p, xs, burn=10), rnnntk.empirical_ntk(p, xs, burn=10, activation="erf"))
    opts = LimitOptions(tol=1e-8)
    K = DIAG.limit_kernel(xs, burn=10, options=opts)
    _close(K, rnnntk.limit_kernel(xs, burn=10, tol=1e-8, **kw))
    # the defaults of the tanh function API differ from this model: the object carries its own
    assert float(jnp.max(jnp.abs(K - rnnntk.limit_kernel(xs, b0=0.6, s_w=1.7, burn=10, tol=1e-8)))) > 1e-3
    h = DIAG.limit_predict(xs, ys, t=np.array([0.5, 1.0]), alpha=2.0, burn=10, options=opts)
    _close(h, rnnntk.limit_predict(xs, ys, t=np.array([0.5, 1.0]), alpha=2.0, burn=10, tol=1e-8, **kw))
    mc = LimitOptions(method="monte_carlo", samples=512, seed=4)
    _close(
        DIAG.limit_kernel(xs, burn=10, options=mc),
        rnnntk.limit_kernel(xs, burn=10, method="monte_carlo", samples=512, key=jax.random.key(4), **kw),
    )


def test_elman_object_path_equals_function_path():
    xs = jax.random.normal(jax.random.key(5), (4, 3, 2), jnp.float64)
    var = dict(var_w=1.5, var_u=2.0, var_b=0.2, var_v=0.7)
    p = ELMAN.init(jax.random.key(6), 32, 2, dtype=jnp.float64)
    q = rnnntk.elman_init(jax.random.key(6), 32, 2, dtype=jnp.float64, **var)
    _close(p.W, q.W)
    _close(ELMAN.apply(p, xs), rnnntk.elman_apply(q, xs, pool="mean", activation="erf"))
    _close(ELMAN.empirical_kernel(p, xs), rnnntk.elman_empirical_ntk(q, xs, pool="mean", activation="erf"))
    _close(ELMAN.limit_kernel(xs), rnnntk.elman_limit_ntk(xs, pool="mean", activation="erf", **var))
    quad = LimitOptions(method="quadrature", nodes=40)
    _close(
        ELMAN.limit_kernel(xs, options=quad),
        rnnntk.elman_limit_ntk(xs, pool="mean", activation="erf", method="quadrature", nodes=40, **var),
    )


def test_actor_critic_object_path_equals_function_path():
    mdp = ac.random_mdp(0, 3, 2, gamma=0.8)
    Z = ac.features(mdp)
    m = ac.ActorCriticModel(s_w=1.3, c_dist="normal", activation="erf")
    _close(m.limit_kernel(Z), ac.limit_kernel(Z, s_w=1.3, activation="erf", c_dist="normal"))
    nets = m.init(jax.random.key(2), 50, mdp, dtype=jnp.float64)
    ref = ac.init_nets(jax.random.key(2), 50, mdp, s_w=1.3, c_dist="normal", dtype=jnp.float64)
    _close(nets.critic.w, ref.critic.w)
    _close(m.empirical_kernel(nets.critic, Z), ac.empirical_kernel(ref.critic, Z, activation="erf"))


def test_a_loose_keyword_that_disagrees_with_the_model_raises():
    xs, ys = _path()
    p = DIAG.init(jax.random.key(1), 16, 1, dtype=jnp.float64)
    with pytest.raises(rnnntk.ConfigError, match="activation = 'tanh' disagrees with the model DiagonalRNN"):
        DIAG.limit_kernel(xs, burn=10, activation="tanh")
    with pytest.raises(rnnntk.ConfigError, match="s_w = 1.0 disagrees"):
        DIAG.empirical_kernel(p, xs, burn=10, s_w=1.0)
    with pytest.raises(rnnntk.ConfigError, match="b0"):
        DIAG.limit_predict(xs, ys, t=1.0, alpha=1.0, burn=10, b0=0.5)
    with pytest.raises(rnnntk.ConfigError, match="not a hyperparameter"):
        DIAG.apply(p, xs, beta=0.75, var_w=1.0)
    # agreeing keywords are accepted
    _close(DIAG.apply(p, xs, beta=0.75, activation="erf", b0=0.6), DIAG.apply(p, xs, beta=0.75))
    with pytest.raises(rnnntk.ConfigError, match="pool = 'last' disagrees"):
        ELMAN.limit_kernel(jnp.ones((2, 3, 1)), pool="last")
    with pytest.raises(rnnntk.ConfigError, match="activation"):
        ac.ActorCriticModel(activation="relu").limit_kernel(jnp.eye(3), activation="erf")


def test_elman_parameters_of_another_model_are_refused():
    p = Elman(param="ntk_as_drawn").init(jax.random.key(0), 8, 1, dtype=jnp.float64)
    with pytest.raises(rnnntk.ConfigError, match="param='ntk_as_drawn'"):
        ELMAN.empirical_kernel(p, jnp.ones((2, 3, 1)))
    q = Elman(var_w=1.0).init(jax.random.key(0), 8, 1, dtype=jnp.float64)
    with pytest.raises(rnnntk.ConfigError, match="variances"):
        ELMAN.apply(q, jnp.ones((2, 3, 1)))


def test_ensemble_and_study_take_the_model_and_refuse_a_mismatch():
    from rnnntk.diagonal import init_ensemble

    keys = jax.random.split(jax.random.key(0), 2)
    ens = init_ensemble(keys, 8, 1, 1, grad="rtrl", dtype=jnp.float64, model=DIAG)
    ref = init_ensemble(keys, 8, 1, 1, grad="rtrl", dtype=jnp.float64, **DIAG.kwargs())
    _close(ens.params0.w, ref.params0.w)
    with pytest.raises(rnnntk.ConfigError, match="disagrees"):
        init_ensemble(keys, 8, 1, 1, grad="rtrl", dtype=jnp.float64, model=DIAG, activation="tanh")


def test_the_config_builds_the_model_once_and_the_study_reads_it():
    from omegaconf import OmegaConf

    from rnnntk.diagonal import spec_from_config
    from rnnntk.diagonal.study import _kernel_kwargs
    from rnnntk.run import compose, limit_options_from_config, model_from_config

    cfg = compose(["experiment=convergence", "scale=tiny", "model.activation=erf", "model.s_w=1.3", "model.b0=0.6"])
    model = model_from_config(cfg)
    assert model == DiagonalRNN(b0=0.6, s_w=1.3, c_dist=str(cfg.model.c_dist), activation="erf")
    spec = spec_from_config(cfg)
    assert spec.model == model and spec.limit_options == limit_options_from_config(cfg)
    kw = _kernel_kwargs(spec, "rtrl")  # the limit's hyperparameters are the model's
    assert {k: kw[k] for k in ("b0", "s_w", "c_dist", "activation")} == model.kwargs()
    with pytest.raises(rnnntk.ConfigError, match="disagrees"):
        spec_from_config(cfg, model_kw={"activation": "tanh"})
    bad = OmegaConf.merge(cfg, {"model": {"b0": 0.95}})
    with pytest.raises(rnnntk.ConfigError, match=r"^model\.b0"):
        model_from_config(bad)


def test_models_are_static_under_jit():
    calls = []

    @jax.jit
    def f(model, x):
        calls.append(model)
        return model.s_w * x

    x = jnp.ones(3, jnp.float64)
    _close(f(DIAG, x), 1.7 * x)
    _close(f(DiagonalRNN(b0=0.6, s_w=1.7, c_dist="normal", activation="erf"), x), 1.7 * x)
    assert len(calls) == 1  # an equal model is the same static value: no retrace
    assert jax.tree_util.tree_leaves(DIAG) == []
    assert hash(ELMAN) == hash(Elman(var_w=1.5, var_u=2.0, var_b=0.2, var_v=0.7, activation="erf", pool="mean"))
    g = jax.jit(lambda m, x: m.s_w * x, static_argnums=0)
    _close(g(DIAG, x), 1.7 * x)


def test_limit_options_refuse_what_a_family_does_not_use():
    with pytest.raises(rnnntk.ConfigError, match="nodes"):
        LimitOptions(nodes=10).diagonal_kw()
    with pytest.raises(rnnntk.ConfigError, match="samples"):
        ELMAN.limit_kernel(jnp.ones((2, 3, 1)), options=LimitOptions(samples=100))
    with pytest.raises(rnnntk.ConfigError, match="limit.tol"):
        LimitOptions(tol=2.0)
    with pytest.raises(rnnntk.ConfigError, match="b0"):
        DiagonalRNN(b0=1.2)


@pytest.mark.parametrize(
    "field,value,allowed",
    [
        ("tol", 2.0, r"a number in \(0, 1\)"),
        ("tol", 0, r"a number in \(0, 1\)"),
        ("n_w", 0, "an integer >= 1"),
        ("n_b", 2.5, "an integer >= 1"),  # was cast to 2 by the config's builder
        ("samples", -3, "an integer >= 1"),
        ("path_samples", 0, "an integer >= 1"),
    ],
)
def test_limit_fields_have_one_rule_for_the_config_and_the_api(field, value, allowed):
    """`validate` (before anything compiles) and `LimitOptions` raise the same message for a bad
    ``limit.<field>``: the one rule of `LIMIT_FIELD_RULES`."""
    from rnnntk.cli import compose
    from rnnntk.config import validate

    msg = rf"^limit\.{field} = {value!r} is not allowed: expected {allowed}$"
    with pytest.raises(rnnntk.ConfigError, match=msg):
        LimitOptions(**{field: value})
    add = "" if field == "tol" else "+"  # tol is in the group's file; the others are added
    override = f"{add}limit.{field}={value}"
    cfg = compose(["experiment=convergence", "scale=tiny", "logger=none", "progress=false", override])
    with pytest.raises(rnnntk.ConfigError, match=msg):
        validate(cfg)


def test_limit_options_leave_unset_fields_alone_but_need_a_chunk():
    from rnnntk._model import LIMIT_FIELD_RULES, check_limit_fields

    assert set(LIMIT_FIELD_RULES) == {"tol", "n_w", "n_b", "samples", "path_samples", "nodes", "chunk"}
    check_limit_fields({"n_w": None, "samples": None, "other": 0})  # unset, and not a limit field
    LimitOptions(tol=1e-8, n_w=12, n_b=5, samples=512, path_samples=64, nodes=40, chunk=16)
    with pytest.raises(rnnntk.ConfigError, match=r"^limit\.chunk = None is not allowed: expected an integer >= 1$"):
        LimitOptions(chunk=None)

"""The finite network: memory, RTRL and truncated sensitivities against reverse-mode references.

All comparisons are float64. Tolerances: the quantities are O(1) sums of at most K = 30 terms,
each computed with a handful of roundings, so agreement to 1e-12 (absolute) is expected; a wrong
sign, a missing b J term or an off-by-one step gives errors of order 1e-2 or more.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_diagonal import naive_outputs

import rnnntk
from rnnntk.diagonal import bptt_features, get_activation, parse_grad, unit_features

BETA = 0.75


@pytest.fixture
def setup(key):
    kp, kx = jax.random.split(key)
    params = rnnntk.init_params(kp, 7, 3, b0=0.8, s_w=1.3, c_dist="normal")
    xs = jax.random.normal(kx, (30, 3))
    return params, xs


def test_init_params_law(key):
    p = rnnntk.init_params(key, 20000, 2, b0=0.4, s_w=2.0)
    assert p.c.shape == (20000,) and p.w.shape == (20000, 2) and p.b.shape == (20000,)
    assert set(np.unique(np.asarray(p.c))) == {-1.0, 1.0}
    assert float(jnp.max(jnp.abs(p.b))) <= 0.4
    # moments within 5 standard errors: std(w) = 2, var(b) = b0^2 / 3
    assert abs(float(jnp.std(p.w)) - 2.0) < 5 * 2.0 / np.sqrt(2 * 40000)
    assert abs(float(jnp.var(p.b)) - 0.16 / 3) < 5 * 0.16 / np.sqrt(20000)
    assert rnnntk.init_params(key, 3, 1, dtype=jnp.float32).w.dtype == jnp.float32


def test_predict_matches_naive_loop(setup):
    params, xs = setup
    got = rnnntk.predict(params, xs, beta=BETA)
    want = naive_outputs(params.c, params.w, params.b, xs, BETA)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_rtrl_sensitivities_equal_jacrev_of_unrolled_network(setup):
    params, xs = setup
    n = params.c.shape[0]
    f = unit_features(params.w, params.b, xs, burn=0, est=parse_grad("rtrl"), act=get_activation("tanh"))
    jac = jax.jacrev(lambda c, w, b: naive_outputs(c, w, b, xs, BETA), argnums=(0, 1, 2))(*params)
    scale = n**BETA  # grad yhat = N^-beta phi
    np.testing.assert_allclose(f.S, jac[0] * scale, atol=1e-12)
    np.testing.assert_allclose(params.c[None, :, None] * f.Jw, jac[1] * scale, atol=1e-12)
    np.testing.assert_allclose(params.c[None, :] * f.Jb, jac[2] * scale, atol=1e-12)
    # the library's own bptt path is the same reference
    g = bptt_features(params, xs, burn=0, beta=BETA, act=get_activation("tanh"))
    np.testing.assert_allclose(g.Jw, f.Jw, atol=1e-12)
    np.testing.assert_allclose(g.Jb, f.Jb, atol=1e-12)


@pytest.mark.parametrize("tau", [1, 2, 5])
def test_tbptt_equals_backprop_through_window(setup, tau):
    params, xs = setup
    n = params.c.shape[0]
    f = unit_features(params.w, params.b, xs, burn=0, est=parse_grad(f"tbptt:{tau}"), act=get_activation("tanh"))
    # reference: run the memory up to the window start, hold it constant, differentiate tau steps
    for k in [0, tau - 1, tau, 17, 29]:
        start = max(0, k - tau + 1)

        def window(w, b, start=start, k=k):
            S = jax.lax.stop_gradient(jnp.zeros(n))
            for j in range(k + 1):
                if j == start:
                    S = jax.lax.stop_gradient(S)
                S = jnp.tanh(w @ xs[j] + b * S)
            return S

        jw, jb = jax.jacrev(window, argnums=(0, 1))(params.w, params.b)
        # the output of unit i depends only on its own (w_i, b_i): take the diagonal
        np.testing.assert_allclose(f.Pw[k], jnp.einsum("iid->id", jw), atol=1e-12)
        np.testing.assert_allclose(f.Pb[k], jnp.diagonal(jb), atol=1e-12)
    # phi (the rows) stays exact
    full = unit_features(params.w, params.b, xs, burn=0, est=parse_grad("rtrl"), act=get_activation("tanh"))
    np.testing.assert_allclose(f.Jw, full.Jw, atol=0)


def test_tbptt_with_window_longer_than_path_is_rtrl(setup):
    params, xs = setup
    act = get_activation("tanh")
    a = unit_features(params.w, params.b, xs, burn=0, est=parse_grad("tbptt:30"), act=act)
    b = unit_features(params.w, params.b, xs, burn=0, est=parse_grad("rtrl"), act=act)
    np.testing.assert_allclose(a.Pw, b.Jw, atol=1e-14)
    np.testing.assert_allclose(a.Pb, b.Jb, atol=1e-14)


@pytest.mark.parametrize("grad", ["rtrl", "tbptt:3"])
def test_empirical_ntk_matches_explicit_gradients(setup, grad):
    params, xs = setup
    n = params.c.shape[0]
    burn = 10
    K = rnnntk.empirical_ntk(params, xs, burn=burn, grad=grad, chunk=3)  # chunking with padding
    # rows: exact gradients (jacrev); columns: gradients through the truncated window
    jac = jax.jacrev(lambda c, w, b: naive_outputs(c, w, b, xs, BETA), argnums=(0, 1, 2))(*params)
    G = jnp.concatenate([jac[0], jac[1].reshape(30, -1), jac[2]], axis=1)[burn:] * n**BETA
    if grad == "rtrl":
        want = G @ G.T / n
    else:
        f = unit_features(params.w, params.b, xs, burn=burn, est=parse_grad(grad), act=get_activation("tanh"))
        Psi = jnp.concatenate([f.S, (params.c[None, :, None] * f.Pw).reshape(20, -1), params.c[None, :] * f.Pb], axis=1)
        want = G @ Psi.T / n
    np.testing.assert_allclose(K, want, atol=1e-12)
    assert K.shape == (20, 20)
    if grad == "rtrl":
        np.testing.assert_allclose(K, rnnntk.empirical_ntk(params, xs, burn=burn, grad="bptt"), atol=1e-12)
    else:
        assert float(jnp.max(jnp.abs(K - K.T))) > 1e-6  # truncation breaks the symmetry


def test_activations_have_stated_derivative():
    from rnnntk.diagonal import ACTIVATIONS

    z = jnp.linspace(-4, 4, 100)  # avoids z = 0, where relu has no derivative
    for act in ACTIVATIONS.values():
        s, ds = act.fn(z)
        np.testing.assert_allclose(ds, jax.vmap(jax.grad(lambda t, a=act: a.fn(t)[0]))(z), atol=1e-12)
        assert float(jnp.max(jnp.abs(ds))) <= act.sup_dsigma + 1e-12
        # and the bound is attained (at 0 for the smooth ones, on z > 0 for relu)
        at = jnp.asarray([0.0 if act.bounded_smooth else 1.0])
        assert abs(float(act.fn(at)[1][0]) - act.sup_dsigma) < 1e-15, act.name
    from jax.scipy.special import erf

    np.testing.assert_array_equal(ACTIVATIONS["erf"].fn(z)[0], erf(z))  # the plain error function
    np.testing.assert_allclose(ACTIVATIONS["erf_unit"].fn(z)[0], erf(np.sqrt(np.pi) / 2 * z), rtol=1e-15)


def test_diagonal_network_refuses_relu_and_bounds_b0_by_the_activation():
    """relu is refused with the reason (unbounded, non-smooth); the contraction condition uses
    each activation's own ``sup|sigma'|``: plain erf has ``2 / sqrt(pi)``, so ``b0 = 0.9`` is refused
    for erf and allowed for erf_unit (slope one)."""
    from rnnntk.diagonal import check_contraction, get_activation

    params = rnnntk.init_params(jax.random.key(0), 4, 1)
    for call in (
        lambda: get_activation("relu"),
        lambda: rnnntk.init_params(jax.random.key(0), 4, 1, activation="relu"),
        lambda: rnnntk.predict(params, jnp.zeros((3, 1)), beta=0.5, activation="relu"),
    ):
        with pytest.raises(rnnntk.ConfigError, match=r"'relu' is not allowed for the diagonal network: .*bounded"):
            call()
    with pytest.raises(rnnntk.ConfigError, match=r"b0 = 0.9 .*b0 < 0.886227 .*activation=erf"):
        check_contraction(0.9, "erf")
    assert check_contraction(0.9, "erf_unit") == 0.9
    assert get_activation("relu", allow_relu=True).name == "relu"

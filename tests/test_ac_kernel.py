"""The limit kernel of the actor/critic networks: closed form, quadrature, and wide networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnntk import ConfigError, actor_critic as ac
from rnnntk.actor_critic import kernel as K
from rnnntk.actor_critic.nets import init_net, outputs
from rnnntk.diagonal import get_activation
from rnnntk.run import fit_loglog


@pytest.fixture(scope="module", params=["onehot", "embedded"])
def Z(request):
    mdp = ac.random_mdp(1, 5, 3) if request.param == "onehot" else ac.random_mdp(1, 5, 3, dim=3)
    return ac.features(mdp)


@pytest.mark.parametrize("act", ["erf", "erf_unit"])
def test_erf_closed_form_against_quadrature(Z, act):
    n, _ = K.quadrature_size(Z, s_w=2.0)  # the rule for the widest law serves all three (one compile)
    for s_w in (0.5, 1.0, 2.0):
        exact = K.limit_kernel(Z, s_w=s_w, activation=act)
        quad = K.quadrature_kernel(Z, s_w=s_w, activation=act, n_nodes=n)
        # quadrature targets 1e-13 (measured 2e-14 and below)
        np.testing.assert_allclose(quad, exact, rtol=0, atol=1e-12)


def _one_layer_kernel(act, Z, s_w, c2):
    """``E[s(w.z) s(w.z')] + c2 z.z' E[s'(w.z) s'(w.z')]`` from the literature's closed forms, for
    ``w ~ N(0, s_w^2 I)``: the arcsine kernel of ``erf(k v)`` (Williams 1997) with
    ``E[s' s'] = (4 k^2 / pi) / sqrt((1 + 2 k^2 C11)(1 + 2 k^2 C22) - 4 k^4 C12^2)``, and the
    arc-cosine kernels of orders 1 and 0 for relu (Cho and Saul 2009)."""
    Z = np.asarray(Z)
    G = Z @ Z.T
    C = s_w**2 * G
    q = np.diag(C)
    if act in ("erf", "erf_unit"):
        k2 = 1.0 if act == "erf" else np.pi / 4.0
        dd = np.outer(1.0 + 2.0 * k2 * q, 1.0 + 2.0 * k2 * q)
        e_ss = 2.0 / np.pi * np.arcsin(2.0 * k2 * C / np.sqrt(dd))
        e_dd = 4.0 * k2 / np.pi / np.sqrt(dd - 4.0 * k2**2 * C**2)
    else:
        norms = np.sqrt(np.outer(q, q))
        theta = np.arccos(np.clip(C / norms, -1.0, 1.0))
        e_ss = norms * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2.0 * np.pi)
        e_dd = (np.pi - theta) / (2.0 * np.pi)
    return e_ss + c2 * G * e_dd


@pytest.mark.parametrize("act", ["erf", "erf_unit", "relu"])
def test_closed_forms_are_the_one_hidden_layer_kernels(Z, act):
    """The limit kernel for erf (the plain error function), erf_unit and relu equals the
    one-hidden-layer closed forms written out here (s_w away from one; both c laws have E c^2 = 1).
    Rounding only: 1e-13 relative."""
    for s_w in (0.6, 1.7):
        got = np.asarray(ac.limit_kernel(Z, s_w=s_w, activation=act, c_dist="normal", method="closed_form"))
        np.testing.assert_allclose(got, _one_layer_kernel(act, Z, s_w, 1.0), rtol=1e-13, atol=1e-14)
    auto = ac.limit_kernel(Z, s_w=1.7, activation=act, c_dist="rademacher", method="auto")
    np.testing.assert_allclose(auto, _one_layer_kernel(act, Z, 1.7, 1.0), rtol=1e-13, atol=1e-14)


def test_erf_is_the_plain_error_function():
    """``activation="erf"`` is ``jax.scipy.special.erf`` itself, ``"erf_unit"`` its slope-one
    rescaling ``erf(sqrt(pi) z / 2)``; the derivatives are the derivatives (`jax.grad`)."""
    from jax.scipy.special import erf

    z = jnp.linspace(-3.0, 3.0, 13)
    for name, f in (("erf", erf), ("erf_unit", lambda v: erf(np.sqrt(np.pi) / 2.0 * v))):
        s, ds = get_activation(name).fn(z)
        np.testing.assert_allclose(s, f(z), rtol=1e-15, atol=1e-16)
        np.testing.assert_allclose(ds, jax.vmap(jax.grad(f))(z), rtol=1e-14, atol=1e-16)
    assert abs(get_activation("erf").sup_dsigma - 2.0 / np.sqrt(np.pi)) < 1e-15
    s, ds = get_activation("relu", allow_relu=True).fn(z)
    np.testing.assert_array_equal(s, jnp.maximum(z, 0.0))
    np.testing.assert_array_equal(ds, (z > 0).astype(z.dtype))


def test_tanh_quadrature_converges_under_refinement():
    Z = ac.features(ac.random_mdp(1, 5, 3, dim=3))
    n, _ = K.quadrature_size(Z, s_w=1.0)
    Kt = K.limit_kernel(Z, s_w=1.0)
    fine = K.quadrature_kernel(Z, s_w=1.0, n_nodes=int(1.5 * n))
    np.testing.assert_allclose(Kt, fine, rtol=0, atol=1e-13)
    coarse = K.quadrature_kernel(Z, s_w=1.0, n_nodes=n // 3)
    assert float(jnp.max(jnp.abs(coarse - fine))) > 1e-12  # refinement can tell a coarse rule apart
    assert float(jnp.linalg.eigvalsh(Kt)[0]) > 1e-3  # positive definite on distinct features
    np.testing.assert_allclose(Kt, Kt.T, atol=1e-15)


def test_empirical_kernel_is_the_gradient_inner_product():
    Z = ac.features(ac.small_mdp())
    act = get_activation("tanh")
    net = init_net(jax.random.key(0), 50, Z.shape[1], c_dist="normal")
    beta = 0.7
    J = jax.jit(jax.jacrev(lambda p: outputs(p, Z, beta=beta, act=act)))(net)
    flat = jnp.concatenate([J.c, J.w.reshape(Z.shape[0], -1)], axis=1)
    ref = 50 ** (2 * beta - 1) * flat @ flat.T
    np.testing.assert_allclose(ac.empirical_kernel(net, Z, act=act), ref, rtol=1e-12, atol=1e-14)
    # the stable keyword: an activation by name
    np.testing.assert_allclose(ac.empirical_kernel(net, Z, activation="tanh"), ref, rtol=1e-12, atol=1e-14)
    with pytest.raises(ConfigError, match=r"exactly one of activation="):
        ac.empirical_kernel(net, Z)


@pytest.mark.parametrize("act,s_w", [("tanh", 1.0), ("erf", 1.5), ("relu", 0.7)])
def test_limit_kernel_against_wide_networks(act, s_w):
    """The mean of the empirical kernels of 16 independent width-4096 networks at initialisation
    lies within 5 standard errors of the limit kernel at every entry (225 correlated entries); the
    error of one network falls like N^{-1/2} (the first n units of a width-16384 network are a
    width-n network). For erf and relu this checks the closed forms against the networks."""
    Z = ac.features(ac.random_mdp(1, 5, 3, dim=3) if act == "relu" else ac.random_mdp(1, 5, 3))
    Kl = ac.limit_kernel(Z, s_w=s_w, activation=act)
    widths = (256, 1024, 4096, 16384)

    @jax.jit
    def nested(key):
        net = init_net(key, widths[-1], Z.shape[1], s_w=s_w)
        return jnp.stack([ac.empirical_kernel(ac.Net(net.c[:n], net.w[:n]), Z, activation=act) for n in widths])

    Ks = jax.vmap(nested)(jax.random.split(jax.random.key(5), 16))  # [seeds, widths, P, P]
    at = Ks[:, widths.index(4096)]
    mean, se = at.mean(axis=0), at.std(axis=0, ddof=1) / 4.0
    z = jnp.abs(mean - Kl) / se
    assert float(jnp.max(z)) < 5.0, float(jnp.max(z))
    err = np.asarray(jnp.linalg.norm(Ks - Kl[None, None], axis=(-2, -1)) / jnp.linalg.norm(Kl))
    fit = fit_loglog(widths, err)
    assert -0.65 < fit.slope < -0.35, fit


def test_kernel_option_errors():
    Z = ac.features(ac.small_mdp())
    with pytest.raises(ConfigError, match=r"method = 'closed_form' .* activation=\"erf\", \"erf_unit\", \"relu\""):
        ac.limit_kernel(Z, activation="tanh", method="closed_form")
    with pytest.raises(ConfigError, match=r"method = 'quadrature' .* activation=\"relu\""):
        ac.limit_kernel(Z, activation="relu", method="quadrature")
    with pytest.raises(ConfigError, match=r"activation = 'softplus'"):
        ac.limit_kernel(Z, activation="softplus")
    with pytest.raises(ConfigError, match=r"s_w = -1"):
        ac.limit_kernel(Z, s_w=-1)

"""The limit kernel of the actor/critic networks: closed form, quadrature, and wide networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnntk import ConfigError, actor_critic as ac
from rnnntk.actor_critic import kernel as K
from rnnntk.actor_critic.nets import init_net, outputs
from rnnntk.metrics import fit_loglog
from rnnntk.network import get_activation


@pytest.fixture(scope="module", params=["onehot", "embedded"])
def Z(request):
    mdp = ac.random_mdp(1, 5, 3) if request.param == "onehot" else ac.random_mdp(1, 5, 3, dim=3)
    return ac.features(mdp)


def test_erf_closed_form_against_quadrature(Z):
    n, _ = K.quadrature_size(Z, s_w=2.0)  # the rule for the widest law serves all three (one compile)
    for s_w in (0.5, 1.0, 2.0):
        exact = K.limit_kernel(Z, s_w=s_w, activation="erf")
        quad = K.quadrature_kernel(Z, s_w=s_w, activation="erf", n_nodes=n)
        # quadrature targets 1e-13 (measured 2e-14 and below)
        np.testing.assert_allclose(quad, exact, rtol=0, atol=1e-12)


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


def test_limit_kernel_against_wide_networks():
    """The mean of the empirical kernels of 16 independent width-4096 networks at initialisation
    lies within 5 standard errors of the limit kernel at every entry (225 correlated entries); the
    error of one network falls like N^{-1/2} (the first n units of a width-16384 network are a
    width-n network)."""
    Z = ac.features(ac.random_mdp(1, 5, 3))
    act = get_activation("tanh")
    Kl = ac.limit_kernel(Z)
    widths = (256, 1024, 4096, 16384)

    @jax.jit
    def nested(key):
        net = init_net(key, widths[-1], Z.shape[1])
        return jnp.stack([ac.empirical_kernel(ac.Net(net.c[:n], net.w[:n]), Z, act=act) for n in widths])

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
    with pytest.raises(ConfigError, match=r"method = 'closed_form' .* for activation=\"erf\""):
        ac.limit_kernel(Z, activation="tanh", method="closed_form")
    with pytest.raises(ConfigError, match=r"activation = 'relu'"):
        ac.limit_kernel(Z, activation="relu")
    with pytest.raises(ConfigError, match=r"s_w = -1"):
        ac.limit_kernel(Z, s_w=-1)

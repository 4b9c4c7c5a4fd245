"""Independent float64 references for the Elman network, written the plain way.

A Python loop over steps with explicit indices, the activations written out, and the NTK as the
Gram matrix of full parameter gradients from `jax.jacrev` (including the ``n x n`` gradient of
``W``). Nothing is shared with `rnnntk.elman` beyond JAX primitives.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf
from scipy import integrate

PHI = {
    "erf": lambda z: erf(math.sqrt(math.pi) / 2.0 * z),
    "tanh": jnp.tanh,
    "relu": lambda z: jnp.maximum(z, 0.0),
}


def naive_elman_output(W, U, b, v, x, *, pool, activation, param):
    """``f(x)`` for one sequence ``x [T, d]``, from the defining equations, step by step."""
    phi = PHI[activation]
    n = b.shape[0]
    d = x.shape[1]
    a = n**-0.5 if param == "ntk" else 1.0 / n
    states = []
    h = U.T @ x[0] / math.sqrt(d) + b
    states.append(phi(h))
    for t in range(1, x.shape[0]):
        h = a * (W.T @ states[-1]) + U.T @ x[t] / math.sqrt(d) + b
        states.append(phi(h))
    pooled = states[-1] if pool == "last" else sum(states) / len(states)
    return a * jnp.dot(v, pooled)


def naive_elman_ntk(W, U, b, v, xs, *, pool, activation, param):
    """``sum over every entry of W, U, b, v of grad f(x_p) grad f(x_q)``, gradients by `jax.jacrev`."""
    rows = []
    for x in xs:
        g = jax.jacrev(
            lambda W, U, b, v, x=x: naive_elman_output(W, U, b, v, x, pool=pool, activation=activation, param=param),
            argnums=(0, 1, 2, 3),
        )(W, U, b, v)
        rows.append(jnp.concatenate([jnp.ravel(a) for a in g]))
    J = jnp.stack(rows)
    return J @ J.T


def gaussian_expectation(f, g, s11, s22, s12, *, lo=-12.0, hi=12.0):
    """``E[f(u) g(u')]`` for a centred Gaussian pair, by adaptive integration (`scipy.integrate`)
    over whitened coordinates (1-D when the pair is degenerate)."""
    rho = s12 / math.sqrt(s11 * s22)
    c = math.sqrt(max(1.0 - rho * rho, 0.0))
    su, sv = math.sqrt(s11), math.sqrt(s22)
    dens = 1.0 / math.sqrt(2.0 * math.pi)
    if c < 1e-12:
        val, _ = integrate.quad(
            lambda z: f(su * z) * g(sv * rho * z) * dens * math.exp(-z * z / 2),
            lo,
            hi,
            epsabs=1e-14,
            epsrel=1e-13,
            limit=400,
        )
        return val

    def h(z2, z1):
        return f(su * z1) * g(sv * (rho * z1 + c * z2)) * dens * dens * math.exp(-(z1 * z1 + z2 * z2) / 2)

    val, _ = integrate.dblquad(h, lo, hi, lo, hi, epsabs=1e-14, epsrel=1e-12)
    return val


def np_activation(name):
    """``(phi, phi')`` as NumPy/`math` functions of a float."""
    a = math.sqrt(math.pi) / 2.0
    if name == "erf":
        return (lambda z: math.erf(a * z)), (lambda z: math.exp(-a * a * z * z))
    if name == "tanh":
        return math.tanh, (lambda z: 1.0 / math.cosh(z) ** 2 if abs(z) < 300 else 0.0)
    return (lambda z: max(z, 0.0)), (lambda z: 1.0 if z > 0 else 0.0)


def psd_min_eig(K):
    K = np.asarray(K)
    return float(np.linalg.eigvalsh((K + K.T) / 2).min() / np.abs(K).max())

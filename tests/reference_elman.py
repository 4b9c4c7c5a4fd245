"""Independent float64 references for the Elman network, written the plain way.

A Python loop over steps with explicit indices, the activations written out, and the NTK as the
Gram matrix of full parameter gradients from `jax.jacrev` (including the ``n x n`` gradient of
``W``); for ``param="ntk"`` the gradients are taken with respect to the standard normals
``omega = W / sqrt(var_w)`` (and so on) themselves. The infinite-width kernel as the recurrent-NTK
literature writes its recursion (`reference_limit_ntk`, plain NumPy loops over pairs of sequences
and steps), with the one-hidden-layer closed forms (`v_transform`) written out separately.
Nothing is shared with `rnnntk.elman` or `rnnntk.elman.limit` beyond JAX primitives.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf
from scipy import integrate

PHI = {
    "erf": erf,
    "erf_unit": lambda z: erf(math.sqrt(math.pi) / 2.0 * z),
    "tanh": jnp.tanh,
    "relu": lambda z: jnp.maximum(z, 0.0),
}


def naive_elman_output(W, U, b, v, x, *, pool, activation, param):
    """``f(x)`` for one sequence ``x [T, d]``, from the defining equations, step by step."""
    phi = PHI[activation]
    n = b.shape[0]
    d = x.shape[1]
    a = 1.0 / n if param == "mean_field" else n**-0.5
    states = []
    h = U.T @ x[0] / math.sqrt(d) + b
    states.append(phi(h))
    for t in range(1, x.shape[0]):
        h = a * (W.T @ states[-1]) + U.T @ x[t] / math.sqrt(d) + b
        states.append(phi(h))
    pooled = states[-1] if pool == "last" else sum(states) / len(states)
    return a * jnp.dot(v, pooled)


def naive_elman_ntk(W, U, b, v, xs, *, pool, activation, param, variances=None):
    """``sum over every trained variable of grad f(x_p) grad f(x_q)``, gradients by `jax.jacrev`.

    ``param="ntk"``: the trained variables are ``omega = (W, U, b, v) / sqrt(variances)`` and the
    network is evaluated at ``sqrt(variances) omega`` (all variances > 0); otherwise the weights."""
    if param == "ntk":
        sd = [math.sqrt(s) for s in variances]
        point = [a / s for a, s in zip((W, U, b, v), sd)]

        def out(oW, oU, ob, ov, x):
            return naive_elman_output(
                sd[0] * oW, sd[1] * oU, sd[2] * ob, sd[3] * ov, x, pool=pool, activation=activation, param=param
            )
    else:
        point = [W, U, b, v]

        def out(W, U, b, v, x):
            return naive_elman_output(W, U, b, v, x, pool=pool, activation=activation, param=param)

    rows = []
    for x in xs:
        g = jax.jacrev(lambda *p, x=x: out(*p, x), argnums=(0, 1, 2, 3))(*point)
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
    if name == "erf":
        return math.erf, (lambda z: 2.0 / math.sqrt(math.pi) * math.exp(-z * z))
    if name == "erf_unit":
        a = math.sqrt(math.pi) / 2.0
        return (lambda z: math.erf(a * z)), (lambda z: math.exp(-a * a * z * z))
    if name == "tanh":
        return math.tanh, (lambda z: 1.0 / math.cosh(z) ** 2 if abs(z) < 300 else 0.0)
    return (lambda z: max(z, 0.0)), (lambda z: 1.0 if z > 0 else 0.0)


def psd_min_eig(K):
    K = np.asarray(K)
    return float(np.linalg.eigvalsh((K + K.T) / 2).min() / np.abs(K).max())


# --------------------------------------------------------------------------- the limit, written out


def v_transform(activation, s12, s11, s22):
    """``(E[phi(u) phi(u')], E[phi'(u) phi'(u')])`` for ``Var u = s11``, ``Var u' = s22``,
    ``Cov = s12``, floats. erf (``phi = erf(k z)``): the arcsine kernel written with the normalised
    covariance ``s12 / sqrt((s11 + 1/(2k^2)) (s22 + 1/(2k^2)))`` and ``E[phi' phi']`` as
    ``(4 k^2 / pi) det(I + 2 k^2 S)^{-1/2}``; relu: the arc-cosine kernels of degree 1 and 0
    (Cho and Saul, "Kernel methods for deep learning", 2009)."""
    if activation in ("erf", "erf_unit"):
        k2 = 1.0 if activation == "erf" else math.pi / 4.0
        e = 1.0 / (2.0 * k2)
        kk = 2.0 / math.pi * math.asin(s12 / math.sqrt((s11 + e) * (s22 + e)))
        det = (1.0 + 2.0 * k2 * s11) * (1.0 + 2.0 * k2 * s22) - (2.0 * k2 * s12) ** 2
        return kk, 4.0 * k2 / math.pi / math.sqrt(det)
    if activation == "relu":
        norm = math.sqrt(s11 * s22)
        if norm == 0.0:
            return 0.0, 0.0
        theta = math.acos(min(1.0, max(-1.0, s12 / norm)))
        j1 = math.sin(theta) + (math.pi - theta) * math.cos(theta)
        return norm * j1 / (2.0 * math.pi), (math.pi - theta) / (2.0 * math.pi)
    raise ValueError(activation)


def reference_limit_ntk(xs, *, var_w, var_u, var_b, var_v, pool, activation, param):
    """The recurrent NTK by the literature's recursion, one pair of sequences and steps at a time.

    Forward: pre-activation covariances ``S[t, t'] = var_u X[t, t'] + var_b (+ var_w
    V[t-1, t'-1] for t, t' >= 1)``, ``V = E[phi phi]``, ``Vd = E[phi' phi']``. Backward: the
    covariance ``G`` of ``sqrt(n) df/ds^t`` (``var_v`` injected at the read-out: at ``t = T-1``
    for the last state, ``var_v / T^2`` at every step for the mean) propagated through the same
    ``W``: ``G[t, t'] = inj[t, t'] + var_w Vd[t+1, t'+1] G[t+1, t'+1]``, and ``D = Vd G`` for
    ``sqrt(n) df/dh^t``. The kernel sums ``D`` against each parameter's input covariance:
    ``param="ntk"`` (trained standard normals): ``sum D S + var_v Kv``; ``"ntk_as_drawn"``
    (gradients w.r.t. the weights as drawn, the Tensor Programs code's ``rnnntk_batch``):
    ``sum D (V[t-1, t'-1] + X + 1) + Kv``; ``Kv`` is ``V`` at the read-out.
    """
    xs = np.asarray(xs, np.float64)
    B, T, d = xs.shape
    out = np.zeros((B, B))
    # diagonal variances q[p, t] first (each needs the previous step of the same sequence)
    q = np.zeros((B, T))
    for p in range(B):
        for t in range(T):
            q[p, t] = var_u * (xs[p, t] @ xs[p, t]) / d + var_b
            if t > 0:
                q[p, t] += var_w * v_transform(activation, q[p, t - 1], q[p, t - 1], q[p, t - 1])[0]
    for p in range(B):
        for r in range(B):
            X = np.array([[xs[p, t] @ xs[r, u] / d for u in range(T)] for t in range(T)])
            S = np.zeros((T, T))
            V = np.zeros((T, T))
            Vd = np.zeros((T, T))
            for t in range(T):
                for u in range(T):
                    S[t, u] = var_u * X[t, u] + var_b + (var_w * V[t - 1, u - 1] if t > 0 and u > 0 else 0.0)
                    if p == r and t == u:  # exactly the variance (relu's E[phi' phi'] is singular there)
                        S[t, u] = q[p, t]
                    V[t, u], Vd[t, u] = v_transform(activation, S[t, u], q[p, t], q[r, u])
            inj = np.zeros((T, T))
            if pool == "last":
                inj[T - 1, T - 1] = var_v
            else:
                inj[:, :] = var_v / T**2
            G = np.zeros((T + 1, T + 1))
            for t in range(T - 1, -1, -1):
                for u in range(T - 1, -1, -1):
                    nxt = var_w * Vd[t + 1, u + 1] * G[t + 1, u + 1] if t + 1 < T and u + 1 < T else 0.0
                    G[t, u] = inj[t, u] + nxt
            D = Vd * G[:T, :T]
            Kv = V[T - 1, T - 1] if pool == "last" else V.mean()
            theta = 0.0
            for t in range(T):
                for u in range(T):
                    prev = V[t - 1, u - 1] if t > 0 and u > 0 else 0.0
                    if param == "ntk":
                        theta += D[t, u] * S[t, u]
                    else:
                        theta += D[t, u] * (prev + X[t, u] + 1.0)
            out[p, r] = theta + (var_v * Kv if param == "ntk" else Kv)
    return out

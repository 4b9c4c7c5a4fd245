"""Independent float64 reference for the mean-field Elman network: NumPy loops, no JAX.

The forward pass and backpropagation through time written out step by step (the chain rule by
hand), for the batch risk ``R = (1/B) sum_p (Y_p - yhat(x_p))^2 / 2`` of
``yhat(x) = (1/n) v . s^T`` with ``s^t = phi(z^t)``, ``z^t = (1/n) W^T s^{t-1} + U^T x^t / sqrt(d) + b``,
``s^0 = 0`` (the conventions of `rnnntk.elman` with ``param="mean_field"``, ``pool="last"``).
"""

import math

import numpy as np
from scipy.special import erf

PHI = {
    "erf": (erf, lambda z: 2.0 / math.sqrt(math.pi) * np.exp(-z * z)),
    "erf_unit": (
        lambda z: erf(math.sqrt(math.pi) / 2.0 * z),
        lambda z: np.exp(-math.pi * z * z / 4.0),
    ),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
}


def forward(W, U, b, v, x, activation):
    """States ``s^0..s^T`` and pre-activations ``z^1..z^T`` of one window ``x [T, d]``."""
    phi, _ = PHI[activation]
    n = b.shape[0]
    d = x.shape[1]
    s = [np.zeros(n)]
    z = []
    for t in range(x.shape[0]):
        zt = W.T @ s[-1] / n + U.T @ x[t] / math.sqrt(d) + b
        z.append(zt)
        s.append(phi(zt))
    return s, z, float(v @ s[-1] / n)


def risk_and_grad(W, U, b, v, xs, ys, activation):
    """``(R, (dR/dW, dR/dU, dR/db, dR/dv))`` by a hand-written backward loop."""
    W, U, b, v, xs, ys = (np.asarray(a, np.float64) for a in (W, U, b, v, xs, ys))
    _, dphi = PHI[activation]
    n = b.shape[0]
    B, T, d = xs.shape
    gW, gU, gb, gv = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b), np.zeros_like(v)
    R = 0.0
    for p in range(B):
        s, z, f = forward(W, U, b, v, xs[p], activation)
        r = (f - ys[p]) / B  # dR/df for this window
        R += 0.5 * (f - ys[p]) ** 2 / B
        gv += r * s[T] / n
        ds = r * v / n  # dR/ds^T
        for t in range(T, 0, -1):
            dz = ds * dphi(z[t - 1])  # dR/dz^t
            gb += dz
            gU += np.outer(xs[p, t - 1] / math.sqrt(d), dz)
            gW += np.outer(s[t - 1], dz) / n
            ds = W @ dz / n  # dR/ds^{t-1}
    return R, (gW, gU, gb, gv)

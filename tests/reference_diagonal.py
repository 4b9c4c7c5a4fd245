"""Independent float64 references written the plain way: Python loops over steps, no scan.

They share no code with `rnnntk` beyond NumPy/JAX primitives, so a test comparing the library
with them can fail.
"""

import jax
import jax.numpy as jnp
import numpy as np


def naive_outputs(c, w, b, xs, beta):
    """yhat_k = N^-beta sum_i c_i S_i(k+1) by a Python loop over steps (jax.numpy, differentiable)."""
    n = c.shape[0]
    S = jnp.zeros_like(b)
    out = []
    for x in xs:
        S = jnp.tanh(w @ x + b * S)
        out.append(n ** (-beta) * jnp.sum(c * S))
    return jnp.stack(out)


def naive_window_output(theta_list, S_start, xs_window, beta):
    """Output after running a window of steps, step j using parameters theta_list[j], from S_start."""
    S = S_start
    for (_, w, b), x in zip(theta_list, xs_window):
        S = jnp.tanh(w @ x + b * S)
    c = theta_list[-1][0]
    return c.shape[0] ** (-beta) * jnp.sum(c * S)


def naive_train(c, w, b, xs, ys, *, beta, alpha, tau=None):
    """Online SGD written directly from spec section 2 with NumPy float64 and per-unit loops.

    tau=None: RTRL. tau=int: each step's gradient is the gradient of the output through the last
    tau steps of the *stored* computation (parameters as they were at each step), with the state
    at the start of the window held constant -- computed by jax.grad of a Python-unrolled window.
    """
    c, w, b = (np.array(a, np.float64) for a in (c, w, b))
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    n, d = w.shape
    S = np.zeros(n)
    Jw = np.zeros((n, d))
    Jb = np.zeros(n)
    hist = []  # (theta, x, S_before) for the window
    for x, y in zip(xs, ys):
        hist.append(((c.copy(), w.copy(), b.copy()), x, S.copy()))
        hist = hist[-(tau or 1) :]
        z = w @ x + b * S
        s = np.tanh(z)
        ds = 1.0 - s * s
        Jw = ds[:, None] * (x[None, :] + b[:, None] * Jw)
        Jb = ds * (S + b * Jb)
        yhat = n ** (-beta) * np.sum(c * s)
        err = y - yhat
        if tau is None:
            gw, gb = c[:, None] * Jw, c * Jb
        else:
            thetas = [h[0] for h in hist]
            xw = jnp.asarray(np.stack([h[1] for h in hist]))
            S0 = jnp.asarray(hist[0][2])

            def f(eps_w, eps_b, thetas=thetas, S0=S0, xw=xw):
                th = [(jnp.asarray(cc), jnp.asarray(ww) + eps_w, jnp.asarray(bb) + eps_b) for cc, ww, bb in thetas]
                return naive_window_output(th, S0, xw, beta) * n**beta

            gw, gb = (np.asarray(g) for g in jax.grad(f, argnums=(0, 1))(jnp.zeros((n, d)), jnp.zeros(n)))
        lr = alpha * n ** (beta - 2) * err
        c, w, b = c + lr * s, w + lr * gw, b + lr * gb
        S = s
    return c, w, b

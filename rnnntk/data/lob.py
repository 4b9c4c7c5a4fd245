"""A synthetic limit order book: a zero-intelligence queue model with Poisson-like events per step.

The book holds ``levels`` price levels on each side of a one-tick price grid: bid queues
``Qb[0..L-1]`` at prices ``pb, pb - 1, ...`` and ask queues ``Qa[0..L-1]`` at ``pa, pa + 1, ...``
(``pa - pb >= 1`` is the spread in ticks; depths in units of one order). One step is a short
interval in which, in this order:

1. cancellations: each resting order is cancelled with probability ``cancel`` (binomial thinning,
   by inversion of the binomial CDF);
2. limit orders: ``Poisson(limit_rate * decay^i)`` new orders join level ``i`` of each side
   (Poisson counts by inversion of the CDF, `poisson_inverse`);
3. market orders: ``Poisson(market_rate)`` units of buy (sell) volume execute against the asks
   (bids), best level first, walking deeper when a level empties;
4. repair: while the best level of a side is empty the side shifts one tick away from the mid (the
   best price moves) and a level enters the window from beyond it with ``1 + Poisson(refill)``
   orders;
5. price improvement: if the spread is wider than one tick, ``Poisson(inside_rate)`` orders
   (if any) open a new best bid one tick inside the spread, then likewise a new best ask if the
   spread is still wider than one tick (which side goes first is a fair coin per step).

Steps 4 and 5 keep the book uncrossed (``pa > pb``) with non-empty best levels. The features
observed at the end of step ``k`` (``X_k``, ``d = 4``) are

- ``ofi``: order-flow imbalance of the step (Cont, Kukanov and Stoikov 2014) from the best quotes
  before (``pb, qb, pa, qa``) and after (primes)::

      e = 1[pb' >= pb] qb' - 1[pb' <= pb] qb - 1[pa' <= pa] qa' + 1[pa' >= pa] qa

  divided by ``ofi_scale``;
- ``spread``: ``pa - pb - 1`` (ticks beyond the minimum);
- ``imbalance``: ``(qb - qa) / (qb + qa)`` at the best levels, in ``(-1, 1)``;
- ``ret``: the last mid-price move ``m_k - m_{k-1}`` (ticks), ``m = (pa + pb) / 2``;

and the target is the next mid-price move ``Y_k = m_{k+1} - m_k`` (ticks, a multiple of 1/2).
The relative book (spread and queues) is a Markov chain; a ``burn`` of steps from a book with
random depths precedes the returned path so that it starts near stationarity. The draws that do not depend
on the book are made for all steps at once; the book itself is one `jax.lax.scan` (jittable,
vmappable over keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._checks import check_nonnegative_int, check_positive, check_positive_int, require
from .sources import Source

Array = jax.Array

FEATURES = ("ofi", "spread", "imbalance", "ret")


@dataclass(frozen=True)
class LOB(Source):
    """Parameters of the synthetic order book (see the module docstring)."""

    levels: int = 5
    limit_rate: float = 1.2
    decay: float = 0.8
    cancel: float = 0.15
    market_rate: float = 1.5
    inside_rate: float = 0.6
    refill: float = 4.0
    ofi_scale: float = 5.0
    burn: int = 500
    lag = 0  # the target is the book's own: no lags drawn before the path
    own_targets = True

    def __post_init__(self):
        check_positive_int(self.levels, "data.levels")
        for f in ("limit_rate", "market_rate", "inside_rate", "ofi_scale"):
            check_positive(getattr(self, f), f"data.{f}")
        require(0.0 < float(self.decay) <= 1.0, "data.decay", self.decay, "a number in (0, 1]")
        require(0.0 < float(self.cancel) < 1.0, "data.cancel", self.cancel, "a probability in (0, 1)")
        require(float(self.refill) >= 0.0, "data.refill", self.refill, "a number >= 0")
        check_nonnegative_int(self.burn, "data.burn")

    @property
    def dim(self) -> int:
        return len(FEATURES)

    def input_dim(self, dim: int) -> int:
        return self.dim

    def dataset(self, key, length, *, dim, target, dtype):
        """Features and next mid-price moves of a simulated book (`sample_lob`)."""
        return sample_lob(key, self, length, dtype)

    def forecasting_split(self, key, *, length: int, split: float):
        """``length`` simulated steps, standardised with the first ``floor(split length)`` of them
        (the training part) and split there (`rnnntk.data.realdata.standardise_split`)."""
        import math

        import numpy as np

        from .realdata import standardise_split

        X, Y = sample_lob(key, self, length, jnp.float64)
        return standardise_split(np.asarray(X), np.asarray(Y), int(math.floor(split * length)))


class Book(NamedTuple):
    """The book after a step (leading axis: steps when returned by `simulate_book`)."""

    pb: Array  # best bid price (ticks)
    pa: Array  # best ask price
    Qb: Array  # [L] bid depths from the best level outwards
    Qa: Array  # [L] ask depths


def _walk(Q, v):
    """Execute volume ``v`` against queues ``Q`` best level first; returns the remaining queues."""
    before = jnp.cumsum(Q) - Q  # volume ahead of each level
    return Q - jnp.clip(v - before, 0.0, Q)


def _repair(Q, p, refills, sign):
    """Shift the side away from the mid while its best level is empty (at most L times)."""

    def body(j, qp):
        Q, p = qp
        empty = Q[0] <= 0
        shifted = jnp.concatenate([Q[1:], refills[j][None]])
        return jnp.where(empty, shifted, Q), p + jnp.where(empty, sign, 0)

    return jax.lax.fori_loop(0, Q.shape[0], body, (Q, p))


def _improve(Q, p, n, other, sign):
    """Open a new best level one tick inside the spread with ``n`` orders, if ``n > 0`` and the
    spread is wider than one tick (``sign = +1`` for bids, ``-1`` for asks)."""
    ok = (n > 0) & (jnp.abs(other - p) > 1)
    inserted = jnp.concatenate([n[None], Q[:-1]])
    return jnp.where(ok, inserted, Q), p + jnp.where(ok, sign, 0)


#: cancellation counts are drawn by inverting the binomial CDF over this many terms: exact unless
#: more than this many orders of one level cancel in one step (probability below 1e-20 at depths
#: up to 100 with cancel <= 0.2)
CANCEL_TERMS = 64


class Noise(NamedTuple):
    """The random draws of one step (drawn for all steps at once, outside the scan)."""

    u_cancel: Array  # [2, L] uniforms for the binomial cancellation counts
    arrivals: Array  # [2, L] Poisson limit orders per level
    market: Array  # [2]    Poisson market-order volume (sell hits bids, buy hits asks)
    refill: Array  # [2, L] 1 + Poisson depths of levels entering the window
    inside: Array  # [2]    Poisson orders inside the spread
    bid_first: Array  # []  which side improves first


def poisson_inverse(u: Array, lam: float) -> Array:
    """``Poisson(lam)`` counts by inversion of the CDF at uniforms ``u`` (any shape).

    The CDF is summed over ``lam + 12 sqrt(lam) + 25`` terms, so a count is exact unless it
    exceeds that (tail probability below 1e-15). Vectorised, with no data-dependent loops.
    """
    lam = float(lam)
    terms = int(lam + 12.0 * lam**0.5 + 25)
    j = jnp.arange(terms, dtype=u.dtype)
    logpmf = j * jnp.log(jnp.asarray(max(lam, 1e-300), u.dtype)) - lam - jax.scipy.special.gammaln(j + 1)
    cdf = jnp.cumsum(jnp.exp(logpmf))
    return jnp.searchsorted(cdf, u, side="left").astype(u.dtype)  # #{j : cdf_j < u}


def draw_noise(key: Array, source: LOB, steps: int, dtype) -> Noise:
    """The draws of ``steps`` steps, vectorised (leading axis ``[steps]``)."""
    L = source.levels
    ks = jax.random.split(key, 6)
    unif = lambda k, shape: jax.random.uniform(k, shape, dtype)  # noqa: E731
    rates = [source.limit_rate * source.decay**i for i in range(L)]
    ua = unif(ks[1], (steps, 2, L))
    arrivals = jnp.stack([poisson_inverse(ua[..., i], r) for i, r in enumerate(rates)], axis=-1)
    return Noise(
        unif(ks[0], (steps, 2, L)),
        arrivals,
        poisson_inverse(unif(ks[2], (steps, 2)), source.market_rate),
        1.0 + poisson_inverse(unif(ks[3], (steps, 2, L)), source.refill),
        poisson_inverse(unif(ks[4], (steps, 2)), source.inside_rate),
        jax.random.bernoulli(ks[5], 0.5, (steps,)),
    )


def _binomial(u, n, p):
    """``Binomial(n, p)`` by inversion of its CDF at the uniforms ``u`` (``CANCEL_TERMS`` terms;
    the pmf by the recurrence ``pmf_{j+1} = pmf_j (n - j) p / ((j + 1) (1 - p))``)."""
    j = jnp.arange(CANCEL_TERMS - 1, dtype=u.dtype).reshape((1,) * n.ndim + (-1,))
    ratio = jnp.maximum(n[..., None] - j, 0.0) / (j + 1.0) * (p / (1.0 - p))
    pmf0 = jnp.power(1.0 - p, n)[..., None]
    pmf = pmf0 * jnp.concatenate([jnp.ones_like(pmf0), jnp.cumprod(ratio, axis=-1)], axis=-1)
    cdf = jnp.cumsum(pmf, axis=-1)
    return jnp.minimum(jnp.sum(cdf < u[..., None], axis=-1).astype(u.dtype), n)


def _step(src: LOB, book: Book, z: Noise):
    dt = book.Qb.dtype
    Q = jnp.stack([book.Qb, book.Qa])
    Q = Q - _binomial(z.u_cancel, Q, jnp.asarray(src.cancel, dt))
    Q = Q + z.arrivals
    Qb, Qa = _walk(Q[0], z.market[0]), _walk(Q[1], z.market[1])
    Qb, pb = _repair(Qb, book.pb, z.refill[0], -1)
    Qa, pa = _repair(Qa, book.pa, z.refill[1], +1)
    Qb1, pb1 = _improve(Qb, pb, z.inside[0], pa, +1)
    Qa1, pa1 = _improve(Qa, pa, z.inside[1], pb1, -1)
    Qa2, pa2 = _improve(Qa, pa, z.inside[1], pb, -1)
    Qb2, pb2 = _improve(Qb, pb, z.inside[0], pa2, +1)
    Qb, pb = jnp.where(z.bid_first, Qb1, Qb2), jnp.where(z.bid_first, pb1, pb2)
    Qa, pa = jnp.where(z.bid_first, Qa1, Qa2), jnp.where(z.bid_first, pa1, pa2)
    new = Book(pb, pa, Qb, Qa)
    qb0, qa0, qb1, qa1 = book.Qb[0], book.Qa[0], Qb[0], Qa[0]
    ofi = (
        jnp.where(pb >= book.pb, qb1, 0.0)
        - jnp.where(pb <= book.pb, qb0, 0.0)
        - jnp.where(pa <= book.pa, qa1, 0.0)
        + jnp.where(pa >= book.pa, qa0, 0.0)
    )
    ret = 0.5 * ((pa + pb) - (book.pa + book.pb)).astype(dt)
    x = jnp.stack([ofi / src.ofi_scale, (pa - pb - 1).astype(dt), (qb1 - qa1) / (qb1 + qa1), ret])
    return new, (new, x)


@partial(jax.jit, static_argnames=("source", "length", "dtype"))
def simulate_book(key: Array, source: LOB, length: int, dtype=jnp.float32) -> tuple[Book, Array]:
    """Run the book for ``burn + length`` steps; returns the books after and the features of the
    last ``length`` steps: `Book` with leading axis ``[length]`` and ``X [length, 4]``."""
    k0, k1, k2 = jax.random.split(key, 3)
    L = source.levels
    depth = 1.0 + jax.random.poisson(k0, source.refill, (2, L)).astype(dtype)
    book = Book(jnp.zeros((), jnp.int32), jnp.ones((), jnp.int32), depth[0], depth[1])
    if source.burn:
        book, _ = jax.lax.scan(
            lambda b, z: (_step(source, b, z)[0], None), book, draw_noise(k1, source, source.burn, dtype)
        )
    _, (books, X) = jax.lax.scan(partial(_step, source), book, draw_noise(k2, source, length, dtype))
    return books, X


def sample_lob(key: Array, source: LOB, length: int, dtype=jnp.float32) -> tuple[Array, Array]:
    """Features ``X [length, 4]`` and targets ``Y [length]``: ``Y_k`` is the mid-price move of step
    ``k + 1`` (one extra step is simulated)."""
    books, X = simulate_book(key, source, length + 1, dtype)
    mid = 0.5 * (books.pa + books.pb).astype(dtype)
    return X[:length], mid[1:] - mid[:-1]

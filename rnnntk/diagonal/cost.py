"""What a convergence study will cost, printed before it runs (`rnnntk.diagonal.study.run_study`).

Three numbers, from the sizes alone (no array is built):

- **unit-steps**: the network work, ``sum over estimators, widths N, seeds and grid points
  (alpha, beta) of N x (steps run)``, the steps run being the frozen burn-in chunks and the training
  chunks of `rnnntk.diagonal.study.chunk_layout` (padding included), plus the evaluations with frozen
  parameters at ``t = 0`` and after every chunk (``Q + burn`` steps each; they dominate at small
  widths, the training at large ones). One unit-step is one hidden unit's
  memory, sensitivity and parameter update: about ``10 (2 + d)`` flops for ``rtrl`` and ``tau``
  times more sensitivity work for ``tbptt:tau``.
- **limit flops**: the limit's arithmetic per estimator. Law ``path``: the moment pass,
  ``2 F^2`` per history (``4 F^2`` for ``tbptt``: ``Psi^T Phi`` and ``Phi^T Phi``), plus
  ``(1 + batches)`` ``F x F`` eigendecompositions (``10 F^3`` each) per alpha. Law ``histories``:
  per bag a ``P x P`` kernel over ``F`` features (``2 P^2 F``, twice with a cross kernel) and one
  ``P x P`` eigendecomposition per alpha. ``F = (2 + d) x nodes`` with the default node rule
  (`rnnntk.diagonal.limit_path.DEFAULT_NODES`; the histories law's adaptive rule is approximated by it).
- **peak memory**: the larger of the training ensemble (parameters, memory, sensitivities and the
  per-seed data paths) and the limit's arrays, in bytes.

The estimates count the dominant terms only; the README's scale table compares them with
measured times.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chunks import chunk_layout
from .limit_path import DEFAULT_NODES, DEFAULT_PATH_SAMPLES, ODD_ACTIVATIONS
from .network import parse_grad

#: flops of one ``F x F`` symmetric or general eigendecomposition, in units of ``F^3``
EIG_FLOPS = 10.0


@dataclass(frozen=True)
class StudyCost:
    unit_steps: float  # sum over estimators, widths, seeds and grid points of N x steps run (with evaluations)
    limit_flops: float  # the limit's arithmetic over all estimators
    peak_bytes: float  # the larger of the training ensemble and the limit's arrays
    features: int  # F of the limit (law "path") or of its node rule (law "histories")

    def describe(self) -> str:
        return (
            f"estimated cost: {self.unit_steps:.3g} unit-steps (training and evaluation), "
            f"{self.limit_flops:.3g} limit flops (F = {self.features} features), "
            f"peak memory {self.peak_bytes / 2**20:.0f} MiB"
        )


def limit_features(dim: int, *, method: str, activation: str, n_w=None, n_b=None, samples=None) -> int:
    """``F = (2 + d) x nodes`` of the path limit's node rule (`rnnntk.diagonal.limit_path.path_nodes`):
    quadrature ``n_w^d n_b`` nodes (about half after folding for an odd activation), else
    ``samples`` Monte Carlo nodes."""
    if method == "monte_carlo" or dim > 2:
        nodes = int(samples or DEFAULT_PATH_SAMPLES)
    else:
        dn_w, dn_b = DEFAULT_NODES[dim]
        nodes = int(n_w or dn_w) ** dim * int(n_b or dn_b)
        if activation in ODD_ACTIVATIONS:
            nodes = -(-nodes // 2)
    return (2 + dim) * nodes


def study_cost(spec) -> StudyCost:
    """`StudyCost` of a `rnnntk.diagonal.study.StudySpec`."""
    d, S, G = spec.dim, spec.seeds, len(spec.grid)
    kw = spec.limit_kw
    F = limit_features(
        d,
        method=kw.get("method", "quadrature"),
        activation=spec.model_kw["activation"],
        n_w=kw.get("n_w"),
        n_b=kw.get("n_b"),
        samples=spec.limit_options.path_samples if spec.law == "path" else kw.get("samples"),
    )
    fbytes = 8 if spec.precision == "float64" else 4
    units = flops = 0.0
    train_bytes = limit_bytes = 0.0
    A = len(spec.alphas)
    for grad in spec.grads:
        est = parse_grad(grad, allow_bptt=False)
        tau = est.tau if est.kind == "tbptt" else 0
        lmax = 0
        for n in spec.widths:
            _, L, burn_chunks = chunk_layout(spec.T, n, spec.chunks, spec.train_burn)
            steps = L * (spec.chunks + burn_chunks)
            lmax = max(lmax, steps)
            units += n * (steps + (spec.chunks + 1) * (spec.n_eval + spec.limit_burn)) * S * G
            # parameters (w, b, c), memory S, sensitivities (Jw, Jb) and tbptt's truncation buffers
            per_unit = (2 * d + 4) + tau * (d + 1)
            train_bytes = max(train_bytes, S * G * n * per_unit * fbytes)
        train_bytes += S * lmax * (d + 1) * fbytes  # the per-seed data paths
        if spec.law == "path":
            mats = 1 if est.kind == "rtrl" else 2
            flops += (spec.path_length + spec.limit_burn) * 2.0 * mats * F**2
            flops += A * (1 + spec.batches) * EIG_FLOPS * F**3
            limit_bytes = max(limit_bytes, 8.0 * F**2 * (mats * spec.batches + 4) + 8.0 * 4096 * F * (4 + 2 * mats))
        else:
            M = spec.bags if spec.bags > 1 else 1 + int(spec.floor)
            P, Q = spec.P, spec.n_eval
            flops += M * (2.0 * P * P * F + (2.0 * Q * P * F if spec.bags > 1 or spec.floor else 0.0))
            flops += A * M * EIG_FLOPS * P**3
            limit_bytes = max(limit_bytes, 8.0 * (M * (P * P + Q * P) + 3 * P * P))
    return StudyCost(float(units), float(flops), float(max(train_bytes, limit_bytes)), int(F))


def seconds(cost: StudyCost, *, unit_steps_per_s: float, flops_per_s: float) -> float:
    """Wall time of ``cost`` at the given throughputs (for a scale's sizing)."""
    return cost.unit_steps / unit_steps_per_s + cost.limit_flops / flops_per_s


__all__ = ["StudyCost", "limit_features", "seconds", "study_cost"]

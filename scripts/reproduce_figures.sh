#!/usr/bin/env bash
# Reproduce every figure of the kernel-limit study, one command each.
#   scripts/reproduce_figures.sh            # quick scale (CPU, minutes each)
#   scripts/reproduce_figures.sh paper      # paper scale (GPU-sized widths and seeds)
# Extra arguments are passed to every run, e.g. logger=none or launcher=slurm.
# Outputs: outputs/<experiment>/<scale>/ (figures/, results.json, tables/, wandb/).
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-quick}"
shift || true
RNNNTK="${RNNNTK:-.venv/bin/rnnntk}"
for experiment in kernel memory convergence loss_curves beta_phase estimators; do
  echo "== ${experiment} (scale=${scale})"
  start=$(date +%s)
  "${RNNNTK}" experiment="${experiment}" scale="${scale}" "$@"
  echo "== ${experiment}: $(( $(date +%s) - start )) s"
done

#!/usr/bin/env bash
# Reproduce the figures, one command each, and print the wall time of each.
#   scripts/reproduce_figures.sh            # the six kernel-limit figures at quick scale (CPU)
#   scripts/reproduce_figures.sh paper      # the same at paper scale (GPU-sized widths and seeds)
#   EXPERIMENTS=all scripts/reproduce_figures.sh        # every experiment config
#   EXPERIMENTS="memory kernel" scripts/reproduce_figures.sh
# Extra arguments are passed to every run, e.g. logger=none or launcher=slurm.
# Outputs: outputs/<experiment>/<scale>/ (figures/, results.json, tables/, wandb/).
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-quick}"
shift || true
RNNNTK="${RNNNTK:-.venv/bin/rnnntk}"
experiments="${EXPERIMENTS:-kernel memory convergence loss_curves beta_phase estimators}"
if [ "${experiments}" = all ]; then
  experiments=$(ls configs/experiment | sed -n 's/\.yaml$//p' | tr '\n' ' ')
fi
for experiment in ${experiments}; do
  echo "== ${experiment} (scale=${scale})"
  start=$(date +%s)
  "${RNNNTK}" experiment="${experiment}" scale="${scale}" "$@"
  echo "== ${experiment}: $(( $(date +%s) - start )) s"
done

#!/usr/bin/env bash
# The online-training table and its roofline (scripts/bench.py) on whatever device JAX finds:
# a GPU when jax[cuda12] is installed and one is visible (the Docker image, or
# `pip install -r requirements/lock-py312-cuda.txt`), otherwise the CPU.
#
#   scripts/bench_gpu.sh                 # quick table, d = 1 and 8, widths 10^3 .. 10^6, and float64
#   scripts/bench_gpu.sh --json gpu.json # extra arguments go to scripts/bench.py
#
# On a GPU the rates are per wall-clock second (CPU time says nothing about the device), the
# probes (pass bandwidth, tanh and FMA rates) run on the device, and widths go up to 10^6, where a
# step is no longer dominated by the launch of its kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
"$PY" - <<'PYEOF'
import jax

d = jax.devices()
print(f"device: {d[0].platform} {d[0].device_kind} ({len(d)} visible: {d})", flush=True)
PYEOF
exec "$PY" scripts/bench.py --quick --table-only --float64 --widths 1000,16000,100000,1000000 --dims 1,8 "$@"

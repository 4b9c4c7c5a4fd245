"""SLURM launching: clear messages when the cluster rejects a job's resources.

`explain_sbatch_error(text)` turns sbatch's refusal (as submitit reports it in its FailedJobError)
into a message naming the `hydra.launcher` field to change and the launcher preset to use.
`SlurmPreflight`, a Hydra callback that the `launcher=slurm` and `launcher=slurm_gpu` presets
install, asks `sbatch --test-only` before anything is submitted, so a request the cluster cannot
grant stops with that message instead of a traceback from deep inside submitit.
"""

from __future__ import annotations

from typing import Any

from .._checks import RunError

# (fragment of sbatch's error, lower case) -> what to change
_HINTS = [
    (
        "invalid generic resource",
        "the cluster has no such generic resource (GPU): hydra.launcher.gpus_per_node / hydra.launcher.gres "
        "ask for one. On a cluster without GPUs use launcher=slurm (CPU only); on a GPU cluster pick its GPU "
        "partition with hydra.launcher.partition=<name>, or name the GPU type with "
        "hydra.launcher.gres=gpu:<type>:1 hydra.launcher.gpus_per_node=null (`sinfo -o '%P %G'` lists them)",
    ),
    (
        "requested node configuration is not available",
        "no node has the CPUs, memory or GPUs asked for: lower hydra.launcher.cpus_per_task, "
        "hydra.launcher.mem_gb or hydra.launcher.gpus_per_node (`sinfo -o '%P %c %m %G'` lists the nodes)",
    ),
    (
        "memory specification can not be satisfied",
        "no node has hydra.launcher.mem_gb of memory: lower it (`sinfo -o '%P %m'` lists the nodes' memory)",
    ),
    (
        "invalid partition",
        "hydra.launcher.partition names no partition of this cluster (`sinfo -s` lists them)",
    ),
    (
        "invalid account",
        "hydra.launcher.account is not an account of yours on this cluster (`sacctmgr show assoc user=$USER`)",
    ),
    (
        "requested time limit is invalid",
        "hydra.launcher.timeout_min exceeds the partition's time limit (`sinfo -o '%P %l'` lists the limits)",
    ),
    (
        "invalid qos",
        "hydra.launcher.qos is not a QOS of this cluster or account",
    ),
]


def explain_sbatch_error(text: str) -> str | None:
    """A message for a submission that sbatch refused, naming the setting to change; None if unknown."""
    low = text.lower()
    for fragment, hint in _HINTS:
        if fragment in low:
            first = next((ln.strip() for ln in text.splitlines() if fragment in ln.lower()), text.strip())
            return f"SLURM refused the jobs ({first}): {hint}"
    return None


# hydra.launcher field -> sbatch flag (hydra-submitit-launcher's SlurmQueueConf)
_FLAGS = {
    "partition": "partition",
    "qos": "qos",
    "account": "account",
    "constraint": "constraint",
    "exclude": "exclude",
    "gres": "gres",
    "nodes": "nodes",
    "tasks_per_node": "ntasks-per-node",
    "cpus_per_task": "cpus-per-task",
    "gpus_per_node": "gpus-per-node",
    "gpus_per_task": "gpus-per-task",
    "cpus_per_gpu": "cpus-per-gpu",
    "mem_per_gpu": "mem-per-gpu",
    "mem_per_cpu": "mem-per-cpu",
    "timeout_min": "time",
}


def sbatch_test_args(launcher: Any) -> list[str]:
    """`sbatch --test-only` arguments asking for the resources of a `hydra.launcher` config."""
    args = ["sbatch", "--test-only"]
    for field, flag in _FLAGS.items():
        value = launcher.get(field)
        if value is not None:
            args.append(f"--{flag}={value}")
    if launcher.get("mem_gb") is not None:
        args.append(f"--mem={launcher.get('mem_gb')}G")
    for key, value in (launcher.get("additional_parameters") or {}).items():
        args.append(f"--{str(key).replace('_', '-')}={value}")
    return [*args, "--wrap", "true"]


def check_slurm_resources(launcher: Any) -> None:
    """Ask sbatch whether the cluster can run a job with these resources; `RunError` naming the setting if not."""
    import shutil
    import subprocess

    if shutil.which("sbatch") is None:
        raise RunError("launcher=slurm needs SLURM's sbatch on PATH (run the sweep from a cluster login node)")
    try:
        r = subprocess.run(sbatch_test_args(launcher), capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise RunError("sbatch --test-only did not answer within 60 s: is the SLURM controller up? (sinfo)") from None
    if r.returncode != 0:
        text = (r.stderr or r.stdout).strip()
        raise RunError(explain_sbatch_error(text) or f"SLURM refused the jobs' resources (hydra.launcher.*): {text}")


try:
    from hydra.experimental.callback import Callback as _Callback
except ImportError:  # pragma: no cover
    _Callback = object


class SlurmPreflight(_Callback):
    """Hydra callback of the SLURM launcher presets: before any job is submitted, `sbatch --test-only`
    checks the resources; a refusal prints a message naming the `hydra.launcher` field and exits (2)."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        import sys

        try:
            check_slurm_resources(config.hydra.launcher)
        except RunError as e:
            print(f"launcher error: {e}", file=sys.stderr, flush=True)
            sys.exit(2)

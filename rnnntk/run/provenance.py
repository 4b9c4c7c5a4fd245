"""What produced a result: the settings that determine its numbers, their fingerprint, and the
software and hardware it ran on.

A *fingerprint* is the SHA-256 of the canonical JSON (sorted keys, no whitespace) of a dict of
settings. `settings(cfg)` is the run's dict: the resolved configuration without the keys that do
not change numbers (`EXCLUDED`: loggers, launchers, progress bars, paths, resuming), plus the
versions of the libraries whose upgrade can change a seed's numbers (`versions()`). Every cached
stage and checkpoint stores the fingerprint of the settings it depends on, so a run directory
reused with other settings recomputes instead of reporting stale numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from importlib import metadata
from typing import Any

#: top-level config keys that never change a run's numbers
EXCLUDED = (
    "logger",
    "launcher",
    "progress",
    "resume",
    "out_root",
    "out_dir",
    "compile_cache",
    "hydra",
    "meta",
)
#: keys below ``experiment`` that only select other values (the preset tables)
EXCLUDED_EXPERIMENT = ("scales",)
#: packages whose version can change the numbers of a seed
NUMERIC_PACKAGES = ("jax", "jaxlib", "numpy", "rnnntk")
#: packages recorded (not fingerprinted) next to the results
RECORDED_PACKAGES = (*NUMERIC_PACKAGES, "hydra-core", "omegaconf", "wandb", "matplotlib", "diffrax", "equinox")


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def versions(packages=NUMERIC_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (None when not installed)."""
    return {p: _version(p) for p in packages}


def settings(cfg) -> dict[str, Any]:
    """The resolved settings of ``cfg`` that determine numbers, with the numeric library versions
    under ``versions``."""
    from omegaconf import DictConfig, OmegaConf

    d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    d = {k: v for k, v in d.items() if k not in EXCLUDED}
    if isinstance(d.get("experiment"), dict):
        d["experiment"] = {k: v for k, v in d["experiment"].items() if k not in EXCLUDED_EXPERIMENT}
    path = (d.get("data") or {}).get("path") if isinstance(d.get("data"), dict) else None
    if path and os.path.isfile(str(path)):  # a user's file: its content, not its name, gives the numbers
        d["data_sha256"] = file_digest(str(path))
    d["versions"] = versions()
    return d


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (a user's data file can change under the same name)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _numbers_as_floats(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _numbers_as_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_numbers_as_floats(v) for v in obj]
    if isinstance(obj, int) and not isinstance(obj, bool):
        return float(obj)  # training.alpha=2 and 2.0 give the same numbers
    return obj


def canonical(obj: Any) -> str:
    """Sorted keys, no whitespace, integers as floats."""
    return json.dumps(_numbers_as_floats(obj), sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(obj: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": v}`` for nested dicts (lists are leaves)."""
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differences(old: dict, new: dict) -> list[str]:
    """``["training.alpha: 2.0 -> 5.0", ...]`` between two settings dicts."""
    a, b = flatten(old), flatten(new)
    out = []
    for k in sorted(set(a) | set(b)):
        if canonical(a.get(k, "<unset>")) != canonical(b.get(k, "<unset>")):
            out.append(f"{k}: {a.get(k, '<unset>')} -> {b.get(k, '<unset>')}")
    return out


def without(d: dict, *paths: str) -> dict:
    """A copy of nested dict ``d`` without the dotted ``paths``."""
    d = json.loads(canonical(d))
    for p in paths:
        *head, last = p.split(".")
        node = d
        for h in head:
            node = node.get(h) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(last, None)
    return d


def git_revision(path: str | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding the package, or None."""
    path = path or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        if not commit:
            return None
        status = subprocess.run(
            ["git", "-C", path, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def devices() -> list[str]:
    import jax

    return [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()]


def record(cfg) -> dict[str, Any]:
    """Provenance of a run: fingerprint, package versions, git revision, devices."""
    return {
        "fingerprint": fingerprint(settings(cfg)),
        "versions": versions(RECORDED_PACKAGES),
        "git": git_revision(),
        "devices": devices(),
    }

"""Validation helpers: every bad input is reported by field name with the allowed values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A configuration value or an input array is outside what the model allows."""


class RunError(RuntimeError):
    """A run cannot go on for a reason the user can act on (training diverged, a stored file is
    damaged, an output directory is unwritable). The message names what failed and the setting
    or flag that fixes it; the ``rnnntk`` command prints it without a traceback and exits 1."""


def require(ok: bool, field: str, value: Any, allowed: str) -> None:
    """Raise `ConfigError` naming `field`, its `value` and the `allowed` values unless `ok`."""
    if not ok:
        raise ConfigError(f"{field} = {value!r} is not allowed: expected {allowed}")


def check_beta(beta: float, field: str = "beta") -> float:
    require(_is_real(beta) and 0.5 <= float(beta) <= 1.0, field, beta, "a number in [1/2, 1]")
    return float(beta)


def check_positive(value: Any, field: str) -> float:
    require(_is_real(value) and float(value) > 0.0, field, value, "a finite number > 0")
    return float(value)


def check_nonnegative_int(value: Any, field: str) -> int:
    require(_is_int(value) and int(value) >= 0, field, value, "an integer >= 0")
    return int(value)


def check_positive_int(value: Any, field: str) -> int:
    require(_is_int(value) and int(value) >= 1, field, value, "an integer >= 1")
    return int(value)


def check_finite_array(x: Any, field: str) -> None:
    """Raise if a concrete array holds NaN or inf (skipped for traced values)."""
    try:
        arr = np.asarray(x)
    except Exception:  # a tracer: checked by the caller outside jit
        return
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ConfigError(f"{field} holds {bad} non-finite value(s) (NaN or inf); expected finite numbers")


def _is_real(v: Any) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return math.isfinite(f) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    return isinstance(v, float) and v.is_integer()

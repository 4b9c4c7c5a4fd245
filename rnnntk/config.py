"""From a composed configuration to validated objects, before anything is compiled.

`validate(cfg)` checks every field a run will use and raises `ConfigError` naming the field and
the allowed values; builders turn config groups into the library's objects.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from ._checks import (
    check_beta,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    require,
)
from .data import SOURCES, TARGETS, build_source, build_target
from .network import check_contraction, get_activation, parse_grad

LOGGERS = ("wandb", "none")
PRECISIONS = ("float32", "float64")


def as_list(v) -> list:
    """A scalar or a list/ListConfig as a Python list."""
    if v is None:
        return []
    if isinstance(v, (str, int, float)):
        return [v]
    return list(v)


def _plain(node) -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True) if not isinstance(node, dict) else dict(node)


def build_data(cfg):
    """``(source, target, dim)`` from ``cfg.data`` and ``cfg.target``."""
    d = _plain(cfg.data)
    name = d.pop("source", None)
    require(name in SOURCES, "data.source", name, f"one of {sorted(SOURCES)}")
    dim = d.pop("dim", 1)
    source = build_source(name, **d)
    t = _plain(cfg.target)
    tname = t.pop("name", None)
    require(tname in TARGETS, "target.name", tname, f"one of {sorted(TARGETS)}")
    target = build_target(tname, **t)
    if name == "npz":
        import numpy as np

        X, _ = source.load()
        dim = int(np.shape(X)[1])
    elif name in ("real", "lob"):  # the series or the book fixes the input dimension
        dim = source.dim
    return source, target, check_positive_int(dim, "data.dim")


def model_kwargs(cfg) -> dict[str, Any]:
    """Keyword arguments of `init_params` from ``cfg.model``."""
    m = cfg.model
    return dict(b0=float(m.b0), s_w=float(m.s_w), c_dist=str(m.c_dist), activation=str(m.activation))


def validate(cfg) -> None:
    """Check the common groups and the experiment's own fields (its optional ``validate``)."""
    build_data(cfg)
    m = cfg.model
    get_activation(str(m.activation))
    check_contraction(m.b0, str(m.activation))
    check_positive(m.s_w, "model.s_w")
    require(str(m.c_dist) in ("rademacher", "normal"), "model.c_dist", m.c_dist, '"rademacher" or "normal"')

    tr = cfg.training
    for g in as_list(tr.grad):
        parse_grad(str(g), allow_bptt=False)
    for b in as_list(tr.beta):
        check_beta(b, "training.beta")
    for a in as_list(tr.alpha):
        check_positive(a, "training.alpha")
    check_positive(tr.T, "training.T")
    check_positive_int(tr.chunks, "training.chunks")
    check_nonnegative_int(tr.burn, "training.burn")
    require(str(cfg.precision) in PRECISIONS, "precision", cfg.precision, f"one of {list(PRECISIONS)}")

    lim = cfg.limit
    require(
        str(lim.method) in ("quadrature", "monte_carlo", "auto"),
        "limit.method",
        lim.method,
        '"quadrature", "monte_carlo" or "auto"',
    )
    check_positive_int(lim.P, "limit.P")
    check_nonnegative_int(lim.burn, "limit.burn")
    if str(lim.method) == "quadrature":
        _, _, dim = build_data(cfg)
        require(dim <= 2, "data.dim", dim, "d <= 2 with limit=quadrature (use limit=monte_carlo)")
    if lim.get("samples") is not None:
        check_positive_int(lim.samples, "limit.samples")

    sw = cfg.sweep
    widths = as_list(sw.widths)
    require(len(widths) >= 1, "sweep.widths", widths, "a non-empty list of integers >= 1")
    for w in widths:
        check_positive_int(w, "sweep.widths")
    require(len(set(widths)) == len(widths), "sweep.widths", widths, "distinct widths")
    check_positive_int(sw.seeds, "sweep.seeds")

    lg = cfg.logger
    require(str(lg.name) in LOGGERS, "logger.name", lg.name, f"one of {list(LOGGERS)}")

    mod = experiment_module(cfg)
    if hasattr(mod, "validate"):
        mod.validate(cfg)


def experiment_module(cfg):
    """The module ``rnnntk.experiments.<cfg.experiment.name>``."""
    name = cfg.experiment.get("name") if cfg.get("experiment") is not None else None
    available = list_experiments()
    require(name in available, "experiment", name, f"one of {available}")
    return importlib.import_module(f"rnnntk.experiments.{name}")


def list_experiments() -> list[str]:
    import rnnntk.experiments as ex

    folder = os.path.dirname(ex.__file__)
    return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))

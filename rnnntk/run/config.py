"""From a composed configuration to validated objects, before anything is compiled.

`validate(cfg)` checks every field a run will use and raises `ConfigError` naming the field and
the allowed values; builders turn config groups into the library's objects.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .._checks import ConfigError, check_beta, check_nonnegative_int, check_positive, check_positive_int, require
from .._model import check_limit_fields
from ..data.dataset import SOURCES, TARGETS, build_source, build_target
from ..diagonal.network import ACTIVATIONS, parse_grad

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
    _check_missing(cfg.data, "data")
    d = _plain(cfg.data)
    name = d.pop("source", None)
    require(name in SOURCES, "data.source", name, f"one of {sorted(SOURCES)}")
    dim = d.pop("dim", 1)
    source = build_source(name, **d)
    t = _plain(cfg.target)
    tname = t.pop("name", None)
    require(tname in TARGETS, "target.name", tname, f"one of {sorted(TARGETS)}")
    target = build_target(tname, **t)
    dim = source.input_dim(dim)  # a file, a series or a book fixes the input dimension
    return source, target, check_positive_int(dim, "data.dim")


def model_from_config(cfg):
    """The `rnnntk.diagonal.DiagonalRNN` of ``cfg.model``: the one place a config becomes a model, so the
    finite networks and the limit of a run read the same hyperparameters."""
    from ..diagonal.model import DiagonalRNN

    m = cfg.model
    return _in_model(
        lambda: DiagonalRNN(b0=float(m.b0), s_w=float(m.s_w), c_dist=str(m.c_dist), activation=str(m.activation))
    )


def elman_from_config(node, *, pool: str | None = None, group: str = "experiment.elman"):
    """The `rnnntk.elman.Elman` of a config node with ``var_w, var_u, var_b, var_v, activation`` (and
    ``param``, ``pool`` when given; ``pool`` overrides the node's)."""
    from ..elman.model import Elman

    kw = {v: float(node[v]) for v in ("var_w", "var_u", "var_b", "var_v")} | {"activation": str(node.activation)}
    if node.get("param") is not None:
        kw["param"] = str(node.param)
    if pool is not None or node.get("pool") is not None:
        kw["pool"] = str(pool if pool is not None else node.pool)
    return _in_model(lambda: Elman(**kw), group, tuple(kw))


def actor_critic_from_config(node, group: str = "experiment.network"):
    """The `rnnntk.actor_critic.ActorCriticModel` of a config node with ``s_w, c_dist, activation``."""
    from ..actor_critic.model import ActorCriticModel

    return _in_model(
        lambda: ActorCriticModel(s_w=float(node.s_w), c_dist=str(node.c_dist), activation=str(node.activation)),
        group,
        ("s_w", "c_dist", "activation"),
    )


def limit_options_from_config(cfg):
    """The `rnnntk.LimitOptions` of ``cfg.limit`` (method, and tol, samples, path_samples, n_w, n_b,
    w_rule when given)."""
    from .._model import LimitOptions

    lim = cfg.limit
    kw: dict[str, Any] = {"method": str(lim.method)}
    casts = {"tol": float, "samples": int, "path_samples": int, "n_w": int, "n_b": int, "w_rule": str}
    for k, cast in casts.items():
        if lim.get(k) is not None:
            kw[k] = cast(lim[k])
    return LimitOptions(**kw)


def _in_model(fn, group: str = "model", fields=("b0", "s_w", "c_dist", "activation")):
    """Build a model; a library message naming a bare field is re-raised as ``<group>.<field>``."""
    try:
        return fn()
    except ConfigError as e:
        msg = str(e)
        for f in fields:
            if msg.startswith(f + " "):
                raise ConfigError(f"{group}.{msg}") from None
        raise


def model_kwargs(cfg) -> dict[str, Any]:
    """Keyword arguments of `init_params` from ``cfg.model`` (those of `model_from_config`)."""
    return model_from_config(cfg).kwargs()


#: the common groups; each experiment lists those it reads in ``experiment.reads``
GROUPS = ("data", "target", "model", "training", "limit", "sweep")
#: top-level keys an override may always set, whatever the experiment reads
ALWAYS = ("experiment", "scale", "seed", "precision", "progress", "resume", "out_root", "compile_cache", "logger",
          "launcher", "hydra", "out_dir")  # fmt: skip
#: keys a group's file leaves out that the code reads when given (``+limit.samples=4096``)
OPTIONAL = {
    "limit": ("samples", "n_w", "n_b", "w_rule", "path_samples"),
    "experiment.distance": ("ode_start",),
    "experiment.long": ("ode_start",),
}
#: subtrees whose keys the builders check themselves (unknown ones are named there): the data
#: sources and targets, real_sequences' datasets, the mean-field initial variances
CHECKED_BY_BUILDERS = ("data", "target", "experiment.datasets", "experiment.init")
#: the fewest histories (limit.P, limit.Q) for a floor or a fit: D_N and the floor are root mean
#: squares over the evaluation histories, and the rms of n roughly Gaussian terms has a relative
#: standard error of about 1/sqrt(2 n): 22% at n = 10 (0.09 in log10 on every point of a fit),
#: 50% at n = 2, and no spread at all at n = 1 (limit.P=1 ran and reported a slope of +1.2).
#: 10 keeps that noise a fraction of a point's value and still allows smoke tests (scale=tiny
#: uses 30).
MIN_HISTORIES = 10
#: what a list field holds, for the message on an empty list
LIST_ITEMS = {
    "training.grad": '"rtrl" or "tbptt:<tau>" estimators',
    "training.alpha": "learning rates > 0",
    "training.beta": "numbers in [1/2, 1]",
    "sweep.widths": "integers >= 1",
}


def experiment_reads(cfg) -> list[str]:
    """The common groups the experiment reads (``experiment.reads``; all of them when absent)."""
    reads = cfg.experiment.get("reads") if cfg.get("experiment") is not None else None
    if reads is None:
        return list(GROUPS)
    reads = [str(g) for g in as_list(reads)]
    for g in reads:
        require(g in GROUPS, "experiment.reads", g, f"a list of groups among {list(GROUPS)}")
    return reads


def validate(cfg) -> None:
    """Check the whole configuration before anything is compiled: the preset of the experiment and
    scale, the command-line overrides (``meta``) against the groups the experiment reads, the
    groups it reads, and the experiment's own fields (its module's optional ``validate``)."""
    mod = experiment_module(cfg)
    reads = experiment_reads(cfg)
    check_overrides(cfg)
    check_preset(cfg)
    check_added_keys(cfg)
    for g in [*reads, "experiment"]:
        _check_missing(cfg[g], g)
        _check_lists(cfg[g], g)
    require(str(cfg.precision) in PRECISIONS, "precision", cfg.precision, f"one of {list(PRECISIONS)}")
    lg = cfg.logger
    require(str(lg.name) in LOGGERS, "logger.name", lg.name, f"one of {list(LOGGERS)}")

    dim = None
    if "data" in reads:
        _, _, dim = build_data(cfg)
    elif "target" in reads:
        t = _plain(cfg.target)
        tname = t.pop("name", None)
        require(tname in TARGETS, "target.name", tname, f"one of {sorted(TARGETS)}")
        build_target(tname, **t)

    if "model" in reads:
        m = cfg.model
        diagonal = sorted(k for k, a in ACTIVATIONS.items() if a.bounded_smooth)  # no relu: see get_activation
        require(
            str(m.activation) in diagonal,
            "model.activation",
            m.activation,
            f"one of {diagonal} (the diagonal network's kernel limit needs a bounded activation with a bounded, "
            "smooth derivative; relu is available in the Elman network and the actor-critic)",
        )
        act = ACTIVATIONS[str(m.activation)]
        b0 = check_positive(m.b0, "model.b0")
        require(
            b0 * act.sup_dsigma < 1.0,
            "model.b0",
            m.b0,
            f"0 < model.b0 < {1.0 / act.sup_dsigma:g} so that b0 * sup|sigma'| < 1 for "
            f"model.activation={act.name} (otherwise the memory map is not a contraction)",
        )
        check_positive(m.s_w, "model.s_w")
        require(str(m.c_dist) in ("rademacher", "normal"), "model.c_dist", m.c_dist, '"rademacher" or "normal"')

    if "training" in reads:
        tr = cfg.training
        for g in as_list(tr.grad):
            _in_group("training", "grad", lambda g=g: parse_grad(str(g), allow_bptt=False))
        for b in as_list(tr.beta):
            check_beta(b, "training.beta")
        for a in as_list(tr.alpha):
            check_positive(a, "training.alpha")
        check_positive(tr.T, "training.T")
        check_positive_int(tr.chunks, "training.chunks")
        check_nonnegative_int(tr.burn, "training.burn")

    if "limit" in reads:
        lim = cfg.limit
        check_limit_fields(lim)  # tol, n_w, n_b, samples, path_samples: the rules of LimitOptions
        require(
            str(lim.method) in ("quadrature", "monte_carlo", "auto"),
            "limit.method",
            lim.method,
            '"quadrature", "monte_carlo" or "auto"',
        )
        law = str(lim.get("law", "histories"))
        require(law in ("path", "histories"), "limit.law", law, '"path" (the long-path limit) or "histories"')
        if law == "path":
            check_positive_int(lim.get("path_length"), "limit.path_length")
            require(
                check_positive_int(lim.get("batches"), "limit.batches") >= 2,
                "limit.batches",
                lim.get("batches"),
                "an integer >= 2 (the floor is the spread between the path's batches)",
            )
        _check_histories(lim.P, "limit.P")
        check_nonnegative_int(lim.burn, "limit.burn")
        bags = check_positive_int(lim.get("bags", 1), "limit.bags")
        if bags > 1 and lim.get("Q") is not None:
            _check_histories(lim.Q, "limit.Q")
        if str(lim.method) == "quadrature" and dim is not None:
            require(dim <= 2, "data.dim", dim, "d <= 2 with limit=quadrature (use limit=monte_carlo)")

    if "sweep" in reads:
        sw = cfg.sweep
        widths = as_list(sw.widths)
        require(len(widths) >= 1, "sweep.widths", widths, "a non-empty list of integers >= 1")
        for w in widths:
            check_positive_int(w, "sweep.widths")
        require(len(set(widths)) == len(widths), "sweep.widths", widths, "distinct widths")
        check_positive_int(sw.seeds, "sweep.seeds")

    if hasattr(mod, "validate"):
        mod.validate(cfg)


def _check_histories(value, field: str) -> int:
    n = check_positive_int(value, field)
    require(
        n >= MIN_HISTORIES,
        field,
        value,
        f"an integer >= {MIN_HISTORIES} (histories of the empirical law: fewer leave the floor and every "
        "distance a root mean square over too few terms to fit)",
    )
    return n


def _in_group(group: str, field: str, fn):
    """Run a library check whose message names a bare ``field``; re-raise it as ``group.field``."""
    try:
        return fn()
    except ConfigError as e:
        msg = str(e)
        if msg.startswith(field + " "):
            raise ConfigError(f"{group}.{msg}") from None
        raise


def _walk(node, path: str):
    """``(path, parent, key)`` of every leaf and list below a config node."""
    from omegaconf import DictConfig

    if isinstance(node, DictConfig):
        for k in node.keys():
            sub = f"{path}.{k}"
            yield sub, node, k
            if not node._get_node(k)._is_missing() and isinstance(node._get_node(k), DictConfig):
                yield from _walk(node[k], sub)


def _check_missing(node, group: str) -> None:
    """A mandatory value (``???``) that nobody set: name it and say how to give it."""
    from omegaconf import OmegaConf

    for path, parent, key in _walk(node, group):
        if OmegaConf.is_missing(parent, key):
            hint = ""
            if path == "data.path":
                hint = f" with data={_value(node, 'source')}: the .npz file with arrays X [K, d] and Y [K]"
            raise ConfigError(f"{path} is required{hint}; give it on the command line ({path}=...)")


def _value(node, key: str) -> str:
    try:
        return str(node[key])
    except Exception:
        return "?"


def _check_lists(node, group: str) -> None:
    """No list of a run setting may be empty: an empty grid runs nothing and reports nothing."""
    from omegaconf import ListConfig, OmegaConf

    for path, parent, key in _walk(node, group):
        if OmegaConf.is_missing(parent, key):
            continue
        v = parent._get_node(key)
        if isinstance(v, ListConfig) and len(v) == 0 and path != "experiment.reads":
            what = LIST_ITEMS.get(path, "entries")
            require(False, path, [], f"a non-empty list of {what}")


def check_preset(cfg) -> None:
    """The composed configuration holds the preset of its experiment and scale
    (``configs/preset/<experiment>_<scale>.yaml``); a combination without one is refused."""
    meta, scale = cfg.get("meta"), cfg.get("scale")
    if meta is None or scale is None:  # built by hand (tests, notebooks): no presets involved
        return
    name = str(cfg.experiment.name)
    if meta.get("preset") != f"{name}_{scale}":
        allowed = preset_scales(name)
        raise ConfigError(
            f"scale = {str(scale)!r} is not allowed for experiment={name} (no preset "
            f"configs/preset/{name}_{scale}.yaml): expected one of {allowed}"
        )


def preset_scales(name: str) -> list[str]:
    """The scales with a preset for experiment ``name``."""
    import importlib.resources

    folder = importlib.resources.files("rnnntk.configs") / "preset"
    scales = importlib.resources.files("rnnntk.configs") / "scale"
    known = {f.name[:-5] for f in scales.iterdir() if f.name.endswith(".yaml")}
    out = []
    for f in folder.iterdir():
        stem = f.name[:-5] if f.name.endswith(".yaml") else ""
        if stem.startswith(name + "_") and stem[len(name) + 1 :] in known:
            out.append(stem[len(name) + 1 :])
    return sorted(out)


def override_key(override: str) -> tuple[str, str]:
    """``(kind, key)`` of a Hydra override: kind is ``""``, ``"+"``, ``"++"`` or ``"~"``; the key
    without its ``@package``."""
    s = str(override).strip()
    kind = ""
    for prefix in ("++", "+", "~"):
        if s.startswith(prefix):
            kind, s = prefix, s[len(prefix) :]
            break
    key = s.split("=", 1)[0].strip()
    return kind, key.split("@", 1)[0]


def check_overrides(cfg) -> None:
    """Every override (``meta.overrides``) sets something the experiment reads: a common group
    it lists in ``experiment.reads``, its own ``experiment.*`` options, or a key that is always
    allowed (seed, precision, logger, launcher, hydra, ...)."""
    meta = cfg.get("meta")
    if meta is None:
        return
    name = str(cfg.experiment.name)
    reads = experiment_reads(cfg)
    for o in as_list(meta.get("overrides")):
        kind, key = override_key(o)
        head = key.split("/", 1)[0].split(".", 1)[0]
        if head in GROUPS and head not in reads:
            reading = ", ".join(reads) if reads else f"none of {', '.join(GROUPS)}; its options are experiment.*"
            raise ConfigError(
                f"{o!r}: experiment={name} does not read the group {head} (it reads {reading}); "
                f"drop the override or choose an experiment that reads {head}"
            )
        if head == "experiment" and key.split("/", 1)[0] in ("experiment.reads", "experiment.name"):
            raise ConfigError(f"{o!r}: {key} is fixed by the experiment's config; choose another experiment=")
        if head == "meta":
            raise ConfigError(f"{o!r}: meta.* is bookkeeping filled in by rnnntk, not a setting")
        if head not in GROUPS and head not in ALWAYS:
            settings = sorted({*GROUPS, *ALWAYS})
            raise ConfigError(f"{o!r}: {head} is not a setting: expected one of {settings}")
        if kind == "~" and head in GROUPS:
            raise ConfigError(f"{o!r}: removing {key} is not supported; set {key}=<value> (or null) instead")


def check_added_keys(cfg) -> None:
    """Keys that ``+``/``++`` overrides added (``meta.added``) must be fields of their group: a
    misspelt or unknown key would otherwise be carried along and ignored."""
    meta = cfg.get("meta")
    if meta is None:
        return
    added = [str(k) for k in as_list(meta.get("added"))]
    for path in added:
        parent, _, key = path.rpartition(".")
        if any(path.startswith(p + ".") for p in CHECKED_BY_BUILDERS):
            continue  # the source, target and dataset builders name unknown options themselves
        if key in OPTIONAL.get(parent, ()):
            continue
        if not parent:
            raise ConfigError(f"{path} (added with +) is not a setting: expected one of {sorted({*GROUPS, *ALWAYS})}")
        node = cfg
        for part in parent.split("."):
            node = node.get(part) if hasattr(node, "get") else None
        fields = sorted(set(node.keys()) - {p.rpartition(".")[2] for p in added if p.rpartition(".")[0] == parent})
        fields = sorted({*fields, *OPTIONAL.get(parent, ())})
        where = f"experiment={cfg.experiment.name}" if parent.startswith("experiment") else f"the group {parent}"
        raise ConfigError(f"{path} (added with +) is not a field of {where}: expected one of {fields}")


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

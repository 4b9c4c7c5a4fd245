"""The ``rnnntk`` command: a thin Hydra entry point around the importable `run`.

    rnnntk                                     # experiment=convergence at the quick scale
    rnnntk experiment=kernel scale=paper
    rnnntk -m training.beta=0.6,0.75 launcher=slurm hydra.launcher.partition=gpu

The scale presets are part of Hydra's composition (``configs/preset/<experiment>_<scale>.yaml``,
selected by the defaults list), so ``rnnntk ... --cfg job`` prints exactly what runs.
`run(cfg)` validates the whole configuration before anything is compiled, sets up the run
directory and the loggers, calls ``rnnntk.experiments.<name>.run(cfg, ctx)`` and saves
``results.json``. Tests and notebooks compose a configuration with `compose` and call `run`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from typing import Any

from .._checks import ConfigError, RunError


def record_overrides(cfg, overrides, recompose=None) -> Any:
    """Store the command-line ``overrides`` in ``cfg.meta`` (``overrides``, and ``added``: the keys
    that ``+``/``++`` overrides added) so that `run` can check them against what the experiment
    reads. ``recompose(overrides)`` composes without the ``++`` overrides, to tell a forced key
    that was already there from a new one (without it, ``++`` keys are not checked)."""
    from omegaconf import OmegaConf, open_dict

    from .config import override_key

    overrides = [str(o) for o in overrides or []]
    kinds = [override_key(o) for o in overrides]
    added = [key for kind, key in kinds if kind == "+"]
    forced = [o for o, (kind, _) in zip(overrides, kinds) if kind == "++"]
    if forced and recompose is not None:
        absent = object()
        base = recompose([o for o in overrides if o not in forced])
        for o in forced:
            key = override_key(o)[1]
            if OmegaConf.select(base, key, default=absent) is absent:
                added.append(key)
    with open_dict(cfg):
        if cfg.get("meta") is None:
            cfg.meta = {}
        cfg.meta.overrides = overrides
        cfg.meta.added = added
    return cfg


def apply_scale(cfg, overrides=()) -> Any:
    """Kept for callers of earlier versions. The scale presets are part of Hydra's composition now
    (the defaults list of ``config.yaml`` selects ``configs/preset/<experiment>_<scale>.yaml``), so
    this only records ``overrides`` (`record_overrides`) and returns ``cfg``."""
    return record_overrides(cfg, overrides) if overrides else cfg


def _missing_option(e) -> Exception:
    """Hydra's "Could not find 'scale/huge'" as a `ConfigError` naming the group and its options."""
    where = getattr(e, "missing_cfg_file", None) or ""
    options = getattr(e, "options", None)
    if "/" not in where or not options:
        return e
    group, _, name = where.rpartition("/")
    return ConfigError(f"{group} = {name!r} is not allowed: expected one of {sorted(options)}")


def compose(overrides: list[str] | None = None, *, out_dir: str | None = None):
    """Compose the project configuration with Hydra's compose API (for tests and notebooks): the
    same configuration the ``rnnntk`` command runs with these overrides, presets included."""
    from hydra import compose as hcompose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import MissingConfigException
    from omegaconf import open_dict

    overrides = list(overrides or [])
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="rnnntk.configs", version_base="1.3"):
        try:
            cfg = hcompose(config_name="config", overrides=overrides)
        except MissingConfigException as e:
            raise _missing_option(e) from None
        record_overrides(cfg, overrides, lambda ov: hcompose(config_name="config", overrides=ov))
    if out_dir is not None:
        with open_dict(cfg):
            cfg.out_dir = out_dir
    return cfg


def _recompose_in_app(overrides):
    """Compose ``overrides`` from inside the running Hydra app (or a launcher's job process)."""
    from hydra import compose as hcompose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra().is_initialized():
        return hcompose(config_name="config", overrides=overrides)
    with initialize_config_module(config_module="rnnntk.configs", version_base="1.3"):
        return hcompose(config_name="config", overrides=overrides)


def _output_dir(cfg) -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.output_dir
    except Exception:  # not inside a Hydra app
        d = cfg.get("out_dir")
        if not d:
            raise ConfigError("out_dir is not set: outside the rnnntk command give compose(..., out_dir=...)") from None
        return str(d)


def _hydra_job() -> dict:
    """``multirun``, ``sweep_dir`` and ``overrides`` (``key=value,...``) of the Hydra job running
    now (all empty outside a Hydra app)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except Exception:  # not inside a Hydra app
        return {"multirun": False, "sweep_dir": None, "overrides": ""}
    multirun = hc.mode == RunMode.MULTIRUN
    return {
        "multirun": multirun,
        "sweep_dir": str(hc.sweep.dir) if multirun else None,
        "overrides": str(hc.job.override_dirname or ""),
    }


def _check_figure_possible(cfg, module, job: dict) -> None:
    """A single run whose figure needs several widths fails here, before anything compiles; a job
    of a multirun may hold a part of the widths (its sweep is joined by ``rnnntk-aggregate``)."""
    from .config import as_list

    need = int(getattr(module, "MIN_WIDTHS", 1))
    widths = as_list(cfg.sweep.widths)
    if len(widths) >= need:
        return
    name = cfg.experiment.name
    if job["multirun"] and getattr(module, "report", None) is not None:
        return
    if getattr(module, "report", None) is not None:
        how = (
            f"to split the widths over jobs run a multirun, e.g. rnnntk -m experiment={name} "
            f"'sweep.widths=[{widths[0] if widths else 8}],[...]', and join them with rnnntk-aggregate <sweep dir>"
        )
    else:
        how = f"experiment={name} cannot be split over widths"
    raise ConfigError(
        f"sweep.widths = {list(widths)}: experiment={name} fits a slope over widths and needs at least {need}; {how}"
    )


def _prepare_dir(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = os.path.join(out_dir, f".write-test-{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise RunError(
            f"cannot write to the output directory {out_dir} ({e.strerror or e}); choose another one with "
            "hydra.run.dir=... (hydra.sweep.dir=... for a multirun) or out_root=..."
        ) from None


def _settings_changed(out_dir: str, settings: dict, fp: str) -> None:
    """Compare with the settings of the last run in ``out_dir`` (``fingerprint.json``): on a change,
    say which fields differ and set the old metric lines aside; stages of other settings are then
    recomputed (each stage carries its own fingerprint)."""
    import json

    from .provenance import differences
    from .runctx import tmp_name, warn

    p = os.path.join(out_dir, "fingerprint.json")
    old = None
    if os.path.exists(p):
        try:
            with open(p) as f:
                old = json.load(f)
        except (OSError, ValueError):
            warn(f"{p} is damaged; its run's stages are checked one by one")
    if old and old.get("fingerprint") != fp:
        diff = differences(old.get("settings", {}), settings)
        shown = "; ".join(diff[:8]) + (f"; and {len(diff) - 8} more" if len(diff) > 8 else "")
        warn(
            f"{out_dir} holds a run with other settings ({shown or 'unknown fields'}); "
            "stages that depend on them are recomputed (resume=false starts afresh)"
        )
        m = os.path.join(out_dir, "metrics.jsonl")
        if os.path.exists(m):
            os.replace(m, os.path.join(out_dir, f"metrics.{str(old.get('fingerprint'))[:12]}.jsonl"))
    tmp = tmp_name(p)
    with open(tmp, "w") as f:
        json.dump({"fingerprint": fp, "settings": settings}, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, p)


def run(cfg) -> dict:
    """Validate ``cfg``, run its experiment, save ``results.json``; returns the results.

    ``results.json`` also holds ``summary`` (the run's headline numbers) and ``provenance``
    (the fingerprint of the settings, package versions, git revision and devices)."""
    import json
    import logging

    from omegaconf import OmegaConf

    from . import provenance
    from .config import experiment_module, validate
    from .loggers import make_loggers
    from .runctx import RunContext, tmp_name

    logging.getLogger("jax").setLevel(logging.WARNING)  # no backend-probing chatter in run logs
    validate(cfg)  # every field, before anything is compiled
    module = experiment_module(cfg)
    job = _hydra_job()
    _check_figure_possible(cfg, module, job)
    out_dir = _output_dir(cfg)
    _prepare_dir(out_dir)
    _compile_cache(cfg)
    settings = provenance.settings(cfg)
    fp = provenance.fingerprint(settings)
    if not bool(cfg.get("resume", True)):
        for sub in ("stages", "checkpoints"):
            shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
        for name in ("metrics.jsonl", "fingerprint.json"):
            if os.path.exists(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
    resuming = os.path.isdir(os.path.join(out_dir, "stages")) or os.path.isdir(os.path.join(out_dir, "checkpoints"))
    _settings_changed(out_dir, settings, fp)
    p = os.path.join(out_dir, "config.resolved.yaml")
    tmp = tmp_name(p)
    with open(tmp, "w") as f:
        f.write(OmegaConf.to_yaml(cfg, resolve=True))
    os.replace(tmp, p)
    prov = provenance.record(cfg)
    info = {**job, "fingerprint": fp, "provenance": prov}
    # the W&B run of this directory and settings; a fresh start (resume=false) is a new W&B run
    id_file = os.path.join(out_dir, "wandb_run.json")
    if not bool(cfg.get("resume", True)):
        info["fingerprint"] = f"{fp}|fresh {os.getpid()} {time.time()}"
    elif os.path.exists(id_file):
        try:
            with open(id_file) as f:
                stored = json.load(f)
            if stored.get("fingerprint") == fp:
                info["run_id"] = stored["id"]
        except (OSError, ValueError, KeyError):
            pass
    loggers = make_loggers(cfg, out_dir, info)
    for lg in loggers:
        if getattr(lg, "identity", None):
            with open(tmp := tmp_name(id_file), "w") as f:
                json.dump({"fingerprint": fp, "id": lg.identity["id"]}, f)
            os.replace(tmp, id_file)
    shared = os.path.join(job["sweep_dir"], ".limit_cache") if job["sweep_dir"] else None
    quiet = not bool(cfg.get("progress", True))
    ctx = RunContext(out_dir, loggers=loggers, quiet=quiet, fingerprint=fp, shared_dir=shared)
    if resuming:
        print(f"resuming the run in {out_dir} (resume=false starts afresh)", file=sys.stderr, flush=True)
    try:
        path, results = ctx.save_run(module.run(cfg, ctx), prov, (p,))
    finally:
        ctx.finish()
    if ctx.reused:
        print(f"reused {len(ctx.reused)} stage(s) of the earlier run: {', '.join(ctx.reused)}", file=sys.stderr)
    _print_where(out_dir, path, loggers)
    return results


def _compile_cache(cfg) -> None:
    """Keep compiled programs on disk (``compile_cache``), so sweep jobs and resumed or repeated
    runs that share shapes do not compile again."""
    import jax

    path = cfg.get("compile_cache")
    if path:
        path = os.path.abspath(os.path.expanduser(str(path)))
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def _print_where(out_dir: str, results_path: str, loggers) -> None:
    figs = os.path.join(out_dir, "figures")
    lines = [f"results: {results_path}"]
    if os.path.isdir(figs):
        lines.append(f"figures: {figs}/ ({', '.join(sorted(os.listdir(figs)))})")
    for lg in loggers:
        run_dir = getattr(lg, "run_dir", None)
        if run_dir:
            lines.append(f"W&B run ({lg.mode}): {run_dir}")
            if lg.mode == "offline":
                lines.append(f"  upload it with: wandb sync {run_dir}")
    print("\n".join(lines), flush=True)


def _writable_target(argv: list[str]) -> str | None:
    """The first unwritable output location named on the command line (``hydra.run.dir``,
    ``hydra.sweep.dir`` or ``out_root``, default ``outputs``), checked at its nearest existing
    ancestor before Hydra creates the run directory; None when all are writable."""
    vals = {}
    for a in argv:
        k, eq, v = a.partition("=")
        if eq and k.lstrip("+~") in ("hydra.run.dir", "hydra.sweep.dir", "out_root"):
            vals[k.lstrip("+~")] = v
    multirun = any(a in ("-m", "--multirun") for a in argv)
    want = [vals.get("hydra.sweep.dir" if multirun else "hydra.run.dir") or vals.get("out_root") or "outputs"]
    for target in want:
        path = os.path.abspath(target.split("${", 1)[0] or ".")
        probe = path
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
            return path
    return None


def main() -> None:
    """Console entry point (``rnnntk``)."""
    import hydra

    bad = _writable_target(sys.argv[1:])
    if bad:
        print(
            f"error: cannot write to the output directory {bad}; choose another one with hydra.run.dir=... "
            "(hydra.sweep.dir=... for a multirun) or out_root=...",
            file=sys.stderr,
        )
        sys.exit(1)

    @hydra.main(config_path="pkg://rnnntk.configs", config_name="config", version_base="1.3")
    def _app(cfg) -> None:
        from hydra.core.hydra_config import HydraConfig

        with exit_on_user_error():  # inside the job: before Hydra's own error report
            run(record_overrides(cfg, HydraConfig.get().overrides.task, _recompose_in_app))

    with exit_on_user_error():  # raised while Hydra composes or calls back (e.g. the aggregation)
        _app()


@contextlib.contextmanager
def exit_on_user_error():
    """A user's error ends the command with one line and no traceback: `ConfigError` exits 2,
    `RunError` exits 1 (shared by ``rnnntk`` and ``rnnntk-aggregate``)."""
    try:
        yield
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        sys.exit(2)
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

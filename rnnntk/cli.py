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

import os
import shutil
import sys
from typing import Any

from ._checks import ConfigError


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


def run(cfg) -> dict:
    """Validate ``cfg``, run its experiment, save ``results.json``; returns the results."""
    import logging

    from omegaconf import OmegaConf

    from .config import experiment_module, validate
    from .loggers import make_loggers
    from .runctx import RunContext

    logging.getLogger("jax").setLevel(logging.WARNING)  # no backend-probing chatter in run logs
    validate(cfg)  # every field, before anything is compiled
    out_dir = _output_dir(cfg)
    _compile_cache(cfg)
    if not bool(cfg.get("resume", True)):
        for sub in ("stages", "checkpoints"):
            shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.resolved.yaml"), "w") as f:
        f.write(OmegaConf.to_yaml(cfg, resolve=True))
    module = experiment_module(cfg)
    loggers = make_loggers(cfg, out_dir)
    ctx = RunContext(out_dir, loggers=loggers, quiet=not bool(cfg.get("progress", True)))
    try:
        results = module.run(cfg, ctx)
        path = ctx.save_results(results)
    finally:
        ctx.finish()
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


def main() -> None:
    """Console entry point (``rnnntk``)."""
    import hydra

    @hydra.main(config_path="pkg://rnnntk.configs", config_name="config", version_base="1.3")
    def _app(cfg) -> None:
        from hydra.core.hydra_config import HydraConfig

        try:
            run(record_overrides(cfg, HydraConfig.get().overrides.task, _recompose_in_app))
        except ConfigError as e:
            print(f"configuration error: {e}", file=sys.stderr)
            sys.exit(2)

    _app()


if __name__ == "__main__":
    main()

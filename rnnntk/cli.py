"""The ``rnnntk`` command: a thin Hydra entry point around the importable `run`.

    rnnntk                                     # experiment=convergence at the quick scale
    rnnntk experiment=kernel scale=paper
    rnnntk -m training.beta=0.6,0.75 launcher=slurm hydra.launcher.partition=gpu

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

#: top-level keys that ``experiment.scales.<scale>`` may set; its other keys go into ``experiment``
ROOT_KEYS = ("data", "target", "model", "training", "limit", "sweep", "precision", "seed")


def _override_keys(overrides) -> set[str]:
    keys = set()
    for o in overrides or []:
        k = str(o).split("=", 1)[0].lstrip("+~")
        keys.add(k)
    return keys


def apply_scale(cfg, overrides=()) -> Any:
    """Merge ``experiment.scales[cfg.scale]`` into the configuration; keys given as command-line
    overrides keep their values. Returns a new config with ``meta.finalized = true``."""
    from omegaconf import OmegaConf, open_dict

    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    scale = str(cfg.get("scale", "quick"))
    scales = cfg.experiment.get("scales") or {}
    if scales and scale not in scales:
        raise ConfigError(
            f"scale = {scale!r} is not allowed for experiment={cfg.experiment.name}: expected one of {sorted(scales)}"
        )
    delta = OmegaConf.to_container(scales.get(scale, {}), resolve=False) if scales else {}
    protected = _override_keys(overrides)

    def merge(prefix: str, node, upd: dict):
        for k, v in upd.items():
            path = f"{prefix}.{k}" if prefix else k
            if path in protected:
                continue
            if isinstance(v, dict) and isinstance(node.get(k), type(node)) and node.get(k) is not None:
                merge(path, node[k], v)
            else:
                with open_dict(node):
                    node[k] = v

    for k, v in delta.items():
        if k in ROOT_KEYS:
            merge("", cfg, {k: v})
        else:
            merge("experiment", cfg.experiment, {k: v})
    with open_dict(cfg):
        cfg.meta = {"finalized": True, "overrides": sorted(protected)}
    return cfg


def compose(overrides: list[str] | None = None, *, out_dir: str | None = None):
    """Compose the project configuration with Hydra's compose API (for tests and notebooks)."""
    from hydra import compose as hcompose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    overrides = list(overrides or [])
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="rnnntk.configs", version_base="1.3"):
        cfg = hcompose(config_name="config", overrides=overrides)
    cfg = apply_scale(cfg, overrides)
    if out_dir is not None:
        with open_dict(cfg):
            cfg.out_dir = out_dir
    return cfg


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
    if not (cfg.get("meta") and cfg.meta.get("finalized")):
        cfg = apply_scale(cfg)
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
            run(apply_scale(cfg, HydraConfig.get().overrides.task))
        except ConfigError as e:
            print(f"configuration error: {e}", file=sys.stderr)
            sys.exit(2)

    _app()


if __name__ == "__main__":
    main()

"""Fan-in: join the jobs of a split sweep into one study (``rnnntk-aggregate <sweep dir>``).

A paper-scale study can be spread over GPUs by giving each job of a multirun a part of it, e.g.
one width per job::

    rnnntk -m experiment=convergence scale=paper 'sweep.widths=[1000],[4000],[16000],[64000],[256000]'

Each job writes its part (the study's arrays in its ``results.json``); the jobs share the limit
through ``<sweep dir>/.limit_cache``. ``rnnntk-aggregate <sweep dir>`` (run automatically at the
end of a local multirun by `AggregateCallback`) checks that the jobs belong to one study (the same
settings apart from the split fields `SPLIT`), joins them and writes ``<sweep dir>/aggregate/``:
the same ``results.json`` schema, tables, figures and fitted slopes as one run over everything, and
a W&B run of its own (offline unless ``--mode online``). Experiments built on `rnnntk.diagonal.study`
aggregate: convergence, beta_phase, loss_curves, estimators.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from typing import Any

from .._checks import ConfigError, RunError

#: the fields a study can be split over (each job: a part of the widths, grid points or estimators)
SPLIT = ("sweep.widths", "training.alpha", "training.beta", "training.grad")


def _job_dirs(sweep_dir: str) -> list[str]:
    out = []
    for name in sorted(os.listdir(sweep_dir)):
        d = os.path.join(sweep_dir, name)
        if name.startswith(".") or name == "aggregate" or not os.path.isdir(d):
            continue
        if os.path.exists(os.path.join(d, ".hydra", "overrides.yaml")) or os.path.exists(
            os.path.join(d, "config.resolved.yaml")
        ):
            out.append(d)
    return out


def _parse(overrides: list[str]) -> dict[str, Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    out = {}
    for o in parsed:
        if o.is_sweep_override():
            out[o.key_or_group] = list(o.sweep_string_iterator())
        else:
            out[o.key_or_group] = o.get_value_element_as_str()
    return out


def expected_jobs(sweep_dir: str) -> list[dict[str, str]] | None:
    """The swept values of every job the multirun launched (from ``multirun.yaml``), or None."""
    from omegaconf import OmegaConf

    p = os.path.join(sweep_dir, "multirun.yaml")
    if not os.path.exists(p):
        return None
    task = OmegaConf.load(p).hydra.overrides.task
    swept = {k: v for k, v in _parse(list(task)).items() if isinstance(v, list)}
    keys = list(swept)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(swept[k] for k in keys))]


def _job_values(job_dir: str, keys) -> dict[str, str]:
    from omegaconf import OmegaConf

    p = os.path.join(job_dir, ".hydra", "overrides.yaml")
    if not os.path.exists(p):
        return {}
    vals = _parse(list(OmegaConf.load(p)))
    return {k: vals.get(k) for k in keys}


def _label(values: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


def load_jobs(sweep_dir: str) -> list[dict[str, Any]]:
    """``[{dir, cfg, results}]`` of the sweep's jobs; `RunError` naming each missing or failed job."""
    from omegaconf import OmegaConf

    if not os.path.isdir(sweep_dir):
        raise RunError(f"{sweep_dir} is not a directory (give the sweep directory of a multirun)")
    dirs = _job_dirs(sweep_dir)
    problems = []
    expected = expected_jobs(sweep_dir)
    if expected:
        have = [_job_values(d, expected[0].keys()) for d in dirs]
        for e in expected:
            if e not in have:
                problems.append(f"job {_label(e)} is missing (no run directory in {sweep_dir})")
    jobs = []
    for d in dirs:
        res = os.path.join(d, "results.json")
        if not os.path.exists(res) or not os.path.exists(os.path.join(d, "config.resolved.yaml")):
            problems.append(f"job {os.path.basename(d)} has no results.json (it failed or is unfinished; see its log)")
            continue
        try:
            with open(res) as f:
                results = json.load(f)
        except (OSError, ValueError) as e:
            problems.append(f"job {os.path.basename(d)}: {res} is damaged ({e})")
            continue
        jobs.append({"dir": d, "cfg": OmegaConf.load(os.path.join(d, "config.resolved.yaml")), "results": results})
    if not dirs:
        problems.append(f"no job directories in {sweep_dir}")
    if problems:
        raise RunError(f"cannot aggregate {sweep_dir}: " + "; ".join(problems) + "; rerun the missing jobs")
    return jobs


def _union(values) -> list:
    out = []
    for v in values:
        for x in v if isinstance(v, (list, tuple)) else [v]:
            if x not in out:
                out.append(x)
    return out


def study_settings(job: dict[str, Any]) -> dict[str, Any]:
    """The settings of a job (with the versions it ran with) without the split fields: equal for
    the jobs of one study."""
    from .provenance import NUMERIC_PACKAGES, settings, without

    s = settings(job["cfg"])
    ran = job["results"].get("provenance", {}).get("versions")
    if ran:
        s["versions"] = {k: ran.get(k) for k in NUMERIC_PACKAGES}
    return without(s, *SPLIT)


def merged_config(jobs):
    """The configuration of one run over the union of the jobs' widths, grid points and estimators."""
    from omegaconf import OmegaConf, open_dict

    from .config import as_list
    from .provenance import differences, fingerprint

    base = study_settings(jobs[0])
    for j in jobs[1:]:
        other = study_settings(j)
        if fingerprint(other) != fingerprint(base):
            diff = "; ".join(differences(base, other)[:6])
            raise RunError(
                f"the jobs {os.path.basename(jobs[0]['dir'])} and {os.path.basename(j['dir'])} are not parts of one "
                f"study: they differ in {diff} (only {', '.join(SPLIT)} may differ between the jobs)"
            )
    cfg = OmegaConf.create(OmegaConf.to_container(jobs[0]["cfg"], resolve=True))
    with open_dict(cfg):
        cfg.sweep.widths = sorted(int(w) for w in _union(as_list(j["cfg"].sweep.widths) for j in jobs))
        cfg.training.alpha = sorted(float(a) for a in _union(as_list(j["cfg"].training.alpha) for j in jobs))
        cfg.training.beta = sorted(float(b) for b in _union(as_list(j["cfg"].training.beta) for j in jobs))
        cfg.training.grad = [str(g) for g in _union(as_list(j["cfg"].training.grad) for j in jobs)]
    return cfg, fingerprint(base)


def aggregate(sweep_dir: str, *, logger: str | None = None, mode: str = "offline", quiet: bool = False) -> dict:
    """Join the jobs of ``sweep_dir`` into ``<sweep_dir>/aggregate/``; returns its results.

    ``logger``: ``"wandb"`` or ``"none"`` (default: the jobs' logger); ``mode``: the W&B mode."""
    from omegaconf import OmegaConf, open_dict

    from ..diagonal.study import join_studies, spec_from_config
    from . import provenance
    from .config import experiment_module
    from .loggers import make_loggers
    from .runctx import RunContext, tmp_name

    sweep_dir = os.path.abspath(sweep_dir)
    jobs = load_jobs(sweep_dir)
    cfg, study_fp = merged_config(jobs)
    module = experiment_module(cfg)
    report = getattr(module, "report", None)
    if report is None:
        raise RunError(
            f"experiment={cfg.experiment.name} cannot be aggregated "
            "(aggregating experiments: convergence, beta_phase, loss_curves, estimators)"
        )
    for j in jobs:
        if "study" not in j["results"]:
            raise RunError(f"job {os.path.basename(j['dir'])}: its results.json holds no study to join")
    spec = spec_from_config(cfg)
    res = join_studies(spec, [j["results"]["study"] for j in jobs], [os.path.basename(j["dir"]) for j in jobs])

    out_dir = os.path.join(sweep_dir, "aggregate")
    os.makedirs(out_dir, exist_ok=True)
    with open_dict(cfg):
        if logger:
            cfg.logger.name = logger
        if cfg.logger.name == "wandb":
            cfg.logger.mode = mode
    p = os.path.join(out_dir, "config.resolved.yaml")
    tmp = tmp_name(p)
    with open(tmp, "w") as f:
        f.write(OmegaConf.to_yaml(cfg, resolve=True))
    os.replace(tmp, p)
    prov = provenance.record(cfg) | {
        "study_fingerprint": study_fp,
        "jobs": [
            {"dir": os.path.basename(j["dir"]), "fingerprint": j["results"].get("provenance", {}).get("fingerprint")}
            for j in jobs
        ],
    }
    group = next((j["results"]["wandb"].get("group") for j in jobs if j["results"].get("wandb")), None)
    info = {
        "sweep_dir": sweep_dir,
        "group": group,  # the jobs' W&B group, wherever this runs from
        "name": "aggregate",
        "fingerprint": prov["fingerprint"],
        "provenance": prov,
    }
    loggers = make_loggers(cfg, out_dir, info)
    ctx = RunContext(out_dir, loggers=loggers, quiet=quiet)
    if os.path.exists(os.path.join(out_dir, "metrics.jsonl")):
        os.remove(os.path.join(out_dir, "metrics.jsonl"))
        ctx._seen = set()
    try:
        path, results = ctx.save_run(report(res, ctx), prov, (p,))
    finally:
        ctx.finish()
    print(f"aggregated {len(jobs)} jobs of {sweep_dir}: {path}", flush=True)
    return results


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object


class AggregateCallback(Callback):
    """Hydra callback: at the end of a multirun of a study experiment, join its jobs
    (`aggregate`). A sweep that is not a split of one study is left alone, with one line saying
    why."""

    def on_multirun_end(self, config, **kwargs) -> None:
        from .config import experiment_module

        try:
            name = str(config.experiment.name)
            if getattr(experiment_module(config), "report", None) is None:
                return
            sweep_dir = str(config.hydra.sweep.dir)
            logger = str(config.logger.name) if config.get("logger") else None
            mode = str(config.logger.get("mode", "offline")) if logger == "wandb" else "offline"
            aggregate(sweep_dir, logger=logger, mode=mode, quiet=not bool(config.get("progress", True)))
        except (RunError, ConfigError) as e:
            print(f"rnnntk-aggregate: not aggregated ({e})", file=sys.stderr, flush=True)
            return
        print(f"experiment={name}: the joined study is in {os.path.join(sweep_dir, 'aggregate')}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``rnnntk-aggregate <sweep dir>``)."""
    ap = argparse.ArgumentParser(
        prog="rnnntk-aggregate", description="Join the jobs of a split sweep into <sweep dir>/aggregate/."
    )
    ap.add_argument("sweep_dir", help="the multirun's sweep directory (hydra.sweep.dir)")
    ap.add_argument("--logger", choices=("wandb", "none"), default=None, help="default: the jobs' logger")
    ap.add_argument("--mode", choices=("offline", "online", "online_strict"), default="offline", help="W&B mode")
    args = ap.parse_args(argv)
    from .cli import exit_on_user_error

    with exit_on_user_error():
        aggregate(args.sweep_dir, logger=args.logger, mode=args.mode)


if __name__ == "__main__":
    main()

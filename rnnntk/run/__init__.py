"""The machinery of a run: the command line, configs, run context, loggers, plots and metrics.

`cli` (the ``rnnntk`` entry point), `config` (configs to model objects and data, validation),
`runctx` (the run context an experiment reports through), `loggers`, `plots`, `metrics`,
`provenance` (fingerprints of a run), `aggregate` (the ``rnnntk-aggregate`` entry point joining the
jobs of a sweep) and `slurm` (the SLURM preflight).

The names below are loaded on first use (`from rnnntk.run import compose` imports `rnnntk.run.cli`
then), so that importing a family, whose study reads configs, does not load the command line, and
`python -m rnnntk.run.cli` runs a module that nothing has imported before.
"""

import importlib

# public name -> the module of this package that defines it
_EXPORTS = {
    "SPLIT": "aggregate",
    "AggregateCallback": "aggregate",
    "expected_jobs": "aggregate",
    "load_jobs": "aggregate",
    "merged_config": "aggregate",
    "study_settings": "aggregate",
    "apply_scale": "cli",
    "compose": "cli",
    "exit_on_user_error": "cli",
    "record_overrides": "cli",
    "run": "cli",
    "ALWAYS": "config",
    "CHECKED_BY_BUILDERS": "config",
    "GROUPS": "config",
    "LIST_ITEMS": "config",
    "LOGGERS": "config",
    "MIN_HISTORIES": "config",
    "OPTIONAL": "config",
    "PRECISIONS": "config",
    "actor_critic_from_config": "config",
    "as_list": "config",
    "build_data": "config",
    "check_added_keys": "config",
    "check_overrides": "config",
    "check_preset": "config",
    "elman_from_config": "config",
    "experiment_module": "config",
    "experiment_reads": "config",
    "limit_options_from_config": "config",
    "list_experiments": "config",
    "model_from_config": "config",
    "model_kwargs": "config",
    "override_key": "config",
    "preset_scales": "config",
    "validate": "config",
    "MODES": "loggers",
    "WandbLogger": "loggers",
    "identity": "loggers",
    "make_loggers": "loggers",
    "online_problem": "loggers",
    "wandb_table": "loggers",
    "FloorFit": "metrics",
    "SlopeFit": "metrics",
    "bootstrap_slope": "metrics",
    "distance": "metrics",
    "fit_above_floor": "metrics",
    "fit_loglog": "metrics",
    "heuristic_rate": "metrics",
    "relative_frobenius": "metrics",
    "student_t_ppf": "metrics",
    "convergence_plot": "plots",
    "new_figure": "plots",
    "legend_outside": "plots",
    "save": "plots",
    "EXCLUDED": "provenance",
    "EXCLUDED_EXPERIMENT": "provenance",
    "NUMERIC_PACKAGES": "provenance",
    "RECORDED_PACKAGES": "provenance",
    "canonical": "provenance",
    "devices": "provenance",
    "differences": "provenance",
    "file_digest": "provenance",
    "fingerprint": "provenance",
    "flatten": "provenance",
    "git_revision": "provenance",
    "record": "provenance",
    "settings": "provenance",
    "versions": "provenance",
    "without": "provenance",
    "DAMAGED": "runctx",
    "FINGERPRINT": "runctx",
    "PLAIN_EVERY": "runctx",
    "Logger": "runctx",
    "NullLogger": "runctx",
    "RunContext": "runctx",
    "load_npz": "runctx",
    "save_npz": "runctx",
    "tmp_name": "runctx",
    "warn": "runctx",
    "SlurmPreflight": "slurm",
    "check_slurm_resources": "slurm",
    "explain_sbatch_error": "slurm",
    "sbatch_test_args": "slurm",
}

__all__ = sorted(_EXPORTS, key=lambda s: (s.lower(), s))


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))

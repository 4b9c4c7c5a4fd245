"""The package layout: sub-packages per family and per piece of machinery, each re-exporting its
public API, and the module paths before the sub-packages kept as aliases of the very same modules."""

import importlib
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

import rnnntk

ROOT = Path(__file__).resolve().parents[1]

# old dotted path -> the module that now holds its code
OLD_TO_NEW = {
    "rnnntk.network": "rnnntk.diagonal.network",
    "rnnntk.train": "rnnntk.diagonal.train",
    "rnnntk.ensemble": "rnnntk.diagonal.ensemble",
    "rnnntk.chunks": "rnnntk.diagonal.chunks",
    "rnnntk.limit": "rnnntk.diagonal.limit",
    "rnnntk.limit_path": "rnnntk.diagonal.limit_path",
    "rnnntk.stationary": "rnnntk.diagonal.stationary",
    "rnnntk.ntk": "rnnntk.diagonal.ntk",
    "rnnntk.study": "rnnntk.diagonal.study",
    "rnnntk.elman_limit": "rnnntk.elman.limit",
    "rnnntk.meanfield": "rnnntk.elman.meanfield",
    "rnnntk.sources": "rnnntk.data.sources",
    "rnnntk.realdata": "rnnntk.data.realdata",
    "rnnntk.lob": "rnnntk.data.lob",
    "rnnntk.cli": "rnnntk.run.cli",
    "rnnntk.config": "rnnntk.run.config",
    "rnnntk.runctx": "rnnntk.run.runctx",
    "rnnntk.loggers": "rnnntk.run.loggers",
    "rnnntk.plots": "rnnntk.run.plots",
    "rnnntk.metrics": "rnnntk.run.metrics",
    "rnnntk.provenance": "rnnntk.run.provenance",
    "rnnntk.aggregate": "rnnntk.run.aggregate",
    "rnnntk.slurm": "rnnntk.run.slurm",
}

SUBPACKAGES = ["rnnntk.diagonal", "rnnntk.elman", "rnnntk.actor_critic", "rnnntk.data", "rnnntk.run"]

# exactly the names `rnnntk` exported before the sub-packages
TOP_LEVEL = {
    "AR1", "ConfigError", "RunError", "Delay", "DiagonalRNN", "Elman", "ElmanTeacher", "ElmanParams",
    "FiniteState", "LOB", "LimitOptions", "Logistic", "Npz", "Params", "Real", "SinLag", "Teacher",
    "TrainState", "current_params", "decay_schedule", "elman_apply", "elman_empirical_ntk", "elman_init",
    "elman_limit_ntk", "empirical_ntk", "float64", "init_params", "init_state", "kernel_flow",
    "limit_initial_covariance", "limit_kernel", "limit_loss", "limit_predict", "make_dataset", "predict",
    "stationary_gradient", "train_online", "train_meanfield", "train_steps",
}  # fmt: skip

# what the old modules rnnntk/elman.py and rnnntk/data.py offered (now the packages of those names)
OLD_ELMAN = [
    "PARAMS", "POOLS", "ELMAN_ACTIVATIONS", "ElmanParams", "width_scale", "check_variance", "check_choice",
    "get_elman_activation", "check_sequences", "check_elman_params", "elman_init", "elman_apply",
    "elman_empirical_ntk",
]  # fmt: skip
OLD_DATA = [
    "AR1", "FiniteState", "Logistic", "NPZ_MAX_ABS", "NPZ_STD_RANGE", "Npz", "SinLag", "Delay", "Teacher",
    "ElmanTeacher", "target_memory", "window_targets", "SOURCES", "TARGETS", "build_source", "build_target",
    "sample_path", "apply_target", "make_dataset", "Source", "Target", "unit_projection", "LOB", "Real",
]  # fmt: skip


@pytest.mark.parametrize("old, new", sorted(OLD_TO_NEW.items()))
def test_old_path_is_the_new_module(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)
    assert sys.modules[old] is sys.modules[new]
    # attribute access through the package, as `import rnnntk.metrics; rnnntk.metrics.distance`
    assert getattr(rnnntk, old.split(".")[1]) is sys.modules[new]


def test_old_from_imports():
    from rnnntk.limit import NODE_MEMORY
    from rnnntk.metrics import distance
    from rnnntk.network import parse_grad
    from rnnntk.study import stage_key

    assert NODE_MEMORY is rnnntk.diagonal.limit.NODE_MEMORY
    assert distance is rnnntk.run.metrics.distance
    assert parse_grad is rnnntk.diagonal.network.parse_grad
    assert stage_key is rnnntk.diagonal.study.stage_key


def test_monkeypatch_through_old_path_patches_the_real_module(monkeypatch):
    sentinel = object()
    monkeypatch.setattr("rnnntk.study.train_chunks", sentinel)
    assert rnnntk.diagonal.study.train_chunks is sentinel
    monkeypatch.setattr("rnnntk.chunks.train_chunk", sentinel)
    assert rnnntk.diagonal.chunks.train_chunk is sentinel
    monkeypatch.setattr("rnnntk.loggers.make_loggers", sentinel)
    assert rnnntk.run.loggers.make_loggers is sentinel


def test_old_models_path_offers_the_model_objects():
    from rnnntk.models import DiagonalRNN, Elman, LimitOptions, check_agrees

    assert DiagonalRNN is rnnntk.diagonal.model.DiagonalRNN
    assert Elman is rnnntk.elman.model.Elman
    assert LimitOptions is rnnntk._model.LimitOptions
    assert check_agrees is rnnntk._model.check_agrees


def test_elman_and_data_packages_offer_the_old_modules_names():
    import rnnntk.data
    import rnnntk.elman

    missing = [n for n in OLD_ELMAN if not hasattr(rnnntk.elman, n)]
    missing += [n for n in OLD_DATA if not hasattr(rnnntk.data, n)]
    assert missing == []
    assert rnnntk.elman.elman_init is rnnntk.elman.network.elman_init
    assert rnnntk.data.make_dataset is rnnntk.data.dataset.make_dataset


def test_top_level_exports_unchanged():
    assert set(rnnntk.__all__) == TOP_LEVEL
    assert len(rnnntk.__all__) == len(TOP_LEVEL)
    for name in TOP_LEVEL:
        assert getattr(rnnntk, name) is not None


@pytest.mark.parametrize("pkg", SUBPACKAGES)
def test_subpackage_all_is_explicit_and_defined_there(pkg):
    mod = importlib.import_module(pkg)
    names = list(mod.__all__)
    assert len(names) == len(set(names)), "duplicates in __all__"
    for name in names:
        obj = getattr(mod, name)
        assert not isinstance(obj, types.ModuleType), f"{pkg}.{name} is a module: a submodule is shadowed"
        home = getattr(obj, "__module__", None)
        if home is not None and isinstance(obj, type | types.FunctionType):
            assert home.startswith(pkg) or home == "rnnntk._model", f"{pkg}.{name} comes from {home}"


def test_submodules_not_shadowed_by_exports():
    for pkg in SUBPACKAGES:
        folder = ROOT / pkg.replace(".", "/")
        for f in folder.glob("*.py"):
            if f.stem != "__init__":
                sub = importlib.import_module(f"{pkg}.{f.stem}")
                assert getattr(importlib.import_module(pkg), f.stem) is sub, f"{pkg}.{f.stem}"


def test_setuptools_lists_every_package():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(conf["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "rnnntk").rglob("__init__.py")}
    assert on_disk <= listed
    scripts = conf["project"]["scripts"]
    assert scripts == {"rnnntk": "rnnntk.run.cli:main", "rnnntk-aggregate": "rnnntk.run.aggregate:main"}


def test_old_path_imported_first_in_a_fresh_interpreter():
    code = (
        "import rnnntk.study, rnnntk.run.config\n"
        "from rnnntk.limit import NODE_MEMORY\n"
        "import rnnntk.diagonal.study as s\n"
        "assert rnnntk.study is s\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr


def test_import_loads_no_command_line_and_old_paths_on_demand():
    code = (
        "import sys, rnnntk\n"
        "assert 'rnnntk.run.cli' not in sys.modules and 'rnnntk.metrics' not in sys.modules\n"
        "import rnnntk.metrics, rnnntk.run.metrics as m\n"
        "assert rnnntk.metrics is m and m.__spec__.name == 'rnnntk.run.metrics' and m.__name__ == m.__spec__.name\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("module", ["rnnntk.cli", "rnnntk.run.cli", "rnnntk.aggregate", "rnnntk.run.aggregate"])
def test_entry_modules_run_with_python_m(module, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr, out.stderr  # runpy warns when the module was imported before
    assert "rnnntk-aggregate" in out.stdout if "aggregate" in module else "experiment" in out.stdout

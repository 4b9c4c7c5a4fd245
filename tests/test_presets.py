"""Scale presets are part of Hydra's composition: what ``--cfg job`` prints, what
``.hydra/config.yaml`` and ``config.resolved.yaml`` hold and what the experiment receives are one
configuration; a group switch keeps the preset, the command line wins over it; an override of a
group the experiment does not read fails before anything runs, naming the experiment and group."""

import glob
import importlib
import importlib.resources
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf

from rnnntk import ConfigError
from rnnntk.run import GROUPS, compose, experiment_reads, list_experiments, preset_scales, validate

QUIET = ["logger=none", "progress=false"]
CONFIGS = importlib.resources.files("rnnntk.configs")

#: per experiment: a group switch (the preset must survive it) and a command-line value of a key
#: the tiny preset sets (the command line must win)
CASES = {
    "convergence": ("training=tbptt", "training.T=0.3"),
    "beta_phase": ("training=tbptt", "sweep.seeds=3"),
    "beta_transition": ("limit=monte_carlo", "sweep.seeds=3"),
    "estimators": ("training=tbptt", "limit.P=40"),
    "kernel": ("limit=monte_carlo", "sweep.seeds=3"),
    "loss_curves": ("training=tbptt", "training.T=0.3"),
    "elman_kernel": ("limit=monte_carlo", "sweep.seeds=3"),
    "memory": ("target=delay", "sweep.seeds=3"),
    "real_sequences": ("training=tbptt", "sweep.seeds=3"),
    "rtrl_fixed_width": ("training=tbptt", "experiment.steps=400"),
    "meanfield_coupling": ("target=sin_lag", "sweep.seeds=3"),
    "meanfield_loss": ("target=sin_lag", "experiment.horizon=4.0"),
    "actor_critic": ("launcher=submitit_local", "experiment.distance.seeds=3"),  # it reads no common group
    "actor_critic_scaling": ("launcher=submitit_local", "experiment.scaling.seeds=2"),
}

#: an override per group whose value any experiment reading the group accepts
HARMLESS = {
    "data": "data.dim=2",
    "target": "target.noise=0.0",
    "model": "model.s_w=1.0",
    "training": "training.alpha=2.0",
    "limit": "limit.tol=1e-8",
    "sweep": "sweep.seeds=2",
}

# Runs the ``rnnntk`` entry point in one process for every case: ``--cfg job --resolve`` (what the
# command says it will run), then the run itself with each experiment's ``run`` replaced by one
# that records the configuration it receives (its real ``validate`` still runs), then an override
# of a group the experiment does not read.
DRIVER = r"""
import contextlib, io, json, sys, types
import rnnntk.run.config as C
from rnnntk.run.cli import main

cases, out_root, report = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
real = C.experiment_module
received = {}

def fake(cfg):
    mod = real(cfg)
    def run(cfg, ctx):
        from omegaconf import OmegaConf
        received[str(cfg.experiment.name)] = OmegaConf.to_container(cfg, resolve=True)
        return {"ran": True}
    f = types.SimpleNamespace(run=run)
    if hasattr(mod, "validate"):
        f.validate = mod.validate
    return f

C.experiment_module = fake
result = {}
for name, args, unread in cases:
    args = [*args, f"out_root={out_root}"]
    shown = io.StringIO()
    sys.argv = ["rnnntk", *args, "--cfg", "job", "--resolve"]
    with contextlib.redirect_stdout(shown):
        main()
    sys.argv = ["rnnntk", *args]
    with contextlib.redirect_stdout(io.StringIO()):
        main()
    refused = None
    if unread:
        err = io.StringIO()
        sys.argv = ["rnnntk", *args, unread]
        try:
            with contextlib.redirect_stderr(err):
                main()
            code = 0
        except SystemExit as e:
            code = e.code
        refused = {"code": code, "stderr": err.getvalue()}
    result[name] = {"shown": shown.getvalue(), "received": received.pop(name), "refused": refused}
json.dump(result, open(report, "w"))
"""


def _args(name):
    switch, value = CASES[name]
    return [f"experiment={name}", "scale=tiny", *QUIET, switch, value]


def _unread(name, reads):
    missing = [g for g in GROUPS if g not in reads]
    return HARMLESS[missing[0]] if missing else None


def _leaves(d, prefix=""):
    """``{dotted path: value}`` of the leaves of a nested dict (lists are leaves)."""
    out = {}
    for k, v in d.items():
        p = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_leaves(v, p))
        else:
            out[p] = v
    return out


def _settings(d):
    """The keys that run: everything but the bookkeeping (``meta``) and the compose-only ``out_dir``."""
    return {k: v for k, v in d.items() if k not in ("meta", "out_dir")}


def _value(text):
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("presets")
    cases = []
    for name in list_experiments():
        cases.append([name, _args(name), _unread(name, experiment_reads(compose([f"experiment={name}"])))])
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(tmp), MPLCONFIGDIR=str(tmp / "mpl"))
    report = tmp / "report.json"
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(cases), str(tmp / "out"), str(report)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp / "out", json.loads(report.read_text())


#: the experiments with a scale=medium preset (the others refuse scale=medium)
MEDIUM = ("beta_phase", "convergence")


def test_every_experiment_has_its_three_presets_and_no_scales_block():
    for name in list_experiments():
        assert preset_scales(name) == (["medium"] if name in MEDIUM else []) + ["paper", "quick", "tiny"], name
        text = (CONFIGS / "experiment" / f"{name}.yaml").read_text()
        assert "scales:" not in text, f"{name}: the presets live in configs/preset/"
        for scale in ("quick", "tiny", "paper"):
            assert compose([f"experiment={name}", f"scale={scale}"]).meta.preset == f"{name}_{scale}"


@pytest.mark.parametrize("name", list_experiments())
def test_cfg_job_hydra_config_and_resolved_config_are_what_runs(cli_runs, name):
    out_root, report = cli_runs
    r = report[name]
    received = _settings(r["received"])
    shown = _settings(_value(r["shown"]))
    assert shown == received, "--cfg job printed something else than what ran"
    # the run directory: <out_root>/<experiment>/<scale>/<overrides>
    (run_dir,) = glob.glob(str(out_root / name / "tiny" / "*" / "config.resolved.yaml"))
    run_dir = os.path.dirname(run_dir)
    resolved = _settings(_value(open(os.path.join(run_dir, "config.resolved.yaml")).read()))
    hydra_cfg = OmegaConf.load(os.path.join(run_dir, ".hydra", "config.yaml"))
    hydra_cfg = _settings(OmegaConf.to_container(hydra_cfg, resolve=True))
    assert resolved == received
    assert hydra_cfg == received, ".hydra/config.yaml holds values that do not run"
    # and the importable API composes the same configuration
    composed = compose([*_args(name), f"out_root={out_root}"])
    assert _settings(OmegaConf.to_container(composed, resolve=True)) == received
    assert r["received"]["meta"]["preset"] == f"{name}_tiny"


@pytest.mark.parametrize("name", list_experiments())
def test_group_switch_keeps_the_preset_and_the_command_line_wins(cli_runs, name):
    _, report = cli_runs
    received = _leaves(report[name]["received"])
    switch, value = CASES[name]
    key, _, text = value.partition("=")
    assert received[key] == _value(text), f"{value} did not win over the preset"
    preset = _leaves(OmegaConf.to_container(OmegaConf.load(CONFIGS / "preset" / f"{name}_tiny.yaml")))
    kept = {p: v for p, v in preset.items() if p != key}
    assert kept, name
    for p, v in kept.items():
        assert received[p] == v, f"{switch} dropped the preset's {p} = {v!r} (ran {received[p]!r})"
    group, _, option = switch.partition("=")
    if group in GROUPS:  # the switch itself took effect where the preset leaves the group's keys alone
        chosen = OmegaConf.load(CONFIGS / group / f"{option}.yaml")
        own = {f"{group}.{k}": v for k, v in _leaves(OmegaConf.to_container(chosen)).items() if k != "defaults"}
        for p, v in own.items():
            if p not in preset and p != key:
                assert received[p] == v, (p, received[p], v)


def test_issue_example_loss_curves_tiny_with_tbptt():
    cfg = compose(["experiment=loss_curves", "scale=tiny", "training=tbptt", "training.T=0.3"])
    tr = cfg.training
    assert (tr.grad, tr.T, tr.chunks, tr.burn) == ("tbptt:5", 0.3, 2, 5)  # tbptt, command line, preset, preset
    cfg = compose(["experiment=loss_curves", "scale=tiny"])
    assert (cfg.training.T, cfg.training.chunks, cfg.training.burn) == (0.5, 2, 5)


@pytest.mark.parametrize("name", list_experiments())
def test_override_of_an_unread_group_fails_naming_experiment_and_group(name):
    reads = experiment_reads(compose([f"experiment={name}"]))
    for group in GROUPS:
        override = HARMLESS[group]
        cfg = compose([f"experiment={name}", "scale=tiny", *QUIET, override])
        if group in reads:
            validate(cfg)  # accepted
        else:
            pattern = rf"experiment={name} does not read the group {group} \(it reads "
            with pytest.raises(ConfigError, match=pattern):
                validate(cfg)
            # a group switch of an unread group, too
            with pytest.raises(ConfigError, match=pattern):
                validate(compose([f"experiment={name}", "scale=tiny", *QUIET, f"{group}={_other_option(group)}"]))


def _other_option(group):
    options = sorted(f.name[:-5] for f in (CONFIGS / group).iterdir() if f.name.endswith(".yaml"))
    default = yaml.safe_load((CONFIGS / "config.yaml").read_text())["defaults"]
    chosen = next(d[group] for d in default if isinstance(d, dict) and group in d)
    return next((o for o in options if o != chosen), chosen)  # model has one option: choosing it is an override


def test_command_line_refuses_unread_group_without_traceback(cli_runs):
    _, report = cli_runs
    refused = {n: r["refused"] for n, r in report.items() if r["refused"] is not None}
    assert {"actor_critic", "memory", "real_sequences", "meanfield_loss", "elman_kernel"} <= set(refused)
    for name, r in refused.items():
        assert r["code"] == 2, (name, r)
        assert re.search(rf"configuration error: .*experiment={name} does not read the group \w+", r["stderr"]), r
        assert "Traceback" not in r["stderr"]


def test_actor_critic_issue_examples():
    for override, group in (("training.alpha=2", "training"), ("data.dim=3", "data")):
        cfg = compose(["experiment=actor_critic", "scale=tiny", override])
        with pytest.raises(ConfigError, match=rf"experiment=actor_critic does not read the group {group}"):
            validate(cfg)


def test_declared_reads_match_the_code():
    """``experiment.reads`` against the groups each module (and the helpers it imports) touches."""
    folder = os.path.dirname(importlib.import_module("rnnntk.experiments").__file__)
    helpers = {
        "spec_from_config": set(GROUPS),
        "build_data": {"data", "target"},
        "model_kwargs": {"model"},
        "model_from_config": {"model"},
        "limit_options_from_config": {"limit"},
    }
    for name in list_experiments():
        src = open(os.path.join(folder, f"{name}.py")).read()
        if re.search(r"from (\.|rnnntk\.experiments\.)_meanfield import", src):
            src += open(os.path.join(folder, "_meanfield.py")).read()
        used = {g for g in GROUPS if re.search(rf"\bcfg\.{g}\b", src)}
        for fn, groups in helpers.items():
            if re.search(rf"\b{fn}\(", src):
                used |= groups
        declared = set(experiment_reads(compose([f"experiment={name}"])))
        assert declared == used, f"{name}: experiment.reads = {sorted(declared)} but the code reads {sorted(used)}"


def test_experiment_and_scale_without_a_preset_fails_naming_both(tmp_path):
    """A scale that exists (here from an extra config directory) but has no preset for the
    experiment: composition leaves the optional preset out, validate refuses the run."""
    (tmp_path / "scale").mkdir()
    (tmp_path / "scale" / "huge.yaml").write_text("# @package _global_\nscale: huge\n")
    cfg = compose(["experiment=memory", "scale=huge", f"hydra.searchpath=[file://{tmp_path}]"])
    assert cfg.scale == "huge" and cfg.meta.preset is None
    with pytest.raises(ConfigError, match=r"scale = 'huge' is not allowed for experiment=memory .*\['paper', 'quick'"):
        validate(cfg)
    with pytest.raises(
        ConfigError, match=r"scale = 'huge' is not allowed: expected one of \['medium', 'paper', 'quick', 'tiny'"
    ):
        compose(["experiment=memory", "scale=huge"])

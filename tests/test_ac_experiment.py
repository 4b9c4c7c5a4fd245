"""The actor-critic experiment config composes and runs at a tiny size, and resumes from its stages."""

import importlib.resources
import json

import pytest
from omegaconf import OmegaConf
from rnnntk.experiments import actor_critic
from tiny_runs import run_tiny

from rnnntk import ConfigError
from rnnntk.run import RunContext, preset_scales


def _cfg(**over):
    configs = importlib.resources.files("rnnntk.configs")
    cfg = OmegaConf.create((configs / "experiment" / "actor_critic.yaml").read_text())
    assert preset_scales("actor_critic") == ["paper", "quick", "tiny"]
    tiny = OmegaConf.create((configs / "preset" / "actor_critic_tiny.yaml").read_text())
    cfg.experiment = OmegaConf.merge(cfg.experiment, tiny.experiment, over)
    cfg.seed = 0
    return cfg


def test_all_figures_at_tiny_size_and_resume(tmp_path, monkeypatch):
    # the tiny run of `rnnntk experiment=actor_critic scale=tiny`, with test_cli's checks (run_tiny)
    res = run_tiny(tmp_path, monkeypatch, "actor_critic")
    for name in ("ac_distance", "ac_value", "ac_policy_gradient", "ac_return"):
        assert (tmp_path / "figures" / f"{name}.png").exists()
        assert (tmp_path / "figures" / f"{name}.pdf").exists()
    assert set(res["distance"]) >= {"0.5", "0.75"}
    assert res["distance"]["0.5"]["ode_start"] == "network" and res["distance"]["0.75"]["ode_start"] == "zero"
    assert res["long"]["finite"]["40"]["t_final"] == pytest.approx(1.0)
    assert (tmp_path / "tables" / "ac_distance.csv").read_text().count("\n") == 5
    stages = sorted(p.name for p in (tmp_path / "stages").iterdir())
    assert len(stages) == 5  # 2 betas x 2 widths + 1 long-run width
    # a second run in the same directory loads every stage instead of training again
    cfg = _cfg(figures=["distance"])
    again = actor_critic.run(cfg, RunContext(out_dir=str(tmp_path), quiet=True))
    assert "long" not in again
    for b in ("0.5", "0.75"):
        assert again["distance"][b]["D_Q_mean"].tolist() == res["distance"][b]["D_Q_mean"].tolist()
    ctx = RunContext(out_dir=str(tmp_path), quiet=True)
    json.loads(open(ctx.save_results(res)).read())


def test_bad_figure_name_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"experiment.figures = 'loss' .* \('distance', 'value'"):
        actor_critic.run(_cfg(figures=["loss"]), RunContext(out_dir=str(tmp_path), quiet=True))

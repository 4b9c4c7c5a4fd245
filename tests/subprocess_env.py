"""The environment of a test's ``rnnntk`` subprocess: W&B offline, every cache and artefact in ``tmp``."""

import os

#: the session's persistent compilation cache (set by conftest): pass ``compile_cache=`` this to a
#: subprocess run so that it reuses the programs the session compiled
COMPILE_CACHE = os.environ.get("RNNNTK_TEST_COMPILE_CACHE")


def offline_env(tmp, **extra) -> dict[str, str]:
    """``os.environ`` with W&B offline and its directories and matplotlib's under ``tmp``."""
    env = dict(
        os.environ,
        WANDB_MODE="offline",
        WANDB_DIR=str(tmp),
        MPLCONFIGDIR=str(tmp / "mpl"),
        MPLBACKEND="Agg",
        WANDB_CACHE_DIR=str(tmp / "wc"),
        WANDB_CONFIG_DIR=str(tmp / "wcfg"),
        WANDB_DATA_DIR=str(tmp / "wd"),
    )
    env.update(extra)
    return env

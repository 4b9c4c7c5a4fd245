"""The locked environment: the locks pin what pyproject.toml declares, nothing declared goes unused,
the Dockerfile installs a lock, and a seed draws the same numbers under any JAX (PRNG set explicitly)."""

import re
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnntk

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = sorted((ROOT / "requirements").glob("lock-py*.txt"))
# distribution name -> module it is imported as, where they differ
IMPORT_NAME = {"hydra-core": "hydra"}
# declared without being imported: jaxlib is JAX's compiled backend, pinned next to jax so both match
NOT_IMPORTED = {"jaxlib"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version.split()[0]
    return pins


def test_locks_exist_for_each_supported_python():
    names = {p.name for p in LOCKS}
    assert {"lock-py311.txt", "lock-py312.txt", "lock-py312-cuda.txt"} <= names, names
    for lock in LOCKS:
        assert "make lock" in lock.read_text().splitlines()[0], f"{lock.name}: header names no regeneration command"


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_lock_pins_every_declared_dependency(lock):
    extras = PYPROJECT["project"]["optional-dependencies"]
    wanted = list(PYPROJECT["project"]["dependencies"]) + extras["dev"]
    if "cuda" in lock.name:
        wanted += extras["cuda"]
    pins = _pins(lock)
    missing = sorted({_name(r) for r in wanted} - set(pins))
    assert not missing, f"{lock.name} does not pin {missing}: run make lock"


def test_one_jax_and_numpy_for_every_python():
    """3.11, 3.12 and the GPU image run the same numerics libraries (same numbers for a seed)."""
    pins = {lock.name: _pins(lock) for lock in LOCKS}
    for lib in ("jax", "jaxlib", "numpy", "scipy"):
        versions = {name: p[lib] for name, p in pins.items()}
        assert len(set(versions.values())) == 1, f"{lib} differs between the locks: {versions}"


def test_floors_are_the_locked_versions():
    """A floor below the tested version allows an untested environment (wandb 0.18, JAX 0.4 broke)."""
    pins = _pins(ROOT / "requirements" / "lock-py311.txt")
    for req in PYPROJECT["project"]["dependencies"]:
        floor = re.search(r">=\s*([\w.]+)", req)
        assert floor, f"pyproject.toml: {req!r} has no floor"
        assert floor.group(1) == pins[_name(req)], f"{req}: the lock tests {pins[_name(req)]}"


def test_every_runtime_dependency_is_imported():
    sources = "\n".join(p.read_text() for d in ("rnnntk", "experiments") for p in (ROOT / d).rglob("*.py"))
    unused = []
    for req in PYPROJECT["project"]["dependencies"]:
        name = _name(req)
        if name in NOT_IMPORTED:
            continue
        module = IMPORT_NAME.get(name, name).replace("-", "_")
        if not re.search(rf"^\s*(import|from)\s+{module}\b", sources, re.M):
            unused.append(name)
    assert not unused, f"declared in pyproject.toml but never imported: {unused}"


def test_dockerfile_installs_the_lock_without_stubs():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*-r requirements/lock-py312-cuda\.txt", text)
    assert re.search(r"pip install .*--no-deps -e \.", text)
    assert "touch rnnntk/__init__.py" not in text
    assert "ubuntu24.04" in text, "the image's Python (3.12) comes from ubuntu 24.04: update the lock if it changes"


def test_prng_is_set_explicitly_by_the_package():
    assert rnnntk is not None
    assert jax.config.jax_threefry_partitionable is True


def test_fixed_seed_draw_is_stored_value():
    """The same key gives these numbers under any JAX; a changed PRNG fails here, not in a figure."""
    key = jax.random.key(20230814)
    bits = jax.random.bits(key, (4,), dtype=jnp.uint32)
    assert bits.tolist() == [3548995729, 1355069432, 2450449151, 1063989246]
    normal = jax.random.normal(key, (3,), dtype=jnp.float32)
    # float32 values written with 9 significant digits: exact round trip, so equality is the check
    np.testing.assert_array_equal(np.asarray(normal), np.float32([0.939702570, -0.480315328, 0.177748173]))
    try:  # the other PRNG mode draws different numbers: the stored value does pin the mode
        jax.config.update("jax_threefry_partitionable", False)
        assert jax.random.bits(key, (4,), dtype=jnp.uint32).tolist() != bits.tolist()
    finally:
        jax.config.update("jax_threefry_partitionable", True)


def test_make_installs_the_lock_and_reinstalls_when_it_changes():
    text = (ROOT / "Makefile").read_text()
    marker = re.search(r"^\$\(VENV\)/\.installed:(.*)$", text, re.M)
    assert marker and "LOCK" in marker.group(1), "the venv marker must depend on the lock"
    assert "LOCK ?= requirements/lock-py$(PYVER).txt" in text
    assert re.search(r"pip install .*-r \$\(LOCK\)", text) and re.search(r"pip install .*--no-deps -e \.", text)

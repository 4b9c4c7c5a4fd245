"""Replay the Dockerfile's Python steps without Docker, so the GPU image cannot stop building unnoticed.

    python scripts/check_docker_steps.py            # the image's lock, CUDA wheels included (large download)
    python scripts/check_docker_steps.py --cpu      # the CPU lock of the same Python instead, and the CUDA
                                                    # lock resolved for Linux without installing it

Reads the Dockerfile: the Python version of its base image (ubuntu 24.04: 3.12), then every step after
WORKDIR in order: ENV sets a variable, COPY copies from the build context (the repository minus
.dockerignore) into a scratch folder standing for WORKDIR, RUN runs in that folder with the scratch
virtual environment first on PATH (its path standing for the image's VENV). The steps before WORKDIR
(apt-get, creating the venv, upgrading pip) are replayed by creating the venv with that Python (the
machine's python3 when that version is absent, with a note). Exits non-zero, naming the step, when
one fails. Used by .ci/run; about a minute with a warm pip cache.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UBUNTU_PYTHON = {"24.04": "3.12", "22.04": "3.10", "20.04": "3.8"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, cur = [], ""
    for line in dockerfile.read_text().splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def find_python(version: str) -> tuple[str, bool]:
    """An interpreter of `version` (on PATH or under pyenv), else this one; and whether it matches."""
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in Path(pyenv_root, "versions").glob(f"{version}*/bin/python{version}"))
    for c in candidates:
        if c and subprocess.run([c, "-c", "import venv"], capture_output=True).returncode == 0:
            return c, True
    return sys.executable, False


def pins(lock: Path) -> list[str]:
    return [ln.strip() for ln in lock.read_text().splitlines() if "==" in ln and not ln.lstrip().startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for p in patterns:
        p = p.rstrip("/")
        if p.startswith("**/"):
            if any(fnmatch.fnmatch(part, p[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[: i + 1]), p) for i in range(len(parts))):
            return True
    return False


def copy_context(dst: Path) -> None:
    """The build context: the repository's files minus .dockerignore."""
    dockerignore = ROOT / ".dockerignore"
    patterns = [ln.strip() for ln in dockerignore.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not ignored(rel, patterns):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / rel)


def docker_copy(args: str, context: Path, workdir: Path) -> None:
    *srcs, dst = args.split()
    target = workdir / dst
    for src in srcs:
        s = context / src
        if s.is_dir():
            shutil.copytree(s, target, dirs_exist_ok=True)
        else:
            d = target / s.name if (dst.endswith("/") or len(srcs) > 1) else target
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)


def run(cmd: str, cwd: Path, env: dict[str, str], what: str) -> None:
    print(f"--> {what}: {cmd}", flush=True)
    r = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env)
    if r.returncode != 0:
        sys.exit(f"check_docker_steps: FAILED ({what}, exit {r.returncode}): {cmd}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu", action="store_true", help="install the CPU lock instead of the CUDA one")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args()

    steps = instructions(ROOT / "Dockerfile")
    base = next(arg for ins, arg in steps if ins == "FROM")
    m = re.search(r"ubuntu(\d+\.\d+)", base)
    version = UBUNTU_PYTHON.get(m.group(1), "3.12") if m else "3.12"
    python, exact = find_python(version)
    print(f"base image {base}: Python {version}; using {python}" + ("" if exact else f" (no Python {version} here)"))

    scratch = Path(tempfile.mkdtemp(prefix="docker-steps-"))
    context, venv = scratch / "context", scratch / "venv"
    copy_context(context)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "LOCK")}
    image_venv = None
    workdir = None
    try:
        run(
            f"'{python}' -m venv '{venv}' && '{venv}/bin/python' -m pip install --quiet --upgrade pip",
            scratch,
            env,
            "venv",
        )
        env["PATH"] = f"{venv}/bin:{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
        for n, (ins, arg) in enumerate(steps, 1):
            if ins == "ENV":
                pairs = re.findall(r"(\w+)=(\S+)", arg)
                for k, v in pairs:
                    if k == "VENV":
                        image_venv = v
                    elif k != "PATH" and workdir is not None:
                        env[k] = v.replace("-cuda.txt", ".txt") if a.cpu else v
                continue
            if ins == "WORKDIR":
                workdir = scratch / "work"
                workdir.mkdir()
                continue
            if workdir is None:
                continue  # system setup (apt-get, the venv): replayed by the venv above
            if a.cpu:
                arg = arg.replace("-cuda.txt", ".txt")
            if image_venv:
                arg = arg.replace(image_venv, str(venv))
            if ins == "COPY":
                print(f"--> step {n} COPY {arg}", flush=True)
                docker_copy(arg, context, workdir)
            elif ins == "RUN":
                run(arg, workdir, env, f"step {n} RUN")
        imports = "import rnnntk, rnnntk.actor_critic, rnnntk.experiments, rnnntk.run.cli"
        run(f"python -c '{imports}' && rnnntk --help >/dev/null", workdir, env, "imports")
        if a.cpu:
            # the CUDA lock's own pins (CUDA plugins, NVIDIA wheels): they exist for Linux and this Python
            cuda_lock = next(ROOT.glob("requirements/lock-py*-cuda.txt"))
            cpu_lock = cuda_lock.with_name(cuda_lock.name.replace("-cuda", ""))
            extra = sorted(set(pins(cuda_lock)) - set(pins(cpu_lock)))
            (scratch / "cuda-only.txt").write_text("\n".join(extra) + "\n")
            # glibc of ubuntu 24.04 is 2.39: any manylinux wheel up to that tag installs there
            tags = [f"manylinux_2_{m}_x86_64" for m in range(5, 40)]
            tags += ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]
            platforms = " ".join(f"--platform {t}" for t in tags)
            run(
                f"python -m pip install --quiet --dry-run --no-deps --ignore-installed --only-binary=:all: "
                f"{platforms} --python-version {version} --implementation cp "
                f"--target '{scratch}/cuda-target' -r '{scratch}/cuda-only.txt'",
                workdir,
                env,
                f"{len(extra)} pins only in {cuda_lock.name} resolve for Linux (no install)",
            )
        print("check_docker_steps: OK")
    finally:
        if a.keep:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

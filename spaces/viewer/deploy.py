"""The folder a Hugging Face Space is built from: ``app.py``, ``README.md``, ``requirements.txt`` and a wheel.

A Space installs its own folder's ``requirements.txt`` and runs ``app.py``;
nothing of a checkout is there, and this project is not on PyPI. So the folder
carries this project's wheel under ``wheels/``, and ``requirements.txt`` names
it by relative path with the extras the viewer needs, followed by the pinned
third-party libraries of ``spaces/viewer/requirements.txt`` (whose gradio pin is
also the README's ``sdk_version``). pip reads a relative path from the directory
it runs in, which for a Space's build is the folder itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wildchat50m.spaces.viewer.readme import SPACE_DIR, render_space_readme

from wildchat50m.errors import WildChat50mError
from wildchat50m.layout import is_hub_id

WHEELS_DIR = "wheels"
EXTRAS = "space,analysis"
DISTRIBUTION = "wildchat-50m"
WHEEL_PREFIX = "wildchat_50m-"
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet")


class ExportError(WildChat50mError):
    """The Space folder cannot be written as asked; the message says what to do."""


@dataclass(frozen=True)
class ExportedSpace:
    folder: Path
    wheel: Path
    dataset: str


def checkout_root() -> Path | None:
    """The project checkout this package runs from (an editable install), else None."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{DISTRIBUTION}"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def build_wheel(into: Path) -> Path:
    """This project's wheel, built from the checkout into ``into``."""
    root = checkout_root()
    if root is None:
        raise ExportError(
            "this installation is not a checkout, so no wheel can be built from it; build one in a"
            " checkout (`python -m build --wheel`) and pass it: --wheel dist/wildchat_50m-<version>-*.whl"
        )
    built = subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(into), str(root)],
        capture_output=True,
        text=True,
    )
    wheels = sorted(into.glob(f"{WHEEL_PREFIX}*.whl"))
    if built.returncode != 0 or not wheels:
        raise ExportError(f"building the wheel of {root} failed:\n{built.stderr.strip()[-2000:]}")
    return wheels[-1]


def requirements(wheel_name: str) -> str:
    """The folder's requirements.txt: the wheel by relative path with its extras, then the pins."""
    pins = [
        line
        for line in (SPACE_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return "\n".join([f"./{WHEELS_DIR}/{wheel_name}[{EXTRAS}]", *pins]) + "\n"


def export_space(dataset: str, folder: Path, *, wheel: Path | None = None) -> ExportedSpace:
    """Write a Space folder showing the Hub dataset ``dataset``; ``wheel`` defaults to one built now."""
    if not is_hub_id(dataset):
        raise ExportError(f"{dataset!r} is not a Hub dataset id (org/name): a Space reads the Hub's data")
    if wheel is not None and not (wheel.is_file() and wheel.name.startswith(WHEEL_PREFIX)):
        raise ExportError(f"{wheel} is not a wheel of {DISTRIBUTION} ({WHEEL_PREFIX}<version>-...whl)")
    folder.mkdir(parents=True, exist_ok=True)
    wheels = folder / WHEELS_DIR
    wheels.mkdir(exist_ok=True)
    for old in wheels.glob(f"{WHEEL_PREFIX}*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:
        source = wheel if wheel is not None else build_wheel(Path(scratch))
        shipped = wheels / source.name
        shutil.copyfile(source, shipped)
    shutil.copyfile(SPACE_DIR / "app.py", folder / "app.py")
    (folder / "requirements.txt").write_text(requirements(shipped.name), encoding="utf-8")
    (folder / "README.md").write_text(render_space_readme(dataset), encoding="utf-8")
    return ExportedSpace(folder=folder, wheel=shipped, dataset=dataset)

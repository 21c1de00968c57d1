"""The installed wheel works on its own: no checkout, no heavy optional dependency."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "vllm", "ray", "gradio", "axolotl", "lm_eval", "transformers")

CHECK_INSTALLED = """
import importlib, json, pkgutil, sys
import wildchat50m
from wildchat50m import resources
from wildchat50m.cli import cli
from wildchat50m.registry import load_registry

modules = sorted(m.name for m in pkgutil.walk_packages(wildchat50m.__path__, "wildchat50m."))
for name in modules:
    if name != "wildchat50m.__main__":
        importlib.import_module(name)
paths = {
    "package": wildchat50m.__file__,
    "cards": str(resources.cards_dir()),
    "registry": str(resources.registry_file()),
    "sample": str(resources.sample_file()),
    "lm_eval_tasks": str(resources.lm_eval_tasks_dir()),
}
print(json.dumps({
    "paths": paths,
    "exists": {k: __import__("os").path.exists(v) for k, v in paths.items()},
    "modules": modules,
    "dgms": len(load_registry()),
    "commands": sorted(cli.commands),
    "heavy_imported": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY),
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment holding only the built wheel and its core dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work / "dist"), str(ROOT)],
        check=True,
    )
    (wheel,) = (work / "dist").glob("wildchat_50m-*.whl")
    venv.EnvBuilder(with_pip=True).create(work / "env")
    python = work / "env" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    return work / "env"


def test_the_wheel_finds_its_files_and_imports_nothing_heavy(installed, tmp_path):
    script = f"HEAVY = {HEAVY!r}\n" + CHECK_INSTALLED
    result = subprocess.run(
        [installed / "bin" / "python", "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    facts = json.loads(result.stdout)
    site_packages = str(installed / "lib")
    for name, path in facts["paths"].items():
        assert path.startswith(site_packages), f"{name} found outside the installed package: {path}"
        assert facts["exists"][name], name
    assert str(ROOT) not in result.stdout
    assert facts["dgms"] > 50
    import wildchat50m

    checkout = sorted(m.name for m in pkgutil.walk_packages(wildchat50m.__path__, "wildchat50m."))
    assert set(checkout) <= set(facts["modules"]), "a module of the checkout is missing from the wheel"
    assert facts["heavy_imported"] == []
    for name in HEAVY:
        missing = subprocess.run([installed / "bin" / "python", "-c", f"import {name}"], capture_output=True)
        assert missing.returncode != 0, f"{name} should not be installed by the core"

    command = installed / "bin" / "wildchat50m"
    assert "Usage: wildchat50m" in subprocess.run([command, "--help"], capture_output=True, text=True).stdout
    for sub in facts["commands"]:
        help_text = subprocess.run(
            [command, sub, "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert f"Usage: wildchat50m {sub}" in help_text
    table = subprocess.run([command, "dgms"], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert "Qwen2.5-72B" in table and "WildChat-GPT" in table
    report = json.loads(
        subprocess.run(
            [command, "read", "--json"], capture_output=True, text=True, check=True, cwd=tmp_path
        ).stdout
    )
    assert report["accepted"] >= 300 and report["rejected"] == 0


def test_the_distributions_build_and_pass_twine_check(tmp_path):
    """What a release uploads: an sdist and a wheel of the version in pyproject.toml, with the changelog."""
    import tarfile
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built == [f"wildchat_50m-{version}-py3-none-any.whl", f"wildchat_50m-{version}.tar.gz"]
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *(str(tmp_path / name) for name in built)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2
    with tarfile.open(tmp_path / f"wildchat_50m-{version}.tar.gz") as sdist:
        assert f"wildchat_50m-{version}/CHANGELOG.md" in sdist.getnames()
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")

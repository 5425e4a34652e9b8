"""The report layer's assets ship with the package: what setuptools puts in a wheel holds them."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ("dashboard.css", "dashboard.html", "dashboard.js", "report.css")


def test_every_asset_file_is_one_the_report_layer_reads() -> None:
    shipped = sorted(p.name for p in (ROOT / "src" / "tabloop" / "report" / "assets").iterdir())
    assert shipped == sorted(ASSETS)


def test_the_built_package_holds_the_report_assets(tmp_path: Path) -> None:
    # a copy, so that building leaves no build/ or egg-info in the checkout
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copy(ROOT / "README.md", project)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    if importlib.util.find_spec("wheel") is not None:  # a real wheel where the wheel package is installed
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path / "dist"), str(project)], check=True, timeout=300)
        (wheel,) = (tmp_path / "dist").glob("tabloop-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
    else:  # else the step that gathers a wheel's files: setuptools' build_py, with the same package data
        subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                        "--build-lib", str(tmp_path / "lib")], cwd=project, check=True, timeout=300,
                       capture_output=True)
        names = {p.relative_to(tmp_path / "lib").as_posix() for p in (tmp_path / "lib").rglob("*")}
    for asset in ASSETS:
        assert f"tabloop/report/assets/{asset}" in names, asset

"""The README stands alone: its examples run as written, and no file points outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _python_blocks_loading_a_model() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if "load_model(" in b]
    assert len(found) == 2, "expected the tabloop.load_model and the MLflow pyfunc examples in README.md"
    return found


@pytest.mark.parametrize("block", _python_blocks_loading_a_model(), ids=["tabloop.load_model", "mlflow.pyfunc"])
def test_readme_model_loading_example_runs_as_written(block: str, trained_project: Path, hmda_csv: Path,
                                                      tmp_path: Path) -> None:
    """Run from the folder holding the project, as the README's tour does; only the names are this test's."""
    name = trained_project.name
    code = block.replace('"loans"', f'"{name}"').replace("loans/", f"{name}/").replace("models:/loans@", f"models:/{name}@")
    code = code.replace("src/tabloop/datasets/hmda.csv", str(hmda_csv))
    code += "\nassert len(scored) > 0 and 'prediction' in scored.columns, scored.columns\nprint('OK', len(scored))\n"
    # a fresh shell's environment: MLflow's set_tracking_uri / set_registry_uri, called by earlier tests in
    # this process (a PostgreSQL store since dropped), export MLFLOW_* variables that the example would inherit
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TABLOOP_"))}
    env["GIT_PYTHON_REFRESH"] = "quiet"
    done = subprocess.run([sys.executable, "-c", code], cwd=trained_project.parent, capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK" in done.stdout
    # the old example, without the tracking URI, looked for (and created) ./mlflow.db
    assert not (trained_project.parent / "mlflow.db").exists()


def test_no_tracked_file_points_outside_the_repository() -> None:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    outside = ("../" + "shared", "shared/" + "DESIGN.md")  # spelled in two parts so this file does not match itself
    offenders = []
    for rel in listed.stdout.decode().split("\0"):
        path = ROOT / rel
        if not rel or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        offenders += [f"{rel}: {needle}" for needle in outside if needle in text]
    assert offenders == []

"""tabloop's wheel made from the running code installs with pip, offline, templates and all."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import tabloop
from tabloop.deploy import build_wheel, lock_text, runtime_pins


def test_the_wheel_records_every_file_and_pip_installs_it(tmp_path: Path) -> None:
    wheel = build_wheel(Path(tabloop.__file__).parent, tmp_path / "wheels")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
        rows = list(csv.reader(io.StringIO(zf.read(record_name).decode())))
        for name, digest, size in rows:
            if name == record_name:
                continue
            data = zf.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)
    assert {r[0] for r in rows} == names
    assert "tabloop/deploy/templates/Dockerfile.tmpl" in names and "tabloop/datasets/hmda.csv" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(target), str(wheel)], check=True)
    assert (target / "tabloop" / "deploy" / "templates" / "retrain.yaml.tmpl").is_file()
    assert (target / "bin" / "tabloop").is_file()  # the console script the image's CMD runs
    # the same code makes the same bytes, so an image layer is reused when nothing changed
    again = build_wheel(Path(tabloop.__file__).parent, tmp_path / "again")
    assert again.read_bytes() == wheel.read_bytes()


def test_the_lock_pins_what_is_installed() -> None:
    from importlib.metadata import version

    pins = runtime_pins()
    assert pins["scikit-learn"] == version("scikit-learn")
    assert pins["mlflow"] == version("mlflow") and "tabloop" not in pins
    # a requirement of a requirement is pinned too, and one for another platform is not
    assert "numpy" in pins and "pywin32" not in pins
    text = lock_text(pins)
    assert f"scikit-learn=={version('scikit-learn')}\n" in text

"""``tabloop train --engine dask`` through the CLI with a local cluster of worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import tabloop

pytestmark = pytest.mark.e2e
pytest.importorskip("distributed")


def test_the_cli_prints_one_json_document_with_a_local_cluster_of_processes(tmp_path: Path, hmda: pd.DataFrame,
                                                                           hmda_csv: Path) -> None:
    """Worker processes, LightGBM's network set-up and Dask's logs around it leave --json's stdout one document."""
    parts = tmp_path / "data"
    parts.mkdir()
    for i in range(4):
        hmda.iloc[i::4].to_parquet(parts / f"part-{i}.parquet", index=False)
    root = tmp_path / "p"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    raw = yaml.safe_load((root / "tabloop.yaml").read_text())
    raw["data"]["source"] = str(parts)
    raw["train"]["candidates"] = ["lightgbm"]
    (root / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, "-m", "tabloop", "train", "-p", str(root), "--engine", "dask",
                           "--workers", "2", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print exactly one document, got: {proc.stdout[:500]}"
    doc = json.loads(lines[0])
    assert doc["engine"] == "dask" and doc["winner"] == "lightgbm" and doc["dask"]["scheduler"] == "(local cluster)"
    assert doc["dask"]["workers"] == 2

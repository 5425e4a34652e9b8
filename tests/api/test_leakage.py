"""``profile`` and ``train`` check for leaks and train/test shift, and say what they find in their JSON, text and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

import tabloop
from tabloop.cli import app


def _leaky_project(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 400
    a = rng.normal(size=n)
    y = np.where(a + rng.normal(size=n) > 0, "yes", "no")
    df = pd.DataFrame({"a": a, "b": rng.normal(size=n), "y": y,
                       "decision": np.where(y == "yes", "granted", "refused")})  # the outcome, written down again
    # applications that were granted were entered later in the year: a date, so never a feature, but the
    # axis a split should follow
    days = np.where(y == "yes", rng.integers(150, 365, n), rng.integers(0, 250, n))
    df["applied"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d")
    data = tmp_path / "leaky.csv"
    df.to_csv(data, index=False)
    root = tmp_path / "p"
    tabloop.init(root, data=str(data), target="y")
    raw = yaml.safe_load((root / "tabloop.yaml").read_text())
    raw["train"].update(candidates=["dummy", "linear"], trials=1, ensemble=False)
    (root / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    return root


def test_profile_and_train_name_the_leak_in_json_text_and_reports(tmp_path: Path) -> None:
    root = _leaky_project(tmp_path)
    runner = CliRunner()

    res = runner.invoke(app, ["profile", "-p", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [(f["code"], f["column"], f["severity"]) for f in doc["leakage"]] == \
        [("target_copy", "decision", "critical"), ("timestamp_carries_target", "applied", "warning")]
    assert [f["spec_change"] for f in doc["leakage"]] == \
        ["data.exclude: [decision]", "split: {strategy: time, time_column: applied}"]
    assert json.loads(Path(doc["report_json"]).read_text())["leakage"] == doc["leakage"]
    html = Path(doc["report_html"]).read_text()
    assert "Leakage and shift" in html and "data.exclude: [decision]" in html

    text = runner.invoke(app, ["profile", "-p", str(root)])
    assert text.exit_code == 0 and "CRITICAL column 'decision' is a copy of the target" in text.output

    res = runner.invoke(app, ["train", "-p", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [(f["code"], f["column"]) for f in doc["leakage"]] == \
        [("target_copy", "decision"), ("timestamp_carries_target", "applied")]
    report = json.loads(Path(doc["report_json"]).read_text())
    assert report["leakage"] == doc["leakage"]
    assert "Leakage and shift" in Path(doc["report_html"]).read_text()
    # said before the search starts, not only in the result
    assert "CRITICAL column 'decision' is a copy of the target" in res.stderr


def test_a_clean_table_says_the_checks_ran_and_found_nothing(tmp_path: Path, hmda_csv: Path) -> None:
    root = tmp_path / "p"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    res = tabloop.profile(root)
    assert res.leakage == []
    assert "No column predicts the target too well alone" in Path(res.report_html).read_text()

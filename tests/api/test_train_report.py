"""What ``tabloop train`` reports about how candidates were scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def _quick_project(tmp_path: Path, table: "pd.DataFrame", target: str) -> tuple[Path, dict]:
    """A project over ``table`` that trains dummy and linear with one trial: quick, and enough for a report."""
    import yaml

    import tabloop

    data = tmp_path / "table.csv"
    table.to_csv(data, index=False)
    root = tmp_path / "p"
    tabloop.init(root, data=str(data), target=target)
    raw = yaml.safe_load((root / "tabloop.yaml").read_text())
    raw["train"].update(candidates=["dummy", "linear"], trials=1, ensemble=False)
    (root / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    return root, raw


def test_the_leaderboard_says_which_validation_scored_the_candidates(trained_project: Path) -> None:
    reports = trained_project / ".tabloop" / "reports"
    data = json.loads((reports / "train-v1.json").read_text())
    # HMDA: 2,380 rows, 80% for training; auto picks 5-fold between 1,000 and 100,000 training rows
    assert data["validation"] == "5-fold (stratified); auto for 1,904 training rows"
    assert data["folds"] == 5
    assert all(len(c["fold_scores"]["roc_auc"]) == 5 for c in data["leaderboard"] if c["status"] == "ok")
    assert "validation on the training part: 5-fold (stratified); auto for 1,904 training rows" in \
        (reports / "train-v1.html").read_text()
    for c in (c for c in data["leaderboard"] if c["status"] == "ok"):
        low, high = c["ci95"]["roc_auc"]
        scores = c["fold_scores"]["roc_auc"]
        assert low < c["metrics"]["roc_auc"]["mean"] < high or min(scores) == max(scores)
        # wider than the plain interval: the folds share training rows (Nadeau-Bengio, 5-fold: ratio 1/4)
        assert high - low >= 2 * 2.776 * c["metrics"]["roc_auc"]["std"] / 5 ** 0.5 - 1e-12


def test_a_baseline_winner_is_a_warning_in_the_output_json_and_report(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    from tabloop.cli import app

    rng = np.random.default_rng(3)  # the target is noise: nothing can beat predicting its mean
    root, _ = _quick_project(tmp_path, pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500),
                                                     "y": rng.normal(size=500)}), "y")
    res = CliRunner().invoke(app, ["train", "-p", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["winner"] == "dummy"
    assert len(doc["warnings"]) == 1 and "the best model is no better than predicting the mean" in doc["warnings"][0]
    report = json.loads(Path(doc["report_json"]).read_text())
    assert report["warnings"] == doc["warnings"]
    assert "no better than predicting the mean" in Path(doc["report_html"]).read_text()
    text = CliRunner().invoke(app, ["train", "-p", str(root)])
    assert text.exit_code == 0 and "WARNING: the best model is no better than predicting the mean" in text.output


def test_train_says_the_data_findings_before_it_trains_and_keeps_them(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    from tabloop.cli import app

    rng = np.random.default_rng(5)
    table = pd.DataFrame({"a": rng.normal(size=340), "b": rng.normal(size=340)})
    table["y"] = np.where(table["a"] > 0, "yes", "no")
    table = pd.concat([table, table.sample(60, random_state=1)], ignore_index=True).assign(notes=np.nan)
    root, _ = _quick_project(tmp_path, table, "y")
    res = CliRunner().invoke(app, ["train", "-p", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [f["code"] for f in doc["findings"]][:2] == ["duplicate_rows", "empty_column"]
    assert doc["findings"][0]["message"].startswith("60 rows (15.0%) repeat an earlier row")
    report = json.loads(Path(doc["report_json"]).read_text())
    assert report["findings"] == doc["findings"]
    assert "Findings about the data" in Path(doc["report_html"]).read_text()
    text = CliRunner().invoke(app, ["train", "-p", str(root)])
    assert text.exit_code == 0, text.output
    out = text.output
    assert "WARNING 60 rows (15.0%) repeat an earlier row" in out and "what to do: dedupe" in out
    assert out.index("finding(s) about the data") < out.index("registering the winner")  # before training ends


def test_rows_without_a_target_are_refused_by_default_and_left_out_and_counted_when_the_spec_says_drop(
        tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    import yaml
    from typer.testing import CliRunner

    import tabloop
    from tabloop.cli import app

    rng = np.random.default_rng(8)
    table = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    table["y"] = np.where(table["a"] > 0, "yes", "no")
    table.loc[[5, 77, 210], "y"] = None  # R tables often carry NA targets (car::Chile's vote)
    root, raw = _quick_project(tmp_path, table, "y")
    refused = CliRunner().invoke(app, ["train", "-p", str(root), "--json"])
    assert refused.exit_code == 1
    assert "missing in 3 row(s)" in refused.output and "data.missing_target: drop" in refused.output

    raw["data"]["missing_target"] = "drop"
    (root / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    res = CliRunner().invoke(app, ["train", "-p", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["unlabelled_dropped"] == 3
    assert doc["train_rows"] + doc["test_rows"] == 297
    said = [f for f in doc["findings"] if f["code"] == "target_missing"]
    assert [(f["severity"], "leaves them out" in f["message"]) for f in said] == [("warning", True)]
    # evaluate splits through the same rows: it finds the test part train held out, not an error
    assert tabloop.evaluate(project=root).rows == doc["test_rows"]
    profiled = tabloop.profile(root)
    assert [f["severity"] for f in profiled.findings if f["code"] == "target_missing"] == ["warning"]

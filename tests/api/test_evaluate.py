"""`tabloop evaluate --json` end to end on a trained project: intervals, the decision, slices, the model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from tabloop.cli import app
from .._spec_edit import set_spec


def test_evaluate_json_has_the_whole_evaluation_and_writes_the_model_card(trained_project: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(trained_project, root, symlinks=True)  # the session's project stays as it is
    set_spec(root, **{"evaluation.slices": ["black", "lvr"], "evaluation.daily_volume": 2500,
                      "evaluation.intended_use": "Second review of likely denials.",
                      "evaluation.bootstrap_resamples": 300, "evaluation.confident_errors": 4})
    res = CliRunner().invoke(app, ["evaluate", "--project", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rows"] > 400 and doc["metric"] == "roc_auc"
    for name in ("roc_auc", "average_precision", "log_loss", "brier", "precision", "recall", "f1"):
        low, high = doc["intervals"][name]
        assert low <= doc["metrics"][name] <= high, name
        assert name in doc["baseline"]
    assert doc["baseline"]["roc_auc"] == 0.5
    assert doc["decision"]["sentence"].startswith("at threshold 0.50, of about 2,500 cases a day, about ")
    assert [g["column"] for g in doc["slices"]] == ["black", "lvr"]  # black is excluded from the features, yet sliced
    assert len(doc["confident_errors"]) == 4
    assert doc["importance"]["permutation"]
    report = json.loads(Path(doc["report_json"]).read_text())
    assert report["calibration"] and report["pr_curve"] and report["decision"] == doc["decision"]
    card = Path(doc["model_card_md"]).read_text()
    assert Path(doc["model_card_md"]).name == f"model-card-v{doc['version']}.md"
    assert "Second review of likely denials." in card and "## Lineage" in card
    for tag in ("tabloop.data_hash", "tabloop.spec_hash", "tabloop.code_version", "tabloop.run_id"):
        assert tag in card, tag
    assert "95% interval" in card and "worst slice" in card
    assert "Second review" in Path(doc["model_card_html"]).read_text()

    text = CliRunner().invoke(app, ["evaluate", "--project", str(root)])
    assert text.exit_code == 0, text.output
    assert "roc_auc: 0." in text.output and "(baseline 0.5000)" in text.output
    assert "At threshold 0.50, of about 2,500 cases a day" in text.output and "model card:" in text.output

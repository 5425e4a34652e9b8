"""The whole loop through the CLI, as a user on a fresh machine would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("qs") / "demo"
    # train and retrain run a fixed few trials of four families (a booster among them) instead of spending two
    # 20 s budgets on all of them: every step still runs through the CLI on a real model, in half the time.
    # A search under a time budget is tested in tests/api/test_train_budget.py and measured by `make bench-budget`.
    env = {**os.environ, "TABLOOP_TRAIN__TRIALS": "6", "TABLOOP_TRAIN__CANDIDATES": "[dummy, linear, tree, lightgbm]"}
    proc = subprocess.run(
        [sys.executable, "-m", "tabloop", "quickstart", str(root), "--budget", "20", "--json"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print exactly one document, got: {proc.stdout[:500]}"
    return root, json.loads(lines[0])


def test_every_step_ran_and_says_so(quickstart: tuple[Path, dict]) -> None:
    root, doc = quickstart
    assert doc["ok"] is True
    for step in ("init", "profile", "train", "evaluate", "promote", "serve", "predict", "monitor", "feedback", "retrain"):
        assert step in doc, step
    assert (root / "tabloop.yaml").exists()
    assert (root / "tabloop.schema.json").exists()
    assert doc["simulated_drift"] == {"column": "dir", "factor": 1.5, "simulated": True}


def test_registry_has_a_champion_and_a_challenger(quickstart: tuple[Path, dict]) -> None:
    root, doc = quickstart
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root}/.tabloop/mlflow.db", registry_uri=f"sqlite:///{root}/.tabloop/mlflow.db")
    name = doc["train"]["model"]
    assert str(client.get_model_version_by_alias(name, "champion").version) == doc["train"]["version"]
    assert str(client.get_model_version_by_alias(name, "challenger").version) == doc["retrain"]["challenger_version"]
    # one parent run per train/retrain, one nested run per candidate
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.data.tags["tabloop.stage"] for r in parents) == ["retrain", "train"]
    assert len(runs) - len(parents) >= 2 * 2


def test_server_answered_and_the_log_has_every_row(quickstart: tuple[Path, dict]) -> None:
    root, doc = quickstart
    assert doc["serve"]["answered"] == 20
    assert doc["serve"]["rejected_status"] == 422
    records = [json.loads(line) for f in sorted((root / ".tabloop" / "predlog").glob("predictions-*.jsonl"))
               for line in f.read_text().splitlines() if line.strip()]
    # the rejected request left one error record, apart from the rows
    (refused,) = [r for r in records if r.get("kind") == "error"]
    assert refused["status"] == doc["serve"]["rejected_status"] and refused["code"] == "contract_violation"
    rows = [r for r in records if r.get("kind") != "error"]
    http = [r for r in rows if r["source"] == "http"]
    batch = [r for r in rows if r["source"] == "batch"]
    assert sorted(r["request_id"] for r in http) == sorted(doc["serve"]["request_ids"])
    assert refused["request_id"] not in doc["serve"]["request_ids"]
    assert len(batch) == doc["predict"]["rows"]
    assert all(r["version"] == doc["train"]["version"] for r in records)


def test_batch_output_has_one_row_per_input(quickstart: tuple[Path, dict]) -> None:
    import pandas as pd

    root, doc = quickstart
    out = pd.read_csv(root / "predictions.csv")
    inp = pd.read_csv(root / "data" / "production.csv")
    assert len(out) == len(inp) == doc["predict"]["rows"]
    assert {"prediction", "proba_no", "proba_yes"} <= set(out.columns)
    # batch scores with the ONNX graph (float32) whose parity was checked at registration
    assert (out["proba_no"] + out["proba_yes"]).sub(1).abs().max() < 1e-6


def test_drift_report_flags_the_simulated_column_and_no_other(quickstart: tuple[Path, dict]) -> None:
    root, doc = quickstart
    mon = doc["monitor"]
    assert mon["drifted_features"] == ["dir"]
    assert mon["policy_crossed"] is True and mon["exit_code"] == 3
    html = Path(mon["report_html"]).read_text()
    # the distribution panels are inline SVG, one per compared column
    assert "aria-label='reference and current distribution of dir — drifted'" in html
    assert json.loads(Path(mon["report_json"]).read_text())["features"]


def test_feedback_and_retrain_decision_are_recorded(quickstart: tuple[Path, dict]) -> None:
    root, doc = quickstart
    assert doc["feedback"]["matched"] == doc["predict"]["rows"]
    assert doc["feedback"]["unmatched"] == 0
    perf = doc["feedback"]["performance"]
    assert perf and perf[0]["metrics"]["roc_auc"] > 0.6
    rt = doc["retrain"]
    assert rt["status"] == "retrained"
    assert rt["reasons"]
    record = json.loads(Path(rt["record"]).read_text())
    assert record["promote"] == rt["promote"]


def test_reports_are_self_contained_html_with_json_twins(quickstart: tuple[Path, dict]) -> None:
    root, doc = quickstart
    for step in ("profile", "evaluate", "train"):
        html = Path(doc[step]["report_html"]).read_text()
        # plots inline: PNG data URIs (matplotlib) or SVG elements (the profile's charts); nothing fetched
        assert ("src=\"data:image/png" in html or "<svg" in html), step
        assert "src=\"http" not in html and "<script src" not in html
        assert Path(doc[step]["report_json"]).exists()


def test_each_application_is_scored_and_monitored_once(quickstart: tuple[Path, dict]) -> None:
    root, doc = quickstart
    records = [json.loads(line) for f in sorted((root / ".tabloop" / "predlog").glob("predictions-*.jsonl"))
               for line in f.read_text().splitlines() if line.strip()]
    rows = [r for r in records if r.get("kind") != "error"]

    features = sorted(next(r for r in rows if r["source"] == "batch")["inputs"])  # a client may send more

    def inputs(source: str) -> set[str]:
        return {json.dumps([r["inputs"].get(f) for f in features]) for r in rows if r["source"] == source}

    # the applications sent to the server are not scored again in the batch run
    assert not inputs("http") & inputs("batch")
    assert doc["monitor"]["current_rows"] == doc["serve"]["answered"] + doc["predict"]["rows"]
    # the batch run answered no request of the server: it is no A/B variant
    assert doc["monitor"]["ab"] is None

"""The CLI: every command documented, --json prints one document, errors are one line and an exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from tabloop.cli import app

runner = CliRunner()


def _leaf_commands() -> list[list[str]]:
    out: list[list[str]] = []
    for name, cmd in get_command(app).commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        out.extend([[name, s] for s in sub] if sub else [[name]])
    return sorted(out)


COMMANDS = _leaf_commands()


def run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_json(command: list[str]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0
    assert "--json" in out


def test_init_writes_a_commented_spec_and_refuses_to_overwrite(tmp_path: Path, hmda_csv: Path) -> None:
    code, out, _ = run("init", str(tmp_path / "p"), "--data", str(hmda_csv), "--target", "deny", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] and doc["task"] == "binary"
    text = (tmp_path / "p" / "tabloop.yaml").read_text()
    assert "# The column to predict." in text and "target: deny" in text
    code, out, err = run("init", str(tmp_path / "p"), "--data", str(hmda_csv), "--target", "deny", "--json")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "spec_error"
    assert "--force" in json.loads(out)["error"]["hint"]


def test_a_missing_target_is_one_line_naming_the_column(tmp_path: Path, hmda_csv: Path) -> None:
    code, out, err = run("init", str(tmp_path / "q"), "--data", str(hmda_csv), "--target", "nope")
    assert code == 1
    assert "'nope'" in err and "Traceback" not in err and "Traceback" not in out
    assert not (tmp_path / "q" / "tabloop.yaml").exists()


def test_a_bad_spec_key_is_reported_with_its_path(tmp_path: Path, hmda_csv: Path) -> None:
    run("init", str(tmp_path / "r"), "--data", str(hmda_csv), "--target", "deny")
    spec = tmp_path / "r" / "tabloop.yaml"
    spec.write_text(spec.read_text().replace("  folds: 5", "  fold: 5"))
    code, out, _ = run("profile", "-p", str(tmp_path / "r"), "--json")
    assert code == 1
    err = json.loads(out)["error"]
    assert "split.fold: unknown key" in err["message"] and "folds" in err["message"]


def test_commands_outside_a_project_say_what_to_run(tmp_path: Path) -> None:
    code, out, _ = run("train", "-p", str(tmp_path), "--json")
    assert code == 1
    assert "tabloop init" in json.loads(out)["error"]["hint"]


def test_json_output_is_exactly_one_document_even_when_mlflow_talks(trained_project: Path, tmp_path: Path, hmda: pd.DataFrame) -> None:
    src = tmp_path / "in.csv"
    hmda.head(30).to_csv(src, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "tabloop", "predict", "-p", str(trained_project), "-i", str(src), "-o",
         str(tmp_path / "out.parquet"), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["rows"] == 30
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 30 and list(out.columns[:2]) == ["request_id", "row"]


def test_batch_rows_that_break_the_contract_are_rejected_naming_column_and_row(
    trained_project: Path, tmp_path: Path, hmda: pd.DataFrame
) -> None:
    bad = hmda.head(10).copy()
    bad["lvr"] = bad["lvr"].astype(object)
    bad.loc[3, "lvr"] = "high"
    bad.loc[7, "dir"] = 1000.0
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, out, _ = run("predict", "-p", str(trained_project), "-i", str(tmp_path / "bad.csv"), "-o",
                       str(tmp_path / "o.csv"), "--no-log", "--chunk-rows", "4", "--threads", "3", "--json")
    assert code == 3, out  # some rows rejected: the output and the rejects are written
    doc = json.loads(out)
    assert (doc["rows_scored"], doc["rows_rejected"], doc["rejects"]) == (8, 2, str(tmp_path / "o.rejects.csv"))
    assert doc["threads"] == 3 and doc["engine"] == "local"
    assert {"seconds", "rows_per_second", "version", "output"} <= set(doc)
    rejects = pd.read_csv(tmp_path / "o.rejects.csv")
    assert list(zip(rejects["row"], rejects["column"], rejects["value"], rejects["rule"])) == [
        (3, "lvr", "high", "type"), (7, "dir", "1000.0", "far_range")]
    assert pd.read_csv(tmp_path / "o.csv")["row"].tolist() == [0, 1, 2, 4, 5, 6, 8, 9]


def test_predict_every_row_rejected_is_an_error_and_writes_no_output(
    trained_project: Path, tmp_path: Path, hmda: pd.DataFrame
) -> None:
    bad = hmda.head(3).copy()
    bad["dir"] = 1000.0
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, out, _ = run("predict", "-p", str(trained_project), "-i", str(tmp_path / "bad.csv"), "-o",
                       str(tmp_path / "o.parquet"), "--rejects", str(tmp_path / "why.parquet"), "--no-log", "--json")
    assert code == 1
    err = json.loads(out)["error"]
    assert "every one of the 3 rows broke the data contract" in err["message"]
    assert str(tmp_path / "why.parquet") in err["hint"]
    assert not (tmp_path / "o.parquet").exists() and len(pd.read_parquet(tmp_path / "why.parquet")) == 3


def test_predict_prints_no_progress_bar_into_a_pipe(trained_project: Path, tmp_path: Path, hmda: pd.DataFrame) -> None:
    hmda.head(20).to_csv(tmp_path / "in.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "tabloop", "predict", "-p", str(trained_project), "-i", str(tmp_path / "in.csv"),
         "-o", str(tmp_path / "o.parquet"), "--no-log", "--chunk-rows", "5", "--add-version", "--row-id", "black"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "scored 20 rows" in proc.stdout + proc.stderr
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert out["black"].tolist() == hmda.head(20)["black"].tolist() and set(out["model_version"]) == {"1"}


def test_predict_refuses_a_bad_output_before_scoring(trained_project: Path, tmp_path: Path, hmda: pd.DataFrame) -> None:
    hmda.head(5).to_csv(tmp_path / "in.csv", index=False)
    code, out, _ = run("predict", "-p", str(trained_project), "-i", str(tmp_path / "in.csv"), "-o",
                       str(tmp_path / "o.xlsx"), "--json")
    assert code == 1 and "unknown output format '.xlsx'" in json.loads(out)["error"]["message"]
    code, out, _ = run("predict", "-p", str(trained_project), "-i", str(tmp_path / "in.csv"), "-o",
                       str(tmp_path / "o.csv"), "--rejects", str(tmp_path / "o.csv"), "--json")
    assert code == 1 and "cannot be the same" in json.loads(out)["error"]["message"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_standalone_drift_needs_no_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000), "c": rng.choice(["x", "y"], 3000)})
    cur = pd.DataFrame({"a": rng.normal(1.0, 1, 3000), "b": rng.normal(size=3000), "c": rng.choice(["x", "y"], 3000)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("monitor", "--reference", "ref.csv", "--current", "cur.csv", "--json")
    assert code == 3
    doc = json.loads(out)
    assert doc["drifted_features"] == ["a"]
    by_col = {f["column"]: f for f in doc["features"]}
    assert set(by_col) == {"a", "b", "c"}
    assert by_col["a"]["drifted"] and not by_col["b"]["drifted"]
    assert Path(doc["report_html"]).exists()


def test_schema_command_prints_the_json_schema() -> None:
    code, out, _ = run("schema", "--json")
    assert code == 0
    assert json.loads(out)["schema"]["title"] == "tabloop.yaml"


def test_verbose_logs_tabloop_not_third_party_debug(tmp_path: Path) -> None:
    # the monitor report plots: with the root logger at DEBUG, matplotlib's font manager
    # alone wrote thousands of lines to stderr
    rng = np.random.default_rng(1)
    for name, shift in (("ref.csv", 0.0), ("cur.csv", 1.0)):
        pd.DataFrame({"a": rng.normal(shift, 1.0, 300), "c": rng.choice(["x", "y"], 300)}).to_csv(
            tmp_path / name, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "tabloop", "monitor", "--reference", "ref.csv", "--current", "cur.csv", "--verbose"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 3, proc.stderr  # drift found, the policy says act
    noisy = [line for line in proc.stderr.splitlines() if "matplotlib" in line or "font_manager" in line
             or line.startswith(("DEBUG PIL", "DEBUG urllib3", "DEBUG alembic"))]
    assert noisy == []
    assert "drifted features: a" in proc.stdout + proc.stderr


def test_schema_without_json_writes_the_schema_to_stdout(tmp_path: Path) -> None:
    """`tabloop schema > s.json` gives the schema, not an empty file (issue #14)."""
    target = tmp_path / "s.json"
    with target.open("w") as fh:
        done = subprocess.run([sys.executable, "-m", "tabloop", "schema"], stdout=fh, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text())["title"] == "tabloop.yaml"


def test_ui_prints_its_command_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,y\n1,0\n2,1\n3,0\n4,1\n")
    code, _, _ = run("init", str(tmp_path / "p"), "--data", str(tmp_path / "t.csv"), "--target", "y")
    assert code == 0
    code, out, _ = run("ui", "--project", str(tmp_path / "p"))
    assert code == 0
    assert out.startswith("mlflow ui --backend-store-uri ")


def test_printed_errors_keep_their_rule_tags(trained_project: Path, tmp_path: Path, hmda: pd.DataFrame) -> None:
    # rich read "[type]" in the message as markup and printed nothing for it
    bad = hmda.head(5).drop(columns=["dir"])  # a missing column fails the run: no row can be scored
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = run("predict", "-p", str(trained_project), "-i", str(tmp_path / "bad.csv"), "-o",
                       str(tmp_path / "o.csv"))
    assert code == 1
    assert "[missing_column]" in err, err


def test_retrain_lines_say_when_there_is_no_challenger_or_no_score() -> None:
    from tabloop.cli._app import _score
    from tabloop.cli._quickstart import _retrain_line

    assert _score(None) == "undefined" and _score(0.81234) == "0.8123"
    skipped = {"challenger_version": None, "promote": False, "reasons": ["the holdout's labels are all 'no'"]}
    assert _retrain_line(skipped) == "not retrained (the holdout's labels are all 'no')"
    done = {"challenger_version": "2", "promote": True, "reasons": ["gain +0.01"]}
    assert _retrain_line(done) == "challenger v2: promote (gain +0.01)"

"""Sources of the facade: from Python a pandas DataFrame goes wherever a table goes; the spec's data.table."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import tabloop
from tabloop.data import frame_fingerprint
from tabloop.errors import DataError


def _project(root: Path, hmda_csv: Path, **data: object) -> Path:
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    spec = (root / "tabloop.yaml").read_text()
    spec = re.sub(r"(?m)^(\s*)candidates: \[[^\]]*\]$", r"\1candidates: [dummy, linear]", spec)
    for key, value in data.items():  # data.<key>: value, under the data: section
        spec = re.sub(rf"(?m)^(  {key}:).*$", rf"\1 {value}", spec)
    (root / "tabloop.yaml").write_text(spec)
    return root


def test_profile_and_train_take_a_dataframe(tmp_path: Path, hmda: pd.DataFrame, hmda_csv: Path) -> None:
    root = _project(tmp_path / "p", hmda_csv)
    # the spec's file says one thing, the DataFrame another: the DataFrame is what is read
    frame = hmda.head(600).assign(ticket=[f"T{i:05d}" for i in range(600)])
    before = frame.copy()
    prof = tabloop.profile(root, data=frame)
    assert prof.rows == 600 and prof.source == "<DataFrame>"
    assert prof.data_hash == frame_fingerprint(frame)
    assert prof.types["ticket"] == "identifier" and prof.types["dir"] == "numeric" and prof.types["deny"] == "boolean"
    assert any(f["message"].startswith("column 'ticket' holds a different value in every row") for f in prof.findings)
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is not changed

    res = tabloop.train(root, data=frame, trials=1)
    assert res.train_rows + res.test_rows == 600
    from tabloop.api._project import Project

    proj = Project.open(root)
    bundle = proj.load_bundle(res.version)
    assert bundle.manifest.data_hash == frame_fingerprint(frame)  # lineage: the DataFrame's content hash
    assert "ticket" in bundle.contract.ignored and "ticket" not in bundle.contract.feature_names
    assert proj.tracker.client.get_run(res.run_id).data.tags["tabloop.data_source"] == "<DataFrame>"


def test_predict_and_monitor_take_dataframes(trained_project: Path, hmda: pd.DataFrame, tmp_path: Path) -> None:
    rows = hmda.sample(300, random_state=4).drop(columns=["deny"]).reset_index(drop=True)
    out = tabloop.predict(rows, tmp_path / "scored.csv", project=trained_project, log_predictions=False)
    assert out.rows == 300 and len(pd.read_csv(out.output)) == 300

    moved = rows.assign(dir=rows["dir"] + 0.3)
    res = tabloop.monitor(trained_project, current=moved, report_dir=tmp_path / "r")
    assert res.current == "<DataFrame>" and res.current_rows == 300 and "dir" in res.drifted_features

    alone = tabloop.monitor(reference=rows, current=moved, report_dir=tmp_path / "alone")
    assert alone.reference == "<DataFrame>" and alone.drifted_features == ["dir"]


def test_a_dataframe_with_a_query_is_refused(hmda: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="--current-table 't' needs --current to be a database URL, got a DataFrame"):
        tabloop.monitor(reference=hmda, current=hmda, current_table="t")


def test_data_types_in_the_spec_reach_profile_and_train(tmp_path: Path, hmda: pd.DataFrame, hmda_csv: Path) -> None:
    root = _project(tmp_path / "p", hmda_csv, types="{ccs: categorical, nope: numeric}")
    with pytest.raises(DataError, match=r"data\.types names column\(s\) \['nope'\]"):
        tabloop.profile(root)
    spec = (root / "tabloop.yaml").read_text().replace("nope: numeric", "mcs: text")
    (root / "tabloop.yaml").write_text(spec)
    prof = tabloop.profile(root)
    assert prof.types["ccs"] == "categorical" and prof.types["mcs"] == "text"
    from tabloop.data import Contract, category_label

    contract = Contract.load(root / ".tabloop" / "contract.json")
    assert contract.column("ccs").kind == "categorical"
    assert contract.column("ccs").categories == sorted({category_label(v) for v in hmda["ccs"]})
    assert "mcs" in contract.ignored


def test_feedback_takes_a_dataframe_and_names_it(trained_project: Path) -> None:
    with pytest.raises(DataError, match="<DataFrame>: no 'request_id' column"):
        tabloop.feedback(pd.DataFrame({"label": ["yes"]}), project=trained_project)


def test_the_spec_reads_a_table_from_a_sqlite_file_beside_it(tmp_path: Path, hmda: pd.DataFrame,
                                                             hmda_csv: Path) -> None:
    import sqlite3

    root = _project(tmp_path / "p", hmda_csv)
    with sqlite3.connect(root / "loans.db") as conn:
        hmda.head(300).to_sql("loans", conn, index=False)
    spec = (root / "tabloop.yaml").read_text()
    spec = re.sub(r"(?m)^(  source:).*$", r"\1 sqlite:///loans.db", spec)  # relative to the project folder
    (root / "tabloop.yaml").write_text(re.sub(r"(?m)^(  table:).*$", r"\1 loans", spec))
    prof = tabloop.profile(root)
    assert prof.rows == 300 and prof.source == "sqlite:///loans.db (table loans)"


def test_a_spec_without_a_task_trains_with_the_task_inferred_from_the_target(tmp_path: Path, hmda_csv: Path) -> None:
    import yaml

    root = tmp_path / "no-task"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    raw = yaml.safe_load((root / "tabloop.yaml").read_text())
    raw["data"].pop("task")  # a hand-written spec often leaves it out
    raw["train"]["candidates"] = ["dummy"]
    (root / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    assert tabloop.train(root, trials=1).version == "1"
    assert tabloop.load_model("1", project=root).bundle.task == "binary"

"""A CSV is text: one bad cell in a number column is named alone, not blamed on the whole column (#14)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tabloop.cli import app
from tabloop.data import Contract, check_frame, check_records, infer_contract, read_table
from tabloop.errors import ContractViolation


@pytest.fixture(scope="module")
def contract(hmda: pd.DataFrame) -> Contract:
    return infer_contract(hmda, target="deny", ignored=["black"])


def _csv(tmp_path: Path, hmda: pd.DataFrame, bad: dict[int, str], rows: int = 40) -> Path:
    part = hmda.head(rows).drop(columns=["deny"]).astype({"ccs": object})
    for i, value in bad.items():
        part.loc[i, "ccs"] = value
    path = tmp_path / "in.csv"
    part.to_csv(path, index=False)
    return path


def _violations(err: pytest.ExceptionInfo[ContractViolation]) -> list[tuple[str | None, str, int | None]]:
    return [(v.column, v.rule, v.row) for v in err.value.violations]


def test_one_bad_cell_is_the_only_violation_and_gives_the_file_line(
    tmp_path: Path, hmda: pd.DataFrame, contract: Contract
) -> None:
    df = read_table(_csv(tmp_path, hmda, {2: "unknown"}))
    assert not pd.api.types.is_numeric_dtype(df["ccs"])  # what pandas does with one bad cell
    with pytest.raises(ContractViolation) as err:
        check_frame(df, contract, source="in.csv")
    assert _violations(err) == [("ccs", "type", 2)]
    v = err.value.violations[0]
    assert v.value == "unknown"
    assert v.message == "expected a number, got 'unknown' (line 4 of the file)"  # header is line 1


def test_text_cells_that_are_numbers_pass_as_numbers(hmda: pd.DataFrame, contract: Contract) -> None:
    df = hmda.head(4).drop(columns=["deny"]).astype({"ccs": object})
    df["ccs"] = ["5.0", " 2 ", "1e0", 3]
    out = check_frame(df, contract, text=True)
    assert out["ccs"].dtype == "float64" and out["ccs"].tolist() == [5.0, 2.0, 1.0, 3.0]


def test_many_bad_cells_are_each_named_up_to_a_cap_with_the_count(
    tmp_path: Path, hmda: pd.DataFrame, contract: Contract
) -> None:
    bad = {i: f"n/a{i}" for i in range(0, 40, 2)} | {1: "?", 3: "?"}  # 22 bad cells
    with pytest.raises(ContractViolation) as err:
        check_frame(read_table(_csv(tmp_path, hmda, bad)), contract)
    found = _violations(err)
    assert all(c == "ccs" and rule == "type" for c, rule, _ in found)
    rows = [r for _, _, r in found if r is not None]
    assert len(rows) == 20 and set(rows) <= set(bad)
    assert [v.message for v in err.value.violations if v.row is None] == [
        "22 values in all are not numbers; the first 20 are listed"
    ]
    assert "not_null" not in {v.rule for v in err.value.violations}  # not also reported as gaps


def test_json_values_stay_strict_unless_the_caller_says_text(hmda: pd.DataFrame, contract: Contract) -> None:
    rows = hmda.head(3).drop(columns=["deny"]).to_dict(orient="records")
    rows[0]["ccs"] = "5.0"
    rows[1]["ccs"] = "unknown"
    for check in (lambda **kw: check_frame(pd.DataFrame.from_records(rows), contract, **kw),
                  lambda **kw: check_records(rows, contract, **kw)):
        with pytest.raises(ContractViolation) as err:
            check()
        assert _violations(err) == [("ccs", "type", 0), ("ccs", "type", 1)]  # a JSON string is not a number
        with pytest.raises(ContractViolation) as err:
            check(text=True)  # e.g. a text/csv request body
        assert _violations(err) == [("ccs", "type", 1)]


def test_no_file_lines_are_claimed_once_rows_are_taken_out(tmp_path: Path, hmda: pd.DataFrame, contract: Contract) -> None:
    df = read_table(_csv(tmp_path, hmda, {2: "unknown"})).iloc[1:]
    with pytest.raises(ContractViolation) as err:
        check_frame(df, contract)
    assert err.value.violations[0].message == "expected a number, got 'unknown'"


def test_batch_predict_names_only_the_bad_cells(trained_project: Path, tmp_path: Path, hmda: pd.DataFrame) -> None:
    runner = CliRunner()
    path = _csv(tmp_path, hmda, {2: "unknown"}, rows=10)
    res = runner.invoke(app, ["predict", "-p", str(trained_project), "-i", str(path), "-o", str(tmp_path / "o.csv"), "--json"])
    # the bad row goes to the rejects file alone (exit 3: scored, with rejects); the others are scored
    assert res.exit_code == 3, res.stdout
    doc = json.loads(res.stdout)
    assert (doc["rows_scored"], doc["rows_rejected"]) == (9, 1)
    rejects = pd.read_csv(doc["rejects"])
    assert [(r["column"], r["row"], r["rule"], r["value"]) for r in rejects.to_dict(orient="records")] == [
        ("ccs", 2, "type", "unknown")]
    assert "'5.0'" not in " ".join(rejects["reason"].astype(str))  # the valid cells are not named
    assert pd.read_csv(tmp_path / "o.csv")["row"].tolist() == [0, 1, 3, 4, 5, 6, 7, 8, 9]

"""profile_frame numbers and the HTML/JSON profile report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.data import check_frame, infer_contract, profile_frame, profile_report


@pytest.fixture(scope="module")
def profile(hmda: pd.DataFrame) -> dict:
    return profile_frame(hmda, target="deny")


def test_profile_of_the_real_table(hmda: pd.DataFrame, profile: dict) -> None:
    assert profile["rows"] == len(hmda)
    assert [c["name"] for c in profile["columns"]] == list(hmda.columns)
    cols = {c["name"]: c for c in profile["columns"]}
    assert cols["deny"]["role"] == "target" and cols["lvr"]["role"] == "feature"
    assert cols["lvr"]["kind"] == "numeric" and cols["dmi"]["kind"] == "categorical"
    lvr = hmda["lvr"]
    assert cols["lvr"]["mean"] == pytest.approx(lvr.mean())
    assert cols["lvr"]["std"] == pytest.approx(lvr.std())
    assert cols["lvr"]["median"] == pytest.approx(lvr.median())
    assert (cols["lvr"]["min"], cols["lvr"]["max"]) == (lvr.min(), lvr.max())
    assert cols["pbcr"]["missing"] == 1 and cols["pbcr"]["missing_share"] == pytest.approx(1 / len(hmda))
    assert profile["missing_cells"] == int(hmda.isna().sum().sum())
    assert {t["value"] for t in cols["dmi"]["top"]} == {"no", "yes"}
    balance = {b["label"]: b for b in profile["class_balance"]}
    assert balance["yes"]["count"] == int((hmda["deny"] == "yes").sum())
    assert sum(b["count"] for b in balance.values()) == len(hmda)
    assert sum(b["share"] for b in balance.values()) == pytest.approx(1.0)
    json.dumps(profile)  # JSON-ready


def test_duplicates_gaps_and_iqr_outliers() -> None:
    df = pd.DataFrame({"x": [*range(1, 11), 1000.0, 1000.0], "c": ["a"] * 10 + ["b", "b"]})
    df.loc[0, "c"] = None
    p = profile_frame(df)
    x = p["columns"][0]
    assert x["outliers_iqr"] == 2
    assert x["unique"] == 11
    assert p["duplicate_rows"] == 1
    assert p["missing_cells"] == 1
    assert "class_balance" not in p  # no target given


def test_columns_without_values_and_many_classes() -> None:
    df = pd.DataFrame({"empty": [np.nan, np.nan], "y": [1.5, 2.5]})
    p = profile_frame(df, target="y")
    assert "mean" not in p["columns"][0] and p["columns"][0]["missing"] == 2
    wide = pd.DataFrame({"y": np.arange(100.0)})
    assert "class_balance" not in profile_frame(wide, target="y")  # a regression target has no balance


def test_report_has_the_sections_and_the_same_numbers(tmp_path: Path, hmda: pd.DataFrame, profile: dict) -> None:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    report = profile_report(profile, hmda, contract, source="hmda.csv")
    headings = [h for h, _ in report.sections]
    assert headings == [
        "Overview", "Columns", "Class balance", "Numeric distributions", "Missing values", "Data contract",
    ]
    html_path, json_path = report.write(tmp_path, "profile")
    page = html_path.read_text()
    assert "hmda.csv" in page and page.count("data:image/png;base64,") == 3
    data = json.loads(json_path.read_text())
    assert data["profile"]["rows"] == len(hmda)
    assert [c["name"] for c in data["contract"]["columns"]] == contract.feature_names


def test_report_without_gaps_or_target(hmda: pd.DataFrame) -> None:
    df = hmda[["lvr", "dmi"]].head(50)
    contract = infer_contract(df)
    report = profile_report(profile_frame(df), df, contract, source="x")
    assert [h for h, _ in report.sections] == ["Overview", "Columns", "Numeric distributions", "Data contract"]


def test_dollar_signs_in_column_names_and_classes_are_drawn_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    # matplotlib reads text between two $ as math: "$price$" came out as an italic "price",
    # and "$unit_$" (a subscript of nothing) raised and sank the whole report
    from tabloop.report import _profile_report

    from .._plot_text import capture_drawn_texts

    drawn = capture_drawn_texts(monkeypatch, _profile_report)
    rng = np.random.default_rng(4)
    n = 200
    df = pd.DataFrame({
        "$price$": rng.normal(10.0, 1.0, n),
        "$unit_$": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0.0, 1.0, n)),
        "label": rng.choice(np.array(["$5$", "$10$"]), n),
    })
    report = profile_report(profile_frame(df, target="label"), df, infer_contract(df, target="label"), source="x")
    assert "Class balance" in [h for h, _ in report.sections]
    shown = {text for text, _ in drawn}
    # histogram titles, the missing-values bars and the class-balance bars
    assert {"$price$", "$unit_$", "$5$", "$10$"} <= shown
    assert not [text for text, is_math in drawn if is_math]


# -- columns the model cannot use as they are (#14) -----------------------------
def test_an_all_empty_column_is_left_out_of_the_contract_with_a_warning(
    hmda: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    df = hmda.assign(notes=np.nan)
    with caplog.at_level("WARNING", logger="tabloop.data"):
        contract = infer_contract(df, target="deny", ignored=["black"])
    assert "notes" not in contract.feature_names and contract.ignored == ["black", "notes"]
    assert "column 'notes' has no values" in caplog.text
    check_frame(hmda.drop(columns=["deny"]).head(3), contract)  # not required: an empty column need not be sent
    check_frame(df.head(3), contract)  # and may be sent
    p = profile_frame(df, target="deny", ignored=["black"])
    assert [w for w in p["warnings"] if "'notes'" in w] == [
        "column 'notes' has no values (all 2381 cells are empty): it is left out of the features "
        "and the contract does not require it; fill it or drop it from the data"
    ]
    roles = {c["name"]: c["role"] for c in p["columns"]}
    assert (roles["notes"], roles["black"], roles["lvr"]) == ("excluded", "excluded", "feature")


def test_a_number_column_with_a_few_text_cells_is_named_with_those_cells(hmda: pd.DataFrame) -> None:
    df = hmda.astype({"ccs": object})
    df.loc[5, "ccs"] = "unknown"
    warnings = profile_frame(df, target="deny")["warnings"]
    assert len(warnings) == 1 and "column 'ccs' holds numbers but 1 of its 2381 values is not (row 5 'unknown'" in warnings[0]
    assert profile_frame(hmda, target="deny")["warnings"] == []  # real text columns are not suspects


def test_profile_json_warns_about_an_empty_column(
    tmp_path: Path, hmda: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    from typer.testing import CliRunner

    import tabloop
    from tabloop.cli import app

    hmda.assign(notes=np.nan).to_csv(tmp_path / "h.csv", index=False)
    tabloop.init(tmp_path / "p", data=str(tmp_path / "h.csv"), target="deny")
    res = CliRunner().invoke(app, ["profile", "-p", str(tmp_path / "p"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert any(w.startswith("column 'notes' has no values") for w in doc["warnings"])
    saved = json.loads((tmp_path / "p" / ".tabloop" / "contract.json").read_text())
    assert "notes" not in [c["name"] for c in saved["columns"]] and "notes" in saved["ignored"]
    assert "column 'notes' has no values" in caplog.text  # said to a person too (a warning on stderr)


def test_an_identifier_column_and_a_target_with_gaps_are_warned_about(hmda: pd.DataFrame) -> None:
    df = hmda.reset_index().rename(columns={"index": "Unnamed: 0"})  # a CSV written with its index
    df.loc[[1, 2], "deny"] = None
    warnings = profile_frame(df, target="deny")["warnings"]
    # left out of the features by its type (tabloop.data._types), and said
    assert any(w.startswith("column 'Unnamed: 0' holds a different value in every row") for w in warnings)
    assert "the target 'deny' is empty in 2 row(s): training refuses them; drop or label those rows" in warnings
    assert not any("'dir'" in w or "'lvr'" in w for w in warnings)  # measurements are not identifiers
    one = profile_frame(hmda.assign(deny="no"), target="deny")["warnings"]
    assert any("holds 1 distinct value(s)" in w for w in one)

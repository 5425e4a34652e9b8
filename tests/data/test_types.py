"""Semantic types: inferred from the values, overridden by data.types, acted on by the contract and the profile."""

from __future__ import annotations

import logging
import uuid

import numpy as np
import pandas as pd
import pytest

from tabloop.data import (
    apply_types,
    check_frame,
    infer_contract,
    infer_semantic_types,
    profile_frame,
    resolve_types,
    type_findings,
)
from tabloop.errors import DataError

N = 40


@pytest.fixture()
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "row": range(1, N + 1),  # row numbers
        "customer_id": rng.permutation(10**6)[:N],  # a key by its name
        "income": rng.integers(1_000, 100_000, N),  # distinct whole numbers, but measurements
        "weight": rng.normal(70, 10, N),
        "uuid": [str(uuid.UUID(int=int(i) * 7919 + 1)) for i in range(N)],
        "day": pd.date_range("2024-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
        "stamp": pd.date_range("2024-01-01", periods=N, freq="h"),
        "note": [f"customer {i} called about the late delivery of order {i * 3}" for i in range(N)],
        "answer": ["Yes", "no"] * (N // 2),
        "flag": [True, False, True, True] * (N // 4),
        "dummy": [0, 1, 1, 0] * (N // 4),
        "code": [f"C-{i:04d}" for i in range(N)],
        "city": ["Boston", "Lowell", "Salem", "Quincy"] * (N // 4),
        "y": ["a", "b"] * (N // 2),
    })


def test_each_type_is_inferred(mixed: pd.DataFrame) -> None:
    assert infer_semantic_types(mixed) == {
        "row": "identifier", "customer_id": "identifier", "income": "numeric", "weight": "numeric",
        "uuid": "identifier", "day": "datetime", "stamp": "datetime", "note": "text", "answer": "boolean",
        "flag": "boolean", "dummy": "boolean", "code": "identifier", "city": "categorical", "y": "categorical",
    }


def test_a_real_table_keeps_its_features(hmda: pd.DataFrame) -> None:
    types = infer_semantic_types(hmda)
    assert {c for c, t in types.items() if t == "numeric"} == {"dir", "hir", "lvr", "ccs", "mcs", "uria"}
    assert {t for c, t in types.items() if c not in {"dir", "hir", "lvr", "ccs", "mcs", "uria"}} == {"boolean"}


def test_small_tables_have_no_identifiers() -> None:
    df = pd.DataFrame({"id": range(10), "name": [f"n{i}" for i in range(10)]})
    assert infer_semantic_types(df) == {"id": "numeric", "name": "categorical"}


def test_keys_need_every_row_distinct_and_present() -> None:
    ids = list(range(N))
    ids[5] = ids[4]
    gaps = list(range(N))
    gaps[3] = None  # type: ignore[call-overload]
    df = pd.DataFrame({"id": ids, "row": gaps})
    assert infer_semantic_types(df) == {"id": "numeric", "row": "numeric"}


def test_nearly_unique_text_is_a_name_not_categories() -> None:
    titles = [f"Movie {i}" for i in range(N)]
    titles[1] = titles[0]  # a remake
    titles[2] = None  # type: ignore[call-overload]
    df = pd.DataFrame({"title": titles, "y": ["a", "b"] * (N // 2)})
    assert infer_semantic_types(df)["title"] == "identifier"
    (finding,) = type_findings(df, {"title": "identifier"})
    assert "a different value in nearly every row" in finding.message
    fewer = [f"Movie {i % (N // 2)}" for i in range(N)]  # each title twice: categories
    assert infer_semantic_types(pd.DataFrame({"title": fewer}))["title"] == "categorical"


def test_years_and_ranks_are_numbers_not_row_numbers() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"year": range(1920, 1920 + N), "rank": rng.permutation(N) + 1, "n": range(N)})
    assert infer_semantic_types(df) == {"year": "numeric", "rank": "numeric", "n": "identifier"}


def test_uuids_are_identifiers_even_when_repeated() -> None:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(5)] * 3
    assert infer_semantic_types(pd.DataFrame({"who": ids})) == {"who": "identifier"}


def test_long_labels_from_a_short_list_are_categories() -> None:
    labels = ["a fairly long label that has many words in it", "another long label with words in it too"] * 20
    assert infer_semantic_types(pd.DataFrame({"x": labels})) == {"x": "categorical"}


def test_mostly_dates_with_a_stray_cell_is_not_datetime() -> None:
    values = pd.date_range("2024-01-01", periods=N // 2).strftime("%Y-%m-%d").tolist() * 2
    values[:3] = ["soon", "later", "never"]  # 3 of 40: below DATETIME_MIN_SHARE
    assert infer_semantic_types(pd.DataFrame({"d": values}))["d"] == "categorical"
    mixed_formats = ["2024-05-01", "2024-05-01T10:30:00Z", "01/05/2024", "2024-05-01 10:30"] * 5
    assert infer_semantic_types(pd.DataFrame({"d": mixed_formats}))["d"] == "datetime"


# -- overrides (data.types)


def test_an_override_wins_and_the_rest_is_inferred(mixed: pd.DataFrame) -> None:
    types = resolve_types(mixed, {"customer_id": "numeric", "city": "text"})
    assert types["customer_id"] == "numeric" and types["city"] == "text" and types["row"] == "identifier"


def test_an_override_of_an_unknown_column_names_it(mixed: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"data\.types names column\(s\) \['nope'\] that are not in the data"):
        resolve_types(mixed, {"nope": "numeric"})


def test_numeric_over_text_names_the_column_and_first_bad_rows() -> None:
    df = pd.DataFrame({"x": ["1", "2.5", "n/a", " 4 ", "five", None, True]})
    with pytest.raises(DataError) as err:
        resolve_types(df, {"x": "numeric"})
    message = str(err.value)
    assert "column 'x' is numeric" in message and "3 of its values are not numbers" in message
    assert "row 2 'n/a'" in message and "row 4 'five'" in message and "row 6 True" in message
    assert "categorical" in (err.value.hint or "")


def test_numeric_over_number_text_parses_it() -> None:
    df = pd.DataFrame({"x": ["1", "2.5", None, " 4 "], "y": ["a", "b", "c", "d"]})
    types = resolve_types(df, {"x": "numeric"})
    out = apply_types(df, types)
    assert out["x"].tolist()[:2] == [1.0, 2.5] and np.isnan(out["x"].iat[2]) and out["x"].iat[3] == 4.0
    assert df["x"].iat[0] == "1"  # the caller's frame is untouched
    contract = infer_contract(df, types={"x": "numeric"})
    assert contract.column("x").kind == "numeric" and (contract.column("x").min, contract.column("x").max) == (1, 4)


def test_boolean_and_datetime_overrides_are_checked() -> None:
    df = pd.DataFrame({"b": ["x", "y", "z"], "d": ["2024-01-01", "not a date", "2024-01-03"]})
    with pytest.raises(DataError, match=r"column 'b' is boolean, but it holds 3 distinct values"):
        resolve_types(df, {"b": "boolean"})
    with pytest.raises(DataError, match=r"column 'd' is datetime, but 1 of its values are not dates \(row 1 'not a"):
        resolve_types(df, {"d": "datetime"})


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(DataError, match="'colour', which is not one of"):
        resolve_types(pd.DataFrame({"x": [1]}), {"x": "colour"})


# -- what the contract does with each type


def test_contract_leaves_out_keys_text_and_dates_and_says_so(mixed: pd.DataFrame,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tabloop.data"):
        contract = infer_contract(mixed, target="y")
    assert contract.feature_names == ["income", "weight", "answer", "flag", "dummy", "city"]
    assert set(contract.ignored) == {"row", "customer_id", "uuid", "day", "stamp", "note", "code"}
    assert contract.column("answer").kind == "categorical"  # yes/no stays categories, as always
    assert contract.column("flag").kind == "categorical" and contract.column("flag").categories == ["false", "true"]
    assert contract.column("dummy").kind == "numeric"  # 0/1 stays a number
    said = caplog.text
    assert "column 'note' holds free text" in said and "column 'customer_id' holds a different value" in said
    assert "data.types.customer_id to numeric" in said
    # the excluded columns may still be sent, and are dropped
    checked = check_frame(mixed, contract)
    assert list(checked.columns) == contract.feature_names


def test_contract_honours_overrides(mixed: pd.DataFrame) -> None:
    contract = infer_contract(mixed, target="y", types={"customer_id": "numeric", "income": "categorical",
                                                        "city": "identifier", "note": "categorical"})
    assert contract.column("customer_id").kind == "numeric"
    assert contract.column("income").kind == "categorical"
    assert contract.column("income").categories == sorted(str(v) for v in mixed["income"])
    assert contract.column("note").kind == "categorical"
    assert "city" in contract.ignored and "city" not in contract.feature_names
    # a categorical number column checks numbers by their spelling
    assert check_frame(mixed, contract)["income"].iat[0] == str(mixed["income"].iat[0])


def test_nothing_left_but_excluded_types_says_how_to_keep_one() -> None:
    df = pd.DataFrame({"id": range(N), "y": [0, 1] * (N // 2)})
    with pytest.raises(DataError, match=r"typed datetime, text or identifier \['id'\]") as err:
        infer_contract(df, target="y")
    assert "data.types" in (err.value.hint or "")


def test_findings_name_the_column_and_the_spec_change(mixed: pd.DataFrame) -> None:
    types = resolve_types(mixed, {"city": "text"})
    found = {f.column: f for f in type_findings(mixed, types, overrides={"city": "text"}, target="y")}
    assert set(found) == {"row", "customer_id", "uuid", "day", "stamp", "note", "code", "city"}
    assert found["note"].code == "text_column" and found["note"].severity == "warning"
    assert found["row"].code == "identifier_column" and found["row"].spec_change == "data.types.row: numeric"
    assert found["day"].spec_change == "data.types.day: categorical" and "day of week" in found["day"].action
    assert found["city"].severity == "info" and found["city"].spec_change is None  # the user chose it
    odd = pd.DataFrame({"Unnamed: 0": range(N)})
    assert type_findings(odd, {"Unnamed: 0": "identifier"})[0].spec_change == 'data.types["Unnamed: 0"]: numeric'


def test_profile_reports_the_type_of_each_column(mixed: pd.DataFrame) -> None:
    profile = profile_frame(mixed, target="y", types={"income": "categorical"})
    by_name = {c["name"]: c for c in profile["columns"]}
    assert by_name["income"]["type"] == "categorical" and by_name["note"]["type"] == "text"
    assert by_name["note"]["role"] == "excluded" and by_name["city"]["role"] == "feature"
    by_type = {f["column"] for f in profile["findings"] if f["code"].endswith("_column") and f["code"] != "empty_column"}
    assert by_type == {"row", "customer_id", "uuid", "day", "stamp", "note", "code"}
    assert any(f["message"].startswith("column 'note' holds free text") for f in profile["findings"])
    # a column its type leaves out is not a feature, so no feature finding names it again
    assert [f["code"] for f in profile["findings"] if f["column"] == "row"] == ["identifier_column"]


def test_text_typed_from_its_first_present_values_and_its_distinct_count() -> None:
    # the text rules read the first present values (gaps at the top are skipped, however many) and the distinct
    # count; gaps are counted only when the distinct values could make an identifier
    n = 6_000
    gaps_first = pd.Series([None] * 5_000 + [f"name {i}" for i in range(1_000)], dtype=object)
    yes_no = pd.Series([np.nan] * 3_000 + ["yes", "no"] * 1_500, dtype=object)
    mostly_gaps = pd.Series([None] * (n - 30) + [f"k{i}" for i in range(30)], dtype=object)
    labels = pd.Series(np.random.default_rng(0).choice(["a", "b", "c"], n), dtype=object)
    near_unique = pd.Series([f"u{i}" for i in range(n - 100)] + ["u1"] * 100, dtype=object)
    half_gaps = pd.Series([f"v{i % 2_000}" if i % 2 else None for i in range(n)], dtype=object)
    all_gaps = pd.Series([None] * n, dtype=object)
    df = pd.DataFrame({"gaps_first": gaps_first, "yes_no": yes_no, "mostly_gaps": mostly_gaps, "labels": labels,
                       "near_unique": near_unique, "half_gaps": half_gaps, "all_gaps": all_gaps})
    assert infer_semantic_types(df) == {
        "gaps_first": "identifier", "yes_no": "boolean", "mostly_gaps": "identifier", "labels": "categorical",
        "near_unique": "identifier", "half_gaps": "categorical", "all_gaps": "categorical"}

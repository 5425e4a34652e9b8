"""profile_frame numbers, its ranked findings, and the HTML/JSON profile report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.data import Finding, check_frame, frame_fingerprint, infer_contract, profile_frame, profile_report


@pytest.fixture(scope="module")
def profile(hmda: pd.DataFrame) -> dict:
    return profile_frame(hmda, target="deny")


def codes(p: dict) -> list[tuple[str, str | None]]:
    return [(f["code"], f["column"]) for f in p["findings"]]


def found(p: dict, code: str, column: str | None = None) -> dict:
    hits = [f for f in p["findings"] if f["code"] == code and (column is None or f["column"] == column)]
    assert len(hits) == 1, (code, column, codes(p))
    return hits[0]


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
    assert cols["lvr"]["skewness"] == pytest.approx(lvr.skew(), rel=1e-2)  # pandas' is bias-adjusted
    assert (cols["lvr"]["min"], cols["lvr"]["max"]) == (lvr.min(), lvr.max())
    assert cols["lvr"]["unique"] == lvr.nunique()
    assert cols["pbcr"]["missing"] == 1 and cols["pbcr"]["missing_share"] == pytest.approx(1 / len(hmda))
    assert profile["missing_cells"] == int(hmda.isna().sum().sum())
    assert {t["value"] for t in cols["dmi"]["top"]} == {"no", "yes"}
    assert sum(t["count"] for t in cols["dmi"]["top"]) + cols["dmi"]["other_count"] == len(hmda)
    balance = {b["label"]: b for b in profile["class_balance"]}
    assert balance["yes"]["count"] == int((hmda["deny"] == "yes").sum())
    assert sum(b["count"] for b in balance.values()) == len(hmda)
    assert sum(b["share"] for b in balance.values()) == pytest.approx(1.0)
    assert profile["target"]["imbalance_ratio"] == pytest.approx(balance["no"]["count"] / balance["yes"]["count"])
    assert profile["duplicate_rows"] == int(hmda.duplicated().sum())
    assert profile["data_hash"] == frame_fingerprint(hmda)
    json.dumps(profile, allow_nan=False)  # JSON-ready, no NaN


def test_quantiles_histogram_and_box_agree_with_numpy() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.lognormal(0.0, 1.0, 5000), [np.nan] * 50, [np.inf, -np.inf]])
    c = profile_frame(pd.DataFrame({"x": x}))["columns"][0]
    finite = x[np.isfinite(x)]
    assert c["missing"] == 50 and c["infinite"] == 2 and c["unique"] == np.unique(finite).size + 2
    assert [c["p5"], c["p25"], c["median"], c["p75"], c["p95"]] == pytest.approx(
        np.percentile(finite, [5, 25, 50, 75, 95]))
    counts, edges = np.histogram(finite, bins=30)
    assert c["histogram"]["counts"] == counts.tolist() and c["histogram"]["edges"] == pytest.approx(edges)
    q1, q3 = np.percentile(finite, [25, 75])
    lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    assert c["outliers_iqr"] == int(((finite < lo) | (finite > hi)).sum())
    inside = finite[(finite >= lo) & (finite <= hi)]
    assert (c["box"]["whislo"], c["box"]["whishi"]) == (inside.min(), inside.max())
    assert c["box"]["high_outliers"] == sorted(finite)[-5:]
    whole = profile_frame(pd.DataFrame({"n": np.arange(18, 90)}))["columns"][0]["histogram"]
    assert set(whole["counts"]) == {3}  # whole numbers: each bin holds the same number of values


def test_duplicates_gaps_and_iqr_outliers() -> None:
    df = pd.DataFrame({"x": [*range(1, 11), 1000.0, 1000.0], "c": ["a"] * 10 + ["b", "b"]})
    df.loc[0, "c"] = None
    p = profile_frame(df)
    x = p["columns"][0]
    assert x["outliers_iqr"] == 2 and x["box"]["high_outliers"] == [1000.0, 1000.0]
    assert x["unique"] == 11
    assert p["duplicate_rows"] == 1
    assert p["missing_cells"] == 1
    assert "class_balance" not in p and "target" not in p  # no target given


def test_repeated_rows_are_counted_over_the_model_columns_as_pandas_would(hmda: pd.DataFrame) -> None:
    df = hmda.head(300).copy()
    df["when"] = pd.date_range("2020-01-01", periods=len(df), freq="D")
    df["flag"] = df["dmi"] == "yes"
    df["signed"] = np.where(np.arange(len(df)) % 2, 0.0, -0.0)  # -0.0 and 0.0 are one value
    df = pd.concat([df, df.iloc[[3, 3, 10]]], ignore_index=True)
    df["row_id"] = np.arange(len(df))  # excluded: repeats are judged without it
    p = profile_frame(df, target="deny", ignored=["row_id"])
    used = [c for c in df.columns if c != "row_id"]
    assert p["duplicate_rows"] == int(df.duplicated(subset=used).sum()) == 3
    assert p["data_hash"] == frame_fingerprint(df)


def test_columns_without_values_and_many_classes() -> None:
    df = pd.DataFrame({"empty": [np.nan, np.nan], "y": [1.5, 2.5]})
    p = profile_frame(df, target="y")
    assert "mean" not in p["columns"][0] and p["columns"][0]["missing"] == 2
    wide = pd.DataFrame({"y": np.arange(100.0)})
    p = profile_frame(wide, target="y")
    assert "class_balance" not in p and p["target"]["kind"] == "numeric"  # a regression target has no balance
    assert profile_frame(wide.head(10), target="y", task="regression")["target"]["kind"] == "numeric"


# -- findings, ranked ---------------------------------------------------------------------------------
def test_the_issue_table_duplicates_and_an_all_missing_column_are_ranked_findings(hmda: pd.DataFrame) -> None:
    # "746 duplicate rows, 15% of a table, passed without comment; an all-missing column stayed a required feature"
    base = hmda.drop(columns=["black"]).drop_duplicates()  # 2,378 distinct rows; 420 more repeat some: 15%
    df = pd.concat([base, base.sample(420, random_state=1)], ignore_index=True).sample(frac=1.0, random_state=2)
    df = df.reset_index(drop=True).assign(notes=np.nan)
    p = profile_frame(df, target="deny")
    dup = found(p, "duplicate_rows")
    assert p["duplicate_rows"] == 420 and dup["severity"] == "warning"
    assert dup["message"].startswith("420 rows (15.0%) repeat an earlier row") and dup["action"].startswith("dedupe")
    empty = found(p, "empty_column", "notes")
    assert empty["severity"] == "warning" and empty["spec_change"] == "data.exclude: [notes]"
    assert codes(p).index(("duplicate_rows", None)) < codes(p).index(("empty_column", "notes"))  # 15% of rows first
    assert [f["severity"] for f in p["findings"]] == sorted(
        (f["severity"] for f in p["findings"]), key=["critical", "warning", "info"].index)


def test_an_all_empty_column_is_left_out_of_the_contract_with_a_finding(
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
    assert str(Finding(**found(p, "empty_column", "notes"))) == (
        "column 'notes' has no values (all 2381 cells are empty): it is left out of the features "
        "and the contract does not require it; fill it or drop it from the data"
    )
    roles = {c["name"]: c["role"] for c in p["columns"]}
    assert (roles["notes"], roles["black"], roles["lvr"]) == ("excluded", "excluded", "feature")


def test_a_number_column_with_a_few_text_cells_is_named_with_those_cells(hmda: pd.DataFrame) -> None:
    df = hmda.astype({"ccs": object})
    df.loc[5, "ccs"] = "unknown"
    f = found(profile_frame(df, target="deny"), "numbers_as_text", "ccs")
    assert f["severity"] == "warning" and f["action"] == "blank or fix those cells to keep it numeric"
    assert "column 'ccs' holds numbers but 1 of its 2381 values is not (row 5 'unknown'" in f["message"]
    # real text columns are not suspects; the real table has a few rows repeated and a skewed column or two
    assert {c for c, _ in codes(profile_frame(hmda, target="deny"))} <= {"duplicate_rows", "skewed", "class_imbalance"}


def test_profile_says_its_findings_in_text_and_json(tmp_path: Path, hmda: pd.DataFrame) -> None:
    from typer.testing import CliRunner

    import tabloop
    from tabloop.cli import app

    hmda.assign(notes=np.nan).to_csv(tmp_path / "h.csv", index=False)
    tabloop.init(tmp_path / "p", data=str(tmp_path / "h.csv"), target="deny")
    res = CliRunner().invoke(app, ["profile", "-p", str(tmp_path / "p"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    first = doc["findings"][0]
    assert (first["code"], first["severity"], first["column"]) == ("empty_column", "warning", "notes")
    assert first["message"].startswith("column 'notes' has no values") and first["action"]
    assert {"code", "severity", "message", "action", "column", "score", "spec_change"} == set(first)
    saved = json.loads((tmp_path / "p" / ".tabloop" / "contract.json").read_text())
    assert "notes" not in [c["name"] for c in saved["columns"]] and "notes" in saved["ignored"]
    report = json.loads(Path(doc["report_json"]).read_text())
    assert report["profile"]["findings"] == doc["findings"]
    text = CliRunner().invoke(app, ["profile", "-p", str(tmp_path / "p")])
    assert text.exit_code == 0, text.output
    said = text.output[text.output.index("finding(s) about the data"):]
    assert "WARNING column 'notes' has no values" in said and "what to do: fill it or drop it from the data" in said
    assert said.index("'notes'") < said.index("INFO")  # most important first
    assert text.output.count("column 'notes' has no values") == 1  # said once, as a finding, not logged too


def test_an_identifier_column_and_a_target_with_gaps_are_found(hmda: pd.DataFrame) -> None:
    df = hmda.reset_index().rename(columns={"index": "Unnamed: 0"})  # a CSV written with its index
    df.loc[[1, 2], "deny"] = None
    p = profile_frame(df, target="deny")
    # left out of the features by its semantic type (tabloop.data._types), and said
    ident = found(p, "identifier_column", "Unnamed: 0")
    assert ident["message"].startswith("column 'Unnamed: 0' holds a different value in every row")
    assert {c["name"]: (c["type"], c["role"]) for c in p["columns"]}["Unnamed: 0"] == ("identifier", "excluded")
    gap = found(p, "target_missing", "deny")
    assert gap["severity"] == "critical" and p["findings"][0] == gap  # critical comes first
    assert str(Finding(**gap)) == "the target 'deny' is empty in 2 row(s): training refuses them; drop or label those rows"
    assert not any(f["column"] in ("dir", "lvr") for f in p["findings"])  # measurements are not identifiers
    one = profile_frame(hmda.assign(deny="no"), target="deny")
    assert "holds 1 distinct value(s)" in found(one, "target_constant")["message"]


def test_class_imbalance_is_a_warning_from_ten_to_one_with_its_ratio(hmda: pd.DataFrame) -> None:
    hmda_imbalance = found(profile_frame(hmda, target="deny"), "class_imbalance")  # 2096:285, 7.4:1
    assert hmda_imbalance["severity"] == "info" and "7.4:1" in hmda_imbalance["message"]
    y = np.array(["no"] * 1100 + ["yes"] * 100)
    p = profile_frame(pd.DataFrame({"x": np.arange(1200.0) % 7, "y": y}), target="y")
    f = found(p, "class_imbalance", "y")
    assert f["severity"] == "warning" and "11.0:1" in f["message"] and "accuracy would reward" in f["message"]
    assert f["spec_change"] == "metric: average_precision" and p["target"]["imbalance_ratio"] == 11.0
    balanced = profile_frame(pd.DataFrame({"x": np.arange(100.0) % 7, "y": ["a", "b"] * 50}), target="y")
    assert "class_imbalance" not in {c for c, _ in codes(balanced)}


def test_gaps_constant_and_wide_columns_are_found() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    df = pd.DataFrame({
        "mostly_empty": np.where(rng.random(n) < 0.7, np.nan, rng.normal(size=n)),
        "some_gaps": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
        "constant": 5.0,
        "nearly": np.where(np.arange(n) < 5, 1.0, 0.0),
        "wide": [f"c{i}" for i in rng.integers(0, 400, n)],
        "ok": rng.normal(size=n),
        "y": rng.choice(["a", "b"], n),
    })
    p = profile_frame(df, target="y")
    assert found(p, "high_missing", "mostly_empty")["severity"] == "warning"
    assert found(p, "missing_values", "some_gaps")["severity"] == "info"
    assert found(p, "constant", "constant")["spec_change"] == "data.exclude: [constant]"
    assert found(p, "near_constant", "nearly")["severity"] == "info"
    wide = found(p, "high_cardinality", "wide")
    assert wide["severity"] == "warning" and "distinct categories" in wide["message"]
    assert not [f for f in p["findings"] if f["column"] == "ok"]
    assert all(f["action"] for f in p["findings"])  # every finding says what to do


def test_strongly_correlated_pairs_and_skewed_numbers() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    a = rng.normal(size=n)
    df = pd.DataFrame({"a": a, "a_twice": 2 * a, "a_noisy": a + rng.normal(0, 0.2, n),
                       "b": rng.normal(size=n), "skewed": rng.lognormal(0, 1.5, n),
                       "c1": rng.choice(list("xyz"), n)})
    df["c2"] = df["c1"].map({"x": "X", "y": "Y", "z": "Z"})  # the same column spelled otherwise
    p = profile_frame(df)
    groups = {f["column"]: f for f in p["findings"] if f["code"] == "correlated_features"}
    assert set(groups) == {"a", "c1"}  # one finding per group of columns that move together, not per pair
    assert groups["a"]["severity"] == "warning"  # a_twice is a copy of a
    assert groups["a"]["message"].startswith("columns 'a', 'a_twice' and 'a_noisy' carry nearly the same information")
    assert groups["a"]["spec_change"] == "data.exclude: [a_twice, a_noisy]"
    assert groups["a"]["action"].startswith("keep one of them (e.g. 'a')")
    assert groups["c1"]["message"] == "columns 'c1' and 'c2' carry the same information (Cramér's V 1.0000)"
    assert [f for f in profile_frame(df[["a", "a_noisy", "b"]])["findings"] if f["code"] == "correlated_features"][0][
        "severity"] == "info"  # strongly related, not a copy
    assert found(p, "skewed", "skewed")["severity"] == "info"


def test_repeated_ids_are_found_when_the_spec_names_the_id_column() -> None:
    df = pd.DataFrame({"id": [1, 2, 3, 3, 4, 4, 4], "x": np.arange(7.0), "y": list("ababab") + ["a"]})
    p = profile_frame(df, target="y", ignored=["id"], id_column="id")
    f = found(p, "duplicate_ids", "id")
    assert p["duplicate_ids"] == 3 and "(2 ids occur more than once)" in f["message"]
    assert "split" in f["spec_change"] and "group" in f["spec_change"]
    unique = profile_frame(df.drop_duplicates("id"), target="y", id_column="id")
    assert unique["duplicate_ids"] == 0 and "duplicate_ids" not in {c for c, _ in codes(unique)}


def test_extra_findings_are_ranked_with_the_profiles_own(hmda: pd.DataFrame) -> None:
    leak = Finding(code="leak", severity="critical", message="column 'x' predicts the target alone",
                   action="exclude it", column="x", score=0.99, spec_change="data.exclude: [x]")
    note = Finding(code="note", severity="info", message="m", action="a", score=10.0)
    p = profile_frame(hmda, target="deny", extra_findings=[note, leak])
    assert p["findings"][0] == leak.to_dict()
    infos = [f["code"] for f in p["findings"] if f["severity"] == "info"]
    assert infos[0] == "note"  # the highest score of its severity


# -- associations ---------------------------------------------------------------------------------------
def test_associations_measure_what_they_say_and_state_their_sample() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=n)
    c = rng.choice(list("abcd"), n)
    df = pd.DataFrame({
        "x": x, "x_cubed": x**3 + rng.normal(0, 0.5, n), "noise": rng.normal(size=n),
        "c": c, "c_noise": rng.choice(list("pq"), n), "c_same": pd.Series(c).map(str.upper),
        "y": np.where(x + (c == "a") * 2 > 0.5, "yes", "no"),
    })
    p = profile_frame(df, target="y")
    a = p["associations"]
    assert (a["rows"], a["sample_rows"]) == (n, n)
    num = dict(zip(a["numeric"]["columns"], a["numeric"]["matrix"], strict=True))
    assert num["x"][1] == pytest.approx(spearmanr(df["x"], df["x_cubed"]).statistic, abs=1e-4)
    assert abs(num["x"][2]) < 0.05
    cat = dict(zip(a["categorical"]["columns"], a["categorical"]["matrix"], strict=True))
    assert cat["c"][2] == pytest.approx(1.0) and cat["c"][1] < 0.05  # the same categories; unrelated ones
    against = {r["column"]: r for r in a["target"]}
    assert against["x"]["value"] > 0.5 and against["c"]["value"] > 0.3
    assert against["noise"]["value"] < 0.1 and against["c_noise"]["value"] < 0.1
    assert a["target"][0]["column"] == "x"  # strongest first
    sampled = profile_frame(df, target="y", sample_rows=500)["associations"]
    assert (sampled["rows"], sampled["sample_rows"]) == (n, 500)


def test_associations_with_a_numeric_target() -> None:
    rng = np.random.default_rng(4)
    n = 1000
    c = rng.choice(list("abc"), n)
    x = rng.normal(size=n)
    y = x + pd.Series(c).map({"a": 0.0, "b": 3.0, "c": 6.0}).to_numpy() + rng.normal(0, 0.1, n)
    p = profile_frame(pd.DataFrame({"x": x, "c": c, "y": y}), target="y", task="regression")
    against = {r["column"]: r for r in p["associations"]["target"]}
    assert against["x"]["measure"] == "abs_spearman" and 0.1 < against["x"]["value"] < 0.6
    assert against["c"]["measure"] == "correlation_ratio" and against["c"]["value"] > 0.9


def test_a_million_rows_stay_json_sized(hmda: pd.DataFrame) -> None:
    # what the report holds per column does not grow with the rows: bins, a few outliers, top categories
    big = pd.concat([hmda] * 20, ignore_index=True)
    small_doc = json.dumps(profile_frame(hmda, target="deny"))
    big_doc = json.dumps(profile_frame(big, target="deny"))
    assert len(big_doc) < 1.2 * len(small_doc)


# -- the report ---------------------------------------------------------------------------------------
def test_report_has_the_sections_and_the_same_numbers(tmp_path: Path, hmda: pd.DataFrame, profile: dict) -> None:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    report = profile_report(profile, contract, source="hmda.csv")
    headings = [h for h, _ in report.sections]
    assert headings == [
        "Overview", "Findings", "Columns", "Target: deny", "Associations", "Column details", "Missing values",
        "Data contract",
    ]
    html_path, json_path = report.write(tmp_path, "profile")
    page = html_path.read_text()
    numeric = [c for c in profile["columns"] if c["kind"] == "numeric"]
    categorical = [c for c in profile["columns"] if c["kind"] == "categorical"]
    # per numeric column a histogram and a box plot, per category column a bar chart; the target's balance,
    # the associations (against the target, numbers, categories) and the missing values
    assert page.count("<svg") == 2 * len(numeric) + len(categorical) + 1 + 3 + 1
    assert "hmda.csv" in page and "<img" not in page and "<script" not in page  # self-contained, nothing to fetch
    assert "Computed on all 2,381 of 2,381 rows" in page
    assert "7.4:1" in page
    data = json.loads(json_path.read_text())
    assert data["profile"] == json.loads(json.dumps(profile))
    assert [c["name"] for c in data["contract"]["columns"]] == contract.feature_names


def test_report_without_gaps_or_target() -> None:
    df = pd.DataFrame({"x": np.arange(50.0) / 3, "c": ["a", "b"] * 25})  # distinct measurements, no ids
    report = profile_report(profile_frame(df), infer_contract(df), source="x")
    assert [h for h, _ in report.sections] == ["Overview", "Findings", "Columns", "Column details", "Data contract"]
    assert "Nothing found that needs acting on" in report.to_html()


def test_names_and_labels_from_the_data_are_text_not_markup() -> None:
    # matplotlib read "$price$" as math (and "$unit_$" raised); HTML would read "<b>" as a tag
    rng = np.random.default_rng(4)
    n = 200
    df = pd.DataFrame({
        "$price$": rng.normal(10.0, 1.0, n),
        "<b>unit</b>": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0.0, 1.0, n)),
        "label": rng.choice(np.array(["$5$", "<10>"]), n),
    })
    report = profile_report(profile_frame(df, target="label"), infer_contract(df, target="label"), source="x")
    page = report.to_html()
    assert "$price$" in page and "$5$" in page
    assert "<b>unit</b>" not in page and "&lt;b&gt;unit&lt;/b&gt;" in page and "&lt;10&gt;" in page


def test_category_hashes_from_the_profiles_factorization_are_pandas_own(hmda: pd.DataFrame) -> None:
    from tabloop.data._profile import column_hashes

    odd = [pd.Series(["a", None, np.nan, "b", 1, 2.5, True, "a"], dtype=object), pd.Series([1, 2, 3], dtype=object),
           pd.Series([None, None], dtype=object), pd.Series([True, False, None], dtype=object),
           pd.Series(["x", pd.NA, pd.NaT, "x"], dtype=object), pd.Series(["a", "b"], dtype="category"),
           pd.Series([1.5, np.nan]), pd.Series([True, False])]
    for s in [hmda[c] for c in hmda.columns] + odd:
        want = pd.util.hash_pandas_object(s, index=False).to_numpy()
        assert np.array_equal(column_hashes(s, pd.factorize(s, use_na_sentinel=True)), want)
        assert np.array_equal(column_hashes(s), want)


def test_types_resolved_by_the_caller_give_the_same_profile_and_contract(hmda: pd.DataFrame) -> None:
    from tabloop.data import resolve_types

    from tabloop.data import text_levels

    odd = hmda.assign(mixed=pd.Series(["a", None, np.nan, 1, 2.5, True, pd.NA, "a"] * (len(hmda) // 8 + 1),
                                      dtype=object)[: len(hmda)].to_numpy(),
                      gaps=[None] * len(hmda))
    levels = text_levels(odd)
    assert set(levels) == {c for c in odd.columns if odd[c].dtype == object}
    semantic = resolve_types(odd, {"dir": "numeric"}, levels=levels)
    assert semantic == resolve_types(odd, {"dir": "numeric"})
    given = profile_frame(odd, target="deny", types={"dir": "numeric"}, semantic=semantic, levels=levels)
    assert given == profile_frame(odd, target="deny", types={"dir": "numeric"})
    assert (infer_contract(odd, target="deny", types={"dir": "numeric"}, semantic=semantic, levels=levels).to_dict()
            == infer_contract(odd, target="deny", types={"dir": "numeric"}).to_dict())


def test_a_csv_read_by_arrow_with_its_levels_profiles_as_pandas_read_of_it(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # the reader hands the profile arrow's dictionary encoding of each text column (tabloop.data.text_levels); the
    # profile, the contract and the types must be what pandas' frame of the same file gives without them
    from tabloop.data import _csv, read_table, resolve_types, text_levels
    from tabloop.data._profile import _associations

    rng = np.random.default_rng(16)
    n = 4_000
    x = rng.normal(50.0, 10.0, n)
    pd.DataFrame({
        "id": np.arange(n),
        "x": x,
        "x_copy": x * 2.0 + rng.normal(0.0, 0.01, n),
        "gappy": np.where(rng.random(n) < 0.3, np.nan, rng.lognormal(0.0, 1.0, n)),
        "count": rng.poisson(3.0, n),
        "cat": np.where(rng.random(n) < 0.1, None, rng.choice(["b", "a", "c", "naïve", "1a"], n)),
        "wide": [f"L{i}" for i in rng.integers(0, 300, n)],
        "flag": rng.choice(["yes", "no"], n),
        "bool": rng.choice([True, False], n),
        "gappy_bool": np.where(rng.random(n) < 0.1, None, rng.choice(["True", "False"], n)),
        "when": (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")).astype(str),
        "note": [f"the customer said {w} about order {i}" for i, w in enumerate(rng.choice(["this", "that"], n))],
        "target": np.where(x + rng.normal(0.0, 10.0, n) > 60.0, "yes", "no"),
    }).to_csv(tmp_path / "t.csv", index=False)

    def profiled(arrow: bool) -> tuple[dict, dict, dict, bool]:
        monkeypatch.setattr(_csv, "ARROW_MIN_BYTES", 0 if arrow else 1 << 60)
        df = read_table(tmp_path / "t.csv")
        from_reader = sorted(df.__dict__.get(_csv._LEVELS, {})) == ["cat", "flag", "note", "target", "when", "wide"]
        levels = text_levels(df)
        semantic = resolve_types(df, {}, levels=levels)
        numbers = profile_frame(df, target="target", ignored=["id"], id_column="id", sample_rows=1_000,
                                semantic=semantic, levels=levels)
        contract = infer_contract(df, target="target", ignored=["id"], semantic=semantic, levels=levels)
        return numbers, contract.to_dict(), semantic, from_reader

    by_arrow, by_pandas = profiled(arrow=True), profiled(arrow=False)
    assert by_arrow[3] and not by_pandas[3]  # the first came with arrow's levels, the second factorized its own
    assert json.dumps(by_arrow[:3], sort_keys=True) == json.dumps(by_pandas[:3], sort_keys=True)
    numbers, _, semantic, _ = by_arrow
    assert {semantic[c] for c in ("when", "note", "flag", "cat", "x")} == {"datetime", "text", "boolean",
                                                                          "categorical", "numeric"}
    assert numbers["associations"]["sample_rows"] == 1_000
    # the features' sample ranks and levels, made in the column threads, are what the associations made of them
    features = [c for c in numbers["columns"] if c["role"] == "feature"]
    monkeypatch.setattr(_csv, "ARROW_MIN_BYTES", 1 << 60)
    alone, _ = _associations(read_table(tmp_path / "t.csv"), features, "target", "classes", sample_rows=1_000, seed=0)
    assert json.dumps(alone, sort_keys=True) == json.dumps(numbers["associations"], sort_keys=True)


def test_a_columns_skewness_is_the_same_whatever_threads_blas_has() -> None:
    # the third moment was BLAS' dot of a million values: summed on OpenBLAS' own threads (which then spun idle),
    # and in another order with another number of them; numpy's own sum gives one answer everywhere
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"x": rng.normal(0.0, 1.0, 1_000_000), "y": rng.lognormal(0.0, 1.0, 1_000_000)})
    free = profile_frame(df)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        one = profile_frame(df)
    assert [c["skewness"] for c in free["columns"]] == [c["skewness"] for c in one["columns"]]
    x = df["y"].to_numpy()
    c = x - math.fsum(x) / x.size
    exact = math.fsum(c**3) / x.size / (math.fsum(c**2) / x.size) ** 1.5
    assert free["columns"][1]["skewness"] == pytest.approx(exact, rel=1e-12)


def test_numbers_on_a_decimal_grid_sorted_by_counting_are_numpys_sort_bit_for_bit() -> None:
    from tabloop.data._profile import _counted_sort

    rng = np.random.default_rng(3)
    n = 20_000
    on_grid = {
        "counts": rng.poisson(3.0, n).astype("float64"),
        "ages": rng.integers(-40, 90, n).astype("float64"),
        "far from zero": (rng.integers(0, 50, n) - 2**40).astype("float64"),
        "cents": rng.uniform(0.0, 100.0, n).round(2),
        "thousandths": rng.normal(10.0, 2.0, n).round(3),
        "read from text": np.array([float(f"{x:.2f}") for x in rng.uniform(-50.0, 50.0, n)]) + 0.0,  # no "-0.00"
    }
    for name, v in on_grid.items():
        counted = _counted_sort(v)
        assert counted is not None, name
        assert np.array_equal(counted.view(np.int64), np.sort(v).view(np.int64)), name
    minus_zero = on_grid["ages"].copy()
    minus_zero[minus_zero == 0] = -0.0  # equal to 0.0, but not the same bits: numpy's sort keeps them
    off_grid = on_grid["cents"].copy()
    off_grid[-1] += 1e-9
    for v in (minus_zero, off_grid, rng.normal(size=n), np.array([0.0, 1e9] * n), np.array([0.0, 2.0**53] * n),
              on_grid["cents"][:100]):
        assert _counted_sort(v) is None


def test_a_column_profiles_the_same_whether_counted_or_sorted() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    df = pd.DataFrame({"age": rng.integers(18, 90, n), "price": rng.uniform(0.0, 500.0, n).round(2),
                       "gappy": np.where(rng.random(n) < 0.2, np.nan, rng.normal(0.0, 1.0, n).round(1))})
    counted = profile_frame(df)["columns"]
    # the same values off the grid by a hair in one row each: numpy's sort; every other number the same
    bumped = profile_frame(df.assign(age=df["age"].astype("float64")))["columns"]
    assert [c.pop("dtype") for c in counted] == ["int64", "float64", "float64"]
    assert [c.pop("dtype") for c in bumped] == ["float64", "float64", "float64"]
    assert counted[0] == bumped[0]
    import tabloop.data._profile as profile_module

    sorted_ = profile_module.COUNTING_MIN
    try:
        profile_module.COUNTING_MIN = 10**9  # every column through numpy's sort
        plain = profile_frame(df)["columns"]
    finally:
        profile_module.COUNTING_MIN = sorted_
    for c in plain:
        c.pop("dtype")
    assert counted == plain

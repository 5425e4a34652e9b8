"""infer_contract, check_frame (the one gatekeeper) and Contract save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.data import (
    UNKNOWN_CATEGORY,
    ColumnContract,
    Contract,
    ContractPolicy,
    Screened,
    check_frame,
    far_bounds,
    infer_contract,
    screen_frame,
)
from tabloop.errors import ContractViolation, DataError

FEATURES = ["dir", "hir", "lvr", "ccs", "mcs", "pbcr", "dmi", "self", "single", "uria", "condominium"]


@pytest.fixture(scope="module")
def contract(hmda: pd.DataFrame) -> Contract:
    return infer_contract(hmda, target="deny", ignored=["black"])


@pytest.fixture(scope="module")
def strict(contract: Contract) -> Contract:
    """The contract refusing unseen categories (its default answers them as unknown)."""
    return contract.with_policy(ContractPolicy(defaults={"unseen_category": "reject"}))


def _rules(err: pytest.ExceptionInfo[ContractViolation]) -> set[tuple[str | None, str, int | None]]:
    return {(v.column, v.rule, v.row) for v in err.value.violations}


# -- infer_contract -----------------------------------------------------------
def test_infer_learns_types_ranges_and_categories(hmda: pd.DataFrame, contract: Contract) -> None:
    assert contract.feature_names == FEATURES  # data order, without the target and the ignored column
    assert contract.target == "deny"
    assert contract.ignored == ["black"]
    assert contract.numeric == ["dir", "hir", "lvr", "ccs", "mcs", "uria"]
    assert contract.categorical == ["pbcr", "dmi", "self", "single", "condominium"]
    lvr = contract.column("lvr")
    assert (lvr.min, lvr.max) == (hmda["lvr"].min(), hmda["lvr"].max())
    assert lvr.nullable is False and lvr.integer is False
    assert contract.column("pbcr").nullable is True  # the real table has one gap there
    assert contract.column("dmi").categories == ["no", "yes"]
    with pytest.raises(KeyError):
        contract.column("deny")


def test_infer_marks_integer_columns_and_canonicalises_categories() -> None:
    df = pd.DataFrame({"n": [1, 2, 3], "flag": [True, False, True], "code": [3.0, 1.0, np.nan], "s": ["b", "a", "b"]})
    df["code"] = df["code"].astype(object)
    c = infer_contract(df)
    assert c.column("n").integer is True and c.column("n").kind == "numeric"
    assert c.column("flag").kind == "categorical" and c.column("flag").categories == ["false", "true"]
    assert c.column("code").categories == ["1", "3"] and c.column("code").nullable is True
    assert c.column("s").categories == ["a", "b"]


def test_infer_names_spec_columns_missing_from_the_data(hmda: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"columns \['nope', 'gone'\] named in the spec are not in the data"):
        infer_contract(hmda, target="nope", ignored=["gone"])


def test_infer_needs_a_feature_left() -> None:
    with pytest.raises(DataError, match="no feature columns are left"):
        infer_contract(pd.DataFrame({"y": [0, 1], "id": [1, 2]}), target="y", ignored=["id"])


# -- check_frame: clean data --------------------------------------------------
def test_check_returns_features_in_contract_order_with_canonical_dtypes(hmda: pd.DataFrame, contract: Contract) -> None:
    shuffled_cols = hmda[list(reversed(hmda.columns))]  # includes the target and the ignored column
    out = check_frame(shuffled_cols, contract)
    assert list(out.columns) == FEATURES
    assert out.index.equals(hmda.index)
    for name in contract.numeric:
        assert out[name].dtype == np.float64
    for name in contract.categorical:
        assert out[name].dtype == object
    np.testing.assert_array_equal(out["lvr"].to_numpy(), hmda["lvr"].to_numpy())
    assert out["pbcr"].isna().sum() == hmda["pbcr"].isna().sum() == 1
    assert set(out["dmi"]) == {"no", "yes"}


def test_check_converts_json_like_values(contract: Contract, hmda: pd.DataFrame) -> None:
    """Rows as an HTTP client sends them: object columns of Python numbers, None for gaps."""
    rows = hmda.drop(columns=["deny", "black"]).head(3).astype(object)
    rows.loc[rows.index[1], "pbcr"] = None  # pbcr is nullable
    rows["ccs"] = [1, 2.0, np.int64(3)]
    out = check_frame(rows, contract)
    assert out["ccs"].tolist() == [1.0, 2.0, 3.0]
    assert out["ccs"].dtype == np.float64
    assert out["pbcr"].isna().tolist() == [False, True, False]


def test_missing_values_of_every_flavour_are_gaps() -> None:
    c = infer_contract(pd.DataFrame({"x": [1.0, np.nan], "c": ["a", None]}))
    df = pd.DataFrame({"x": pd.Series([pd.NA, None, 2], dtype=object), "c": pd.Series([pd.NA, None, "a"], dtype=object)})
    out = check_frame(df, c)
    assert out["x"].isna().tolist() == [True, True, False]
    assert out["c"].isna().tolist() == [True, True, False]


def test_category_values_are_canonicalised_like_training() -> None:
    c = infer_contract(pd.DataFrame({"flag": [True, False], "code": pd.Series(["1", "2"], dtype=object)}))
    out = check_frame(pd.DataFrame({"flag": [False, True], "code": [2.0, 1]}), c)
    assert out["flag"].tolist() == ["false", "true"]
    assert out["code"].tolist() == ["2", "1"]


def test_ignored_and_target_columns_are_accepted_unless_target_disallowed(hmda: pd.DataFrame, contract: Contract) -> None:
    check_frame(hmda.head(5), contract)
    with pytest.raises(ContractViolation) as err:
        check_frame(hmda.head(5), contract, allow_target=False)
    assert _rules(err) == {("deny", "unexpected_column", None)}


# -- check_frame: violations ----------------------------------------------------
def test_all_violations_are_reported_at_once_with_column_row_and_rule(hmda: pd.DataFrame, strict: Contract) -> None:
    bad = hmda.drop(columns=["deny", "black"]).head(6).astype(object).reset_index(drop=True)
    bad = bad.drop(columns=["uria"])  # missing_column
    bad["extra"] = 1  # unexpected_column
    bad.loc[1, "lvr"] = "high"  # type
    bad.loc[2, "dir"] = np.inf  # not_finite
    bad.loc[3, "hir"] = np.nan  # not_null (hir had no gaps)
    bad.loc[4, "dmi"] = "maybe"  # unseen_category
    bad.loc[5, "single"] = None  # not_null (categorical)
    bad.loc[0, "self"] = ["a"]  # type (categorical)
    with pytest.raises(ContractViolation) as err:
        check_frame(bad, strict, source="req-17")
    assert _rules(err) == {
        ("extra", "unexpected_column", None),
        ("uria", "missing_column", None),
        ("lvr", "type", 1),
        ("dir", "not_finite", 2),
        ("hir", "not_null", 3),
        ("dmi", "unseen_category", 4),
        ("single", "not_null", 5),
        ("self", "type", 0),
    }
    msg = str(err.value)
    assert msg.startswith("req-17 breaks the data contract in 8 place(s): ")
    assert "column 'extra': column is not in the contract [unexpected_column]" in msg
    assert "and 3 more" in msg  # five spelled out, the rest summarised
    detail = err.value.to_dict()
    assert detail["code"] == "contract_violation"
    by_rule = {v["rule"]: v for v in detail["violations"]}
    assert by_rule["unseen_category"] == {
        "column": "dmi", "rule": "unseen_category", "row": 4, "value": "maybe",
        "message": "'maybe' was never seen in training (known: ['no', 'yes'])",
    }
    assert by_rule["not_finite"]["value"] == "inf"  # JSON-safe
    assert "number in [" in next(v.message for v in err.value.violations if v.rule == "missing_column")


def test_a_type_error_is_not_also_reported_as_missing(contract: Contract, hmda: pd.DataFrame) -> None:
    bad = hmda.drop(columns=["deny"]).head(3).astype(object).reset_index(drop=True)
    bad.loc[0, "lvr"] = "0.5"  # strings are not parsed: a number must be sent as a number
    bad.loc[1, "lvr"] = True
    with pytest.raises(ContractViolation) as err:
        check_frame(bad, contract)
    assert _rules(err) == {("lvr", "type", 0), ("lvr", "type", 1)}


def test_boolean_column_where_a_number_is_expected(contract: Contract, hmda: pd.DataFrame) -> None:
    bad = hmda.head(2).assign(lvr=[True, False])
    with pytest.raises(ContractViolation) as err:
        check_frame(bad, contract)
    assert _rules(err) == {("lvr", "type", None)}


def test_rows_are_positions_not_index_labels(strict: Contract, hmda: pd.DataFrame) -> None:
    bad = hmda.head(3).set_axis([100, 200, 300]).copy()
    bad.loc[300, "dmi"] = "unknown"
    with pytest.raises(ContractViolation) as err:
        check_frame(bad, strict)
    assert _rules(err) == {("dmi", "unseen_category", 2)}
    assert "column 'dmi', row 2:" in str(err.value)


def test_empty_frame(contract: Contract, hmda: pd.DataFrame) -> None:
    with pytest.raises(ContractViolation) as err:
        check_frame(hmda.head(0), contract, source="batch.csv")
    assert _rules(err) == {(None, "empty", None)}
    assert str(err.value).startswith("batch.csv breaks the data contract in 1 place(s): input: no rows to check [empty]")


def test_max_violations_caps_the_list(strict: Contract, hmda: pd.DataFrame) -> None:
    bad = hmda.head(30).assign(dmi="nope", single="nope")
    with pytest.raises(ContractViolation) as err:
        check_frame(bad, strict, max_violations=7)
    assert len(err.value.violations) == 7
    with pytest.raises(ContractViolation) as err:
        check_frame(bad, strict)
    assert len(err.value.violations) == 60


def test_nullable_numeric_accepts_gaps_but_not_infinity() -> None:
    c = infer_contract(pd.DataFrame({"x": [1.0, np.nan, 3.0]}))
    assert c.column("x").nullable
    out = check_frame(pd.DataFrame({"x": [np.nan, 5.0]}), c)
    assert out["x"].isna().tolist() == [True, False]
    with pytest.raises(ContractViolation) as err:
        check_frame(pd.DataFrame({"x": [1.0, -np.inf]}), c)
    assert _rules(err) == {("x", "not_finite", 1)}


# -- save / load ----------------------------------------------------------------
def test_save_load_round_trip(tmp_path: Path, contract: Contract) -> None:
    path = contract.save(tmp_path / "sub" / "contract.json")
    assert [p.name for p in path.parent.iterdir()] == ["contract.json"]  # no temp file left behind
    again = Contract.load(path)
    assert again == contract
    assert json.loads(path.read_text())["version"] == 2


def test_load_errors_name_the_file(tmp_path: Path, contract: Contract) -> None:
    with pytest.raises(DataError, match=r"nope\.json: not a readable contract"):
        Contract.load(tmp_path / "nope.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(DataError, match=r"garbage\.json: not a readable contract"):
        Contract.load(garbage)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"version": 1}))
    with pytest.raises(DataError, match=r"partial\.json: not a readable contract"):
        Contract.load(partial)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**contract.to_dict(), "version": 99}))
    with pytest.raises(DataError, match=r"future\.json: contract format version 99 is not supported"):
        Contract.load(future)


# -- policies: each rule x each policy it allows ------------------------------------
def _small() -> Contract:
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 4.0], "c": ["a", "b", "a", "b"], "n": [1.0, np.nan, 2.0, 3.0]})
    return infer_contract(train)


def _with(contract: Contract, **defaults: str) -> Contract:
    return contract.with_policy(ContractPolicy(defaults=defaults))


def _marks(screened: Screened[pd.DataFrame]) -> dict[int, list[tuple[str, str, str]]]:
    return {i: [tuple(m) for m in marks] for i, marks in screened.marks.items()}


def test_the_defaults_warn_a_little_outside_refuse_far_outside_and_answer_unseen_as_unknown() -> None:
    c = _small()  # x trained in [0, 4]: far_range beyond [-4, 8]
    assert c.policy.defaults == {"not_null": "reject", "range": "warn", "far_range": "reject",
                                 "unseen_category": "unknown"}
    got = screen_frame(pd.DataFrame({"x": [1.0, 5.0, -3.0], "c": ["a", "z", "b"], "n": [1.0, 2.0, 3.5]}), c)
    assert _marks(got) == {1: [("x", "range", "warn"), ("c", "unseen_category", "unknown")],
                           2: [("x", "range", "warn"), ("n", "range", "warn")]}
    assert got.values["x"].tolist() == [1.0, 5.0, -3.0]  # warn: as sent
    assert got.values["c"].tolist() == ["a", UNKNOWN_CATEGORY, "b"]
    with pytest.raises(ContractViolation) as err:
        screen_frame(pd.DataFrame({"x": [1.0, 1000.0, 1.8e19], "c": ["a", "a", "b"], "n": [1.0, 2.0, 2.0]}), c)
    assert _rules(err) == {("x", "far_range", 1), ("x", "far_range", 2)}
    assert "1000.0 is far outside the trained range [0.0, 4.0] (beyond [-4, 8])" in str(err.value)


@pytest.mark.parametrize("rule", ["range", "far_range"])
@pytest.mark.parametrize("policy", ["reject", "warn", "clip"])
def test_range_rules_by_policy(rule: str, policy: str) -> None:
    c = _with(_small(), **{rule: policy, "range" if rule == "far_range" else "far_range": "reject"})
    value = 5.0 if rule == "range" else 100.0
    low = -1.0 if rule == "range" else -100.0
    df = pd.DataFrame({"x": [2.0, value, low], "c": ["a", "a", "b"], "n": [1.0, 1.0, 1.0]})
    if policy == "reject":
        with pytest.raises(ContractViolation) as err:
            screen_frame(df, c)
        assert _rules(err) == {("x", rule, 1), ("x", rule, 2)}
        return
    got = screen_frame(df, c)
    assert _marks(got) == {1: [("x", rule, policy)], 2: [("x", rule, policy)]}
    assert got.values["x"].tolist() == ([2.0, 4.0, 0.0] if policy == "clip" else [2.0, value, low])
    assert df["x"].tolist() == [2.0, value, low]  # the caller's frame is never written


@pytest.mark.parametrize("policy", ["reject", "warn", "unknown"])
def test_unseen_category_by_policy(policy: str) -> None:
    c = _with(_small(), unseen_category=policy)
    df = pd.DataFrame({"x": [1.0, 1.0], "c": ["a", "zz"], "n": [1.0, 1.0]})
    if policy == "reject":
        with pytest.raises(ContractViolation) as err:
            screen_frame(df, c)
        assert _rules(err) == {("c", "unseen_category", 1)}
        return
    got = screen_frame(df, c)
    assert _marks(got) == {1: [("c", "unseen_category", policy)]}
    assert got.values["c"].tolist() == ["a", UNKNOWN_CATEGORY if policy == "unknown" else "zz"]


@pytest.mark.parametrize("policy", ["reject", "warn"])
def test_not_null_by_policy(policy: str) -> None:
    c = _with(_small(), not_null=policy)
    df = pd.DataFrame({"x": [np.nan, 1.0], "c": ["a", None], "n": [np.nan, np.nan]})  # n had gaps: no rule
    if policy == "reject":
        with pytest.raises(ContractViolation) as err:
            screen_frame(df, c)
        assert _rules(err) == {("x", "not_null", 0), ("c", "not_null", 1)}
        return
    got = screen_frame(df, c)
    assert _marks(got) == {0: [("x", "not_null", "warn")], 1: [("c", "not_null", "warn")]}
    assert got.values["x"].isna().tolist() == [True, False]


def test_rules_without_a_policy_always_refuse() -> None:
    c = _with(_small(), not_null="warn", range="warn", far_range="warn", unseen_category="warn")
    bad = pd.DataFrame({"x": [np.inf, "a"], "c": ["a", ["b"]], "n": [1.0, 1.0]})
    with pytest.raises(ContractViolation) as err:
        screen_frame(bad, c)
    assert _rules(err) == {("x", "not_finite", 0), ("x", "type", 1), ("c", "type", 1)}


def test_a_column_override_beats_the_default() -> None:
    c = _small().with_policy(ContractPolicy(columns={"x": {"far_range": "clip"}}))
    got = screen_frame(pd.DataFrame({"x": [1000.0], "c": ["a"], "n": [1000.0]}).assign(n=2.0), c)
    assert got.values["x"].tolist() == [4.0] and _marks(got) == {0: [("x", "far_range", "clip")]}
    with pytest.raises(ContractViolation) as err:
        screen_frame(pd.DataFrame({"x": [1.0], "c": ["a"], "n": [1000.0]}), c)
    assert _rules(err) == {("n", "far_range", 0)}


def test_far_range_starts_factor_spans_beyond_the_range() -> None:
    col = _small().column("x")
    assert far_bounds(col, 1.0) == (-4.0, 8.0)
    assert far_bounds(col, 0.5) == (-2.0, 6.0)
    constant = ColumnContract("k", "numeric", nullable=False, min=5.0, max=5.0)
    assert far_bounds(constant, 1.0) == (0.0, 10.0)
    zero = ColumnContract("z", "numeric", nullable=False, min=0.0, max=0.0)
    assert far_bounds(zero, 1.0) == (-1.0, 1.0)
    wide = _small().with_policy(ContractPolicy(far_range_factor=10.0))
    got = screen_frame(pd.DataFrame({"x": [30.0], "c": ["a"], "n": [1.0]}), wide)
    assert _marks(got) == {0: [("x", "range", "warn")]}


def test_a_policy_a_rule_does_not_allow_is_refused_naming_the_key() -> None:
    with pytest.raises(DataError, match=r"contract\.columns\.x\.range: 'unknown' is not a policy for range"):
        ContractPolicy(columns={"x": {"range": "unknown"}})
    with pytest.raises(DataError, match=r"contract\.unseen_category: 'clip' is not a policy for unseen_category"):
        ContractPolicy(defaults={"unseen_category": "clip"})
    with pytest.raises(DataError, match=r"contract\.columns\.x\.type: unknown rule"):
        ContractPolicy(columns={"x": {"type": "warn"}})
    with pytest.raises(DataError, match=r"contract\.columns names \['nope'\]"):
        _small().with_policy(ContractPolicy(columns={"nope": {"range": "clip"}}))


def test_policies_are_saved_with_the_contract(tmp_path: Path) -> None:
    c = _small().with_policy(ContractPolicy(defaults={"range": "clip"}, columns={"c": {"unseen_category": "reject"}},
                                            far_range_factor=2.5))
    again = Contract.load(c.save(tmp_path / "contract.json"))
    assert again == c and again.policy.of("c")["unseen_category"] == "reject" and again.policy.far_range_factor == 2.5


def test_a_version_1_contract_acts_by_the_default_policies(tmp_path: Path, contract: Contract) -> None:
    old = {k: v for k, v in contract.to_dict().items() if k != "policy"} | {"version": 1}
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    again = Contract.load(path)
    assert again.columns == contract.columns and again.policy == ContractPolicy()

"""``check_records`` (rows, no pandas) raises exactly what ``check_frame`` raises on the same rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tabloop.data import Contract, ContractPolicy, check_frame, check_records, frame_from_records, screen_frame, screen_records
from tabloop.errors import ContractViolation

Rows = list[dict[str, Any]]


def _set(col: str, value: Any, rows: slice = slice(0, 1)) -> Callable[[Rows], Rows]:
    def edit(batch: Rows) -> Rows:
        for r in batch[rows]:
            r[col] = value
        return batch

    return edit


def _drop(col: str) -> Callable[[Rows], Rows]:
    def edit(batch: Rows) -> Rows:
        for r in batch:
            r.pop(col)
        return batch

    return edit


def _then(*edits: Callable[[Rows], Rows]) -> Callable[[Rows], Rows]:
    def edit(batch: Rows) -> Rows:
        for e in edits:
            batch = e(batch)
        return batch

    return edit


# (name, rows to take, edit, the rules expected)
BAD_INPUTS: list[tuple[str, int, Callable[[Rows], Rows], set[str]]] = [
    ("no rows", 0, lambda b: b, {"empty"}),
    ("rows without keys", 2, lambda b: [{} for _ in b], {"empty"}),
    ("a column left out", 3, _drop("lvr"), {"missing_column"}),
    ("an extra column", 3, _set("zzz", 1, slice(None)), {"unexpected_column"}),
    ("a number sent as a string", 3, _set("hir", "0.3"), {"type"}),
    ("booleans for a number, every row", 2, _set("hir", True, slice(None)), {"type"}),
    ("a boolean among numbers", 3, _set("hir", False, slice(1, 2)), {"type"}),
    ("an object for a number", 2, _set("lvr", {"a": 1}), {"type"}),
    ("a list for a number", 2, _set("lvr", [1, 2]), {"type"}),
    ("infinity", 3, _set("ccs", math.inf, slice(1, 2)), {"not_finite"}),
    ("minus infinity", 3, _set("ccs", -math.inf), {"not_finite"}),
    ("an integer beyond float range", 2, _set("mcs", 10**400), {"not_finite"}),
    ("null in a column without gaps", 3, _set("lvr", None, slice(0, 2)), {"not_null"}),
    ("NaN in a column without gaps", 3, _set("lvr", float("nan")), {"not_null"}),
    ("null category in a column without gaps", 3, _set("dmi", None), {"not_null"}),
    ("an unseen category", 3, _set("pbcr", "maybe", slice(2, 3)), {"unseen_category"}),
    ("a number for a category", 2, _set("dmi", 1), {"unseen_category"}),
    ("an object for a category", 2, _set("self", {"x": 1}), {"type"}),
    ("a list for a category", 2, _set("self", ["no"]), {"type"}),
    ("a number a little outside the trained range", 3, _set("dir", 3.5, slice(1, 2)), {"range"}),
    ("a number far outside the trained range", 3, _set("dir", 1000.0), {"far_range"}),
    ("an enormous finite number", 2, _set("dir", 1.8e19, slice(1, 2)), {"far_range"}),
    ("an enormous integer", 2, _set("dir", 2**64), {"far_range"}),
    ("a type error and a gap in one column", 4, _then(_set("lvr", "x"), _set("lvr", None, slice(2, 4))), {"type", "not_null"}),
    ("many problems at once", 3,
     _then(_drop("uria"), _set("zzz", 0, slice(None)), _set("hir", "a"), _set("pbcr", "maybe", slice(1, 3))),
     {"missing_column", "unexpected_column", "type", "unseen_category"}),
    ("more violations than the cap", 150, _set("dmi", "maybe", slice(None)), {"unseen_category"}),
    ("every column broken on many rows", 120,
     _then(_set("hir", "x", slice(None)), _set("dmi", "maybe", slice(None)), _set("lvr", None, slice(None))),
     {"type", "unseen_category", "not_null"}),
]


def _frame_error(rows: Rows, contract: Contract) -> ContractViolation:
    with pytest.raises(ContractViolation) as info:
        check_frame(frame_from_records(rows), contract, source="request body")
    return info.value


#: every policy reject: each rule raises
STRICT = ContractPolicy(defaults={"not_null": "reject", "range": "reject", "far_range": "reject",
                                  "unseen_category": "reject"})
#: no policy rejects: each rule with a policy marks the row
LENIENT = ContractPolicy(defaults={"not_null": "warn", "range": "clip", "far_range": "warn",
                                   "unseen_category": "unknown"})


@pytest.mark.parametrize(("name", "n", "edit", "rules"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_every_rule_is_raised_identically(
    name: str, n: int, edit: Callable[[Rows], Rows], rules: set[str], contract: Contract,
    make_rows: Callable[..., Rows],
) -> None:
    contract = contract.with_policy(STRICT)
    rows = edit(make_rows(n))
    want = _frame_error(rows, contract)
    with pytest.raises(ContractViolation) as info:
        check_records(rows, contract, source="request body")
    got = info.value
    assert {v.rule for v in want.violations} == rules  # the case tests what it says
    assert got.violations == want.violations  # column, rule, message and row, in order
    assert str(got) == str(want)
    assert got.to_dict() == want.to_dict()


def test_clean_rows_give_the_values_check_frame_gives(contract: Contract, make_rows: Callable[..., Rows]) -> None:
    rows = make_rows(200)
    rows[0]["deny"] = "no"  # the target and ignored columns may be sent
    rows[3]["pbcr"] = None
    rows[4]["dir"] = None
    rows[5]["dmi"] = "yes"
    want = check_frame(frame_from_records(rows), contract)
    got = check_records(rows, contract)
    assert list(got) == contract.feature_names
    for name in contract.numeric:
        assert got[name].dtype == np.float64
        np.testing.assert_array_equal(got[name], want[name].to_numpy())
    for name in contract.categorical:
        assert got[name].dtype == object
        assert [v if isinstance(v, str) else None for v in got[name]] == [
            v if isinstance(v, str) else None for v in want[name]
        ]


MARKED: list[tuple[str, Callable[[Rows], Rows], set[tuple[str, str, str]]]] = [
    ("a gap", _set("lvr", None, slice(0, 2)), {("lvr", "not_null", "warn")}),
    ("a category gap", _set("dmi", None), {("dmi", "not_null", "warn")}),
    ("a little outside", _set("dir", 3.5, slice(1, 2)), {("dir", "range", "clip")}),
    ("far outside", _set("dir", -1e6), {("dir", "far_range", "warn")}),
    ("an unseen category", _set("pbcr", "maybe", slice(2, 3)), {("pbcr", "unseen_category", "unknown")}),
    ("all at once", _then(_set("dir", 3.5), _set("dmi", 7), _set("hir", 99.0, slice(1, 3))),
     {("dir", "range", "clip"), ("dmi", "unseen_category", "unknown"), ("hir", "far_range", "warn")}),
]


@pytest.mark.parametrize(("name", "edit", "marks"), MARKED, ids=[m[0] for m in MARKED])
def test_rows_let_through_are_marked_identically(
    name: str, edit: Callable[[Rows], Rows], marks: set[tuple[str, str, str]], contract: Contract,
    make_rows: Callable[..., Rows],
) -> None:
    contract = contract.with_policy(LENIENT)
    rows = edit(make_rows(4))
    want = screen_frame(frame_from_records(rows), contract)
    got = screen_records(rows, contract)
    assert got.marks == want.marks
    assert {tuple(m) for row in got.marks.values() for m in row} == marks
    for name in contract.numeric:
        np.testing.assert_array_equal(got.values[name], want.values[name].to_numpy())
    for name in contract.categorical:
        assert [v if isinstance(v, str) else None for v in got.values[name]] == [
            v if isinstance(v, str) else None for v in want.values[name]
        ]


def test_target_is_refused_when_not_allowed(contract: Contract, make_rows: Callable[..., Rows]) -> None:
    rows = make_rows(2)
    rows[0]["deny"] = "no"
    rows[1]["deny"] = "yes"
    with pytest.raises(ContractViolation) as info:
        check_records(rows, contract, allow_target=False)
    assert [(v.column, v.rule) for v in info.value.violations] == [("deny", "unexpected_column")]


def test_a_key_some_rows_leave_out_is_missing_on_those_rows(contract: Contract, make_rows: Callable[..., Rows]) -> None:
    """pandas would fill NaN, which a nullable column takes: a silent guess, so it is refused per row."""
    rows = make_rows(3)
    del rows[1]["pbcr"]  # nullable: pandas would have accepted the gap
    del rows[2]["lvr"]
    rows[2]["hir"] = "x"
    with pytest.raises(ContractViolation) as info:
        check_records(rows, contract)
    got = [(v.column, v.rule, v.row) for v in info.value.violations]
    # as serving reports it: the left-out keys first (in column order), then what the contract finds
    assert got == [("lvr", "missing_column", 2), ("pbcr", "missing_column", 1), ("hir", "type", 2)]
    assert "row leaves out this key" in info.value.violations[0].message


def test_rows_sent_in_another_key_order_are_fine(contract: Contract, make_rows: Callable[..., Rows]) -> None:
    rows = make_rows(2)
    rows[1] = dict(reversed(list(rows[1].items())))
    got = check_records(rows, contract)
    assert got["lvr"][1] == rows[1]["lvr"]

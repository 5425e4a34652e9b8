"""Random frames and rows against the contract: it never crashes, and never passes a value it refuses.

Whatever arrives (any dtype, NaN, infinity, enormous numbers, unseen categories, columns
missing or extra) under any policies, ``screen_frame`` and ``screen_records`` either raise
``ContractViolation`` (a ``DataError``) or return values that every rule allows: a number
outside the trained range only where a policy let it through (and the row says so), never
an infinity, a gap only where the column had gaps or its policy warns, a category outside
the trained ones only as ``unknown`` or under ``warn``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabloop.data import (
    UNKNOWN_CATEGORY,
    Contract,
    ContractPolicy,
    Screened,
    far_bounds,
    infer_contract,
    screen_frame,
    screen_records,
)
from tabloop.errors import DataError

TRAIN = pd.DataFrame({
    "x": [0.0, 1.0, 2.5, 4.0],          # numeric, no gaps
    "g": [10.0, np.nan, 30.0, 20.0],    # numeric with gaps
    "k": [5, 5, 5, 5],                  # constant integer
    "c": ["a", "b", "a", "c"],          # categorical, no gaps
    "d": ["u", None, "v", "u"],         # categorical with gaps
})
BASE = infer_contract(TRAIN)

POLICIES = st.fixed_dictionaries({
    "not_null": st.sampled_from(["reject", "warn"]),
    "range": st.sampled_from(["reject", "warn", "clip"]),
    "far_range": st.sampled_from(["reject", "warn", "clip"]),
    "unseen_category": st.sampled_from(["reject", "warn", "unknown"]),
})

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1000.0, 1.8e19, -1.8e19, 1e300, 4.0000001, -0.5, 5, 0, 3.4e38, 2**64]),
    st.text(max_size=3),
    st.sampled_from(["a", "b", "c", "u", "v", "zz", "1", "nan", ""]),
    st.lists(st.integers(), max_size=2),
)
NAMES = st.sampled_from(["x", "g", "k", "c", "d", "extra"])


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    defaults = draw(POLICIES)
    columns = draw(st.dictionaries(st.sampled_from(BASE.feature_names), POLICIES, max_size=2))
    factor = draw(st.sampled_from([0.1, 1.0, 3.0]))
    return BASE.with_policy(ContractPolicy(defaults=defaults, columns=columns, far_range_factor=factor))


@st.composite
def row_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 6))
    keys = draw(st.lists(NAMES, min_size=0, max_size=6, unique=True))
    if draw(st.booleans()):
        keys = list(dict.fromkeys([*BASE.feature_names, *keys]))  # usually every feature, so the rules are reached
    rows = []
    for _ in range(n):
        row = {k: draw(VALUES) for k in keys}
        if keys and draw(st.integers(0, 9)) == 0:
            row.pop(draw(st.sampled_from(keys)))  # a key some rows leave out
        rows.append(row)
    return rows


def _allowed(screened: Screened[Any], contract: Contract, n: int) -> None:
    """Every value passed is one the contract allows, and every row let through out of it is marked."""
    values = screened.values
    assert list(values) == contract.feature_names
    marked = {(i, m.column, m.rule, m.policy) for i, marks in screened.marks.items() for m in marks}
    for col in contract.columns:
        rules = contract.policy.of(col.name)
        column = np.asarray(values[col.name], dtype=object if col.kind == "categorical" else float)
        assert len(column) == n
        for i, v in enumerate(column.tolist()):
            gap = v is None or (isinstance(v, float) and math.isnan(v))
            if gap:
                assert col.nullable or (rules["not_null"] == "warn" and (i, col.name, "not_null", "warn") in marked)
                continue
            if col.kind == "numeric":
                assert math.isfinite(v)
                if col.min <= v <= col.max:
                    continue
                lo, hi = far_bounds(col, contract.policy.far_range_factor)
                rule = "far_range" if (v < lo or v > hi) else "range"
                assert rules[rule] == "warn" and (i, col.name, rule, "warn") in marked, (col.name, v, rule)
            else:
                assert isinstance(v, str)
                if v in (col.categories or []):
                    continue
                policy = rules["unseen_category"]
                assert policy != "reject" and (i, col.name, "unseen_category", policy) in marked, (col.name, v)
                assert v == UNKNOWN_CATEGORY or policy == "warn"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contract=contracts(), rows=row_lists())
def test_rows_never_crash_the_check_nor_pass_what_it_refuses(contract: Contract, rows: list[dict[str, Any]]) -> None:
    try:
        screened = screen_records(rows, contract)
    except DataError:
        return
    _allowed(screened, contract, len(rows))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contract=contracts(), rows=row_lists(), text=st.booleans())
def test_frames_never_crash_the_check_nor_pass_what_it_refuses(
    contract: Contract, rows: list[dict[str, Any]], text: bool
) -> None:
    df = pd.DataFrame.from_records(rows)
    try:
        screened = screen_frame(df, contract, text=text)
    except DataError:
        return
    _allowed(screened, contract, len(df))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contract=contracts(), data=st.data())
def test_typed_frames_never_pass_what_the_check_refuses(contract: Contract, data: st.DataObject) -> None:
    """Columns with real dtypes (float64, int64, bool, category, string), as files give them."""
    n = data.draw(st.integers(1, 8))
    frame: dict[str, Any] = {}
    for name in data.draw(st.lists(NAMES, min_size=1, max_size=6, unique=True)):
        kind = data.draw(st.sampled_from(["float", "int", "bool", "category", "string", "object"]))
        if kind == "float":
            frame[name] = pd.Series(data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n,
                                                       max_size=n)), dtype="float64")
        elif kind == "int":
            frame[name] = pd.Series(data.draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)),
                                    dtype="int64")
        elif kind == "bool":
            frame[name] = pd.Series(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        else:
            texts = data.draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "u", "zz", "1.5"])),
                                       min_size=n, max_size=n))
            frame[name] = pd.Series(texts, dtype={"category": "category", "string": "string", "object": object}[kind])
    df = pd.DataFrame(frame)
    try:
        screened = screen_frame(df, contract)
    except DataError:
        return
    _allowed(screened, contract, len(df))

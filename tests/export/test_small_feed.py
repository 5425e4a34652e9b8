"""The plain-Python feed for a few rows builds exactly what check_records + onnx_feed build, or steps aside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabloop.data import Contract, check_records
from tabloop.export._predict import SMALL_ROWS, _SmallFeed
from tabloop.export._runtime import onnx_feed

from .conftest import gappy

Rows = list[dict[str, Any]]


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        if a[name].dtype == object:
            assert a[name].tolist() == b[name].tolist(), name
        else:
            np.testing.assert_array_equal(a[name], b[name])


def test_clean_rows_get_the_checked_paths_feed(contract: Contract, make_rows: Callable[..., Rows]) -> None:
    small = _SmallFeed(contract)
    rows = make_rows(60) + gappy(make_rows(5, start=60), contract)
    for start in range(0, len(rows), 3):
        part = rows[start : start + 3]
        got = small.feed(part)
        assert got is not None
        _same(got, onnx_feed(check_records(part, contract), contract))
    assert SMALL_ROWS >= 1


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r, c: r.update({c.numeric[0]: "abc"}),           # wrong type
        lambda r, c: r.update({c.numeric[0]: True}),            # booleans are not numbers
        lambda r, c: r.update({c.numeric[0]: 1e300}),           # beyond float32: the pipeline answers
        lambda r, c: r.update({c.numeric[0]: float("inf")}),    # not finite
        lambda r, c: r.update({c.numeric[0]: c.column(c.numeric[0]).max + 1.0}),  # outside the trained range: marked
        lambda r, c: r.update({c.categorical[0]: "never-seen"}),
        lambda r, c: r.update({c.categorical[0]: 1}),           # a number as a category: canonicalized by the full check
        lambda r, c: r.update({"surprise": 1}),                 # unknown key
        lambda r, c: r.pop(c.feature_names[0]),                 # missing key
        lambda r, c: r.update({next(x.name for x in c.columns if not x.nullable): None}),  # gap where none is allowed
    ],
    ids=["type", "bool", "float32", "inf", "out-of-range", "unseen", "numeric-category", "unknown", "missing", "not-null"],
)
def test_anything_unusual_goes_to_the_full_check(
    contract: Contract, make_rows: Callable[..., Rows], spoil: Callable[[dict[str, Any], Contract], None]
) -> None:
    rows = make_rows(2)
    spoil(rows[1], contract)
    assert _SmallFeed(contract).feed(rows) is None


def test_rows_with_different_keys_go_to_the_full_check(contract: Contract, make_rows: Callable[..., Rows]) -> None:
    rows = make_rows(2)
    rows[1] = dict(reversed(list(rows[1].items())))  # same keys, other order: still fine
    assert _SmallFeed(contract).feed(rows) is not None
    ignored = contract.ignored[0]
    if ignored in rows[1]:
        del rows[1][ignored]  # an ignored column sent by one row only
    else:
        rows[1][ignored] = "x"
    assert _SmallFeed(contract).feed(rows) is None


_ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e39, -1e39, 3.4e38, 0.0, -0.0]), st.text(max_size=4), st.sampled_from(["no", "yes", "NO", " no"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_whatever_a_client_sends_the_two_paths_agree_or_the_fast_one_steps_aside(
    contract: Contract, make_rows: Callable[..., Rows], data: st.DataObject
) -> None:
    rows = make_rows(2, start=data.draw(st.integers(0, 500)))
    for row in rows:
        for name in data.draw(st.lists(st.sampled_from(contract.feature_names), max_size=3, unique=True)):
            row[name] = data.draw(_ODD_VALUES)
    got = _SmallFeed(contract).feed(rows)
    if got is None:
        return  # the full check answers: its verdict (a feed or a violation) is the only one
    _same(got, onnx_feed(check_records(rows, contract), contract))  # raises if check_records refuses these rows

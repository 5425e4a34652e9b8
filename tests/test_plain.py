"""Pins the one JSON-cleaning home (tabloop._plain): what each spelling keeps and what it changes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tabloop._plain import json_default, plain, scalar, shown


def test_plain_rebuilds_containers_with_plain_values() -> None:
    value = {1: (np.int64(2), np.float32(0.5), np.bool_(True)), "p": Path("a/b"), "s": "x", "n": None}
    out = plain(value)
    assert out == {"1": [2, 0.5, True], "p": "a/b", "s": "x", "n": None}
    assert type(out["1"][0]) is int and type(out["1"][1]) is float and type(out["1"][2]) is bool


@pytest.mark.parametrize("number", [math.nan, np.float64("nan"), math.inf, -np.inf])
def test_plain_writes_a_number_json_cannot_hold_as_null(number: float) -> None:
    assert plain([number]) == [None]


def test_plain_keeps_infinity_when_told_but_never_nan() -> None:
    assert plain([math.inf, np.float64(-np.inf), math.nan], keep_infinity=True) == [math.inf, -math.inf, None]


def test_plain_uses_to_dict_and_leaves_arrays_and_unknown_values() -> None:
    class Thing:
        def to_dict(self) -> dict[str, object]:
            return {"a": np.int32(1)}

    stamp = object()
    array = np.arange(3)
    assert plain({"t": Thing(), "o": stamp}) == {"t": {"a": 1}, "o": stamp}
    assert plain(array) is array


def test_scalar_turns_numpy_scalars_only() -> None:
    assert type(scalar(np.int64(3))) is int
    assert scalar("a") == "a"
    array = np.arange(2)
    assert scalar(array) is array


def test_shown_spells_what_json_cannot_hold() -> None:
    assert [shown(v) for v in ("a", 1, True, None, 1.5)] == ["a", 1, True, None, 1.5]
    assert [shown(v) for v in (math.nan, -math.inf, np.int64(3), Path("p"))] == ["nan", "-inf", "3", "p"]


def test_json_default_for_files() -> None:
    assert json.dumps({"a": np.int64(1), "b": Path("x")}, default=json_default) == '{"a": 1, "b": "x"}'
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        json.dumps(object(), default=json_default)


def test_importing_it_imports_no_library() -> None:
    code = "import sys, tabloop._plain; print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_plain_records_are_rows_as_a_json_client_sends_them() -> None:
    import numpy as np
    import pandas as pd

    from tabloop._plain import plain_records

    frame = pd.DataFrame({"n": [1.5, np.nan], "i": np.array([1, 2], dtype="int64"), "c": ["a", None],
                          "x": [np.inf, 0.0]}).astype(object)
    rows = plain_records(frame.to_dict("records"))
    assert rows == [{"n": 1.5, "i": 1, "c": "a", "x": float("inf")}, {"n": None, "i": 2, "c": None, "x": 0.0}]
    assert all(type(r["i"]) is int for r in rows)

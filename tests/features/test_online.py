"""Online lookups by entity key: what is found, what is missing or expired, and that online agrees with offline."""

from __future__ import annotations

import pandas as pd
import pytest

from tabloop.errors import ContractViolation, DataError
from tabloop.features import Lookup
from ._store import T


def test_online_values_agree_with_the_point_in_time_join_for_the_same_entities_and_time(applied) -> None:
    at_t = pd.DataFrame({"customer_id": [1, 2], "label_time": [T, T]})
    offline = applied.historical(at_t, "label_time").frame
    online = Lookup(applied).fill([{"customer_id": 1}, {"customer_id": 2}], now=T.timestamp())
    assert not online.gaps
    for i, row in enumerate(online.rows):
        assert row["spend"] == offline["spend"].iloc[i]
        assert row["visits"] == offline["visits"].iloc[i]
    assert [r["spend"] for r in online.rows] == [1001.0, 1002.0]


def test_a_row_that_sends_its_features_is_not_looked_up_and_a_sent_value_wins(applied) -> None:
    lookup = Lookup(applied)
    out = lookup.fill([{"customer_id": 1, "spend": 5.0, "visits": 7}, {"customer_id": 2, "spend": 6.0}], now=T.timestamp())
    assert out.looked_up == 1
    assert out.rows == [{"customer_id": 1, "spend": 5.0, "visits": 7}, {"customer_id": 2, "spend": 6.0, "visits": 102}]


def test_missing_entities_and_expired_values_are_said_per_row(applied) -> None:
    lookup = Lookup(applied)
    # customer 3's only value was outside the ttl when materialized, customer 4 never had one
    out = lookup.fill([{"customer_id": 1}, {"customer_id": 3}, {"customer_id": 4}], now=T.timestamp())
    assert sorted(out.gaps) == [1, 2]
    assert {g.rule for i in (1, 2) for g in out.gaps[i]} == {"missing_entity"}
    assert "spend" not in out.rows[2]
    later = lookup.fill([{"customer_id": 1}], now=(T + pd.Timedelta(days=29)).timestamp())
    (gap,) = later.gaps[0]
    assert (gap.rule, gap.entity, gap.features) == ("expired", "customer_id=1", ("spend", "visits"))
    (violation,) = later.violations()
    assert (violation.column, violation.rule, violation.row) == ("customer_id", "expired", 0)


def test_a_row_without_its_join_key_is_refused_naming_the_key(applied) -> None:
    with pytest.raises(ContractViolation, match="customer_id") as caught:
        Lookup(applied).fill([{"customer_id": 1}, {"other": 2}])
    assert [(v.column, v.rule, v.row) for v in caught.value.violations] == [("customer_id", "missing_column", 1)]


def test_the_lookup_asks_only_for_the_features_the_model_uses(applied) -> None:
    lookup = Lookup(applied, wanted=["spend", "channel"])
    assert lookup.features == ["spend"]
    assert lookup.fill([{"customer_id": 2}], now=T.timestamp()).rows == [{"customer_id": 2, "spend": 1002.0}]
    assert not Lookup(applied, wanted=["channel"])



def test_a_join_key_of_the_wrong_type_is_refused_not_coerced(applied) -> None:
    with pytest.raises(ContractViolation) as caught:
        Lookup(applied).fill([{"customer_id": "1"}, {"customer_id": True}, {"customer_id": 2}])
    assert [(v.column, v.rule, v.row) for v in caught.value.violations] == [("customer_id", "type", 0),
                                                                          ("customer_id", "type", 1)]


def test_pandas_sqlite_codecs_registered_before_materialize_do_not_corrupt_the_online_store(tmp_path) -> None:
    # sqlite3's adapters and converters are process-wide: pandas' SQLite path registers ISO-text ones
    # over Feast's epoch ones, and a materialize after it wrote text timestamps that a fresh process
    # (Feast's converter) could not read: "invalid literal for int()" (seen in the whole test suite)
    import sqlite3
    import subprocess
    import sys

    from ._store import make_repo

    repo = make_repo(tmp_path / "repo")
    repo.apply()
    with sqlite3.connect(tmp_path / "other.db") as conn:  # what a SQLite sink or read_sql does first
        pd.DataFrame({"at": [pd.Timestamp("2026-01-01 10:00")]}).to_sql("t", conn, index=False)
    repo.materialize(T.to_pydatetime())
    code = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from tests.features._store import make_repo\n"
        "from tabloop.features import Lookup\n"
        "import pandas as pd\n"
        "from pathlib import Path\n"
        f"repo = make_repo(Path(sys.argv[2]), project={repo.project!r})\n"
        f"out = Lookup(repo).fill([{{'customer_id': 1}}], now={T.timestamp()})\n"
        "print(out.rows[0]['spend'], sorted(out.gaps))\n"
    )
    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", code, root, str(tmp_path / "repo")], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1001.0", "[]"]


def test_batch_rows_are_completed_point_in_time_from_the_offline_store(applied) -> None:
    from tabloop.features import fill_frame
    from tabloop.features._online import NO_VALUE

    lookup = Lookup(applied)
    # keys as a CSV chunk holds them (text), labelled T-5d: the values known then, not T-2d's later ones
    chunk = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "label_time": [str(T - pd.Timedelta(days=5))] * 4})
    chunk.attrs["rows"] = [10, 11, 12, 13]
    filled = fill_frame(lookup, chunk, at=T.to_pydatetime(), timestamp="label_time")
    assert filled.frame["spend"].tolist()[:2] == [10.0, 20.0]
    assert filled.frame["customer_id"].tolist() == ["1", "2", "3", "4"]  # the input's own columns as sent
    assert filled.frame.attrs["rows"] == [10, 11, 12, 13]
    assert sorted(filled.gaps) == [2, 3]
    (gap,) = filled.gaps[3]
    assert (gap.rule, gap.entity, gap.features) == (NO_VALUE, "customer_id=4", ("spend", "visits"))
    # without the timestamp column: as of the run's time, the newest value (what the online store serves)
    now = fill_frame(lookup, chunk.drop(columns="label_time"), at=T.to_pydatetime())
    online = lookup.fill([{"customer_id": 1}, {"customer_id": 2}], now=T.timestamp()).rows
    assert now.frame["spend"].tolist()[:2] == [r["spend"] for r in online] == [1001.0, 1002.0]
    # a chunk that sends the features is left alone; a key that is not a number is refused naming row and column
    sent = chunk.assign(spend=1.0, visits=2)
    assert fill_frame(lookup, sent, at=T.to_pydatetime()).frame is sent
    with pytest.raises(DataError, match=r"join key 'customer_id' in row 1 is 'x'"):
        fill_frame(lookup, pd.DataFrame({"customer_id": ["1", "x"]}), at=T.to_pydatetime())

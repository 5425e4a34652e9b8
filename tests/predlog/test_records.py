"""The record schema: error records keep no body, and time stamps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tabloop.predlog import ERROR_COLUMNS, error_record, utc_now


def test_an_error_record_keeps_no_body_and_a_short_message(tmp_path: Path) -> None:
    violations = [{"column": f"c{i}", "rule": "type", "message": f"got 'secret {i}'", "row": i, "value": "secret"}
                  for i in range(50)]
    rec = error_record(request_id="r", status=400, code="malformed_request", message="x" * 5_000, dialect="v2",
                       violations=violations)
    assert len(rec["message"]) == 500 and rec["message"].startswith("x")
    assert len(rec["violations"]) == 20
    assert rec["violations"][3] == {"column": "c3", "rule": "type", "row": 3}  # never the client's values
    assert "secret" not in str(rec)
    assert rec["version"] is None and rec["variant"] is None and rec["rows"] is None  # refused before routing
    assert rec["kind"] == "error" and "inputs" not in rec and "prediction" not in rec
    assert set(rec) == set(ERROR_COLUMNS)


def test_utc_now_is_iso_8601_to_the_millisecond_and_current() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamps = [utc_now() for _ in range(2000)]
    after = dt.datetime.now(dt.UTC)
    for s in stamps[::97]:
        assert len(s) == len("2026-11-29T16:09:06.123+00:00") and s.endswith("+00:00")
        when = dt.datetime.fromisoformat(s)
        assert before <= when <= after
    assert stamps == sorted(stamps)

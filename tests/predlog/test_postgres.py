"""Shipping the prediction log to a real PostgreSQL: exactly once, in the files' order, whatever runs at once."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tabloop.errors import LogDatabaseError
from tabloop.predlog import LogShipper, PostgresLog, PredictionLog, ShippedLog, error_record
from .._postgres import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A database of this module's own on the shared server, dropped afterwards."""
    with scratch_database("tabloop_test") as url:
        yield url


@pytest.fixture()
def project() -> str:
    """A project name of the test's own: tests share the module's database, never each other's rows."""
    return f"p{uuid.uuid4().hex[:8]}"


def _rows(prefix: str, n: int, *, second: int = 0) -> list[dict[str, Any]]:
    return [{"request_id": f"{prefix}{i}", "row": 0, "ts": f"2026-12-03T10:00:{(second + i) % 60:02d}.000+00:00",
             "source": "http", "model": "m", "version": "1", "variant": "champion", "inputs": {"x": i, "c": "a"},
             "prediction": i % 2, "probabilities": {"0": 0.25, "1": 0.75}, "latency_ms": 1.5} for i in range(n)]


def _keys(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(frame["request_id"].map(str), frame["row"].astype(int), strict=True))


def test_the_database_reads_back_what_the_files_read(pg_url: str, project: str, tmp_path: Path) -> None:
    a = PredictionLog(tmp_path, segment="w1")
    b = PredictionLog(tmp_path, segment="w2")
    a.append(_rows("a", 40))
    b.append(_rows("b", 30, second=7))  # two workers' segments of one day, interleaved in time
    a.append([error_record(request_id="bad", status=422, code="contract_violation", message="no", dialect="tabloop")])
    a.append_feedback([{"request_id": "a1", "row": 0, "label": 1, "ts": "t1"},
                       {"request_id": "a1", "row": 0, "label": 0, "ts": "t2"}])  # a later label wins
    stats = LogShipper(tmp_path, pg_url, project).ship()
    assert stats.rows == 40 + 30 + 1 + 2
    remote = PostgresLog(pg_url, project)
    logged, errors = remote.read_log()
    local_logged, local_errors = PredictionLog(tmp_path).read_log()
    pd.testing.assert_frame_equal(logged, local_logged)
    pd.testing.assert_frame_equal(errors, local_errors)
    pd.testing.assert_frame_equal(remote.read_feedback(), PredictionLog(tmp_path).read_feedback())
    assert remote.read_feedback()["label"].tolist() == [0]
    pd.testing.assert_frame_equal(remote.read_predictions(last=5), PredictionLog(tmp_path).read_predictions(last=5))


def test_shipping_again_or_from_another_shipper_adds_nothing(pg_url: str, project: str, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, segment="w1")
    log.append(_rows("r", 25))
    first = LogShipper(tmp_path, pg_url, project)
    assert first.ship().rows == 25
    assert first.ship().rows == 0
    assert LogShipper(tmp_path, pg_url, project).ship().rows == 0  # a restarted server finds the offset in the table
    log.append(_rows("s", 5))
    assert LogShipper(tmp_path, pg_url, project).ship().rows == 5
    assert first.ship().rows == 0
    assert PostgresLog(pg_url, project).count() == {"prediction": 30}


def test_a_torn_line_is_skipped_as_the_readers_skip_it(pg_url: str, project: str, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, segment="w1")
    log.append(_rows("r", 3))
    with open(log.predictions_path(), "ab") as fh:
        fh.write(b'{"request_id": "torn", "ro')  # a crash mid-line
    shipper = LogShipper(tmp_path, pg_url, project)
    assert shipper.ship().rows == 3  # the unfinished line waits: it may still be being written
    log.append(_rows("after", 2))  # the next write starts a fresh line after the fragment
    stats = shipper.ship()
    torn_at = log.predictions_path().read_bytes().index(b'{"request_id": "torn')
    assert stats.rows == 2 and [s.reason for s in stats.skipped] == [f"not JSON (at byte {torn_at})"]
    assert _keys(PostgresLog(pg_url, project).read_predictions()) == _keys(PredictionLog(tmp_path).read_predictions())


def test_a_failed_transaction_ships_its_batch_again_once(
    pg_url: str, project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offset moves with the rows: a batch whose commit never happened is shipped again, and only once."""
    import tabloop.predlog._postgres as pgmod

    log = PredictionLog(tmp_path, segment="w1")
    log.append(_rows("r", 50))
    shipper = LogShipper(tmp_path, pg_url, project, batch_bytes=4096)  # several batches
    calls = {"n": 0}
    real = pgmod._parse

    def failing_parse(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the third batch: rows of two batches are committed, this one dies mid-transaction
            raise OSError("killed mid-batch")
        return real(*args, **kwargs)

    monkeypatch.setattr(pgmod, "_parse", failing_parse)
    with pytest.raises(LogDatabaseError, match="killed mid-batch"):
        shipper.ship()
    assert not shipper.ok and shipper.failures == 1
    shipped = PostgresLog(pg_url, project).count().get("prediction", 0)
    assert 0 < shipped < 50
    monkeypatch.setattr(pgmod, "_parse", real)
    assert shipper.ship().rows == 50 - shipped
    assert shipper.ok
    keys = _keys(PostgresLog(pg_url, project).read_predictions())
    assert len(keys) == len(set(keys)) == 50


def test_shippers_racing_a_writer_ship_every_row_exactly_once(pg_url: str, project: str, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, segment="w1")
    shippers = [LogShipper(tmp_path, pg_url, project, batch_bytes=8192) for _ in range(3)]
    done = threading.Event()
    errors: list[BaseException] = []

    def keep_shipping(s: LogShipper) -> None:
        while not done.is_set():
            try:
                s.ship()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=keep_shipping, args=(s,)) for s in shippers]
    for t in threads:
        t.start()
    for k in range(40):
        log.append(_rows(f"k{k}-", 10))
    done.set()
    for t in threads:
        t.join(60)
    assert not errors
    shippers[0].ship()
    keys = _keys(PostgresLog(pg_url, project).read_predictions())
    assert len(keys) == len(set(keys)) == 400
    assert keys == _keys(PredictionLog(tmp_path).read_predictions())


def test_two_machines_with_the_same_file_name_stay_two_files(pg_url: str, project: str, tmp_path: Path) -> None:
    """Containers number their workers alike: two machines' predictions-<day>-1.jsonl are both kept."""
    one, two = tmp_path / "one", tmp_path / "two"
    PredictionLog(one, segment="1").append(_rows("one", 3))
    PredictionLog(two, segment="1").append(_rows("two", 4))
    LogShipper(one, pg_url, project).ship()
    LogShipper(two, pg_url, project).ship()
    ids = PostgresLog(pg_url, project).read_predictions()["request_id"]
    assert sorted(ids) == sorted([f"one{i}" for i in range(3)] + [f"two{i}" for i in range(4)])


def test_a_file_truncated_outside_tabloop_ships_what_the_table_does_not_hold(
    pg_url: str, project: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = PredictionLog(tmp_path, segment="w1")
    log.append(_rows("r", 10))
    shipper = LogShipper(tmp_path, pg_url, project)
    shipper.ship()
    path = log.predictions_path()
    keep = path.read_bytes().split(b"\n")[:4]
    os.truncate(path, len(b"\n".join(keep)) + 1)  # four whole lines left
    log.append(_rows("new", 2))
    assert LogShipper(tmp_path, pg_url, project).ship().rows == 2
    assert "truncated outside tabloop" in caplog.text
    ids = PostgresLog(pg_url, project).read_predictions()["request_id"].tolist()
    assert ids.count("new0") == 1 and ids.count("new1") == 1 and len(ids) == 12


def test_the_project_log_reads_the_database_and_falls_back_to_the_files(
    pg_url: str, project: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shipped = ShippedLog(tmp_path, pg_url, project)
    PredictionLog(tmp_path, segment="w1").append(_rows("r", 4))
    assert len(shipped.read_predictions()) == 4  # shipped before it read
    assert "table tabloop_predlog" in shipped.read_from
    # someone else's machine shipped rows too: the database holds them, the local files do not
    PredictionLog(tmp_path / "other", segment="w9").append(_rows("other", 2))
    LogShipper(tmp_path / "other", pg_url, project).ship()
    assert len(shipped.read_predictions()) == 6
    gone = ShippedLog(tmp_path, "postgresql://postgres:secret@127.0.0.1:1/none", project)
    assert len(gone.read_predictions()) == 4
    assert gone.read_from.startswith("the local files") and "cannot be reached: connection failed" in gone.read_from
    assert "secret" not in gone.read_from and "secret" not in caplog.text


def test_a_url_that_is_not_postgres_is_refused_naming_the_key(tmp_path: Path) -> None:
    from tabloop.errors import SpecError
    from tabloop.spec import load_spec

    (tmp_path / "tabloop.yaml").write_text("name: p\ndata: {source: d.csv, target: y}\nserving: {log_url: 'mysql://u:pw@h/db'}\n")
    with pytest.raises(SpecError, match=r"serving.log_url \(TABLOOP_PREDLOG_URL\) must be a PostgreSQL URL") as caught:
        load_spec(tmp_path / "tabloop.yaml")
    assert "pw" not in str(caught.value)
    with pytest.raises(LogDatabaseError, match="not a PostgreSQL URL"):
        LogShipper(tmp_path, "sqlite:///x.db", "p")


def test_a_stalled_database_does_not_hold_the_shipper_s_close(tmp_path: Path) -> None:
    """A server that accepts connections and never answers: close() gives up on the last round and says so."""
    import socket

    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    try:
        PredictionLog(tmp_path, segment="w1").append(_rows("r", 3))
        shipper = LogShipper(tmp_path, f"postgresql://postgres@127.0.0.1:{mute.getsockname()[1]}/x", "p",
                             interval_s=0.01)
        shipper.start()
        assert shipper.close(timeout=0.2) is False  # the thread is still waiting on the database: not joined
        assert shipper._thread is not None and shipper._thread.is_alive()
    finally:
        mute.close()

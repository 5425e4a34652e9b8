"""PredictionLog (durable JSONL) and BackgroundLogWriter (off the request path)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tabloop.errors import TabloopError
from tabloop.predlog import (
    ERROR_COLUMNS,
    LOG_COLUMNS,
    BackgroundLogWriter,
    PredictionLog,
    PredictionLogError,
    SkippedLine,
    error_record,
    prediction_rows,
    utc_now,
)

from .._faults import broken_log_disk, short_write_disk, wait_for


def _record(i: int, request_id: str = "r1", **extra: Any) -> dict[str, Any]:
    return {
        "request_id": request_id, "row": i, "ts": utc_now(), "source": "http", "model": "m", "version": "1",
        "variant": "champion", "inputs": {"lvr": 0.5 + i, "dmi": "no"}, "prediction": "no",
        "probabilities": {"no": 0.9, "yes": 0.1}, "latency_ms": 1.5, **extra,
    }


def _files(log: PredictionLog) -> list[Path]:
    return sorted(log.directory.glob("predictions-*.jsonl"))


# -- predictions -----------------------------------------------------------------
def test_append_then_read_in_order(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predlog")
    assert log.append([_record(0), _record(1)]) == 2
    assert log.append([_record(0, "r2")]) == 1
    assert log.append([]) == 0
    (path,) = _files(log)
    assert path.name == f"predictions-{dt.datetime.now(dt.UTC):%Y%m%d}.jsonl"
    df = log.read_predictions()
    assert list(df.columns) == LOG_COLUMNS
    assert list(zip(df["request_id"], df["row"], strict=True)) == [("r1", 0), ("r1", 1), ("r2", 0)]
    assert df.loc[1, "inputs"] == {"lvr": 1.5, "dmi": "no"}
    assert df.loc[0, "probabilities"] == {"no": 0.9, "yes": 0.1}
    last = log.read_predictions(last=2)
    assert list(last["request_id"]) == ["r1", "r2"] and list(last.index) == [0, 1]


def test_numpy_values_are_written(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0, prediction=np.float64(2.5), inputs={"x": np.int64(3), "v": np.array([1, 2])})])
    row = log.read_predictions().iloc[0]
    assert row["prediction"] == 2.5 and row["inputs"] == {"x": 3, "v": [1, 2]}


def test_an_empty_or_missing_log_reads_as_an_empty_table(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "never-written")
    df = log.read_predictions()
    assert df.empty and list(df.columns) == LOG_COLUMNS
    assert log.inputs_frame(df).empty
    fb = log.read_feedback()
    assert fb.empty and list(fb.columns) == ["request_id", "row", "label", "ts"]


def test_inputs_frame_has_one_column_per_feature(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0), _record(1)])
    inputs = log.inputs_frame(log.read_predictions())
    assert list(inputs.columns) == ["lvr", "dmi"]
    assert inputs["lvr"].tolist() == [0.5, 1.5]


def test_several_days_are_read_oldest_first(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    (tmp_path / "predictions-20240102.jsonl").write_text('{"request_id": "b", "row": 0}\n')
    (tmp_path / "predictions-20240101.jsonl").write_text('{"request_id": "a", "row": 0}\n')
    log.append([_record(0, "c")])
    assert log.read_predictions()["request_id"].tolist() == ["a", "b", "c"]


def test_a_torn_last_line_is_tolerated(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0), _record(1)])
    (path,) = _files(log)
    with open(path, "ab") as fh:
        fh.write(b'{"request_id": "r1", "row": 2, "inp')  # the process died mid-write
    df = log.read_predictions()
    assert df["row"].tolist() == [0, 1]


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "predictions-20240101.jsonl"
    path.write_text('{"request_id": "a", "row": 0}\n\n   \n{"request_id": "a", "row": 1}\n')
    assert PredictionLog(tmp_path).read_predictions()["row"].tolist() == [0, 1]


def test_lines_that_are_not_whole_records_are_skipped_counted_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # what a full disk or a crash leaves behind, and what a person's edit might: none of it stops the readers
    path = tmp_path / "predictions-20240101.jsonl"
    path.write_bytes(
        b'{"request_id": "a", "row": 0}\n'
        b'{"request_id": oops}\n'  # 2: garbage
        b'{"request_id": "a", "row": 1, "inputs": {"lvr": 0.5}\n'  # 3: half a record, torn inside, ends in '}'
        b'{"lvr": 0.5}\n'  # 4: a fragment ending in '}' that is valid JSON, but no record
        b'[1, 2]\n'  # 5: JSON, not a record
        b'{"request_id": "a", "row": 2}\n'
        b'{"a": 1}'  # 7: a fragment at the end without its newline (a write torn or still in progress)
    )
    (tmp_path / "predictions-20240102.jsonl").write_bytes(b'{"request_id": "b", "row": 0}\n{"request_id": "b", "ro')
    log = PredictionLog(tmp_path)
    skipped: list[SkippedLine] = []
    with caplog.at_level("WARNING", logger="tabloop.predlog"):
        predictions, errors = log.read_log(skipped=skipped)
    assert list(zip(predictions["request_id"], predictions["row"], strict=True)) == [("a", 0), ("a", 2), ("b", 0)]
    assert errors.empty
    assert [(s.path.name, s.line, s.reason) for s in skipped] == [
        (path.name, 2, "not JSON"), (path.name, 3, "not JSON"), (path.name, 4, "JSON but not a record"),
        (path.name, 5, "JSON but not a record"), (path.name, 7, "unfinished last line"),
        ("predictions-20240102.jsonl", 2, "unfinished last line"),
    ]
    assert str(skipped[0]) == f"{path}:2: not JSON"
    # one warning per file, naming it and every skipped line
    warned = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warned) == 2 and warned[0].startswith(f"{path}: skipped 5 line(s)")
    assert all(f"{n} (" in warned[0] for n in (2, 3, 4, 5, 7))
    # the other readers skip the same lines, and without a list they still never raise
    assert log.read_predictions()["row"].tolist() == [0, 2, 0]
    assert log.read_errors().empty


def test_a_damaged_feedback_file_is_read_around_its_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "feedback.jsonl").write_bytes(
        b'{"request_id": "a", "row": 0, "label": "no"}\n{"request_id": "a", "row": 1, "lab\n{"row": 1}\n'
        b'{"request_id": "a", "row": 1, "label": "yes"}\n{"request_id": "b", "row": 0, "label": "ye'
    )
    skipped: list[SkippedLine] = []
    fb = PredictionLog(tmp_path).read_feedback(skipped=skipped)
    assert fb[["request_id", "row", "label"]].values.tolist() == [["a", 0, "no"], ["a", 1, "yes"]]
    assert [s.line for s in skipped] == [2, 3, 5]


def test_write_failure_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "predlog"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(TabloopError, match=r"predlog/predictions-\d{8}\.jsonl: cannot write the prediction log") as err:
        PredictionLog(blocker).append([_record(0)])
    assert "disk space" in (err.value.hint or "")


# -- error records ---------------------------------------------------------------
def _error(request_id: str = "bad", **extra: Any) -> dict[str, Any]:
    return error_record(request_id=request_id, status=422, code="contract_violation", message="column 'dir': bad",
                        dialect="tabloop", model="m", version="1", variant="champion", rows=3, latency_ms=2.0,
                        **extra)


def test_error_records_are_read_apart_from_the_predictions(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0, "r1"), _record(1, "r1"), _error("bad"), _record(0, "r2"), _error("worse")])
    preds, errors = log.read_log()
    # drift, feedback joins, performance and retraining read predictions: no error record among them
    assert list(preds.columns) == LOG_COLUMNS
    assert list(zip(preds["request_id"], preds["row"], strict=True)) == [("r1", 0), ("r1", 1), ("r2", 0)]
    assert log.read_predictions()["request_id"].tolist() == ["r1", "r1", "r2"]
    assert log.read_predictions(last=1)["request_id"].tolist() == ["r2"]  # last counts prediction rows only
    assert list(errors.columns) == ERROR_COLUMNS
    assert errors["request_id"].tolist() == ["bad", "worse"] and set(errors["kind"]) == {"error"}
    first = errors.iloc[0]
    assert (first["status"], first["code"], first["rows"], first["version"]) == (422, "contract_violation", 3, "1")
    assert log.read_errors()["request_id"].tolist() == ["bad", "worse"]
    # a table read from the files directly (pandas, DuckDB) can drop them the same way
    raw = pd.read_json(_files(log)[0], lines=True)
    assert prediction_rows(raw)["request_id"].tolist() == ["r1", "r1", "r2"]


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


# -- feedback --------------------------------------------------------------------
def test_feedback_later_label_wins(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    assert log.append_feedback([
        {"request_id": "a", "row": 0, "label": "no", "ts": "1"},
        {"request_id": "a", "row": 1, "label": "no", "ts": "1"},
        {"request_id": "b", "row": 0, "label": "yes", "ts": "1"},
    ]) == 3
    assert log.append_feedback([{"request_id": "a", "row": 0, "label": "yes", "ts": "2"}]) == 1
    assert log.append_feedback([]) == 0
    fb = log.read_feedback()
    got = {(r.request_id, r.row): (r.label, r.ts) for r in fb.itertuples()}
    assert got == {("a", 0): ("yes", "2"), ("a", 1): ("no", "1"), ("b", 0): ("yes", "1")}
    assert (tmp_path / "feedback.jsonl").read_text().count("\n") == 4  # appended, never rewritten
    assert log.read_predictions().empty  # feedback is not mistaken for predictions


# -- background writer -----------------------------------------------------------
def test_background_writer_drains_everything_on_close(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, max_batch=64)
    assert writer.alive
    threads = [
        threading.Thread(target=lambda k=k: writer.submit(_record(i, f"t{k}") for i in range(250))) for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.close() is True
    assert not writer.alive
    assert writer.written == 1000 and writer.failed == 0 and writer.last_error is None
    df = log.read_predictions()
    assert len(df) == 1000
    for k in range(4):  # each producer's rows keep their order
        assert df.loc[df["request_id"] == f"t{k}", "row"].tolist() == list(range(250))


def test_background_writer_counts_failures_and_keeps_going(tmp_path: Path) -> None:
    blocker = tmp_path / "predlog"
    blocker.write_text("not a folder")
    writer = BackgroundLogWriter(PredictionLog(blocker))
    writer.submit([_record(0), _record(1), _record(2)])
    writer.submit([_record(3)])
    for _ in range(1000):  # wait for the thread to meet the failures
        if writer.failed == 4:
            break
        time.sleep(0.005)
    assert writer.alive  # a failed batch does not kill the writer
    assert writer.close() is False
    assert writer.failed == 4 and writer.written == 0
    assert writer.last_error is not None and str(blocker) in writer.last_error
    assert not writer.alive


def test_one_bad_record_fails_only_its_batch(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, max_batch=1)
    writer.submit([_record(0), {"request_id": "x", "bad": object()}, _record(1)])
    assert writer.close() is False
    assert (writer.written, writer.failed) == (2, 1)
    assert log.read_predictions()["row"].tolist() == [0, 1]


def test_inputs_frame_keeps_the_prediction_index(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(i) for i in range(4)])
    preds = log.read_predictions().iloc[[1, 3]]
    frame = log.inputs_frame(preds)
    assert list(frame.index) == [1, 3]
    pd.testing.assert_series_equal(frame["lvr"], pd.Series([1.5, 3.5], index=[1, 3], name="lvr"))


def test_a_bad_record_in_a_large_batch_costs_only_itself(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)  # default batch size: all three go in one batch
    writer.submit([_record(0), {"request_id": "x", "bad": object()}, _record(1)])
    assert writer.close() is False
    assert (writer.written, writer.failed) == (2, 1)
    assert "could not be written" in (writer.last_error or "")
    assert log.read_predictions()["row"].tolist() == [0, 1]


def test_appending_after_a_torn_line_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0)])
    path = _files(log)[0]
    with open(path, "ab") as fh:
        fh.write(b'{"request_id": "r1", "row": 1, "ts": "2026')  # the process died mid-write
    log.append([_record(2), _record(3)])
    assert log.read_predictions()["row"].tolist() == [0, 2, 3]


# -- group commit: acknowledged means fsynced -----------------------------------------
class _GatedFsync:
    """Stands in for os.fsync: records each call and holds it until released."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(10)
        self.real(fd)


def _log_with_gated_fsync(directory: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[PredictionLog, _GatedFsync]:
    """A log whose file for today exists (so no directory fsync follows), and every fdatasync gated."""
    import os

    from tabloop.predlog import _store

    log = PredictionLog(directory)
    log.append([_record(0, "earlier")])
    fsync = _GatedFsync(os.fdatasync)
    monkeypatch.setattr(_store.os, "fdatasync", fsync)
    return log, fsync


def test_a_submission_resolves_only_after_the_fsync_of_its_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, fsync = _log_with_gated_fsync(tmp_path, monkeypatch)
    writer = BackgroundLogWriter(log)
    first = writer.submit([_record(0, "a"), _record(1, "a")])
    assert fsync.entered.wait(10)
    # the bytes are written but not yet fsynced: not acknowledged
    assert not first.done()
    later = [writer.submit([_record(i, f"b{i}")]) for i in range(10)]
    assert not any(f.done() for f in later)
    fsync.gate.set()
    assert first.result(10) == 2
    assert [f.result(10) for f in later] == [1] * 10
    # the ten that queued behind the first fsync shared one: group commit
    assert fsync.calls == 2
    assert writer.close() is True
    assert len(log.read_predictions()) == 13


@pytest.mark.parametrize(
    ("code", "words"), [(28, "disk is full"), (30, "not writable")], ids=["ENOSPC", "EROFS"]
)
def test_a_failed_write_fails_its_futures_then_the_writer_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    from tabloop.predlog import PredictionLogError

    broken = broken_log_disk(monkeypatch, code)
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)
    fut = writer.submit([_record(0, "lost"), _record(1, "lost")])
    exc = fut.exception(10)
    assert isinstance(exc, PredictionLogError)
    assert exc.errno == code and "cannot write the prediction log" in str(exc) and words in (exc.hint or "")
    assert writer.ok is False and writer.failed == 2 and writer.failed_writes == 1
    assert writer.alive  # a failed write does not kill the writer
    broken.clear()  # the disk came back
    assert writer.submit([_record(0, "kept")]).result(10) == 1
    assert writer.ok is True and writer.written == 1
    writer.close()
    assert log.read_predictions()["request_id"].tolist() == ["kept"]


def test_an_unencodable_record_fails_only_its_own_submission(tmp_path: Path) -> None:
    from tabloop.predlog import UnloggableRecords

    writer = BackgroundLogWriter(PredictionLog(tmp_path))
    bad = writer.submit([_record(0, "x"), {"request_id": "x", "bad": object()}])
    good = writer.submit([_record(0, "y")])
    assert isinstance(bad.exception(10), UnloggableRecords)
    assert good.result(10) == 1
    writer.close()


def test_submitting_after_close_fails_at_once_instead_of_hanging(tmp_path: Path) -> None:
    writer = BackgroundLogWriter(PredictionLog(tmp_path))
    assert writer.close() is True
    fut = writer.submit([_record(0)])
    assert fut.done() and isinstance(fut.exception(), TabloopError)


def test_segments_of_several_writers_read_back_merged_by_time(tmp_path: Path) -> None:
    a, b = PredictionLog(tmp_path, segment="101"), PredictionLog(tmp_path, segment="202")
    old = PredictionLog(tmp_path)
    (tmp_path / "predictions-20240101.jsonl").write_text('{"request_id": "yesterday", "row": 0}\n')
    a.append([_record(0, "a1", ts="2099-01-01T00:00:00.001+00:00"), _record(1, "a1", ts="2099-01-01T00:00:00.001+00:00")])
    b.append([_record(0, "b1", ts="2099-01-01T00:00:00.000+00:00")])
    a.append([_record(0, "a2", ts="2099-01-01T00:00:00.003+00:00")])
    b.append([_record(0, "b2", ts="2099-01-01T00:00:00.002+00:00")])
    names = sorted(p.name for p in _files(old))
    today = f"{dt.datetime.now(dt.UTC):%Y%m%d}"
    assert names == ["predictions-20240101.jsonl", f"predictions-{today}-101.jsonl", f"predictions-{today}-202.jsonl"]
    df = old.read_predictions()
    assert list(zip(df["request_id"], df["row"], strict=True)) == [
        ("yesterday", 0), ("b1", 0), ("a1", 0), ("a1", 1), ("b2", 0), ("a2", 0),
    ]
    with pytest.raises(ValueError):
        PredictionLog(tmp_path, segment="../x")


def _count_commits(writer: BackgroundLogWriter) -> list[int]:
    sizes: list[int] = []
    inner = writer._commit

    def commit(items: Any) -> None:
        sizes.append(len(items))
        inner(items)

    writer._commit = commit  # type: ignore[method-assign]
    return sizes


def test_lingering_writer_shares_one_fsync_between_submissions_a_moment_apart(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, linger_s=0.5, linger_rows=3)
    sizes = _count_commits(writer)
    futures = []
    for i in range(3):
        futures.append(writer.submit([_record(i, request_id=f"r{i}")]))
        time.sleep(0.01)
    assert [f.result(timeout=5) for f in futures] == [1, 1, 1]
    assert writer.close() is True
    assert sizes == [3]  # linger_rows reached: one write and fsync for all three, well before linger_s
    assert sorted(log.read_predictions()["request_id"]) == ["r0", "r1", "r2"]


def test_a_lone_record_is_not_held_without_linger(tmp_path: Path) -> None:
    writer = BackgroundLogWriter(PredictionLog(tmp_path))
    started = time.monotonic()
    assert writer.submit([_record(0)]).result(timeout=5) == 1
    assert time.monotonic() - started < 5
    assert writer.close() is True


# -- post: no future; one hook call per fsynced batch ---------------------------------------
class _Hook:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], BaseException | None]] = []
        self.event = threading.Event()

    def __call__(self, tags: list[Any], error: BaseException | None) -> None:
        self.calls.append((list(tags), error))
        self.event.set()


def test_posts_held_for_a_wake_share_one_batch_and_one_hook_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, fsync = _log_with_gated_fsync(tmp_path, monkeypatch)
    fsync.gate.set()
    hook = _Hook()
    writer = BackgroundLogWriter(log, on_batch=hook)
    assert wait_for(lambda: writer._idle)
    assert writer.post([_record(0, "a"), _record(1, "a")], "tag-a", wake=False) == 2
    assert writer.post([_record(0, "b")], "tag-b", wake=False) == 1
    writer.post([_record(0, "untagged")], wake=False)
    time.sleep(0.1)
    assert fsync.calls == 0 and not hook.calls  # an idle writer is not woken by a held post
    writer.wake()
    assert hook.event.wait(10)
    assert hook.calls == [(["tag-a", "tag-b"], None)]  # once, after the fsync, untagged posts left out
    assert fsync.calls == 1
    assert writer.close() is True
    assert log.read_predictions()["request_id"].tolist() == ["earlier", "a", "a", "b", "untagged"]


def test_a_failed_batch_tells_the_hook_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tabloop.predlog import PredictionLogError

    broken_log_disk(monkeypatch)
    hook = _Hook()
    writer = BackgroundLogWriter(PredictionLog(tmp_path), on_batch=hook)
    writer.post([_record(0, "lost")], "t")
    assert hook.event.wait(10)
    ((tags, error),) = hook.calls
    assert tags == ["t"] and isinstance(error, PredictionLogError)
    assert writer.failed == 1 and writer.ok is False
    writer.close()


def test_post_refuses_unencodable_records_at_once_and_keeps_the_others(tmp_path: Path) -> None:
    from tabloop.predlog import ServingClosed, UnloggableRecords

    log = PredictionLog(tmp_path)
    hook = _Hook()
    writer = BackgroundLogWriter(log, on_batch=hook)
    with pytest.raises(UnloggableRecords) as info:
        writer.post([_record(0, "good"), {"request_id": "x", "bad": object()}], "t")
    assert (info.value.written, info.value.refused) == (1, 1)
    assert writer.close() is False  # one record was refused
    assert writer.failed == 1 and writer.written == 1
    assert not hook.calls  # the refused post's tag is never resolved as written
    assert log.read_predictions()["request_id"].tolist() == ["good"]
    with pytest.raises(ServingClosed):
        writer.post([_record(0, "late")], "late")


# -- the writer's recovery and shutdown ------------------------------------------
def test_a_failed_writer_probes_the_disk_by_itself_and_turns_ok_without_new_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = broken_log_disk(monkeypatch)
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, retry_s=0.05)
    assert writer.submit([_record(0, "lost")]).exception(10) is not None
    assert writer.ok is False
    time.sleep(0.2)  # probes while the disk is still full keep it not ok
    assert writer.ok is False and writer.failed == 1
    full.clear()  # space freed; nobody submits anything
    assert wait_for(lambda: writer.ok)
    # the probe wrote no line and counted nothing
    assert writer.written == 0 and writer.failed == 1
    assert writer.close() is False  # a row was lost before, so not everything handed over was written
    assert log.read_predictions().empty
    assert not list(tmp_path.glob(".*probe*"))  # the probe cleans up after itself


def test_an_invalid_descriptor_is_reopened_not_a_permanent_failure(tmp_path: Path) -> None:
    import os

    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)
    assert writer.submit([_record(0, "a")]).result(10) == 1
    assert writer._fd is not None
    os.close(writer._fd)  # the kept descriptor goes bad under the writer (EBADF on fstat)
    assert writer.submit([_record(0, "b")]).result(10) == 1
    assert writer.submit([_record(0, "c")]).result(10) == 1
    assert writer.ok is True and writer.failed == 0
    assert writer.close() is True
    assert log.read_predictions()["request_id"].tolist() == ["a", "b", "c"]


def test_close_that_times_out_counts_and_reports_the_queued_rows_as_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tabloop.predlog import _store

    entered, release = threading.Event(), threading.Event()
    real = PredictionLog.write_fd

    def stalled(fd: int, path: Path, lines: list[bytes]) -> None:
        entered.set()
        release.wait(30)
        real(fd, path, lines)

    monkeypatch.setattr(_store.PredictionLog, "write_fd", staticmethod(stalled))
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)
    first = writer.submit([_record(0, "in-write")])
    assert entered.wait(10)  # the thread is stuck in the first write
    queued = [writer.submit([_record(0, "q1"), _record(1, "q1")]), writer.submit([_record(0, "q2")])]
    try:
        with caplog.at_level(logging.ERROR, logger="tabloop.predlog"):
            assert writer.close(timeout=0.2) is False
        assert writer.failed == 3  # the three queued rows, counted as lost
        assert all(isinstance(f.exception(5), TabloopError) for f in queued)
        assert "3 row(s)" in caplog.text and "lost" in caplog.text
    finally:
        release.set()
    assert first.result(10) == 1  # the batch already being written still lands
    assert wait_for(lambda: not writer.alive)
    assert log.read_predictions()["request_id"].tolist() == ["in-write"]


# -- write-through: written in the caller's thread, fsynced by the writer's within an interval ----
class _CountingFsync:
    def __init__(self, real: Any, error: OSError | None = None) -> None:
        self.real, self.error = real, error
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        self.real(fd)


def _counting_fsync(monkeypatch: pytest.MonkeyPatch, error: OSError | None = None) -> _CountingFsync:
    import os

    from tabloop.predlog import _store

    fsync = _CountingFsync(os.fdatasync, error)
    monkeypatch.setattr(_store.os, "fdatasync", fsync)
    return fsync


def test_append_now_has_the_lines_in_the_file_before_it_returns_and_fsyncs_them_shortly_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0, "earlier")])  # today's file exists: no directory fsync below
    fsync = _counting_fsync(monkeypatch)
    writer = BackgroundLogWriter(log, sync_interval_s=0.05)
    (path,) = _files(log)
    for i in range(50):
        assert writer.append_now([_record(0, f"w{i}")]) == 1
        # in the file (the operating system has it) the moment append_now returns
        assert path.read_bytes().count(b"\n") == 2 + i
    assert writer.written == 50 and writer.ok
    assert wait_for(lambda: fsync.calls >= 1)
    time.sleep(0.2)  # past the interval: whatever was written is synced by now
    calls = fsync.calls
    # fsynced by the writer's thread, a few times for all fifty (not once per append)
    assert 1 <= calls <= 5
    time.sleep(0.2)  # nothing written since: no more syncs
    assert fsync.calls == calls
    assert writer.close() is True
    assert len(log.read_predictions()) == 51


def test_close_fsyncs_what_was_written_through_however_long_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0, "earlier")])
    writer = BackgroundLogWriter(log, sync_interval_s=3600.0)
    fsync = _counting_fsync(monkeypatch)
    writer.append_now([_record(0, "last")])
    writer.append_now([_record(0, "lastbut")])
    assert writer.close() is True
    assert fsync.calls == 1  # the two rows, fsynced once, at close
    assert log.read_predictions()["request_id"].tolist() == ["earlier", "last", "lastbut"]


def test_append_now_on_a_full_disk_raises_counts_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tabloop.predlog import PredictionLogError

    full = broken_log_disk(monkeypatch)
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, sync_interval_s=0.01)
    with pytest.raises(PredictionLogError, match="disk is full|No space"):
        writer.append_now([_record(0, "lost"), _record(1, "lost")])
    assert writer.ok is False and writer.failed == 2 and writer.failed_writes == 1 and writer.written == 0
    full.clear()
    assert writer.append_now([_record(0, "kept")]) == 1
    assert writer.ok is True and writer.written == 1
    assert writer.close() is False  # two rows were lost on the way
    assert log.read_predictions()["request_id"].tolist() == ["kept"]


def test_a_failed_fsync_of_written_through_rows_counts_them_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    log = PredictionLog(tmp_path)
    log.append([_record(0, "earlier")])
    writer = BackgroundLogWriter(log, sync_interval_s=0.01)
    _counting_fsync(monkeypatch, OSError(errno.EIO, "Input/output error"))
    writer.append_now([_record(0, "a"), _record(1, "a")])
    assert wait_for(lambda: not writer.ok)
    assert writer.failed == 2 and writer.failed_writes == 1
    assert "Input/output error" in (writer.last_error or "")
    writer.close()


def test_append_now_needs_an_interval_and_refuses_after_close(tmp_path: Path) -> None:
    from tabloop.predlog import ServingClosed, UnloggableRecords

    plain = BackgroundLogWriter(PredictionLog(tmp_path / "a"))
    with pytest.raises(ValueError, match="sync_interval_s"):
        plain.append_now([_record(0)])
    plain.close()
    with pytest.raises(ValueError, match="positive"):
        BackgroundLogWriter(PredictionLog(tmp_path / "b"), sync_interval_s=0)
    writer = BackgroundLogWriter(PredictionLog(tmp_path / "c"), sync_interval_s=0.01)
    with pytest.raises(UnloggableRecords):
        writer.append_now([_record(0, "ok"), _record(1, "bad", inputs={"x": object()})])
    assert writer.written == 1 and writer.failed == 1
    writer.close()
    with pytest.raises(ServingClosed):
        writer.append_now([_record(0, "late")])
    assert PredictionLog(tmp_path / "c").read_predictions()["request_id"].tolist() == ["ok"]


def test_utc_now_is_iso_8601_to_the_millisecond_and_current() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamps = [utc_now() for _ in range(2000)]
    after = dt.datetime.now(dt.UTC)
    for s in stamps[::97]:
        assert len(s) == len("2026-11-29T16:09:06.123+00:00") and s.endswith("+00:00")
        when = dt.datetime.fromisoformat(s)
        assert before <= when <= after
    assert stamps == sorted(stamps)


# -- a full disk mid-write ----------------------------------------------------------
def test_a_write_the_disk_cuts_short_is_cut_back_to_the_size_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path)
    log.append([_record(0), _record(1)])
    (path,) = _files(log)
    before = path.read_bytes()
    short_write_disk(monkeypatch, room=150)  # part of the next batch fits, then the disk is full
    with pytest.raises(PredictionLogError, match="disk is full|No space left"):
        log.append([_record(2), _record(3), _record(4)])
    assert path.read_bytes() == before  # no fragment left behind, no half-acknowledged record
    monkeypatch.undo()
    log.append([_record(5)])
    skipped: list[SkippedLine] = []
    assert log.read_predictions(skipped=skipped)["row"].tolist() == [0, 1, 5] and skipped == []


def test_a_written_through_batch_cut_short_is_cut_back_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = PredictionLog(tmp_path / "predlog")
    writer = BackgroundLogWriter(log, sync_interval_s=0.05)
    writer.append_now([_record(0)])
    (path,) = _files(log)
    size = path.stat().st_size
    short_write_disk(monkeypatch, room=40)
    with pytest.raises(PredictionLogError):
        writer.append_now([_record(1), _record(2)])
    assert path.stat().st_size == size and writer.failed == 2
    monkeypatch.undo()
    writer.append_now([_record(3)])
    assert writer.close() is False  # two rows were lost on the way
    assert log.read_predictions()["row"].tolist() == [0, 3]


def test_a_failed_fsync_takes_its_batch_back_out_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from tabloop.predlog import _store

    log = PredictionLog(tmp_path)
    log.append([_record(0)])
    (path,) = _files(log)
    before = path.read_bytes()

    def fdatasync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(_store.os, "fdatasync", fdatasync)
    with pytest.raises(PredictionLogError):
        log.append([_record(1)])  # the caller is told it failed: no reader may count it
    assert path.read_bytes() == before


# -- never through a link, never truncating -------------------------------------------
def _victim(tmp_path: Path) -> tuple[Path, bytes]:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"somebody else's file\n")
    return victim, victim.read_bytes()


def test_a_symlink_where_the_next_segment_belongs_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim, content = _victim(tmp_path)
    log = PredictionLog(tmp_path / "predlog", segment="w1")
    log.directory.mkdir()
    log.predictions_path().symlink_to(victim)
    with pytest.raises(PredictionLogError, match="symbolic link") as err:
        log.append([_record(0)])
    assert str(log.predictions_path()) in str(err.value) and err.value.code == "prediction_log_unavailable"
    assert victim.read_bytes() == content
    # through the server's writer too: the submission fails (a server answers 503), the target stays as it was
    writer = BackgroundLogWriter(log, retry_s=0.05)
    assert isinstance(writer.submit([_record(1)]).exception(10), PredictionLogError)
    assert writer.ok is False
    time.sleep(0.2)  # its probes open the segment the same way
    assert writer.ok is False and victim.read_bytes() == content
    writer.close()


def test_a_dangling_symlink_is_not_followed_to_create_its_target(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "created-by-the-log.jsonl"
    target.parent.mkdir()
    log = PredictionLog(tmp_path / "predlog")
    log.directory.mkdir()
    (log.directory / "feedback.jsonl").symlink_to(target)
    with pytest.raises(PredictionLogError, match="symbolic link"):
        log.append_feedback([{"request_id": "a", "row": 0, "label": "no"}])
    assert not target.exists()


def test_a_hard_link_or_a_folder_where_a_log_file_belongs_is_refused(tmp_path: Path) -> None:
    import os

    victim, content = _victim(tmp_path)
    log = PredictionLog(tmp_path / "predlog")
    log.directory.mkdir()
    os.link(victim, log.predictions_path())
    with pytest.raises(PredictionLogError, match="hard links"):
        log.append([_record(0)])
    assert victim.read_bytes() == content
    log.predictions_path().unlink()
    log.predictions_path().mkdir()
    with pytest.raises(PredictionLogError):
        log.append([_record(0)])


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
                    reason="needs root to give a file to another user")
def test_a_log_file_another_user_owns_is_refused(tmp_path: Path) -> None:
    import os

    log = PredictionLog(tmp_path / "predlog")
    log.directory.mkdir()
    planted = log.predictions_path()
    planted.write_bytes(b"")
    os.chown(planted, 12345, 12345)
    planted.chmod(0o666)
    with pytest.raises(PredictionLogError, match="belongs to user id 12345"):
        log.append([_record(0)])
    assert planted.read_bytes() == b""


def test_a_symlinked_log_folder_is_the_administrators_choice_and_is_used(tmp_path: Path) -> None:
    real = tmp_path / "disk2" / "predlog"
    real.mkdir(parents=True)
    (tmp_path / "predlog").symlink_to(real, target_is_directory=True)
    log = PredictionLog(tmp_path / "predlog")
    log.append([_record(0)])
    assert [p.name for p in real.iterdir()] == [log.predictions_path().name]
    assert log.read_predictions()["row"].tolist() == [0]


def test_the_probe_never_truncates_an_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from tabloop.predlog import _store

    victim, content = _victim(tmp_path)
    log = PredictionLog(tmp_path / "predlog")
    log.append([_record(0), _record(1)])
    (segment,) = _files(log)
    written = segment.read_bytes()
    # the name the probe used to write to (and truncate) whatever it found there
    (log.directory / f".tabloop-write-probe-{os.getpid()}").symlink_to(victim)
    opened: list[int] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(flags)
        return real_open(path, flags, *args, **kwargs)

    full = broken_log_disk(monkeypatch)
    writer = BackgroundLogWriter(log, retry_s=0.02)
    assert writer.submit([_record(2)]).exception(10) is not None
    monkeypatch.setattr(_store.os, "open", spy)
    full.clear()
    assert wait_for(lambda: writer.ok)
    writer.close()
    assert opened and not any(flags & os.O_TRUNC for flags in opened)
    assert victim.read_bytes() == content
    assert segment.read_bytes() == written
    assert [p.name for p in log.directory.iterdir() if "probe" in p.name] == [f".tabloop-write-probe-{os.getpid()}"]

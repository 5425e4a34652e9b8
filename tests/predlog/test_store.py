"""PredictionLog: durable, safe appends to the log's files, and reads that survive damaged lines."""

from __future__ import annotations

import datetime as dt
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
)

from .._faults import short_write_disk
from ._sample import files, record, victim_file


# -- predictions -----------------------------------------------------------------
def test_append_then_read_in_order(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predlog")
    assert log.append([record(0), record(1)]) == 2
    assert log.append([record(0, "r2")]) == 1
    assert log.append([]) == 0
    (path,) = files(log)
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
    log.append([record(0, prediction=np.float64(2.5), inputs={"x": np.int64(3), "v": np.array([1, 2])})])
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
    log.append([record(0), record(1)])
    inputs = log.inputs_frame(log.read_predictions())
    assert list(inputs.columns) == ["lvr", "dmi"]
    assert inputs["lvr"].tolist() == [0.5, 1.5]


def test_several_days_are_read_oldest_first(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    (tmp_path / "predictions-20240102.jsonl").write_text('{"request_id": "b", "row": 0}\n')
    (tmp_path / "predictions-20240101.jsonl").write_text('{"request_id": "a", "row": 0}\n')
    log.append([record(0, "c")])
    assert log.read_predictions()["request_id"].tolist() == ["a", "b", "c"]


def test_a_torn_last_line_is_tolerated(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([record(0), record(1)])
    (path,) = files(log)
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
        PredictionLog(blocker).append([record(0)])
    assert "disk space" in (err.value.hint or "")


# -- error records ---------------------------------------------------------------
def _error(request_id: str = "bad", **extra: Any) -> dict[str, Any]:
    return error_record(request_id=request_id, status=422, code="contract_violation", message="column 'dir': bad",
                        dialect="tabloop", model="m", version="1", variant="champion", rows=3, latency_ms=2.0,
                        **extra)


def test_error_records_are_read_apart_from_the_predictions(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([record(0, "r1"), record(1, "r1"), _error("bad"), record(0, "r2"), _error("worse")])
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
    raw = pd.read_json(files(log)[0], lines=True)
    assert prediction_rows(raw)["request_id"].tolist() == ["r1", "r1", "r2"]


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


def test_inputs_frame_keeps_the_prediction_index(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([record(i) for i in range(4)])
    preds = log.read_predictions().iloc[[1, 3]]
    frame = log.inputs_frame(preds)
    assert list(frame.index) == [1, 3]
    pd.testing.assert_series_equal(frame["lvr"], pd.Series([1.5, 3.5], index=[1, 3], name="lvr"))


def test_appending_after_a_torn_line_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append([record(0)])
    path = files(log)[0]
    with open(path, "ab") as fh:
        fh.write(b'{"request_id": "r1", "row": 1, "ts": "2026')  # the process died mid-write
    log.append([record(2), record(3)])
    assert log.read_predictions()["row"].tolist() == [0, 2, 3]


def test_segments_of_several_writers_read_back_merged_by_time(tmp_path: Path) -> None:
    a, b = PredictionLog(tmp_path, segment="101"), PredictionLog(tmp_path, segment="202")
    old = PredictionLog(tmp_path)
    (tmp_path / "predictions-20240101.jsonl").write_text('{"request_id": "yesterday", "row": 0}\n')
    a.append([record(0, "a1", ts="2099-01-01T00:00:00.001+00:00"), record(1, "a1", ts="2099-01-01T00:00:00.001+00:00")])
    b.append([record(0, "b1", ts="2099-01-01T00:00:00.000+00:00")])
    a.append([record(0, "a2", ts="2099-01-01T00:00:00.003+00:00")])
    b.append([record(0, "b2", ts="2099-01-01T00:00:00.002+00:00")])
    names = sorted(p.name for p in files(old))
    today = f"{dt.datetime.now(dt.UTC):%Y%m%d}"
    assert names == ["predictions-20240101.jsonl", f"predictions-{today}-101.jsonl", f"predictions-{today}-202.jsonl"]
    df = old.read_predictions()
    assert list(zip(df["request_id"], df["row"], strict=True)) == [
        ("yesterday", 0), ("b1", 0), ("a1", 0), ("a1", 1), ("b2", 0), ("a2", 0),
    ]
    with pytest.raises(ValueError):
        PredictionLog(tmp_path, segment="../x")


# -- a full disk mid-write ----------------------------------------------------------
def test_a_write_the_disk_cuts_short_is_cut_back_to_the_size_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path)
    log.append([record(0), record(1)])
    (path,) = files(log)
    before = path.read_bytes()
    short_write_disk(monkeypatch, room=150)  # part of the next batch fits, then the disk is full
    with pytest.raises(PredictionLogError, match="disk is full|No space left"):
        log.append([record(2), record(3), record(4)])
    assert path.read_bytes() == before  # no fragment left behind, no half-acknowledged record
    monkeypatch.undo()
    log.append([record(5)])
    skipped: list[SkippedLine] = []
    assert log.read_predictions(skipped=skipped)["row"].tolist() == [0, 1, 5] and skipped == []


def test_a_failed_fsync_takes_its_batch_back_out_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from tabloop.predlog import _store

    log = PredictionLog(tmp_path)
    log.append([record(0)])
    (path,) = files(log)
    before = path.read_bytes()

    def fdatasync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(_store.os, "fdatasync", fdatasync)
    with pytest.raises(PredictionLogError):
        log.append([record(1)])  # the caller is told it failed: no reader may count it
    assert path.read_bytes() == before


# -- never through a link, never truncating -------------------------------------------
def test_a_symlink_where_the_next_segment_belongs_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim, content = victim_file(tmp_path)
    log = PredictionLog(tmp_path / "predlog", segment="w1")
    log.directory.mkdir()
    log.predictions_path().symlink_to(victim)
    with pytest.raises(PredictionLogError, match="symbolic link") as err:
        log.append([record(0)])
    assert str(log.predictions_path()) in str(err.value) and err.value.code == "prediction_log_unavailable"
    assert victim.read_bytes() == content
    # through the server's writer too: the submission fails (a server answers 503), the target stays as it was
    writer = BackgroundLogWriter(log, retry_s=0.05)
    assert isinstance(writer.submit([record(1)]).exception(10), PredictionLogError)
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

    victim, content = victim_file(tmp_path)
    log = PredictionLog(tmp_path / "predlog")
    log.directory.mkdir()
    os.link(victim, log.predictions_path())
    with pytest.raises(PredictionLogError, match="hard links"):
        log.append([record(0)])
    assert victim.read_bytes() == content
    log.predictions_path().unlink()
    log.predictions_path().mkdir()
    with pytest.raises(PredictionLogError):
        log.append([record(0)])


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
        log.append([record(0)])
    assert planted.read_bytes() == b""


def test_a_symlinked_log_folder_is_the_administrators_choice_and_is_used(tmp_path: Path) -> None:
    real = tmp_path / "disk2" / "predlog"
    real.mkdir(parents=True)
    (tmp_path / "predlog").symlink_to(real, target_is_directory=True)
    log = PredictionLog(tmp_path / "predlog")
    log.append([record(0)])
    assert [p.name for p in real.iterdir()] == [log.predictions_path().name]
    assert log.read_predictions()["row"].tolist() == [0]

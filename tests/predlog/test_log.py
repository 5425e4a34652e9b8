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

from tabloop.errors import DataError, TabloopError
from tabloop.predlog import LOG_COLUMNS, BackgroundLogWriter, PredictionLog, utc_now


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


def test_a_corrupt_middle_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "predictions-20240101.jsonl"
    path.write_text('{"request_id": "a", "row": 0}\n\n{"request_id": oops}\n{"request_id": "a", "row": 1}\n')
    with pytest.raises(DataError, match=rf"^{path}:3: not a JSON record"):
        PredictionLog(tmp_path).read_predictions()


def test_write_failure_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "predlog"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(TabloopError, match=r"predlog/predictions-\d{8}\.jsonl: cannot write the prediction log") as err:
        PredictionLog(blocker).append([_record(0)])
    assert "disk space" in (err.value.hint or "")


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

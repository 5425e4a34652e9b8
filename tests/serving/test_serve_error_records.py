"""Refused prediction requests leave one error record each in the prediction log, never waited for."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import errno
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tabloop.predlog import PredictionLog, PredictionLogError
from tabloop.predlog import _store as predlog_module
from tabloop.serving import ApiKeys, Limits, hash_key
from tabloop.bundle import ModelBundle

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]


def _records(log: PredictionLog) -> list[dict[str, Any]]:
    """Every line of the prediction files, as a person (or DuckDB) reads them."""
    return [json.loads(line) for path in sorted(log.directory.glob("predictions-*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


def _errors(log: PredictionLog) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in _records(log) if r.get("kind") == "error"}


def _v2(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"inputs": [{"name": k, "datatype": "BYTES" if isinstance(rows[0][k], str) else "FP64",
                        "shape": [len(rows)], "data": [r[k] for r in rows]} for k in rows[0]]}


def test_a_refused_and_an_answered_request_leave_one_error_record_and_their_rows(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path)
    bad = make_rows(1)
    bad[0]["dir"] = "a lot"
    with TestClient(app_for(bundle, predlog=log)) as client:
        refused = client.post("/predict", json=bad, headers={"X-Request-ID": "bad-1"})
        answered = client.post("/predict", json=make_rows(1), headers={"X-Request-ID": "good-1"})
        assert refused.status_code == 422 and answered.status_code == 200
    records = _records(log)
    assert len(records) == 2
    (error,) = [r for r in records if r.get("kind") == "error"]
    (row,) = [r for r in records if r.get("kind") is None]
    assert row["request_id"] == "good-1" and row["row"] == 0 and "status" not in row
    assert {k: error[k] for k in ("request_id", "status", "code", "dialect", "model", "version", "variant", "rows")} == {
        "request_id": "bad-1", "status": 422, "code": "contract_violation", "dialect": "tabloop", "model": "hmda",
        "version": "1", "variant": "champion", "rows": 1,
    }
    assert error["latency_ms"] > 0 and dt.datetime.fromisoformat(error["ts"]).tzinfo is not None
    assert "dir" in error["message"] and len(error["message"]) <= 500
    assert {"column": "dir", "rule": "type", "row": 0} in error["violations"]
    # the body itself is never logged: not the inputs, not the offending value
    assert "inputs" not in error and "a lot" not in json.dumps(error["violations"])
    # every reader of predictions sees the answered row only; the error rate reads the other
    assert log.read_predictions()["request_id"].tolist() == ["good-1"]
    assert log.read_errors()["request_id"].tolist() == ["bad-1"]


def test_every_predicting_dialect_records_its_refusals_with_what_was_known(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path)
    bad = make_rows(2)
    bad[1]["dir"] = "a lot"
    app = app_for(bundle, predlog=log, limits=Limits(max_body_bytes=4096))
    with TestClient(app) as client:
        def post(path: str, rid: str, **kw: Any) -> Any:
            return client.post(path, headers={"X-Request-ID": rid, **kw.pop("headers", {})}, **kw)

        assert post("/invocations", "mlflow-bad", content=b"{", headers={"content-type": "application/json"}).status_code == 400
        assert post("/invocations", "mlflow-rows", json={"dataframe_records": bad}).status_code == 400
        assert post("/v2/models/nope/infer", "v2-unknown", json=_v2(make_rows(1))).status_code == 404
        assert post("/v2/models/hmda/versions/1/infer", "v2-pinned", json=_v2(bad)).status_code == 422
        assert post("/predict", "too-big", json=make_rows(60)).status_code == 413
        # not a prediction request: a wrong method, feedback
        assert client.get("/predict", headers={"X-Request-ID": "wrong-method"}).status_code == 405
        assert post("/feedback", "feedback-bad", content=b"{", headers={"content-type": "application/json"}).status_code == 400
        # a bad id of its own: the record gets a new one, and the answer carries it
        no_id = client.post("/predict", content=b"[1]", headers={"X-Request-ID": "has space", **{"content-type": "application/json"}})
        assert no_id.status_code == 400
    errors = _errors(log)
    made_up = no_id.headers["x-request-id"]
    assert set(errors) == {"mlflow-bad", "mlflow-rows", "v2-unknown", "v2-pinned", "too-big", made_up}
    got = {rid: (r["dialect"], r["status"], r["code"], r["version"], r["variant"], r["rows"]) for rid, r in errors.items()}
    assert got["mlflow-bad"] == ("mlflow", 400, "malformed_request", None, None, None)  # refused before routing
    assert got["mlflow-rows"] == ("mlflow", 400, "contract_violation", "1", "champion", 2)  # MLflow answers 422 as 400
    assert got["v2-unknown"] == ("v2", 404, "not_found", None, None, None)
    assert got["v2-pinned"] == ("v2", 422, "contract_violation", "1", "champion", 2)
    assert got["too-big"] == ("tabloop", 413, "payload_too_large", None, None, None)
    assert got[made_up][:3] == ("tabloop", 400, "malformed_request")
    assert all(r["model"] == "hmda" and r["source"] == "http" for r in errors.values())


def test_auth_rejections_and_unloggable_answers_leave_no_error_record(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path)
    keys = ApiKeys.of([(hash_key("p-key"), ["predict"]), (hash_key("c-key"), ["control"])])
    app = app_for(bundle, predlog=log, api_keys=keys, log_sync="ack")
    with TestClient(app) as client:
        # callers that showed no usable key are nobody's traffic, and must not be able to fill the log
        assert client.post("/predict", json=make_rows(1), headers={"X-Request-ID": "no-key"}).status_code == 401
        assert client.post("/predict", json=make_rows(1),
                           headers={"X-Request-ID": "wrong-scope", "X-API-Key": "c-key"}).status_code == 403
        writer = app.state.tabloop.writer
        real_post = writer.post

        def post(records: list[dict[str, Any]], tag: Any = None, *, wake: bool = True) -> int:
            if records and records[0].get("kind") != "error":  # the rows of an answer cannot be written
                writer.on_batch([tag], PredictionLogError(log.directory, OSError(errno.ENOSPC, "No space left")))
                return len(records)
            return real_post(records, tag, wake=wake)

        writer.post = post  # type: ignore[method-assign]
        unlogged = client.post("/predict", json=make_rows(1), headers={"X-Request-ID": "unlogged", "X-API-Key": "p-key"})
        assert unlogged.status_code == 503 and unlogged.json()["error"]["code"] == "prediction_log_unavailable"
        bad = client.post("/predict", json=[{"dir": "a lot"}], headers={"X-Request-ID": "keyed-bad", "X-API-Key": "p-key"})
        assert bad.status_code == 422
    # the log is what failed for the 503: it is counted by the writer, not recorded as a refusal
    assert set(_errors(log)) == {"keyed-bad"}


def test_an_error_answer_never_waits_for_the_log_nor_fails_with_it(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path)
    syncing, release = threading.Event(), threading.Event()
    real_sync = os.fdatasync

    def slow_sync(fd: int) -> None:
        syncing.set()
        release.wait(30)
        real_sync(fd)

    monkeypatch.setattr(predlog_module.os, "fdatasync", slow_sync)
    with TestClient(app_for(bundle, predlog=log)) as client, concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(client.post, "/predict", json=[{"dir": "a lot"}], headers={"X-Request-ID": "e1"})
            assert first.result(timeout=20).status_code == 422
            assert syncing.wait(10)  # its record is being written...
            second = pool.submit(client.post, "/predict", content=b"{", headers={"X-Request-ID": "e2", **{"content-type": "application/json"}})
            assert second.result(timeout=20).status_code == 400  # ...and the next refusal does not queue behind it
            assert not release.is_set()
        finally:
            release.set()
    assert set(_errors(log)) == {"e1", "e2"}  # both durably written once the disk answered

    # a log that cannot be written at all leaves a client mistake a 4xx, never a 503
    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(predlog_module.os, "write", full)
    with TestClient(app_for(bundle, predlog=PredictionLog(tmp_path / "full"))) as client:
        assert client.post("/predict", json=[{"dir": "a lot"}]).status_code == 422
        assert client.post("/invocations", content=b"{", headers={"content-type": "application/json"}).status_code == 400

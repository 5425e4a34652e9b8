"""The prediction log, /health, /metadata, OpenAPI, server errors and create_app's checks."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from tabloop.data import check_frame, infer_contract
from tabloop.errors import ServingError
from tabloop.preparation import make_preprocessor
from tabloop.predlog import PredictionLog
from tabloop.bundle import ModelBundle

from ._apps import app_for

from .._faults import broken_log_disk, wait_for

Rows = Callable[..., list[dict[str, Any]]]


# -- the prediction log ----------------------------------------------------------------


def test_each_predicted_row_is_logged_once_with_its_request_id(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path / "predlog")
    first, second = make_rows(3, start=10), make_rows(1, start=20)
    app = app_for(bundle, predlog=log, variant="challenger")
    with TestClient(app) as client:
        r1 = client.post("/predict", json=first, headers={"X-Request-ID": "req-a"})
        r2 = client.post("/predict", json={"rows": second})
        # rejected requests must not reach the log
        assert client.post("/predict", json=[{"dir": "abc"}], headers={"X-Request-ID": "req-bad"}).status_code == 422
        assert client.post("/predict", content=b"{", headers={"content-type": "application/json"}).status_code == 400
        assert r1.status_code == r2.status_code == 200
    # leaving the context ran the app's shutdown, which drains the writer
    logged = log.read_predictions()
    assert len(logged) == 4
    rid2 = r2.json()["request_id"]
    assert list(logged["request_id"]) == ["req-a"] * 3 + [rid2]
    assert list(logged["row"]) == [0, 1, 2, 0]
    assert list(logged["inputs"]) == first + second
    sent = r1.json()["predictions"] + r2.json()["predictions"]
    assert list(logged["prediction"]) == [p["prediction"] for p in sent]
    assert list(logged["probabilities"]) == [p["probabilities"] for p in sent]
    assert set(logged["source"]) == {"http"}
    assert set(logged["model"]) == {"hmda"}
    assert set(logged["version"]) == {"1"}
    assert set(logged["variant"]) == {"challenger"}
    assert all(isinstance(x, float) and x > 0 for x in logged["latency_ms"])
    # one latency per request, shared by its rows
    assert logged["latency_ms"].iloc[0] == logged["latency_ms"].iloc[2]
    for ts in logged["ts"]:
        assert dt.datetime.fromisoformat(ts).tzinfo is not None
    # the log's inputs rebuild the request rows for monitoring
    inputs = log.inputs_frame(logged)
    assert list(inputs["dir"]) == [r["dir"] for r in first + second]


def test_no_log_without_a_predlog(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    with TestClient(app_for(bundle)) as client:
        assert client.post("/predict", json=make_rows(2)).status_code == 200
        log = client.get("/health").json()["log"]
    assert log == {
        "enabled": False, "sync": "write", "ok": True, "written": 0, "failed": 0, "failed_writes": 0, "last_error": None,
    }


def test_log_write_failure_in_background_mode_shows_in_health_and_predictions_continue(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    # a folder where today's log file belongs makes every append fail
    now = dt.datetime.now(dt.UTC)
    for day in (now, now + dt.timedelta(days=1)):
        (tmp_path / f"predictions-{day:%Y%m%d}.jsonl").mkdir()
    with TestClient(app_for(bundle, predlog=PredictionLog(tmp_path), log_sync="background")) as client:
        assert client.post("/predict", json=make_rows(2)).status_code == 200
        assert wait_for(lambda: client.get("/health").json()["log"]["failed"] == 2)
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert health["log"]["last_error"] and health["log"]["sync"] == "background"
        assert client.post("/predict", json=make_rows(1)).status_code == 200
        # background answers do not wait for the log, so readiness stays true
        assert client.get("/ping").status_code == 200


def test_unusable_log_folder_is_counted_not_fatal(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log folder should be")
    with TestClient(app_for(bundle, predlog=PredictionLog(blocker))) as client:
        assert client.post("/predict", json=make_rows(2)).status_code == 503
        assert client.get("/health").json()["log"]["failed"] == 2
        assert client.get("/health").status_code == 200  # the server itself is alive


@pytest.mark.parametrize(
    ("path", "body", "check"),
    [
        ("/predict", "rows", lambda j: j["error"]["code"] == "prediction_log_unavailable"
         and "prediction log" in j["error"]["message"]),
        ("/invocations", "mlflow", lambda j: j["error_code"] == "TEMPORARILY_UNAVAILABLE"
         and "prediction log" in j["message"]),
        ("/v2/models/hmda/infer", "v2", lambda j: "prediction log" in j["error"]),
    ],
    ids=["tabloop", "mlflow", "v2"],
)
@pytest.mark.parametrize("sync", ["ack", "write"])
def test_ack_and_write_modes_answer_503_while_the_log_cannot_be_written_and_recover(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    path: str, body: str, check: Callable[[dict[str, Any]], bool], sync: str,
) -> None:
    full = broken_log_disk(monkeypatch)
    rows = make_rows(2)
    payload: Any = {"rows": {"rows": rows}, "mlflow": {"dataframe_records": rows}}.get(body)
    if body == "v2":
        payload = {"inputs": [{"name": k, "datatype": "BYTES" if isinstance(rows[0][k], str) else "FP64",
                               "shape": [2], "data": [r[k] for r in rows]} for k in rows[0]]}
    log = PredictionLog(tmp_path)
    with TestClient(app_for(bundle, predlog=log, log_sync=sync)) as client:  # type: ignore[arg-type]
        r = client.post(path, json=payload, headers={"X-Request-ID": "while-full"})
        assert r.status_code == 503, r.text
        assert r.headers["x-request-id"] == "while-full" and r.headers["retry-after"] == "1"
        assert check(r.json()), r.json()
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["ready"] is False and health["log"]["ok"] is False
        assert "No space left" in health["log"]["last_error"]
        assert client.get("/ping").status_code == 503 and client.get("/v2/health/ready").status_code == 503
        metrics = client.get("/metrics").text
        assert "tabloop_prediction_log_rows_failed_total 2.0" in metrics
        assert "tabloop_prediction_log_ok 0.0" in metrics
        assert 'code="prediction_log_unavailable"' in metrics
        assert health["requests"]["predicted"] == 0  # a 503 is not counted as answered
        full.clear()  # space freed: the same server answers again
        r = client.post(path, json=payload, headers={"X-Request-ID": "after"})
        assert r.status_code == 200, r.text
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["ready"] is True and health["log"]["ok"] is True
        assert client.get("/ping").status_code == 200
    assert log.read_predictions()["request_id"].tolist() == ["after", "after"]


def test_ack_mode_answers_only_after_the_rows_are_on_disk(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from tabloop.predlog import _store

    log = PredictionLog(tmp_path)
    synced: list[int] = []
    real_fsync = os.fdatasync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(len(log.read_predictions()))

    monkeypatch.setattr(_store.os, "fdatasync", fsync)
    with TestClient(app_for(bundle, predlog=log, log_sync="ack")) as client:
        for i in range(3):
            assert client.post("/predict", json=make_rows(2, start=i), headers={"X-Request-ID": f"r{i}"}).status_code == 200
            # by the time the 200 arrived, this request's rows had been fsynced
            assert log.read_predictions()["request_id"].tolist()[-2:] == [f"r{i}"] * 2
            assert synced and synced[-1] >= 2 * (i + 1)


def test_write_mode_answers_once_the_rows_are_written_and_fsyncs_them_in_batches(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from tabloop.predlog import _store

    log = PredictionLog(tmp_path)
    log.append([])  # nothing, but nothing to create either: the file appears with the first row
    syncs: list[int] = []
    real_fsync = os.fdatasync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        syncs.append(fd)

    monkeypatch.setattr(_store.os, "fdatasync", fsync)
    with TestClient(app_for(bundle, predlog=log, log_sync="write")) as client:
        for i in range(30):
            r = client.post("/predict", json=make_rows(2, start=i), headers={"X-Request-ID": f"r{i}"})
            assert r.status_code == 200
            # by the time the 200 arrived, this request's rows were in the file
            assert log.read_predictions()["request_id"].tolist()[-2:] == [f"r{i}"] * 2
        assert client.get("/health").json()["log"] == {
            "enabled": True, "sync": "write", "ok": True, "written": 60, "failed": 0, "failed_writes": 0,
            "last_error": None,
        }
    # fsynced by the writer's thread in batches (every 100 ms at most, and once more at shutdown), not per request
    assert 1 <= len(syncs) < 30
    assert len(log.read_predictions()) == 60


def test_write_mode_fsyncs_as_often_as_told_and_at_shutdown(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from tabloop.errors import ServingError
    from tabloop.predlog import _store

    for bad in ({"log_sync_interval_s": 0.0}, {"log_sync": "sometimes"}):
        with pytest.raises(ServingError, match="log_sync"):
            app_for(bundle, predlog=PredictionLog(tmp_path), **bad)  # type: ignore[arg-type]
    log = PredictionLog(tmp_path)
    log.append([])
    syncs: list[int] = []
    real_fsync = os.fdatasync
    monkeypatch.setattr(_store.os, "fdatasync", lambda fd: (real_fsync(fd), syncs.append(fd)))
    with TestClient(app_for(bundle, predlog=log, log_sync="write", log_sync_interval_s=3600.0)) as client:
        for i in range(5):
            assert client.post("/predict", json=make_rows(1, start=i)).status_code == 200
        time.sleep(0.3)
        assert syncs == []  # an hour between syncs: none yet
    assert len(syncs) == 1  # the one at shutdown: nothing written is left unsynced
    assert len(log.read_predictions()) == 5


# -- /health and /metadata -------------------------------------------------------------


def test_health_counts_rows_errors_and_log_writes(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    with TestClient(app_for(bundle, predlog=PredictionLog(tmp_path))) as client:
        h = client.get("/health")
        assert h.status_code == 200
        body = h.json()
        assert body["status"] == "ok"
        assert body["model"] == {"name": "hmda", "version": "1"}
        assert body["log"] == {
            "enabled": True, "sync": "write", "ok": True, "written": 0, "failed": 0, "failed_writes": 0, "last_error": None,
        }
        client.post("/predict", json=make_rows(5))
        client.post("/predict", json=[])
        client.post("/predict", content=b"[1]", headers={"content-type": "application/json"})
        # the 5 rows, and one error record for each refused request
        assert wait_for(lambda: client.get("/health").json()["log"]["written"] == 7)
        body = client.get("/health").json()
        assert body["requests"] == {
            "predicted": 1,
            "rows": 5,
            "errors": {"contract_violation": 1, "malformed_request": 1},
        }


def test_metadata_describes_model_and_contract(bundle: ModelBundle) -> None:
    with TestClient(app_for(bundle, max_rows=7)) as client:
        r = client.get("/metadata")
    assert r.status_code == 200
    meta = r.json()
    assert meta["model"] == {"name": "hmda", "version": "1"}
    assert meta["task"] == "binary"
    assert meta["classes"] == ["no", "yes"]
    assert meta["threshold"] == 0.5
    assert meta["max_rows"] == 7
    assert meta["contract"] == bundle.contract.to_dict()
    assert [c["name"] for c in meta["contract"]["columns"]] == bundle.contract.feature_names
    assert meta["contract"]["ignored"] == ["black"]


def test_model_name_and_version_may_be_unknown(bundle: ModelBundle, make_rows: Rows) -> None:
    anonymous = ModelBundle(
        pipeline=bundle.pipeline, contract=bundle.contract, manifest=bundle.manifest,
        reference=bundle.reference, spec_yaml="",
    )
    with TestClient(app_for(anonymous)) as client:
        r = client.post("/predict", json=make_rows(1))
        assert r.status_code == 200
        assert r.json()["model"] == {"name": None, "version": None}
        assert client.get("/metadata").json()["model"] == {"name": None, "version": None}


def test_openapi_documents_the_predict_body(bundle: ModelBundle) -> None:
    with TestClient(app_for(bundle, max_rows=9)) as client:
        spec = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    op = spec["paths"]["/predict"]["post"]
    shapes = op["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    as_list = shapes[0]
    assert as_list["type"] == "array" and as_list["maxItems"] == 9
    row = as_list["items"]
    assert row["required"] == bundle.contract.feature_names
    assert row["properties"]["dmi"]["enum"] == ["no", "yes"]
    assert row["properties"]["pbcr"]["type"] == ["string", "null"]
    assert row["properties"]["dir"]["type"] == ["number"]
    assert set(row["example"]) == set(bundle.contract.feature_names)
    assert shapes[1]["required"] == ["rows"]
    assert {"200", "400", "413", "422"} <= set(op["responses"])
    assert any(p["name"] == "X-Request-ID" for p in op["parameters"])
    assert "/health" in spec["paths"] and "/metadata" in spec["paths"]


# -- failures that are ours, not the client's ------------------------------------------


class _Broken:
    def predict_proba(self, X: Any) -> Any:
        raise RuntimeError("boom: secret internals")


def test_unexpected_failure_is_a_generic_500_and_logged(
    bundle: ModelBundle, make_rows: Rows, caplog: pytest.LogCaptureFixture
) -> None:
    broken = ModelBundle(
        pipeline=_Broken(), contract=bundle.contract, manifest=bundle.manifest,
        reference=bundle.reference, spec_yaml="", name="hmda", version="1",
    )
    with TestClient(app_for(broken)) as client, caplog.at_level(logging.ERROR, logger="tabloop.serving"):
        r = client.post("/predict", json=make_rows(1), headers={"X-Request-ID": "r-500"})
        assert r.status_code == 500
        err = r.json()["error"]
        assert err["code"] == "internal_error"
        assert "boom" not in r.text
        assert r.headers["x-request-id"] == "r-500"
        # a client mistake is still a 4xx, even on a broken model
        assert client.post("/predict", json=[]).status_code == 422
        assert client.get("/health").json()["requests"]["errors"]["internal_error"] == 1
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert errors and errors[0].exc_info is not None
    assert "boom" in caplog.text


def test_regression_model_serves_values_without_probabilities(
    hmda: pd.DataFrame, make_rows: Rows, tmp_path: Path
) -> None:
    data = hmda.drop(columns=["deny"])
    contract = infer_contract(data, target="lvr", ignored=["black"])
    pipe = Pipeline([("prep", make_preprocessor(contract)), ("model", LinearRegression())])
    pipe.fit(check_frame(data, contract), data["lvr"])
    reg = ModelBundle(
        pipeline=pipe, contract=contract, manifest={"task": "regression"},
        reference=data.head(50), spec_yaml="", name="lvr", version="3",
    )
    log = PredictionLog(tmp_path)
    rows = [{k: v for k, v in r.items() if k != "lvr"} for r in make_rows(4)]
    with TestClient(app_for(reg, predlog=log)) as client:
        r = client.post("/predict", json=rows)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    want = pipe.predict(check_frame(pd.DataFrame.from_records(rows), contract))
    assert np.allclose([p["prediction"] for p in preds], want)
    assert all("probabilities" not in p for p in preds)
    logged = log.read_predictions()
    assert len(logged) == 4
    assert logged["probabilities"].isna().all()


@pytest.mark.parametrize(
    ("kwargs", "manifest"),
    [
        ({"max_rows": 0}, None),
        ({"variant": ""}, None),
        ({}, {"classes": ["no", "yes"]}),
        ({}, {"task": "binary"}),
    ],
    ids=["max-rows-0", "empty-variant", "no-task", "no-classes"],
)
def test_create_app_refuses_what_it_cannot_serve(
    bundle: ModelBundle, kwargs: dict[str, Any], manifest: dict[str, Any] | None
) -> None:
    b = bundle
    if manifest is not None:
        b = ModelBundle(
            pipeline=bundle.pipeline, contract=bundle.contract, manifest=manifest,
            reference=bundle.reference, spec_yaml="",
        )
    with pytest.raises(ServingError):
        app_for(b, **kwargs)

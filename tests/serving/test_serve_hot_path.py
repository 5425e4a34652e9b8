"""The serving hot path under failure: a failing or stalled log, shutdown, disconnects, unexpected errors, swaps."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tabloop.predlog import PredictionLog
from tabloop.serving import Holdout, Limits
from tabloop.bundle import ModelBundle, Predictions

from .._faults import broken_log_disk, wait_for
from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]


def _copy(bundle: ModelBundle, version: str, **changes: Any) -> ModelBundle:
    fields = dict(pipeline=bundle.pipeline, contract=bundle.contract, manifest=bundle.manifest,
                  reference=bundle.reference, spec_yaml="", name=bundle.name, version=version)
    return ModelBundle(**{**fields, **changes})


# -- B1: readiness comes back without traffic ---------------------------------------------


@pytest.mark.parametrize("sync", ["ack", "write"])
def test_readiness_comes_back_by_itself_once_the_log_is_writable_again(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: str
) -> None:
    full = broken_log_disk(monkeypatch)
    app = app_for(bundle, predlog=PredictionLog(tmp_path), log_retry_s=0.05, log_sync=sync)  # type: ignore[arg-type]
    with TestClient(app) as client:
        assert client.post("/predict", json=make_rows(1)).status_code == 503
        assert client.get("/ping").status_code == 503  # unready: the orchestrator sends no traffic now
        full.clear()  # the disk is freed; no prediction arrives to find out
        assert wait_for(lambda: client.get("/ping").status_code == 200)
        assert client.get("/v2/health/ready").status_code == 200
        assert client.get("/health").json()["log"]["ok"] is True
        assert client.post("/predict", json=make_rows(1)).status_code == 200


# -- B2: a stalled fsync is bounded and holds its concurrency slot ---------------------------


def test_a_stalled_log_write_times_out_and_keeps_its_concurrency_slot_until_then(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tabloop.predlog import _store

    release = threading.Event()
    real = PredictionLog.write_fd

    def stalled(fd: int, path: Path, lines: list[bytes]) -> None:
        release.wait(5)
        real(fd, path, lines)

    monkeypatch.setattr(_store.PredictionLog, "write_fd", staticmethod(stalled))
    # under ack the wait for the fsync is bounded; under write the request's own write() is not (see the spec)
    app = app_for(bundle, predlog=PredictionLog(tmp_path), limits=Limits(max_concurrency=1, timeout_s=0.3),
                     log_sync="ack")
    rows = make_rows(2)

    async def run() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                try:
                    return list(await asyncio.gather(*[client.post("/predict", json=rows) for _ in range(2)]))
                finally:
                    release.set()  # let the writer drain before shutdown

    answers = asyncio.run(run())
    by_status = {r.status_code: r.json()["error"]["code"] for r in answers}
    # one waited for its ack until the limit and was refused; the other found the one slot taken
    assert by_status == {503: "prediction_log_unavailable", 429: "too_many_requests"}
    unlogged = next(r for r in answers if r.status_code == 503)
    assert "0.3 s" in unlogged.json()["error"]["message"] and unlogged.headers["retry-after"] == "1"


# -- B3: no 200 for rows the log no longer takes ---------------------------------------------


def test_no_answer_for_rows_the_log_no_longer_accepts_under_ack(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path)
    with TestClient(app_for(bundle, predlog=log)) as client:
        client.app.state.tabloop.accepting = False  # type: ignore[attr-defined]  # as while shutting down
        r = client.post("/predict", json=make_rows(2), headers={"X-Request-ID": "late"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready", r.text
        assert r.headers["x-request-id"] == "late"
        assert client.post("/invocations", json={"dataframe_records": make_rows(1)}).status_code == 503
    assert log.read_predictions().empty


# -- B5: a client gone while its body is read -------------------------------------------------


async def _raw_post(app: FastAPI, path: str, messages: list[dict[str, Any]]) -> tuple[int | None, BaseException | None]:
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json")], "server": ("t", 80), "client": ("c", 1),
    }
    raised: BaseException | None = None
    try:
        await app(scope, receive, send)
    except Exception as exc:
        raised = exc
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    return status, raised


@pytest.mark.parametrize("path", ["/predict", "/invocations", "/v2/models/hmda/infer"])
def test_a_client_gone_while_its_body_is_read_is_no_server_error_and_no_error_record(
    bundle: ModelBundle, tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = PredictionLog(tmp_path)
    app = app_for(bundle, predlog=log)
    gone = [{"type": "http.request", "body": b"[", "more_body": True}, {"type": "http.disconnect"}]

    async def run() -> tuple[int | None, BaseException | None, dict[str, int]]:
        async with app.router.lifespan_context(app):
            status, raised = await _raw_post(app, path, gone)
            return status, raised, dict(app.state.tabloop.errors)

    with caplog.at_level(logging.ERROR):
        status, raised, errors = asyncio.run(run())
    assert raised is None
    assert status == 499  # nobody reads it; the status is what access logs and metrics see
    assert errors == {"client_disconnected": 1}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert log.read_errors().empty  # the client went away: not a refusal by the server


# -- B6: unexpected errors on /predict behave as on the routed paths --------------------------


class _Unserializable:
    """A predictor whose answer cannot be written as JSON: an error outside the typed ones."""

    def predict_rows(self, rows: list[dict[str, Any]]) -> Predictions:
        return Predictions(labels=[object() for _ in rows], proba=None, classes=["no", "yes"])


def test_an_unexpected_error_on_predict_is_answered_and_raised_like_on_invocations(
    bundle: ModelBundle, make_rows: Rows
) -> None:
    rows = make_rows(1)
    calls = {"/predict": rows, "/invocations": {"dataframe_records": rows}}
    app = app_for(bundle, predictor=_Unserializable())
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = {path: client.post(path, json=body, headers={"X-Request-ID": "r-x"}) for path, body in calls.items()}
    assert {p: r.status_code for p, r in answers.items()} == {"/predict": 500, "/invocations": 500}
    assert answers["/predict"].json() == {
        "error": {"code": "internal_error", "message": answers["/predict"].json()["error"]["message"], "violations": []}
    }
    assert answers["/invocations"].json()["error_code"] == "INTERNAL_ERROR"
    assert {r.headers.get("x-request-id") for r in answers.values()} == {"r-x"}
    # and, as Starlette's ServerErrorMiddleware does on the routed path, the error reaches the server too
    with TestClient(app_for(bundle, predictor=_Unserializable())) as client:
        for path, body in calls.items():
            with pytest.raises(TypeError):
                client.post(path, json=body)


# -- B8: a hot swap honours the feedback holdout ----------------------------------------------


class _Source:
    def __init__(self, bundles: dict[str, ModelBundle]) -> None:
        self.bundles = bundles
        self.alias = {"champion": "1"}

    def version(self, alias: str) -> str | None:
        return self.alias.get(alias)

    def load(self, alias: str, version: str) -> ModelBundle:
        return self.bundles[version]


def test_a_version_without_a_prior_is_not_swapped_in_under_a_holdout(bundle: ModelBundle, make_rows: Rows) -> None:
    bare = _copy(bundle, "2", reference=bundle.reference.drop(columns=["deny"]))
    assert bare.prior is None
    source = _Source({"1": _copy(bundle, "1"), "2": bare})
    app = app_for(source.bundles["1"], source=source, aliases={"champion": "champion"}, holdout=Holdout(share=1.0))
    with TestClient(app) as client:
        source.alias["champion"] = "2"
        outcome = client.post("/control/reload").json()
        assert outcome["outcome"] == {"champion": "failed"}
        health = client.get("/health").json()
        assert health["model"]["version"] == "1" and health["status"] == "degraded"
        assert "no training prior" in health["models"]["failures"]["champion"]["error"]
        # the old version keeps answering held-out requests
        r = client.post("/predict", json=make_rows(2))
        assert r.status_code == 200 and r.json()["model"]["version"] == "1"


# -- B10: an early error carries the request id with or without a log --------------------------


@pytest.mark.parametrize("logged", [False, True], ids=["no-log", "log"])
def test_an_early_error_carries_the_request_id_with_or_without_a_log(
    bundle: ModelBundle, tmp_path: Path, logged: bool
) -> None:
    app = app_for(bundle, predlog=PredictionLog(tmp_path) if logged else None)
    with TestClient(app) as client:
        r = client.post("/v2/models/other/infer", json={"inputs": []})
        assert r.status_code == 404 and r.headers.get("x-request-id")
        r = client.post("/v2/models/other/infer", json={"inputs": []}, headers={"X-Request-ID": "mine"})
        assert r.status_code == 404 and r.headers.get("x-request-id") == "mine"


# -- the hot path builds the answer's records once ----------------------------------------------


def test_predict_builds_the_records_once_for_the_answer_and_the_log(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    from tabloop.serving import FastPredictor

    calls: list[int] = []

    class Counting(Predictions):
        def records(self) -> list[dict[str, Any]]:
            calls.append(1)
            return super().records()

    class Predictor:
        def __init__(self) -> None:
            self.inner = FastPredictor(bundle)

        def predict_rows(self, rows: list[dict[str, Any]]) -> Predictions:
            p = self.inner.predict_rows(rows)
            return Counting(labels=p.labels, proba=p.proba, classes=p.classes)

    log = PredictionLog(tmp_path)
    with TestClient(app_for(bundle, predlog=log, predictor=Predictor())) as client:
        r = client.post("/predict", json=make_rows(3), headers={"X-Request-ID": "once"})
        assert r.status_code == 200
    assert len(calls) == 1
    logged = log.read_predictions()
    assert logged["prediction"].tolist() == [p["prediction"] for p in r.json()["predictions"]]


# -- group commit: the requests of one turn of the event loop share one fsync ------------------


def test_requests_answered_in_one_turn_of_the_loop_share_one_fsync(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import orjson

    from tabloop.predlog import _store

    syncs: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(_store.os, "fdatasync", lambda fd: (syncs.append(fd), real(fd)))
    log = PredictionLog(tmp_path)
    log.append([{"request_id": "earlier", "row": 0}])  # today's file exists: no directory fsync below
    syncs.clear()
    app = app_for(bundle, predlog=log, log_sync="ack")
    bodies = [orjson.dumps(make_rows(1, start=i)) for i in range(8)]

    async def one(body: bytes) -> int:
        # the whole body at once, as uvicorn hands over a request that has arrived: no await suspends before
        # the rows reach the writer, so all eight get there in the same turn of the loop
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
                 "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80), "app": app}
        await app(scope, receive, send)
        return int(sent[0]["status"])

    async def main() -> list[int]:
        async with app.router.lifespan_context(app):
            return await asyncio.gather(*(one(b) for b in bodies))

    assert asyncio.run(main()) == [200] * 8
    assert len(syncs) == 1  # one fsync for the eight answered requests (the writer's close syncs nothing new)
    assert len(log.read_predictions()) == 9


# -- FastAPI's OpenTelemetry: decided once, when the app is made -------------------------------


def test_fastapi_telemetry_is_off_without_a_provider_and_as_fastapi_has_it_with_one(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    plain = app_for(bundle)
    assert not plain._native_telemetry.enabled()
    assert (plain._telemetry["tracing"], plain._telemetry["metrics"], plain._telemetry["logs"]) == (False, False, False)

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider())  # as opentelemetry-instrument sets it
    traced = app_for(bundle)
    assert traced._telemetry["tracing"] is True

    monkeypatch.undo()
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert app_for(bundle)._telemetry["tracing"] is True


def test_a_predicting_answer_has_the_headers_starlette_would_make() -> None:
    from starlette.responses import Response

    from tabloop.serving._http import Answer as _Answer

    for body, rid in ((b'{"predictions": []}', "r-1"), (b"{}", "x" * 128)):
        ours = _Answer(body, rid)
        theirs = Response(body, media_type="application/json", headers={"X-Request-ID": rid})
        assert ours.raw_headers == theirs.raw_headers
        assert (ours.status_code, ours.body, ours.background) == (200, body, None)
        assert ours.headers["x-request-id"] == rid

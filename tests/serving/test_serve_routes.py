"""Each router alone: a ``Service`` over the small real model, one router mounted on a bare FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tabloop.bundle import ModelBundle
from tabloop.predlog import PredictionLog
from tabloop.serving import LogConfig, ServeConfig
from tabloop.serving._errors import install_error_handlers
from tabloop.serving._routes_control import control_router
from tabloop.serving._routes_mlflow import mlflow_router
from tabloop.serving._routes_monitoring import monitoring_router
from tabloop.serving._routes_tabloop import tabloop_router
from tabloop.serving._routes_v2 import v2_router
from tabloop.serving._service import Service

Rows = Callable[..., list[dict[str, Any]]]


@contextmanager
def mounted(config: ServeConfig, routes: Callable[[Service], APIRouter]) -> Iterator[tuple[TestClient, Service]]:
    """``routes`` over a fresh service, alone on an app that starts and stops the service."""
    service = Service(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app, service.errors, service.on_error, record=service.log_error)
    app.include_router(routes(service))
    with TestClient(app) as client:
        yield client, service


def test_tabloop_router_alone_predicts_and_logs(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    with mounted(ServeConfig(bundle, log=LogConfig(log)), tabloop_router) as (client, service):
        r = client.post("/predict", json=make_rows(2))
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == 2 and r.headers["x-request-id"] == r.json()["request_id"]
        assert client.get("/metadata").json()["model"] == service.models.champion.model
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["log"]["enabled"] is True and health["requests"]["rows"] == 2
        assert client.get("/control/rollout").status_code == 404  # control's, not this router's
        assert service.requests == 1 and service.rows == 2
    assert len(log.read_predictions()) == 2


def test_control_router_refuses_feedback_without_a_log(bundle: ModelBundle) -> None:
    with mounted(ServeConfig(bundle), control_router) as (client, _):
        r = client.post("/feedback", json={"request_id": "r-1", "label": "yes"})
    assert r.status_code >= 400 and "prediction log" in r.text


def test_mlflow_router_alone(bundle: ModelBundle, make_rows: Rows) -> None:
    with mounted(ServeConfig(bundle), mlflow_router) as (client, _):
        assert client.get("/ping").status_code == 200
        assert client.get("/version").text
        r = client.post("/invocations", json={"dataframe_records": make_rows(3)})
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == 3


def test_v2_router_alone(bundle: ModelBundle, make_rows: Rows) -> None:
    with mounted(ServeConfig(bundle), v2_router) as (client, _):
        assert client.get("/v2/health/ready").json() == {"ready": True}
        assert client.get(f"/v2/models/{bundle.name}").json()["platform"] == "tabloop"
        assert client.get("/v2/models/nope/ready").status_code == 404
        rows = make_rows(2)
        inputs = [{"name": k, "shape": [2], "datatype": "FP64" if isinstance(rows[0][k], float) else "BYTES",
                   "data": [r[k] for r in rows]} for k in rows[0]]
        r = client.post(f"/v2/models/{bundle.name}/infer", json={"inputs": inputs})
        assert r.status_code == 200, r.text
        assert r.json()["model_name"] == bundle.name


def test_control_router_alone(bundle: ModelBundle) -> None:
    with mounted(ServeConfig(bundle), control_router) as (client, service):
        r = client.post("/control/rollout", json={"mode": "canary", "share": 0.25})
        assert r.status_code == 200, r.text
        assert service.rollout.mode == "canary" and client.get("/control/rollout").json()["share"] == 0.25
        assert client.post("/predict", json=[]).status_code in (404, 405)


def test_monitoring_router_alone(bundle: ModelBundle) -> None:
    with mounted(ServeConfig(bundle), monitoring_router) as (client, _):
        r = client.get("/metrics")
    assert r.status_code == 200 and "tabloop_" in r.text


@pytest.mark.parametrize("mode", ["ack", "write", "background"])
def test_the_service_answers_the_same_under_every_sink(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, mode: Any
) -> None:
    log = PredictionLog(tmp_path)
    with mounted(ServeConfig(bundle, log=LogConfig(log, sync=mode)), tabloop_router) as (client, service):
        assert client.post("/predict", json=make_rows(1)).status_code == 200
        assert service.log_status()["sync"] == mode
    assert len(log.read_predictions()) == 1


def test_control_router_takes_feedback_into_the_log(bundle: ModelBundle, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    with mounted(ServeConfig(bundle, log=LogConfig(log)), control_router) as (client, _):
        r = client.post("/feedback", json=[{"request_id": "r-1", "label": "yes"}, {"request_id": "r-2", "label": "no"}])
    assert r.status_code == 200 and r.json() == {"accepted": 2}
    assert sorted(log.read_feedback()["request_id"]) == ["r-1", "r-2"]

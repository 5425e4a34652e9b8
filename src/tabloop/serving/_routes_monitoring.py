"""Watching the server: ``GET /metrics`` (Prometheus) and, given a provider, the live ``/dashboard``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from tabloop.serving._dashboard import install_dashboard, server_counters
from tabloop.serving._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from tabloop.serving._service import Service


def monitoring_router(service: Service, router: APIRouter | None = None) -> APIRouter:
    """``GET /metrics`` over ``service``'s counters.

    Added to ``router`` when given (the app passes its own), else to a new one.
    """
    router = router if router is not None else APIRouter()
    metrics = service.metrics

    @router.get("/metrics", summary="Prometheus metrics")
    async def get_metrics() -> Response:
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    return router


def add_dashboard(app: FastAPI, service: Service) -> None:
    """``GET /dashboard`` and ``/dashboard/data`` when the config names a provider of the monitoring figures."""
    provider = service.dashboard
    if provider is None:
        return
    install_dashboard(app, provider, champion=lambda: service.models.champion.bundle,
                      live=lambda: server_counters(service.requests, service.rows, service.errors))

"""The online-serving HTTP app: three dialects on one port over one scoring core, assembled.

- tabloop's own: ``POST /predict``, ``GET /health``, ``GET /metadata`` (``_routes_tabloop``);
- MLflow's scoring protocol: ``POST /invocations``, ``GET /ping``, ``GET /version`` (``_routes_mlflow``);
- the Open Inference Protocol (KServe V2): ``/v2``, ``/v2/health/*``, ``/v2/models/...`` (``_routes_v2``);
- ``POST /feedback``, ``/control/rollout``, ``POST /control/reload`` (``_routes_control``);
- ``GET /metrics`` (Prometheus) and, given a provider, ``GET /dashboard`` (``_routes_monitoring``).

Every router is a factory over one ``Service`` (``_service``: the models, the rollout, the
log sink, the metrics, and ``Service.answer``, the request path every dialect shares).
The hot path is kept short on purpose: ``POST /predict`` goes straight from the ASGI entry
to its endpoint (``_middleware.PredictFastPath``; FastAPI's router still holds the route,
for OpenAPI), and the raw body is parsed with orjson (no pydantic per row).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tabloop.bundle import ModelBundle
from tabloop.serving._config import Limits, ServeConfig
from tabloop.serving._errors import install_error_handlers
from tabloop.serving._http import tabloop_version
from tabloop.serving._middleware import install_middleware
from tabloop.serving._predictor import Served
from tabloop.serving._routes_control import control_router
from tabloop.serving._routes_mlflow import mlflow_router
from tabloop.serving._routes_monitoring import add_dashboard, monitoring_router
from tabloop.serving._routes_tabloop import tabloop_router
from tabloop.serving._routes_v2 import v2_router
from tabloop.serving._schema import infer_openapi, invocations_openapi, predict_openapi
from tabloop.serving._service import Service


def create_app(config: ServeConfig) -> FastAPI:
    """An ASGI app serving ``config.bundle`` (and its challenger); with a prediction log, every row is logged."""
    service = Service(config)
    bundle = config.bundle

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    title = f"tabloop: {bundle.name or 'model'}" + (f" v{bundle.version}" if bundle.version else "")
    app = FastAPI(title=title, version=tabloop_version(), lifespan=lifespan, telemetry=_telemetry())
    app.state.tabloop = service
    install_error_handlers(app, service.errors, service.on_error, record=service.log_error)
    # onto the app's own router: FastAPI's include_router would put a lazy dispatch layer (an included
    # router) in front of every request, and hide the routes from _refresh_openapi. In this order,
    # the routes (and /openapi.json) are in the order they always were
    for routes in (tabloop_router, mlflow_router, v2_router, monitoring_router, control_router):
        routes(service, app.router)
    add_dashboard(app, service)
    predict = next(r.endpoint for r in app.router.routes if getattr(r, "path", None) == "/predict")  # type: ignore[attr-defined]
    install_middleware(app, predict=predict, keys=config.access.api_keys, hosts=config.access.allowed_hosts,
                       on_reject=service.on_reject)

    def on_champion(new: Served) -> None:
        _refresh_openapi(app, new.bundle, service.limits)

    service.on_champion = on_champion
    return app


#: OpenTelemetry's stand-ins for providers nobody has set (its API has no public "is configured")
_UNSET_PROVIDERS = frozenset({"ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider"})


def _telemetry() -> dict[str, bool] | None:
    """FastAPI's own OpenTelemetry: as FastAPI has it when a provider is set when the app is made, else off.

    FastAPI asks the global providers on every request whether to trace it, about 9 us
    of a single-row prediction's ~130 in process. A process that runs with OpenTelemetry
    sets its providers before the app is made (``opentelemetry-instrument`` does, and so
    does ``FASTAPI_OTEL_AUTO_CONFIGURE=true``, at start-up); in any other the answer is
    no, so it is given once here.
    """
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    from opentelemetry import _logs, metrics, trace

    providers = (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider())
    if any(type(p).__name__ not in _UNSET_PROVIDERS for p in providers):
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def _refresh_openapi(app: FastAPI, bundle: ModelBundle, limits: Limits) -> None:
    """After the champion changed, /openapi.json describes its contract."""
    for route in app.router.routes:
        path = getattr(route, "path", None)
        if path == "/predict":
            route.openapi_extra, _ = predict_openapi(bundle, max_rows=limits.max_rows)  # type: ignore[attr-defined]
        elif path == "/invocations":
            route.openapi_extra = invocations_openapi(bundle, max_rows=limits.max_rows)  # type: ignore[attr-defined]
        elif path is not None and path.endswith("/infer"):
            route.openapi_extra = infer_openapi(bundle, max_rows=limits.max_rows)  # type: ignore[attr-defined]
    app.openapi_schema = None

"""MLflow's scoring protocol: ``POST /invocations`` (JSON or CSV), ``GET /ping``, ``GET /version``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tabloop.bundle import Predictions
from tabloop.serving._dialects import mlflow_predictions, parse_invocations
from tabloop.serving._http import JSON, dumps, tabloop_version
from tabloop.serving._predictor import Served
from tabloop.serving._schema import invocations_openapi
from tabloop.serving._service import Service


def mlflow_router(service: Service, router: APIRouter | None = None) -> APIRouter:
    """The routes MLflow's scoring clients call, over ``service``.

    Added to ``router`` when given (the app passes its own), else to a new one.
    """
    router = router if router is not None else APIRouter()
    limits = service.limits

    def render(request_id: str, served: Served, preds: Predictions) -> tuple[bytes, None]:
        return dumps({"predictions": mlflow_predictions(preds)}), None

    @router.post(
        "/invocations",
        summary="Predict rows (MLflow scoring protocol)",
        response_class=Response,
        openapi_extra=invocations_openapi(service.models.champion.bundle, max_rows=limits.max_rows),
    )
    async def invocations(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        # a CSV body's number columns are read cell by cell, as the contract answering now has them
        contract = service.models.champion.bundle.contract

        def parse(body: bytes) -> list[dict[str, Any]]:
            return parse_invocations(body, content_type, max_rows=limits.max_rows, contract=contract)

        return await service.answer(request, "mlflow", parse, render)

    @router.get("/ping", summary="Ready to predict (MLflow)")
    async def ping() -> Response:
        return Response(b"\n", status_code=200 if service.answering else 503, media_type=JSON)

    @router.get("/version", summary="The tabloop version (MLflow)")
    async def version() -> Response:
        return Response(tabloop_version(), media_type="text/plain")

    return router

"""tabloop's own dialect: ``POST /predict``, ``GET /health`` and ``GET /metadata``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tabloop._plain import scalar
from tabloop.bundle import Predictions
from tabloop.serving._guard import require_json
from tabloop.serving._http import dumps, json_response, public_status
from tabloop.serving._parse import parse_rows
from tabloop.serving._predictor import Served
from tabloop.serving._schema import predict_openapi
from tabloop.serving._service import Service


def tabloop_router(service: Service, router: APIRouter | None = None) -> APIRouter:
    """The routes of tabloop's own JSON dialect over ``service``.

    Added to ``router`` when given (the app passes its own), else to a new one.
    """
    router = router if router is not None else APIRouter()
    limits = service.limits
    models = service.models
    openapi_extra, responses = predict_openapi(service.models.champion.bundle, max_rows=limits.max_rows)

    def parse(body: bytes) -> list[dict[str, Any]]:
        return parse_rows(body, max_rows=limits.max_rows)

    def render(request_id: str, served: Served, preds: Predictions) -> tuple[bytes, list[dict[str, Any]]]:
        records = preds.records()  # once: the answer and the log share them
        body: dict[str, Any] = {
            "request_id": request_id, "model": served.model, "variant": served.variant, "predictions": records,
        }
        if preds.marks:  # each of these rows says which rules it broke in its own "contract" list
            body["out_of_contract"] = preds.out_of_contract
        return dumps(body), records

    @router.post(
        "/predict",
        summary="Predict rows",
        description="Send a JSON list of row objects (or {\"rows\": [...]}). Every row is checked against the "
        "model's contract; see GET /metadata for the columns.",
        response_class=Response,
        openapi_extra=openapi_extra,
        responses=responses,
    )
    async def predict(request: Request) -> Response:
        require_json(request)
        return await service.answer(request, "tabloop", parse, render)

    @router.get("/health", summary="Liveness, the models served, the rollout and the prediction log's state")
    async def health() -> Response:
        log = service.log_status()
        # the latest log write failed (rows are being lost or refused), or a new version would not load
        failing = not log["ok"] or bool(models.failures)
        return json_response(
            {
                # still answering, but rows are being lost or a new version would not load: worth an alert
                "status": "degraded" if failing else "ok",
                "ready": service.answering,
                "model": models.champion.model,
                "variant": models.champion.variant,
                "models": public_status(models.status()),
                "rollout": service.rollout.to_dict(),
                "log": log,
                "requests": {"predicted": service.requests, "rows": service.rows, "errors": dict(service.errors)},
            }
        )

    @router.get("/metadata", summary="The model, its task and classes, and the contract rows must meet")
    async def get_metadata() -> Response:
        champ = models.champion
        return json_response(
            {
                "model": champ.model,
                "variant": champ.variant,
                # what answers /predict: "onnx" (the exported graph) or "sklearn" (the pipeline)
                "engine": getattr(champ.predictor, "engine", "custom"),
                "task": champ.bundle.task,
                "classes": [scalar(c) for c in champ.bundle.classes],
                "threshold": scalar(champ.bundle.threshold),
                "max_rows": limits.max_rows,
                "max_body_bytes": limits.max_body_bytes,
                "contract": champ.bundle.contract.to_dict(),
                "challenger": models.challenger.model if models.challenger else None,
                "rollout": service.rollout.to_dict(),
                "feedback_holdout": service.holdout.to_dict(),
            }
        )

    return router


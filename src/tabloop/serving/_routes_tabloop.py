"""tabloop's own dialect: ``POST /predict``, ``GET /metadata`` and ``POST /feedback``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tabloop.bundle import Predictions
from tabloop.errors import ContractViolation, ServingError, Violation
from tabloop.predlog import utc_now
from tabloop.serving._errors import MalformedRequest, PayloadTooLarge
from tabloop.serving._guard import require_json
from tabloop.serving._http import REQUEST_ID, dumps, json_response, read_body
from tabloop.serving._parse import parse_rows, plain
from tabloop.serving._predictor import Served
from tabloop.serving._schema import feedback_openapi, predict_openapi
from tabloop.serving._service import Service

MAX_FEEDBACK = 10_000


def tabloop_router(service: Service, router: APIRouter | None = None) -> APIRouter:
    """The routes of tabloop's own JSON dialect over ``service``.

    Added to ``router`` when given (the app passes its own), else to a new one.
    """
    router = router if router is not None else APIRouter()
    limits = service.limits
    models = service.models
    openapi_extra, responses = predict_openapi(service.config.bundle, max_rows=limits.max_rows)

    def parse(body: bytes) -> list[dict[str, Any]]:
        return parse_rows(body, max_rows=limits.max_rows)

    def render(request_id: str, served: Served, preds: Predictions) -> tuple[bytes, list[dict[str, Any]]]:
        records = preds.records()  # once: the answer and the log share them
        content = dumps(
            {"request_id": request_id, "model": served.model, "variant": served.variant, "predictions": records}
        )
        return content, records

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
                "classes": [plain(c) for c in champ.bundle.classes],
                "threshold": plain(champ.bundle.threshold),
                "max_rows": limits.max_rows,
                "max_body_bytes": limits.max_body_bytes,
                "contract": champ.bundle.contract.to_dict(),
                "challenger": models.challenger.model if models.challenger else None,
                "rollout": service.rollout.to_dict(),
                "feedback_holdout": service.holdout.to_dict(),
            }
        )

    @router.post("/feedback", summary="True labels for predicted rows, by request id", response_class=Response,
                 openapi_extra=feedback_openapi())
    async def feedback(request: Request) -> Response:
        predlog = service.predlog
        if predlog is None:
            raise ServingError("this server keeps no prediction log, so it cannot take feedback",
                               hint="enable serving.log_predictions")
        require_json(request)
        body = await read_body(request, limits.max_body_bytes)
        records = feedback_records(body)
        written = await run_in_threadpool(predlog.append_feedback, records)
        return json_response({"accepted": written})

    return router


def feedback_records(body: bytes) -> list[dict[str, Any]]:
    """The labels in a ``POST /feedback`` body, checked, with the time they came."""
    shape = 'expected {"request_id": "...", "label": ...} or a list of them (optional "row", default 0)'
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"feedback body is not valid JSON: {exc}", hint=shape) from None
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise ContractViolation([Violation(None, "empty", "no feedback labels sent")], source="feedback body")
    if len(items) > MAX_FEEDBACK:
        raise PayloadTooLarge(f"feedback body has {len(items)} labels; at most {MAX_FEEDBACK} per request")
    ts = utc_now()
    out: list[dict[str, Any]] = []
    found: list[Violation] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            found.append(Violation(None, "row_type", "feedback entry is not an object", row=i))
            continue
        unknown = sorted(set(item) - {"request_id", "row", "label"})
        rid, row, label = item.get("request_id"), item.get("row", 0), item.get("label")
        if unknown:
            found.append(Violation(unknown[0], "unexpected_column", "unknown key in feedback entry", row=i))
        if not isinstance(rid, str) or not REQUEST_ID.fullmatch(rid):
            found.append(Violation("request_id", "type", "request_id must be the id a prediction answered", row=i))
        if type(row) is not int or row < 0:
            found.append(Violation("row", "type", "row must be a non-negative integer", row=i))
        if label is None or isinstance(label, (dict, list)):
            found.append(Violation("label", "not_null" if label is None else "type", "label must be a single value", row=i))
        if not found:
            out.append({"request_id": rid, "row": row, "label": label, "ts": ts})
    if found:
        raise ContractViolation(found[:100], source="feedback body")
    return out

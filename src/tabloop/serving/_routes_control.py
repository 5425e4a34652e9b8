"""Operating the server: ``POST /feedback`` (labels), ``/control/rollout`` (read, set), ``POST /control/reload``."""

from __future__ import annotations

import logging

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tabloop.errors import ContractViolation, MalformedRequest, PayloadTooLarge, ServingError, Violation
from tabloop.predlog import utc_now
from tabloop.serving._guard import require_json
from tabloop.serving._http import REQUEST_ID, json_response, public_status, read_body
from tabloop.serving._rollout import Rollout
from tabloop.serving._schema import control_openapi, feedback_openapi
from tabloop.serving._service import Service

logger = logging.getLogger("tabloop.serving")

#: a rollout is a few keys; nothing bigger is read
MAX_CONTROL_BYTES = 64 * 1024
MAX_FEEDBACK = 10_000


def control_router(service: Service, router: APIRouter | None = None) -> APIRouter:
    """Feedback and the control routes over ``service``.

    Added to ``router`` when given (the app passes its own), else to a new one.
    """
    router = router if router is not None else APIRouter()
    models = service.models

    @router.post("/feedback", summary="True labels for predicted rows, by request id", response_class=Response,
                 openapi_extra=feedback_openapi())
    async def feedback(request: Request) -> Response:
        predlog = service.predlog
        if predlog is None:
            raise ServingError("this server keeps no prediction log, so it cannot take feedback",
                               hint="enable serving.log_predictions")
        require_json(request)
        body = await read_body(request, service.limits.max_body_bytes)
        records = feedback_records(body, classes=service.models.champion.bundle.classes)
        written = await run_in_threadpool(predlog.append_feedback, records)
        if service.watch.watching:
            # the labels of requests this server answered become rewards (the guard's metric, the bandit)
            await run_in_threadpool(service.watch.labelled, records)
        return json_response({"accepted": written})

    @router.get("/control/rollout", summary="How champion and challenger share traffic")
    async def get_rollout() -> Response:
        return json_response(service.rollout_status())

    @router.post("/control/rollout", summary="Set how champion and challenger share traffic", response_class=Response,
                 openapi_extra=control_openapi())
    async def set_rollout(request: Request) -> Response:
        require_json(request)
        body = await read_body(request, MAX_CONTROL_BYTES)
        service.set_rollout(parse_rollout(body, service.rollout))
        logger.info("rollout set to %s", service.rollout.to_dict())
        return json_response(service.rollout_status())

    @router.post("/control/reload", summary="Follow the model aliases now (hot swap)")
    async def reload(request: Request) -> Response:
        # takes no body: a client may send none, or JSON; never what a web page posts freely
        require_json(request, optional=True)
        outcome = await run_in_threadpool(models.poll_once)
        return json_response({"outcome": outcome, "models": public_status(models.status())})

    return router


def parse_rollout(body: bytes, current: Rollout) -> Rollout:
    """The rollout a ``POST /control/rollout`` body asks for; keys left out keep ``current``'s values."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"rollout body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or set(payload) - {"mode", "share", "key", "floor", "seed"}:
        raise MalformedRequest('expected {"mode": "off|shadow|ab|canary|bandit", "share": 0..1, "key": "column", '
                               '"floor": 0..1, "seed": integer}')
    mode = payload.get("mode", current.mode)
    share = payload.get("share", current.share)
    key = payload.get("key", current.key)
    floor = payload.get("floor", current.floor)
    seed = payload.get("seed", current.seed)
    if not isinstance(mode, str) or not _number(share) or not _number(floor) or (
        key is not None and not isinstance(key, str)
    ) or (seed is not None and (isinstance(seed, bool) or not isinstance(seed, int))):
        raise MalformedRequest("mode must be a string, share and floor numbers, key a column name or null, "
                               "seed an integer or null")
    try:
        return Rollout(mode=mode, share=float(share), key=key, floor=float(floor), seed=seed)  # type: ignore[arg-type]
    except ServingError as exc:
        raise MalformedRequest(exc.message) from None

def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def feedback_records(body: bytes, classes: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The labels in a ``POST /feedback`` body, checked, with the time they came.

    With ``classes`` (a classifier's), a label must be one of them, compared as text as
    ``tabloop feedback`` compares them: one stray label in the log would otherwise stop every
    later realized-performance figure and retraining that joins it.
    """
    known = {str(c) for c in classes}
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
        elif known and str(label) not in known:
            found.append(Violation("label", "allowed_values", f"label {label!r} is not one of the model's classes "
                                   f"{sorted(known)}", value=label, row=i))
        if not found:
            out.append({"request_id": rid, "row": row, "label": label, "ts": ts})
    if found:
        raise ContractViolation(found[:100], source="feedback body")
    return out

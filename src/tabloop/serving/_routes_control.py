"""Operating the server: ``GET /health``, ``/control/rollout`` (read, set) and ``POST /control/reload``."""

from __future__ import annotations

import logging

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tabloop.errors import ServingError
from tabloop.serving._errors import MalformedRequest
from tabloop.serving._guard import require_json
from tabloop.serving._http import json_response, public_status, read_body
from tabloop.serving._rollout import Rollout
from tabloop.serving._schema import control_openapi
from tabloop.serving._service import Service

logger = logging.getLogger("tabloop.serving")

#: a rollout is a few keys; nothing bigger is read
MAX_CONTROL_BYTES = 64 * 1024


def control_router(service: Service, router: APIRouter | None = None) -> APIRouter:
    """Health and the control routes over ``service``.

    Added to ``router`` when given (the app passes its own), else to a new one.
    """
    router = router if router is not None else APIRouter()
    models = service.models

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

    @router.get("/control/rollout", summary="How champion and challenger share traffic")
    async def get_rollout() -> Response:
        return json_response(service.rollout.to_dict())

    @router.post("/control/rollout", summary="Set how champion and challenger share traffic", response_class=Response,
                 openapi_extra=control_openapi())
    async def set_rollout(request: Request) -> Response:
        require_json(request)
        body = await read_body(request, MAX_CONTROL_BYTES)
        service.rollout = parse_rollout(body, service.rollout)
        logger.info("rollout set to %s", service.rollout.to_dict())
        return json_response(service.rollout.to_dict())

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
    if not isinstance(payload, dict) or set(payload) - {"mode", "share", "key"}:
        raise MalformedRequest('expected {"mode": "off|shadow|ab|canary", "share": 0..1, "key": "column"}')
    mode = payload.get("mode", current.mode)
    share = payload.get("share", current.share)
    key = payload.get("key", current.key)
    if not isinstance(mode, str) or isinstance(share, bool) or not isinstance(share, (int, float)) or (
        key is not None and not isinstance(key, str)
    ):
        raise MalformedRequest("mode must be a string, share a number, key a column name or null")
    try:
        return Rollout(mode=mode, share=float(share), key=key)  # type: ignore[arg-type]
    except ServingError as exc:
        raise MalformedRequest(exc.message) from None

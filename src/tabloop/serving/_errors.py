"""The one table that maps every error type to an HTTP status, and the handlers that answer them.

The request errors themselves live in the one tree, ``tabloop.errors``.

Handlers turn any exception into the error shape of the dialect the client spoke:

- tabloop's own routes: ``{"error": {"code", "message", "violations"}}``;
- MLflow's scoring protocol (``/invocations``, ``/ping``, ``/version``):
  ``{"error_code": "BAD_REQUEST", "message": ...}``, a contract violation answered 400
  as MLflow clients expect;
- the Open Inference Protocol (``/v2/...``): ``{"error": "..."}``.

A client mistake is always a 4xx naming what was wrong; only our own failures are
500, and those answer a generic message while the traceback goes to ``logging``.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tabloop.errors import (
    ClientDisconnected,
    ContractViolation,
    CrossOrigin,
    FeatureStoreError,
    Forbidden,
    InternalError,
    LogUnavailable,
    MalformedRequest,
    MisdirectedRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    PredictionLogError,
    RequestRejected,
    RequestTimeout,
    ServingError,
    TabloopError,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
)

__all__ = [
    "CLIENT_CLOSED_REQUEST",
    "MLFLOW_PATHS",
    "REQUEST_ID_HEADER",
    "answered_status",
    "dialect_of",
    "error_body",
    "error_response",
    "install_error_handlers",
    "status_for",
    "without_paths",
]

logger = logging.getLogger("tabloop.serving")

REQUEST_ID_HEADER = "X-Request-ID"
#: the rows of a 200 answered out of contract (the contract's warn, clip and unknown policies), comma-separated
OUT_OF_CONTRACT_HEADER = "X-Out-Of-Contract-Rows"
MLFLOW_PATHS = frozenset({"/invocations", "/ping", "/version"})
#: nginx's status for a request whose client closed the connection first
CLIENT_CLOSED_REQUEST = 499


# Most specific first: the first isinstance match wins. Anything unlisted is 500.
_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (ClientDisconnected, CLIENT_CLOSED_REQUEST),
    (ContractViolation, 422),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (NotFound, 404),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (MisdirectedRequest, 421),
    (TooManyRequests, 429),
    (RequestTimeout, 504),
    (NotReady, 503),
    (LogUnavailable, 503),
    # a route that writes the log itself (feedback) and meets a full or read-only disk: as /predict does
    (PredictionLogError, 503),
    (MalformedRequest, 400),
    (RequestRejected, 400),
    (ServingError, 503),
    # the online store is down or not materialized: the server's dependency, not the client's request
    (FeatureStoreError, 503),
)

# MLflow's own error codes (mlflow.protos.databricks_pb2), by HTTP status
_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    421: "BAD_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "TEMPORARILY_UNAVAILABLE",
}

_GENERIC_500 = "internal error while handling the request; the server log has details (look up the X-Request-ID)"


#: an absolute file path (two components or more from the root, so a route such as /predict is left),
#: or a file: URI; the server's log keeps paths, answers keep the file's name only
_ABSOLUTE_PATH = re.compile(r"(?:\bfile:/+|(?<![\w.~:/-])/)(?:[^\s/'\"`,;:()\[\]{}<>]+/)+([^\s/'\"`,;:()\[\]{}<>]*)")
#: 503s (the log failing) are logged with their paths at most this often, per error code
_LOG_EVERY_S = 10.0
_last_logged: dict[str, float] = {}


def without_paths(text: str) -> str:
    """``text`` with every absolute file path cut to the file's name: where a server keeps its files is not a client's business."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "<path>", text)


def status_for(exc: BaseException) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def dialect_of(path: str) -> str:
    """Which protocol a path belongs to: ``mlflow``, ``v2`` or ``tabloop``."""
    if path in MLFLOW_PATHS:
        return "mlflow"
    if path == "/v2" or path.startswith("/v2/"):
        return "v2"
    return "tabloop"


def answered_status(path: str, status: int) -> int:
    """The status a client of ``path``'s dialect gets for ``status``: MLflow's scoring server answers every bad input 400."""
    return 400 if status == 422 and dialect_of(path) == "mlflow" else status


def error_body(code: str, message: str, violations: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "violations": violations or [], **extra}}


def error_response(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """``body`` (tabloop's shape) re-shaped for the dialect of ``request``'s path."""
    out_headers = dict(headers or {})
    # set by the predicting routes only once the client's id has passed validation
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        out_headers[REQUEST_ID_HEADER] = request_id
    dialect = dialect_of(request.url.path)
    err = body["error"]
    payload: dict[str, Any]
    status = answered_status(request.url.path, status)
    if dialect == "mlflow":
        payload = {"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": _text(err)}
        if err.get("violations"):
            payload["violations"] = err["violations"]
    elif dialect == "v2":
        payload = {"error": _text(err)}
        if err.get("violations"):
            payload["violations"] = err["violations"]
    else:
        payload = body
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=out_headers)


def _text(err: dict[str, Any]) -> str:
    hint = err.get("hint")
    return f"{err['message']} ({hint})" if hint else str(err["message"])


def _log_unavailable(request: Request, status: int, exc: TabloopError) -> None:
    now = time.monotonic()
    if now - _last_logged.get(exc.code, -_LOG_EVERY_S) < _LOG_EVERY_S:
        return
    _last_logged[exc.code] = now
    logger.warning("%s %s answered %d: %s (the same is logged at most every %g s)", request.method,
                   request.url.path, status, exc, _LOG_EVERY_S)


def install_error_handlers(
    app: FastAPI,
    errors: Counter[str],
    on_error: Callable[[Request, int, str], None] | None = None,
    record: Callable[[Request, int, dict[str, Any]], None] | None = None,
) -> None:
    """Register the handlers; ``errors`` counts answered errors by code (for /health).

    ``on_error(request, status, code)`` is told of every error answered (metrics);
    ``record(request, status, error)`` gets the error as answered (the status the client
    gets, the error in tabloop's shape: code, message, violations) before the response
    is built, so it may still set ``request.state.request_id`` for the answer to carry
    (the prediction log's error records).
    """

    def answer(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        code = body["error"]["code"]
        errors[code] += 1
        if on_error is not None:
            on_error(request, status, code)
        if record is not None:
            record(request, answered_status(request.url.path, status), body["error"])
        return error_response(request, status, body, headers)

    async def tabloop_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TabloopError)
        status = status_for(exc)
        headers = None
        if status >= 500 and status not in (503, 504):
            # exc_info carries the chained cause of an InternalError into the log
            logger.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
            body = error_body("internal_error" if status == 500 else exc.code, _GENERIC_500 if status == 500 else exc.message)
        else:
            logger.debug("%s %s rejected (%d): %s", request.method, request.url.path, status, exc)
            payload = exc.to_dict()
            payload.setdefault("violations", [])
            if status >= 500:
                # the server's own trouble (a log on a full disk): the log gets where, the client only what
                _log_unavailable(request, status, exc)
                payload["message"] = without_paths(str(payload.get("message") or ""))
                if payload.get("hint"):
                    payload["hint"] = without_paths(str(payload["hint"]))
            body = {"error": payload}
            if status == 401:
                headers = {"WWW-Authenticate": "Bearer"}
            elif status in (429, 503):
                headers = {"Retry-After": "1"}
        return answer(request, status, body, headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        try:
            code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            code = "http_error"
        return answer(request, exc.status_code, error_body(code, str(exc.detail)), dict(exc.headers or {}))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        violations = [
            {"column": None, "rule": str(e.get("type", "invalid")), "message": f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}"}
            for e in exc.errors()
        ]
        return answer(request, 422, error_body("invalid_request", "the request does not match the API", violations))

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return answer(request, 500, error_body("internal_error", _GENERIC_500))

    app.add_exception_handler(TabloopError, tabloop_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)

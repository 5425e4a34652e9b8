"""The online-serving HTTP app: three dialects on one port over one scoring core.

- tabloop's own: ``POST /predict``, ``GET /health``, ``GET /metadata``;
- MLflow's scoring protocol: ``POST /invocations``, ``GET /ping``, ``GET /version``;
- the Open Inference Protocol (KServe V2): ``/v2``, ``/v2/health/*``, ``/v2/models/...``;
- ``GET /metrics`` (Prometheus), ``POST /feedback``, ``/control/rollout``, ``POST /control/reload``;
- ``GET /dashboard`` (a live page of the monitoring figures) when given a provider of them.

The hot path is kept short on purpose: ``POST /predict`` goes straight from the ASGI
entry to its endpoint (``_PredictFastPath``; FastAPI's router still holds the route, for
OpenAPI), the raw body is parsed with orjson (no pydantic per row), parsing, the contract check and the model run in a worker
thread so the event loop keeps answering probes, the answer is written with
orjson. With ``log_sync="write"`` (the default) a request writes its rows to the
prediction log itself and is answered once the operating system has them, so nothing
acknowledged is lost if the process is killed; the writer's thread fsyncs them in
batches. With ``"ack"`` the log is group-committed: an answer goes out only after the
fsync of the batch holding its rows. Under both a log that cannot be written turns
the answer into a 503 rather than a 200 for an unlogged prediction; with
``"background"`` the rows are handed to the writer and the answer does not wait. A
predicting request answered with an error leaves one error record in the same log,
never waited for (see ``_Service.log_error``). The
shadow challenger is fed after the response has gone out. Each request takes the model version it was routed to at
its start, so a hot swap never changes a request half-way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from tabloop.errors import ContractViolation, ServingError, TabloopError, Violation
from tabloop.predlog import (
    RETRY_S,
    SYNC_INTERVAL_S,
    BackgroundLogWriter,
    PredictionLog,
    PredictionLogError,
    error_record,
    utc_now,
)
from tabloop.serving._auth import ApiKeys, scope_for
from tabloop.serving._dashboard import DashboardProvider, install_dashboard, server_counters
from tabloop.serving._dialects import (
    HEADER_LENGTH,
    mlflow_predictions,
    parse_infer,
    parse_invocations,
    v2_outputs,
    v2_tensors,
)
from tabloop.serving._errors import (
    REQUEST_ID_HEADER,
    ClientDisconnected,
    InternalError,
    LogUnavailable,
    MalformedRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    RequestRejected,
    RequestTimeout,
    TooManyRequests,
    dialect_of,
    error_response,
    install_error_handlers,
    status_for,
    without_paths,
)
from tabloop.serving._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from tabloop.serving._metrics import Metrics
from tabloop.serving._models import ModelSet, ModelSource, check_servable
from tabloop.serving._parse import parse_rows, plain
from tabloop.serving._predictor import FastPredictor, PredictorFactory, RowPredictor, Served
from tabloop.serving._guard import RequestGuard, refuse_simple_type, require_json
from tabloop.serving._holdout import Holdout, apply_holdout, logged_records
from tabloop.serving._rollout import CHALLENGER, CHAMPION, Rollout
from tabloop.serving._schema import control_openapi, feedback_openapi, infer_openapi, invocations_openapi, predict_openapi
from tabloop.bundle import ModelBundle, Predictions

logger = logging.getLogger("tabloop.serving")

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_FEEDBACK = 10_000
SHADOW_BACKLOG = 256
#: on shutdown, how long the prediction log writer may take to drain what was handed to it (as
#: run_server's default graceful timeout); rows still queued after that are counted lost, with an ERROR
LOG_DRAIN_S = 30.0
#: bodies up to this size are parsed and, on the ONNX engine, predicted on the event loop
INLINE_BODY_BYTES = 4096
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
#: the routes whose refusals the prediction log records (POST only)
_PREDICTING = re.compile(r"/predict|/invocations|/v2/models/[^/]+(?:/versions/[^/]+)?/infer")
_JSON = "application/json"
LogSync = Literal["ack", "write", "background"]
#: (request id, the version that answered, its predictions) -> the answer's body, and ``preds.records()``
#: when building the body needed them (the log then reuses them), else None
_Render = Callable[[str, Served, Predictions], tuple[bytes, list[dict[str, Any]] | None]]


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server."""

    max_rows: int = 1000
    max_body_bytes: int = MAX_BODY_BYTES
    max_concurrency: int = 64
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ServingError(f"max_rows must be at least 1, got {self.max_rows}")
        if self.max_body_bytes < 1 or self.max_concurrency < 1 or not self.timeout_s > 0:
            raise ServingError("max_body_bytes, max_concurrency and timeout_s must be positive")


def _dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def _version() -> str:
    try:
        return importlib_metadata.version("tabloop")
    except importlib_metadata.PackageNotFoundError:
        return "0"


class _Probe:
    """What a failed prediction request had got to: when it started, the model it was routed to, its rows."""

    __slots__ = ("rows", "served", "started")

    def __init__(self, started: float, served: Served | None) -> None:
        self.started = started
        self.served = served
        self.rows: int | None = None


class _Service:
    """What the routes share: the models, the rollout, the log writer, limits and counters."""

    def __init__(
        self, models: ModelSet, predlog: PredictionLog | None, limits: Limits, rollout: Rollout,
        log_sync: LogSync = "write",
    ) -> None:
        self.models = models
        self.predlog = predlog
        self.log_sync = log_sync
        self.limits = limits
        self.rollout = rollout
        self.holdout = Holdout()
        self.metrics = Metrics()
        self.writer: BackgroundLogWriter | None = None
        # rows handed over after close() would sit behind the writer's stop marker and be lost
        self.accepting = False
        self.ready = False
        self.authenticated = False
        # requests holding a concurrency slot: from admission until answered (under ack, until their fsync)
        self.in_flight = 0
        self.requests = 0
        self.rows = 0
        self.errors: Counter[str] = Counter()
        self.shadow_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.shadow_pending = 0
        self._shadow_lock = threading.Lock()
        # the loops that will wake the log writer once their current turn is over
        self._wakes: set[asyncio.AbstractEventLoop] = set()

    # -- scoring ------------------------------------------------------------------
    def pick(self, request_id: str, rows: list[dict[str, Any]]) -> Served:
        if self.rollout.route(request_id, rows) == CHALLENGER:
            challenger = self.models.challenger
            if challenger is not None:
                return challenger
        return self.models.champion

    def log_rows(
        self, served: Served, request_id: str, ts: str, rows: list[dict[str, Any]], outputs: list[dict[str, Any]],
        latency_ms: float, source: str = "http", *, loop: asyncio.AbstractEventLoop | None = None, wait: bool = False,
    ) -> asyncio.Future[None] | None:
        """Hand the rows to the log writer (None: no log, or nobody waits).

        Under ``log_sync="write"`` the rows are written here and now (fsynced by the
        writer's thread shortly after); a refusal raises on the event loop.
        Otherwise, called on the event loop ``loop``, the writer is woken once the loop's
        current turn is over, so the rows of every request answered in that turn share one
        batch (and one fsync); with ``wait`` the result is a future of ``loop`` that
        resolves once they are fsynced, and a refusal by the writer raises. Called from
        another thread (``loop`` None: shadow scoring), the writer is woken at once, and a
        refusal is only counted.
        """
        writer = self.writer
        if writer is None or not self.accepting:
            return None
        name, version, variant = served.name, served.version, served.variant
        records = [
            {
                "request_id": request_id,
                "row": i,
                "ts": ts,
                "source": source,
                "model": name,
                "version": version,
                "variant": variant,
                # straight from orjson.loads, so already JSON-safe and as the client sent them
                "inputs": row,
                "prediction": plain(out["prediction"]),
                "probabilities": out.get("probabilities"),
                "latency_ms": latency_ms,
                # the answer was the prior, not this prediction: monitoring measures the model on these apart
                **({"holdout": True} if out.get("holdout") else {}),
            }
            for i, (row, out) in enumerate(zip(rows, outputs, strict=True))
        ]
        if self.log_sync == "write":
            try:
                writer.append_now(records)
            except TabloopError:
                if loop is not None:
                    raise
            return None
        waiter = loop.create_future() if wait and loop is not None else None
        try:
            if loop is None:
                writer.post(records)
            else:
                # woken by the first request, the writer would sync its rows alone, and the rest next time
                self._wake_after_turn(loop, writer)
                writer.post(records, waiter, wake=False)
        except TabloopError:
            if waiter is not None:
                raise
        return waiter

    def _wake_after_turn(self, loop: asyncio.AbstractEventLoop, writer: BackgroundLogWriter) -> None:
        if loop in self._wakes:
            return
        self._wakes.add(loop)

        def wake() -> None:
            self._wakes.discard(loop)
            writer.wake()

        loop.call_soon(wake)

    def log_error(self, request: Request, status: int, error: dict[str, Any]) -> None:
        """One error record for a predicting request answered with an error; handed over, never waited for.

        The record goes through the same writer as the rows, but nobody waits for its
        fsync: an error answer is neither slowed nor turned into a 503 by the log, and a
        failure here is only logged. Left out on purpose:

        - 401/403 (the auth middleware answers them before any route): a caller that has
          not shown a key is not traffic of any model, and must not be able to fill the
          log's disk by knocking;
        - 503 ``prediction_log_unavailable``: the log itself is what failed (the writer
          counts those rows as failed already);
        - 499 ``client_disconnected``: the client went away while its body was read; the
          server refused nothing, so it must not raise the model's error rate (the
          ``tabloop_errors_total`` metric still counts it).

        Every predicting request answered with an error carries an ``X-Request-ID``,
        whether or not a log is kept: it is assigned here when the request had none yet.

        A request refused before a model was chosen for it (unreadable body, too large,
        too many in flight, not ready, an unknown v2 model) is recorded with version and
        variant null, the champion's model name: no version is to blame for it.
        """
        if request.method != "POST" or not _PREDICTING.fullmatch(request.url.path):
            return
        request_id = getattr(request.state, "request_id", None)
        if request_id is None:
            # refused before the id was read: the client's, when valid, else a new one; the answer carries
            # it whether or not a log is kept, so a client sees the same headers either way
            try:
                request_id = _request_id(request)
            except RequestRejected:
                request_id = _new_request_id()
            request.state.request_id = request_id
        writer = self.writer
        if writer is None or not self.accepting:
            return
        code = str(error.get("code") or "error")
        if status in (401, 403) or code in (LogUnavailable.code, ClientDisconnected.code):
            return
        try:
            probe: _Probe | None = getattr(request.state, "probe", None)
            served = probe.served if probe is not None else None
            record = error_record(
                request_id=request_id, status=status, code=code, message=str(error.get("message") or ""),
                dialect=dialect_of(request.url.path),
                model=served.name if served is not None else self.models.champion.name,
                version=served.version if served is not None else None,
                variant=served.variant if served is not None else None,
                rows=probe.rows if probe is not None else None,
                latency_ms=(time.perf_counter() - probe.started) * 1000.0 if probe is not None else None,
                violations=error.get("violations") or (),
            )
            if self.log_sync == "write":
                writer.append_now([record])
                return
            # on the event loop (the error handlers run there), it joins the batch of the loop's turn
            loop = _running_loop()
            if loop is not None:
                self._wake_after_turn(loop, writer)
            writer.post([record], wake=loop is None)
        except PredictionLogError:
            pass  # the writer counted it and reported the disk's failure already, at most once every 10 s
        except Exception:  # the error answer goes out whatever happens to its record
            logger.exception("could not hand the error record of a refused request to the prediction log")

    def shadow(self, request_id: str, rows: list[dict[str, Any]]) -> None:
        """Score a copy on the challenger in the background; its answer is only logged."""
        challenger = self.models.challenger
        pool = self.shadow_pool
        if challenger is None or pool is None:
            return
        with self._shadow_lock:
            if self.shadow_pending >= SHADOW_BACKLOG:
                self.metrics.shadow.labels("dropped").inc()
                return
            self.shadow_pending += 1
        try:
            pool.submit(self._shadow_one, challenger, request_id, rows)
        except RuntimeError:  # shutting down
            with self._shadow_lock:
                self.shadow_pending -= 1

    def _shadow_one(self, served: Served, request_id: str, rows: list[dict[str, Any]]) -> None:
        try:
            started = time.perf_counter()
            preds = served.predictor.predict_rows(rows)
            latency_ms = (time.perf_counter() - started) * 1000.0
            self.metrics.observe_rows(served.variant, served.version or "", preds)
            self.metrics.shadow.labels("scored").inc()
            self.log_rows(served, request_id, utc_now(), rows, preds.records(), latency_ms, source="shadow")
        except ContractViolation:
            self.metrics.shadow.labels("contract_violation").inc()
        except Exception:
            self.metrics.shadow.labels("error").inc()
            logger.exception("shadow scoring by the challenger failed for request %s", request_id)
        finally:
            with self._shadow_lock:
                self.shadow_pending -= 1

    def log_status(self) -> dict[str, Any]:
        w = self.writer
        return {
            "enabled": self.predlog is not None,
            "sync": self.log_sync,
            "ok": w.ok if w else True,
            "written": w.written if w else 0,
            "failed": w.failed if w else 0,
            "failed_writes": w.failed_writes if w else 0,
            # what failed, without where: the writer's own log lines carry the path
            "last_error": without_paths(w.last_error) if w and w.last_error else None,
        }

    @property
    def answering(self) -> bool:
        """Ready, and (when answers wait for the log) the log is being written: what readiness probes report."""
        w = self.writer
        return self.ready and not (self.answers_wait_for_log and w is not None and not w.ok)

    @property
    def answers_wait_for_log(self) -> bool:
        """Under write and ack an answer goes out only once its rows are logged; under background at once."""
        return self.log_sync != "background"


# a made-up request id is this process's random prefix and a counter: unique across processes and
# restarts like a uuid4, without a system call (and a GIL hand-off) per request
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


class _Acks:
    """Acknowledgements of log writes: one wake-up of a waiter's event loop per fsynced batch.

    The writer tells ``on_batch`` (in its own thread) the waiters of a whole batch at
    once; they are resolved on their own loops, one ``call_soon_threadsafe`` per loop per
    batch, not one per request. One app may be driven by several loops, one after another
    or at once; a loop that has closed meanwhile just drops its waiters.
    """

    @staticmethod
    def on_batch(waiters: list[Any], error: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for waiter in waiters:
            by_loop.setdefault(waiter.get_loop(), []).append(waiter)
        for loop, theirs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, theirs, error)
            except RuntimeError:  # the loop is closed: nobody is left there to wake
                pass

    @staticmethod
    async def wait(waiter: asyncio.Future[None], timeout: float) -> None:
        """Until ``waiter`` resolves; ``TimeoutError`` after ``timeout`` seconds (cheaper than ``wait_for``)."""
        timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()


class _Answer(Response):
    """A predicting route's 200: its JSON body and request id, the headers made as Starlette makes them, directly."""

    media_type = _JSON

    def __init__(self, content: bytes, request_id: str, background: BackgroundTask | None = None) -> None:
        self.status_code = 200
        self.background = background
        self.body = content
        self.raw_headers = [
            (_REQUEST_ID_KEY, request_id.encode("latin-1")),  # checked against _REQUEST_ID: ASCII
            (b"content-length", str(len(content)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():  # the request was cancelled (client gone) or timed out
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _request_id(request: Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER)
    if given is None:
        return _new_request_id()
    if not _REQUEST_ID.fullmatch(given):
        raise MalformedRequest(
            f"the {REQUEST_ID_HEADER} header must be 1-128 characters of A-Z a-z 0-9 _ . : - (got {given[:40]!r})",
            hint=f"leave {REQUEST_ID_HEADER} out and the server makes one up",
        )
    return given


async def _read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing more than ``limit`` bytes before it is all in memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedRequest(f"Content-Length {declared[:40]!r} is not a number") from None
        if size > limit:
            raise PayloadTooLarge(_too_large(size, limit))
    chunks: list[bytes] = []
    size = 0
    # chunked uploads declare no length, so the limit is also enforced while reading
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(_too_large(size, limit, at_least=True))
            chunks.append(chunk)
    except ClientDisconnect:
        # not our failure and nobody to answer: a 499 for the access log and metrics, no traceback
        raise ClientDisconnected("the client closed the connection before its request body was read") from None
    return b"".join(chunks)


def _too_large(size: int, limit: int, *, at_least: bool = False) -> str:
    more = "at least " if at_least else ""
    return (
        f"request body is {more}{size} bytes; this server takes at most {limit} bytes "
        "(split the rows over several requests, or use batch scoring)"
    )


class _AuthMiddleware:
    """Checks the API key for every HTTP route except the open probes."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, on_reject: Callable[[Request, int, str], None]) -> None:
        self.app = app
        self.keys = keys
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = scope_for(scope["path"])
        if needed is not None:
            request = Request(scope)
            try:
                self.keys.check(request.headers.get("authorization"), request.headers.get("x-api-key"), needed)
            except RequestRejected as exc:
                status = status_for(exc)
                self.on_reject(request, status, exc.code)
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                response = error_response(request, status, {"error": exc.to_dict()}, headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _PredictFastPath:
    """``POST /predict`` straight to its endpoint, past FastAPI's router and per-route machinery.

    The same endpoint function answers (so limits, rollout, log, metrics and shadow are the
    shared core's), and errors go through the app's own exception handlers, so the answers
    are byte for byte those of the routed path. As there, an unexpected error (one only the
    ``Exception`` handler would take) is left to Starlette's ``ServerErrorMiddleware``
    outside: it answers 500 through that same handler and re-raises, so the server logs it.
    Everything else falls through to FastAPI.
    """

    def __init__(self, app: ASGIApp, endpoint: Callable[[Request], Any], fastapi: FastAPI) -> None:
        self.app = app
        self.endpoint = endpoint
        self.fastapi = fastapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Any:
        handlers = self.fastapi.exception_handlers
        for kind in type(exc).__mro__:
            if kind is Exception:  # as Starlette's ExceptionMiddleware: that one belongs to ServerErrorMiddleware
                return None
            if kind in handlers:
                return handlers[kind]
        return None


def create_app(
    bundle: ModelBundle,
    *,
    predlog: PredictionLog | None = None,
    max_rows: int = 1000,
    variant: str = "champion",
    predictor: RowPredictor | PredictorFactory | None = None,
    challenger: ModelBundle | None = None,
    rollout: Rollout | None = None,
    source: ModelSource | None = None,
    aliases: dict[str, str] | None = None,
    poll_interval_s: float | None = None,
    api_keys: ApiKeys | None = None,
    limits: Limits | None = None,
    log_sync: LogSync = "write",
    holdout: Holdout | None = None,
    dashboard: DashboardProvider | None = None,
    log_retry_s: float = RETRY_S,
    log_sync_interval_s: float = SYNC_INTERVAL_S,
    allowed_hosts: frozenset[str] | None = None,
) -> FastAPI:
    """An ASGI app serving ``bundle`` (and ``challenger``); with ``predlog``, every predicted row is logged.

    ``predictor`` is a ``RowPredictor`` for ``bundle``, or a factory taking a bundle
    (used for the challenger and every version swapped in later); the default is
    ``FastPredictor`` (ONNX when the bundle has a checked graph). With ``source`` and ``aliases`` (variant -> alias) the app
    follows the aliases every ``poll_interval_s`` seconds and swaps versions in.
    ``log_sync`` is ``"ack"`` (answer after the rows are fsynced; 503 when the log
    cannot be written), ``"write"`` (answer after the rows are written to the operating
    system, where a killed process cannot lose them, fsynced every ``log_sync_interval_s``;
    503 when they cannot be written) or ``"background"`` (answer at once; log failures
    only counted).
    ``holdout`` answers a share of rows with the training prior and logs the model's own prediction flagged.
    ``dashboard`` (the champion's bundle -> the monitoring JSON) adds ``GET /dashboard`` and ``/dashboard/data``.
    ``log_retry_s``: while the log cannot be written, how often the writer probes it by itself, so
    readiness (off under write and ack while the log fails) comes back without traffic once it can.
    ``allowed_hosts`` (``tabloop.serving._guard.allowed_hosts``'s answer) are the names a request's ``Host``
    may carry, 421 otherwise; None (the default) takes any. Whatever it is, a request that changes
    something sent by a browser page of another origin is refused (403), and the JSON routes take
    ``application/json`` only (415): see ``_guard``.
    """
    if log_sync not in ("ack", "write", "background"):
        raise ServingError(f"log_sync must be 'ack', 'write' or 'background', got {log_sync!r}")
    limits = limits or Limits(max_rows=max_rows)
    if max_rows != 1000 and limits.max_rows != max_rows:
        limits = Limits(max_rows, limits.max_body_bytes, limits.max_concurrency, limits.timeout_s)
    if not variant:
        raise ServingError("variant must be a non-empty name such as 'champion'")
    if poll_interval_s is not None and not poll_interval_s > 0:
        raise ServingError(f"poll_interval_s must be positive, got {poll_interval_s}")
    if not log_retry_s > 0:
        raise ServingError(f"log_retry_s must be positive, got {log_retry_s}")
    if not log_sync_interval_s > 0:
        raise ServingError(f"log_sync_interval_s must be positive, got {log_sync_interval_s}")
    task = check_servable(bundle)
    factory: PredictorFactory
    first: RowPredictor
    if predictor is None:
        factory = FastPredictor
        first = FastPredictor(bundle)
    elif isinstance(predictor, RowPredictor) and not isinstance(predictor, type):
        # (a class such as BundlePredictor has predict_rows too, and passes the protocol check: it is a factory)
        factory, first = FastPredictor, predictor
    else:
        factory = predictor
        first = factory(bundle)
    holdout = holdout or Holdout()
    holdout.check(bundle)
    champion = Served(bundle, first, variant)
    # every version swapped in later must honour the holdout too (the challenger's is checked in prepare)
    models = ModelSet(champion, factory=factory, source=source, aliases=aliases, check=holdout.check)
    if challenger is not None:
        models.swap(CHALLENGER, models.prepare(challenger, CHALLENGER))
        models.swaps = 0
    service = _Service(models, predlog, limits, rollout or Rollout(), log_sync)
    service.holdout = holdout
    keys = api_keys or ApiKeys()
    service.authenticated = bool(keys)
    metrics = service.metrics
    metrics.watch_log(service.log_status)
    metrics.in_flight.set_function(lambda: service.in_flight)  # read when scraped, not locked per request

    def on_error(request: Request, status: int, code: str) -> None:
        metrics.errors.labels(dialect_of(request.url.path), str(status), code).inc()

    title = f"tabloop: {bundle.name or 'model'}" + (f" v{bundle.version}" if bundle.version else "")
    app: FastAPI

    def on_swap(which: str, old: Served | None, new: Served | None) -> None:
        metrics.swaps.labels(which, "swapped").inc()
        if old is not None:
            try:
                metrics.served.remove(old.variant, old.name or "", old.version or "")
            except KeyError:
                pass
        if new is not None:
            metrics.set_served(new.variant, new.name, new.version)
        if which == CHAMPION and new is not None:
            _refresh_openapi(app, new.bundle, service.limits)

    models.on_swap = on_swap
    models.on_failure = lambda which: metrics.swaps.labels(which, "failed").inc()
    metrics.set_served(champion.variant, champion.name, champion.version)
    if models.challenger is not None:
        metrics.set_served(CHALLENGER, models.challenger.name, models.challenger.version)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if predlog is not None:
            # under ack a batch is what one turn of the loop answered, plus whatever came during the fsync in
            # progress; under background nobody waits, so the writer lingers and one fsync serves a few ms of rows
            # under write, each request writes its rows itself and this thread fsyncs every log_sync_interval_s
            service.writer = BackgroundLogWriter(
                predlog, linger_s=0.002 if log_sync == "background" else 0.0, retry_s=log_retry_s,
                on_batch=_Acks.on_batch, sync_interval_s=log_sync_interval_s if log_sync == "write" else None,
            )
            service.accepting = True
        _unready_on_sigterm(service)
        service.shadow_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tabloop-shadow")
        poller: asyncio.Task[None] | None = None
        if source is not None and aliases and poll_interval_s:
            poller = asyncio.create_task(_poll(models, poll_interval_s))
        service.ready = True
        try:
            yield
        finally:
            service.ready = False
            if poller is not None:
                poller.cancel()
                try:
                    await poller
                except asyncio.CancelledError:
                    pass
            pool = service.shadow_pool
            if pool is not None:
                # shadow rows of answered requests are logged before the writer stops
                await run_in_threadpool(pool.shutdown, True)
            service.accepting = False
            writer = service.writer
            if writer is not None:
                # joins the writer thread, which fsyncs; keep that off the event loop. Under background
                # the rows queued are of answered requests: wait as long as a graceful stop may take;
                # what is still queued after that is counted in writer.failed and reported as lost
                await run_in_threadpool(writer.close, LOG_DRAIN_S)
                if writer.failed:
                    logger.warning(
                        "prediction log: %d row(s) could not be written; last error: %s", writer.failed, writer.last_error
                    )

    app = FastAPI(title=title, version=_version(), lifespan=lifespan, telemetry=_telemetry())
    app.state.tabloop = service
    install_error_handlers(app, service.errors, on_error, record=service.log_error)
    # POST /predict skips FastAPI's routing and middleware stack (the route below stays, for OpenAPI
    # and as the reference); added before the auth middleware, so auth still runs first
    app.add_middleware(_PredictFastPath, endpoint=lambda request: predict(request), fastapi=app)
    if keys:
        app.add_middleware(_AuthMiddleware, keys=keys, on_reject=lambda r, s, c: (service.errors.update([c]), on_error(r, s, c)))
    # outermost: a foreign Host or a cross-origin page is refused before keys are even looked at
    app.add_middleware(RequestGuard, hosts=allowed_hosts,
                       on_reject=lambda r, s, c: (service.errors.update([c]), on_error(r, s, c)))

    async def answer(
        request: Request, dialect: str, parse: Callable[[bytes], list[dict[str, Any]]], render: _Render,
        pin: Served | None = None, started: float | None = None,
    ) -> Response:
        """The shared core: limits, routing, the predictor in a thread, the log, metrics; ``render`` makes the body.

        A request holds one of ``max_concurrency`` slots from admission until it is answered,
        under ``log_sync="ack"`` the wait for its fsync included: a stalled disk then refuses
        new requests (429) instead of piling them up. When it raises, ``request.state.probe``
        says how far the request got, for its error record.
        """
        probe = _Probe(time.perf_counter() if started is None else started, pin)
        try:
            request_id = admit(request)
            try:
                served, rows, preds, seconds = await _score(request, request_id, dialect, parse, pin, probe)
                content, records = render(request_id, served, preds)
                return await finish(request_id, served, rows, preds, records, seconds, content, dialect)
            finally:
                service.in_flight -= 1
        except Exception:
            request.state.probe = probe
            raise

    def admit(request: Request) -> str:
        """The request's id, once it may take a slot (ready, fewer than ``max_concurrency`` in flight)."""
        request_id = _request_id(request)
        request.state.request_id = request_id
        if not service.ready:
            raise NotReady("the server is not ready (starting up or shutting down); retry shortly")
        if service.in_flight >= limits.max_concurrency:
            raise TooManyRequests(
                f"more than {limits.max_concurrency} requests in flight; retry shortly",
                hint="lower the client's concurrency or add replicas",
            )
        service.in_flight += 1
        return request_id

    async def _score(
        request: Request, request_id: str, dialect: str, parse: Callable[[bytes], list[dict[str, Any]]],
        pin: Served | None, probe: _Probe,
    ) -> tuple[Served, list[dict[str, Any]], Predictions, float]:
        started = probe.started
        body = await _read_body(request, limits.max_body_bytes)

        def parse_pick() -> tuple[Served, list[dict[str, Any]]]:
            rows = parse(body)
            probe.rows = len(rows)
            served = probe.served = pin or service.pick(request_id, rows)
            return served, rows

        def predict(served: Served, rows: list[dict[str, Any]]) -> Predictions:
            preds = served.predictor.predict_rows(rows)
            return apply_holdout(service.holdout, served.bundle, request_id, rows, preds)

        def work() -> tuple[Served, list[dict[str, Any]], Predictions]:
            served, rows = parse_pick()
            return served, rows, predict(served, rows)

        try:
            if len(body) <= INLINE_BODY_BYTES:
                # a few rows on the ONNX graph cost less than the hop to a worker thread and back;
                # anything that could take long (big bodies, the scikit-learn pipeline) keeps the thread
                served, rows = parse_pick()
                if getattr(served.predictor, "engine", None) == "onnx":
                    preds = predict(served, rows)
                else:
                    preds = await asyncio.wait_for(run_in_threadpool(predict, served, rows), limits.timeout_s)
            else:
                served, rows, preds = await asyncio.wait_for(run_in_threadpool(work), limits.timeout_s)
        except TimeoutError:
            raise RequestTimeout(
                f"the prediction took longer than the {limits.timeout_s:g} s limit", hint="send fewer rows per request"
            ) from None
        except TabloopError:
            raise
        except RecursionError:
            raise MalformedRequest("the request is nested too deeply") from None
        except Exception as exc:
            # typed, so the one status table answers it and the cause reaches the log
            raise InternalError(f"prediction failed for request {request_id}") from exc
        seconds = time.perf_counter() - started
        return served, rows, preds, seconds

    async def finish(
        request_id: str, served: Served, rows: list[dict[str, Any]], preds: Predictions,
        records: list[dict[str, Any]] | None, seconds: float, content: bytes, dialect: str,
    ) -> Response:
        """Log the rows (waiting for their fsync under log_sync=ack), count the request, answer.

        ``records`` are ``preds.records()`` when the body already needed them (so they are built once).
        """
        started = time.perf_counter()
        ack = service.log_sync == "ack"
        if service.answers_wait_for_log and predlog is not None and not service.accepting:
            # shutting down: the writer takes no more rows, and an answer waits for its rows to be logged
            raise NotReady(
                "the server is shutting down and its prediction log takes no more rows, so this prediction "
                "is not answered", hint="retry; another replica (or this one, restarted) answers",
            )
        try:
            logged = service.log_rows(
                served, request_id, utc_now(), rows, logged_records(preds, records), seconds * 1000.0,
                loop=asyncio.get_running_loop(), wait=ack,
            )
        except TabloopError as exc:  # a record the log cannot encode, or the writer closed meanwhile
            raise LogUnavailable(
                f"the prediction could not be written to the prediction log, so it is not answered: {exc}",
                hint="retry shortly",
            ) from exc
        if logged is not None:
            try:
                await _Acks.wait(logged, limits.timeout_s)
            except TimeoutError:
                raise LogUnavailable(
                    f"the prediction log did not confirm the write within the {limits.timeout_s:g} s limit, "
                    "so the prediction is not answered",
                    hint="the log's disk is stalled (its rows may still be written later); retry shortly",
                ) from None
            except Exception as exc:
                # the prediction was made but could not be recorded: never a 200 for an unlogged answer
                raise LogUnavailable(
                    f"the prediction could not be written to the prediction log, so it is not answered: {exc}",
                    hint="the server keeps running and answers again once the log is writable; retry shortly",
                ) from exc
        seconds += time.perf_counter() - started
        metrics.observe(dialect, served.variant, served.version, seconds, preds)
        service.requests += 1
        service.rows += len(rows)
        shadow = service.rollout.mode == "shadow" and service.models.challenger is not None
        background = BackgroundTask(service.shadow, request_id, rows) if shadow else None
        return _Answer(content, request_id, background)

    def render_predict(request_id: str, served: Served, preds: Predictions) -> tuple[bytes, list[dict[str, Any]]]:
        records = preds.records()  # once: the answer and the log share them
        content = _dumps(
            {"request_id": request_id, "model": served.model, "variant": served.variant, "predictions": records}
        )
        return content, records

    def render_invocations(request_id: str, served: Served, preds: Predictions) -> tuple[bytes, None]:
        return _dumps({"predictions": mlflow_predictions(preds)}), None

    # -- tabloop's own dialect -----------------------------------------------------------
    openapi_extra, responses = predict_openapi(bundle, max_rows=limits.max_rows)

    @app.post(
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
        return await answer(request, "tabloop", parse_predict, render_predict)

    def parse_predict(body: bytes) -> list[dict[str, Any]]:
        return parse_rows(body, max_rows=limits.max_rows)

    @app.get("/health", summary="Liveness, the models served, the rollout and the prediction log's state")
    async def health() -> Response:
        log = service.log_status()
        # the latest log write failed (rows are being lost or refused), or a new version would not load
        failing = not log["ok"] or bool(models.failures)
        return Response(
            _dumps(
                {
                    # still answering, but rows are being lost or a new version would not load: worth an alert
                    "status": "degraded" if failing else "ok",
                    "ready": service.answering,
                    "model": models.champion.model,
                    "variant": models.champion.variant,
                    "models": _public(models.status()),
                    "rollout": service.rollout.to_dict(),
                    "log": log,
                    "requests": {"predicted": service.requests, "rows": service.rows, "errors": dict(service.errors)},
                }
            ),
            media_type=_JSON,
        )

    @app.get("/metadata", summary="The model, its task and classes, and the contract rows must meet")
    async def get_metadata() -> Response:
        champ = models.champion
        return Response(
            _dumps(
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
            ),
            media_type=_JSON,
        )

    # -- MLflow's scoring protocol ---------------------------------------------------------
    @app.post(
        "/invocations",
        summary="Predict rows (MLflow scoring protocol)",
        response_class=Response,
        openapi_extra=invocations_openapi(bundle, max_rows=limits.max_rows),
    )
    async def invocations(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        return await answer(
            request, "mlflow", lambda body: parse_invocations(body, content_type, max_rows=limits.max_rows),
            render_invocations,
        )

    @app.get("/ping", summary="Ready to predict (MLflow)")
    async def ping() -> Response:
        return Response(b"\n", status_code=200 if service.answering else 503, media_type=_JSON)

    @app.get("/version", summary="The tabloop version (MLflow)")
    async def version() -> Response:
        return Response(_version(), media_type="text/plain")

    # -- Open Inference Protocol (KServe V2) -----------------------------------------------
    def v2_model(name: str, version: str | None) -> Served | None:
        champ = models.champion
        if name != (champ.name or "model"):
            raise NotFound(f"model {name!r} is not served here (serving {champ.name or 'model'!r})")
        if version is None:
            return None
        pinned = models.by_version(version)
        if pinned is None:
            served = [s.version for s in (models.champion, models.challenger) if s is not None]
            raise NotFound(f"model {name!r} version {version!r} is not served here (serving {served})")
        return pinned

    @app.get("/v2", summary="Server metadata (Open Inference Protocol)")
    async def v2_server() -> Response:
        return Response(
            _dumps({"name": "tabloop", "version": _version(), "extensions": ["binary_tensor_data"]}), media_type=_JSON
        )

    @app.get("/v2/health/live", summary="Server live (Open Inference Protocol)")
    async def v2_live() -> Response:
        return Response(_dumps({"live": True}), media_type=_JSON)

    @app.get("/v2/health/ready", summary="Server ready (Open Inference Protocol)")
    async def v2_ready() -> Response:
        return Response(
            _dumps({"ready": service.answering}), status_code=200 if service.answering else 503, media_type=_JSON
        )

    async def v2_metadata(name: str, version: str | None) -> Response:
        pinned = v2_model(name, version)
        served = pinned or models.champion
        versions = [s.version for s in (models.champion, models.challenger) if s is not None and s.version]
        outputs = [{"name": "prediction", "datatype": "FP64" if served.bundle.task == "regression" else "BYTES", "shape": [-1]}]
        if served.bundle.task != "regression":
            outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(served.bundle.classes)]})
        return Response(
            _dumps(
                {
                    "name": name,
                    "versions": versions,
                    "platform": "tabloop",
                    "inputs": v2_tensors(served.bundle.contract),
                    "outputs": outputs,
                }
            ),
            media_type=_JSON,
        )

    async def v2_model_ready(name: str, version: str | None) -> Response:
        v2_model(name, version)
        return Response(
            _dumps({"name": name, "ready": service.answering}), status_code=200 if service.answering else 503,
            media_type=_JSON,
        )

    async def v2_infer(request: Request, name: str, version: str | None) -> Response:
        started = time.perf_counter()
        try:
            pinned = v2_model(name, version)
        except TabloopError:
            request.state.probe = _Probe(started, None)  # for its error record: refused before any model
            raise
        # JSON, binary tensors (octet-stream) or none (tritonclient sends none): not what a web page posts freely
        refuse_simple_type(request)
        header_length = request.headers.get(HEADER_LENGTH)
        parsed: dict[str, Any] = {}

        def parse(body: bytes) -> list[dict[str, Any]]:
            rows, req = parse_infer(body, header_length, max_rows=limits.max_rows)
            parsed.update(req)
            return rows

        def render(rid: str, served: Served, preds: Predictions) -> tuple[bytes, None]:
            out: dict[str, Any] = {
                "model_name": name,
                "model_version": served.version,
                "outputs": v2_outputs(preds, parsed.get("outputs")),
                "parameters": {"request_id": rid, "variant": served.variant},
            }
            if isinstance(parsed.get("id"), str):
                out["id"] = parsed["id"]
            return _dumps(out), None

        return await answer(request, "v2", parse, render, pin=pinned, started=started)

    infer_extra = infer_openapi(bundle, max_rows=limits.max_rows)

    @app.get("/v2/models/{name}", summary="Model metadata (Open Inference Protocol)")
    async def v2_meta(name: str) -> Response:
        return await v2_metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}", summary="Model version metadata (Open Inference Protocol)")
    async def v2_meta_version(name: str, version: str) -> Response:
        return await v2_metadata(name, version)

    @app.get("/v2/models/{name}/ready", summary="Model ready (Open Inference Protocol)")
    async def v2_ready_model(name: str) -> Response:
        return await v2_model_ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", summary="Model version ready (Open Inference Protocol)")
    async def v2_ready_version(name: str, version: str) -> Response:
        return await v2_model_ready(name, version)

    @app.post("/v2/models/{name}/infer", summary="Infer (Open Inference Protocol)", response_class=Response,
              openapi_extra=infer_extra)
    async def v2_infer_model(request: Request, name: str) -> Response:
        return await v2_infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", summary="Infer on one version (Open Inference Protocol)",
              response_class=Response, openapi_extra=infer_extra)
    async def v2_infer_version(request: Request, name: str, version: str) -> Response:
        return await v2_infer(request, name, version)

    # -- metrics, feedback, control ----------------------------------------------------------
    @app.get("/metrics", summary="Prometheus metrics")
    async def get_metrics() -> Response:
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.post("/feedback", summary="True labels for predicted rows, by request id", response_class=Response,
              openapi_extra=feedback_openapi())
    async def feedback(request: Request) -> Response:
        if predlog is None:
            raise ServingError("this server keeps no prediction log, so it cannot take feedback",
                               hint="enable serving.log_predictions")
        require_json(request)
        body = await _read_body(request, limits.max_body_bytes)
        records = _feedback_records(body)
        written = await run_in_threadpool(predlog.append_feedback, records)
        return Response(_dumps({"accepted": written}), media_type=_JSON)

    @app.get("/control/rollout", summary="How champion and challenger share traffic")
    async def get_rollout() -> Response:
        return Response(_dumps(service.rollout.to_dict()), media_type=_JSON)

    @app.post("/control/rollout", summary="Set how champion and challenger share traffic", response_class=Response,
              openapi_extra=control_openapi())
    async def set_rollout(request: Request) -> Response:
        require_json(request)
        body = await _read_body(request, 64 * 1024)
        service.rollout = _parse_rollout(body, service.rollout)
        logger.info("rollout set to %s", service.rollout.to_dict())
        return Response(_dumps(service.rollout.to_dict()), media_type=_JSON)

    @app.post("/control/reload", summary="Follow the model aliases now (hot swap)")
    async def reload(request: Request) -> Response:
        # takes no body: a client may send none, or JSON; never what a web page posts freely
        require_json(request, optional=True)
        outcome = await run_in_threadpool(models.poll_once)
        return Response(_dumps({"outcome": outcome, "models": _public(models.status())}), media_type=_JSON)

    if dashboard is not None:
        install_dashboard(app, dashboard, champion=lambda: models.champion.bundle,
                          live=lambda: server_counters(service.requests, service.rows, service.errors))

    return app


def _public(status: dict[str, Any]) -> dict[str, Any]:
    """The models' status with the paths cut out of load failures (the server log has them whole)."""
    failures = {variant: {**f, "error": without_paths(str(f.get("error") or ""))}
                for variant, f in (status.get("failures") or {}).items()}
    return {**status, "failures": failures}


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


def _unready_on_sigterm(service: _Service) -> None:
    """On SIGTERM, readiness goes false at once, before uvicorn starts draining.

    ``run_server``'s own server does this for one process; a worker that uvicorn's
    supervisor started runs a plain ``uvicorn.Server``, so the app chains onto whatever
    handler that server installed (lifespan startup runs after it did).
    """
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only (TestClient runs the app elsewhere)
    previous = signal.getsignal(signal.SIGTERM)
    # no server handler to chain onto (default or ignored): leave the process's choice alone
    if not callable(previous) or getattr(previous, "_tabloop_unready", False):
        return

    def handler(sig: int, frame: Any) -> None:
        service.ready = False
        previous(sig, frame)

    handler._tabloop_unready = True  # type: ignore[attr-defined]
    signal.signal(signal.SIGTERM, handler)


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


async def _poll(models: ModelSet, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(models.poll_once)
        except Exception:  # the poller must outlive any one failure
            logger.exception("polling the model aliases failed")


def _feedback_records(body: bytes) -> list[dict[str, Any]]:
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
        if not isinstance(rid, str) or not _REQUEST_ID.fullmatch(rid):
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


def _parse_rollout(body: bytes, current: Rollout) -> Rollout:
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

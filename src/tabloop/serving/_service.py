"""What every route shares: the models, the rollout, the holdout, the log sink, the metrics, and the one scoring core.

``Service.answer`` is the request path of every dialect: admission (readiness, the
concurrency limit), the body within its limit, parsing, routing to champion or challenger,
the model in a worker thread (so the event loop keeps answering probes), the log, the
metrics and the shadow copy. A dialect brings only its parser and its renderer. Each
request takes the model version it was routed to at its start, so a hot swap never
changes a request half-way. The log policy is the sink's (``tabloop.predlog.make_sink``):
the service hands rows over and waits on what the sink returns, whatever it is. A
predicting request answered with an error leaves one error record in the same log, never
waited for (``log_error``). The shadow challenger is fed after the response has gone out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from tabloop._plain import scalar
from tabloop.bundle import CONTRACT_KEY, Predictions, RowPredictor
from tabloop.errors import (
    ClientDisconnected,
    ContractViolation,
    InternalError,
    LogUnavailable,
    MalformedRequest,
    NotReady,
    PredictionLogError,
    RequestRejected,
    RequestTimeout,
    TabloopError,
    TooManyRequests,
)
from tabloop.predlog import (
    BackgroundLogWriter,
    LogSink,
    PredictionLog,
    error_record,
    make_sink,
    utc_now,
)
from tabloop.serving._config import ServeConfig
from tabloop.serving._errors import dialect_of, without_paths
from tabloop.serving._holdout import apply_holdout, logged_records
from tabloop.serving._http import PREDICTING, Answer, new_request_id, read_body, request_id_of
from tabloop.serving._metrics import Metrics
from tabloop.serving._models import ModelSet, check_servable
from tabloop.serving._predictor import FastPredictor, PredictorFactory, Served
from tabloop.serving._rollout import CHALLENGER, CHAMPION, Rollout
from tabloop.serving._rollout_watch import RolloutWatch

logger = logging.getLogger("tabloop.serving")

SHADOW_BACKLOG = 256
#: on shutdown, how long the prediction log writer may take to drain what was handed to it (as
#: run_server's default graceful timeout); rows still queued after that are counted lost, with an ERROR
LOG_DRAIN_S = 30.0
#: on shutdown, how long the log's last round of shipping to its database may take: what it leaves is in the
#: local files, which the next shipper catches up from, so a stalled database does not hold the stop
SHIP_DRAIN_S = 5.0
#: bodies up to this size are parsed and, on the ONNX engine, predicted on the event loop
INLINE_BODY_BYTES = 4096

#: request body -> the rows it holds (a dialect's parser; raises the 4xx errors of a bad body)
Parse = Callable[[bytes], list[dict[str, Any]]]
#: (request id, the version that answered, its predictions) -> the answer's body, and ``preds.records()``
#: when building the body needed them (the log then reuses them), else None
Render = Callable[[str, Served, Predictions], tuple[bytes, list[dict[str, Any]] | None]]


class Probe:
    """What a failed prediction request had got to: when it started, the model it was routed to, its rows."""

    __slots__ = ("rows", "served", "started")

    def __init__(self, started: float, served: Served | None) -> None:
        self.started = started
        self.served = served
        self.rows: int | None = None


class Service:
    """The state the routes share and the scoring core they call; made once per app from its ``ServeConfig``."""

    def __init__(self, config: ServeConfig) -> None:
        bundle = config.bundle
        check_servable(bundle)
        factory: PredictorFactory
        first: RowPredictor
        predictor = config.predictor
        if predictor is None:
            factory = FastPredictor
            first = FastPredictor(bundle)
        elif isinstance(predictor, RowPredictor) and not isinstance(predictor, type):
            # (a class such as BundlePredictor has predict_rows too, and passes the protocol check: it is a factory)
            factory, first = FastPredictor, predictor
        else:
            factory = predictor
            first = factory(bundle)
        config.holdout.check(bundle)
        champion = Served(bundle, first, config.variant)
        following = config.following
        # every version swapped in later must honour the holdout too (the challenger's is checked in prepare)
        models = ModelSet(champion, factory=factory, source=following.source, aliases=dict(following.aliases),
                          check=config.holdout.check)
        if config.challenger is not None:
            models.swap(CHALLENGER, models.prepare(config.challenger, CHALLENGER))
            models.swaps = 0
        # the parts of the config read after start-up, not the config: it holds the first champion and
        # challenger bundles, which a swap must be able to free
        self.following = config.following
        self.log_sync = config.log.sync
        self.dashboard = config.dashboard
        self.on_server_error = config.on_server_error
        self.on_rollback = config.on_rollback
        self.models = models
        self.limits = config.limits
        self.rollout = config.rollout
        self.holdout = config.holdout
        challenger = models.challenger
        self.watch = RolloutWatch(
            limits=config.guard, classifier=bool(bundle.classes), state_dir=config.state_dir,
            champion=champion.version, challenger=challenger.version if challenger is not None else None,
            rollout=config.rollout,
        )
        if self.watch.rolled_back is not None and self.rollout.live:
            # this challenger was rolled back before the restart: the champion answers alone
            logger.warning("rollout %s not resumed: challenger v%s was rolled back at %s (%s)", self.rollout.mode,
                           self.watch.rolled_back.get("candidate"), self.watch.rolled_back.get("at"),
                           self.watch.rolled_back.get("why"))
            self.rollout = Rollout("off")
        self._guard_task: asyncio.Task[None] | None = None
        self.predlog: PredictionLog | None = config.log.predlog
        self.shipper = config.log.shipper
        self.sink: LogSink | None = None
        if self.predlog is not None:
            self.sink = make_sink(config.log.sync, self.predlog, retry_s=config.log.retry_s,
                                  sync_interval_s=config.log.sync_interval_s)
        self.metrics = Metrics()
        # rows handed over after close() would sit behind the writer's stop marker and be lost
        self.accepting = False
        self.ready = False
        self.authenticated = bool(config.access.api_keys)
        # requests holding a concurrency slot: from admission until answered (under ack, until their fsync)
        self.in_flight = 0
        self.requests = 0
        self.rows = 0
        self.errors: Counter[str] = Counter()
        self.shadow_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._poller: asyncio.Task[None] | None = None
        self.shadow_pending = 0
        self._shadow_lock = threading.Lock()
        #: told of every champion swapped in (the app refreshes its OpenAPI document)
        self.on_champion: Callable[[Served], None] | None = None
        self._watch()

    def _watch(self) -> None:
        metrics, models = self.metrics, self.models
        metrics.watch_log(self.log_status)
        metrics.in_flight.set_function(lambda: self.in_flight)  # read when scraped, not locked per request
        models.on_swap = self._on_swap
        models.on_failure = lambda which: metrics.swaps.labels(which, "failed").inc()
        champion = models.champion
        metrics.set_served(champion.variant, champion.name, champion.version)
        if models.challenger is not None:
            metrics.set_served(CHALLENGER, models.challenger.name, models.challenger.version)

    def _on_swap(self, which: str, old: Served | None, new: Served | None) -> None:
        metrics = self.metrics
        metrics.swaps.labels(which, "swapped").inc()
        if old is not None:
            try:
                metrics.served.remove(old.variant, old.name or "", old.version or "")
            except KeyError:
                pass
        if new is not None:
            metrics.set_served(new.variant, new.name, new.version)
        if which == CHAMPION and new is not None and self.on_champion is not None:
            self.on_champion(new)
        if which in (CHAMPION, CHALLENGER) and self.watch.swapped(which, new.version if new is not None else None):
            before = (self.watch.history[-1].get("rollout_before") if self.watch.history else None) or {}
            try:
                self.rollout = Rollout(**before)
            except (TypeError, TabloopError):
                pass
            logger.info("new challenger v%s: rollout %s resumes", new.version if new else None, self.rollout.mode)

    @property
    def writer(self) -> BackgroundLogWriter | None:
        """The log writer while the sink is open (its counters)."""
        return self.sink.writer if self.sink is not None else None

    # -- life ---------------------------------------------------------------------------
    async def start(self) -> None:
        """At start-up: the log writer, the shadow pool, the alias poller; then ready."""
        if self.sink is not None:
            self.sink.open()
            self.accepting = True
        if self.shipper is not None:
            self.shipper.start()
        _unready_on_sigterm(self)
        self.shadow_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tabloop-shadow")
        following = self.following
        if following.polls:
            self._poller = asyncio.create_task(_every(following.poll_interval_s or 0.0, self.models.poll_once,
                                                        "polling the model aliases"))
        if self.watch.limits is not None:
            self._guard_task = asyncio.create_task(_every(self.watch.limits.interval_s, self.check_rollout,
                                                           "checking the rollout"))
        self.ready = True

    async def stop(self) -> None:
        """At shutdown: unready, the poller stopped, shadow rows logged, then the log drained."""
        self.ready = False
        for task in (self._poller, self._guard_task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._poller = self._guard_task = None
        pool = self.shadow_pool
        if pool is not None:
            # shadow rows of answered requests are logged before the writer stops
            await run_in_threadpool(pool.shutdown, True)
        self.accepting = False
        if self.sink is not None:
            # joins the writer thread, which fsyncs; keep that off the event loop. Under background
            # the rows queued are of answered requests: wait as long as a graceful stop may take;
            # what is still queued after that is counted in writer.failed and reported as lost
            writer = await run_in_threadpool(self.sink.close, LOG_DRAIN_S)
            if writer is not None and writer.failed:
                logger.warning(
                    "prediction log: %d row(s) could not be written; last error: %s", writer.failed, writer.last_error
                )
        if self.shipper is not None:
            # one last round for what the writer just drained; what it cannot ship stays in the local files,
            # where the next shipper (a restarted server, tabloop monitor) finds it
            await run_in_threadpool(self.shipper.close, SHIP_DRAIN_S)

    # -- the scoring core ------------------------------------------------------------------
    async def answer(
        self, request: Request, dialect: str, parse: Parse, render: Render,
        pin: Served | None = None, started: float | None = None,
    ) -> Response:
        """The shared core: limits, routing, the predictor in a thread, the log, metrics; ``render`` makes the body.

        A request holds one of ``max_concurrency`` slots from admission until it is answered,
        the wait for its rows' log included when the sink makes answers wait: a stalled disk
        then refuses new requests (429) instead of piling them up. When it raises,
        ``request.state.probe`` says how far the request got, for its error record.
        """
        probe = Probe(time.perf_counter() if started is None else started, pin)
        try:
            request_id = self._admit(request)
            try:
                served, rows, preds, seconds = await self._score(request, request_id, parse, pin, probe)
                content, records = render(request_id, served, preds)
                return await self._finish(request_id, served, rows, preds, records, seconds, content, dialect)
            finally:
                self.in_flight -= 1
        except Exception:
            request.state.probe = probe
            raise

    def _admit(self, request: Request) -> str:
        """The request's id, once it may take a slot (ready, fewer than ``max_concurrency`` in flight)."""
        request_id = request_id_of(request)
        request.state.request_id = request_id
        if not self.ready:
            raise NotReady("the server is not ready (starting up or shutting down); retry shortly")
        limit = self.limits.max_concurrency
        if self.in_flight >= limit:
            raise TooManyRequests(
                f"more than {limit} requests in flight; retry shortly",
                hint="lower the client's concurrency or add replicas",
            )
        self.in_flight += 1
        return request_id

    def pick(self, request_id: str, rows: list[dict[str, Any]]) -> Served:
        """The version the rollout routes this request to."""
        if self.rollout.route(request_id, rows, self.watch.bandit_share()) == CHALLENGER:
            challenger = self.models.challenger
            if challenger is not None and not self.watch.blocked(challenger.version):
                return challenger
        return self.models.champion

    async def _score(
        self, request: Request, request_id: str, parse: Parse, pin: Served | None, probe: Probe,
    ) -> tuple[Served, list[dict[str, Any]], Predictions, float]:
        limits = self.limits
        started = probe.started
        body = await read_body(request, limits.max_body_bytes)

        def parse_pick() -> tuple[Served, list[dict[str, Any]]]:
            rows = parse(body)
            probe.rows = len(rows)
            served = probe.served = pin or self.pick(request_id, rows)
            return served, rows

        def predict(served: Served, rows: list[dict[str, Any]]) -> Predictions:
            preds = served.predictor.predict_rows(rows)
            return apply_holdout(self.holdout, served.bundle, request_id, rows, preds)

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

    async def _finish(
        self, request_id: str, served: Served, rows: list[dict[str, Any]], preds: Predictions,
        records: list[dict[str, Any]] | None, seconds: float, content: bytes, dialect: str,
    ) -> Response:
        """Log the rows (waiting for them when the sink says so), count the request, answer.

        ``records`` are ``preds.records()`` when the body already needed them (so they are built once).
        """
        started = time.perf_counter()
        sink = self.sink
        if sink is not None and sink.waits and not self.accepting:
            # shutting down: the writer takes no more rows, and an answer waits for its rows to be logged
            raise NotReady(
                "the server is shutting down and its prediction log takes no more rows, so this prediction "
                "is not answered", hint="retry; another replica (or this one, restarted) answers",
            )
        outputs = logged_records(preds, records)
        if self.watch.watching:
            self.watch.answered(CHALLENGER if served.variant == CHALLENGER else CHAMPION, served.version,
                                request_id, seconds * 1000.0, [out["prediction"] for out in outputs])
        try:
            logged = self._log_rows(
                served, request_id, utc_now(), rows, outputs, seconds * 1000.0,
                loop=asyncio.get_running_loop(),
            )
        except TabloopError as exc:  # a record the log cannot encode, or the writer closed meanwhile
            raise LogUnavailable(
                f"the prediction could not be written to the prediction log, so it is not answered: {exc}",
                hint="retry shortly",
            ) from exc
        if logged is not None:
            timeout = self.limits.timeout_s
            try:
                await LogSink.wait(logged, timeout)
            except TimeoutError:
                raise LogUnavailable(
                    f"the prediction log did not confirm the write within the {timeout:g} s limit, "
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
        self.metrics.observe(dialect, served.variant, served.version, seconds, preds)
        self.requests += 1
        self.rows += len(rows)
        shadow = self.rollout.mode == "shadow" and self.models.challenger is not None
        background = BackgroundTask(self.shadow, request_id, rows) if shadow else None
        return Answer(content, request_id, background, preds.out_of_contract)

    # -- the log ----------------------------------------------------------------------------
    def _log_rows(
        self, served: Served, request_id: str, ts: str, rows: list[dict[str, Any]], outputs: list[dict[str, Any]],
        latency_ms: float, source: str = "http", *, loop: asyncio.AbstractEventLoop | None = None,
    ) -> asyncio.Future[None] | None:
        """Hand the rows to the sink: from the event loop ``loop``, an answer's (the sink's future, if it
        makes answers wait; a refusal raises); from another thread (``loop`` None: shadow scoring), rows
        nobody waits for (a refusal is only counted)."""
        sink = self.sink
        if sink is None or not self.accepting:
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
                "prediction": scalar(out["prediction"]),
                "probabilities": out.get("probabilities"),
                "latency_ms": latency_ms,
                # the answer was the prior, not this prediction: monitoring measures the model on these apart
                **({"holdout": True} if out.get("holdout") else {}),
                # answered out of contract (warn, clip, unknown): monitoring counts these
                **({CONTRACT_KEY: out[CONTRACT_KEY]} if CONTRACT_KEY in out else {}),
            }
            for i, (row, out) in enumerate(zip(rows, outputs, strict=True))
        ]
        if loop is not None:
            return sink.write(records, loop)
        try:
            sink.hand_over(records)
        except TabloopError:
            pass  # the writer counted it
        return None

    def log_error(self, request: Request, status: int, error: dict[str, Any]) -> None:
        """One error record for a predicting request answered with an error; handed over, never waited for.

        The record goes through the same sink as the rows, but nobody waits for it: an error
        answer is neither slowed nor turned into a 503 by the log, and a failure here is only
        logged. Left out on purpose:

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
        if request.method != "POST" or not PREDICTING.fullmatch(request.url.path):
            return
        request_id = getattr(request.state, "request_id", None)
        if request_id is None:
            # refused before the id was read: the client's, when valid, else a new one; the answer carries
            # it whether or not a log is kept, so a client sees the same headers either way
            try:
                request_id = request_id_of(request)
            except RequestRejected:
                request_id = new_request_id()
            request.state.request_id = request_id
        sink = self.sink
        if sink is None or not self.accepting:
            return
        code = str(error.get("code") or "error")
        if status in (401, 403) or code in (LogUnavailable.code, ClientDisconnected.code):
            return
        try:
            probe: Probe | None = getattr(request.state, "probe", None)
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
            sink.hand_over([record])
        except PredictionLogError:
            pass  # the writer counted it and reported the disk's failure already, at most once every 10 s
        except Exception:  # the error answer goes out whatever happens to its record
            logger.exception("could not hand the error record of a refused request to the prediction log")

    def log_status(self) -> dict[str, Any]:
        """The prediction log's state, for /health and /metrics (no paths: the writer's own log lines carry them)."""
        status = self.sink.status() if self.sink is not None else {
            "sync": self.log_sync, "ok": True, "written": 0, "failed": 0, "failed_writes": 0, "last_error": None,
        }
        last_error = status["last_error"]
        out = {"enabled": self.predlog is not None, **status,
               "last_error": without_paths(last_error) if last_error else None}
        if self.shipper is not None:
            out["shipping"] = self.shipper.status()
        return out

    # -- shadow -----------------------------------------------------------------------------
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
            self._log_rows(served, request_id, utc_now(), rows, preds.records(), latency_ms, source="shadow")
        except ContractViolation:
            self.metrics.shadow.labels("contract_violation").inc()
        except Exception:
            self.metrics.shadow.labels("error").inc()
            logger.exception("shadow scoring by the challenger failed for request %s", request_id)
        finally:
            with self._shadow_lock:
                self.shadow_pending -= 1

    # -- state the probes report -------------------------------------------------------------
    @property
    def answering(self) -> bool:
        """Ready, and (when answers wait for the log) the log is being written: what readiness probes report."""
        sink = self.sink
        return self.ready and not (sink is not None and sink.waits and not sink.ok)

    def on_error(self, request: Request, status: int, code: str) -> None:
        """Count an error answered (the metrics' errors by dialect, status and code); tell the server's own
        failures (5xx) to ``config.on_server_error``."""
        self.metrics.errors.labels(dialect_of(request.url.path), str(status), code).inc()
        if status >= 500:
            probe: Probe | None = getattr(request.state, "probe", None)
            # a log that cannot be written fails both versions alike: not the model's error
            if probe is not None and probe.served is not None and self.watch.watching and code != LogUnavailable.code:
                self.watch.failed(probe.served.version)
            if self.on_server_error is not None:
                self.on_server_error(status, code)

    # -- the rollout ---------------------------------------------------------------------------
    def set_rollout(self, rollout: Rollout) -> None:
        """A rollout set by an operator: it replaces the one running, and lifts an automatic rollback."""
        self.watch.clear()
        self.watch.set_rollout(rollout)
        self.rollout = rollout

    def check_rollout(self) -> dict[str, Any] | None:
        """Judge the challenger now; roll the rollout back when it regressed. The rollback's event, if any."""
        adopted = self.watch.adopt()
        if adopted is not None:
            # another worker of this server rolled this challenger back (and alerted): follow it
            self.rollout = Rollout("off")
            logger.warning("rollout rolled back by another worker: challenger v%s (%s)", adopted.get("candidate"),
                           adopted.get("why"))
            return None
        verdict = self.watch.check()
        if verdict is None or not verdict.regressed:
            if verdict is not None:
                self.watch.save(force=False)  # the guard's numbers, for 'tabloop monitor' (at most every 2 s)
            return None
        event = self.watch.roll_back(verdict, self.rollout)
        self.rollout = Rollout("off")
        self.metrics.swaps.labels(CHALLENGER, "rolled_back").inc()
        logger.warning("rollout rolled back: challenger v%s regressed against v%s on live traffic: %s; "
                       "the champion answers every request", event["candidate"], event["baseline"], event["why"])
        hook = self.on_rollback
        if hook is not None:
            threading.Thread(target=_tell, args=(hook, event), name="tabloop-rollback", daemon=True).start()
        return event

    def rollout_status(self) -> dict[str, Any]:
        """The rollout, the guard's numbers and the bandit's state, for ``GET /control/rollout``."""
        bandit = self.watch.bandit
        return {**self.rollout.to_dict(), "guard": self.watch.status(),
                "bandit": bandit.to_dict() if bandit is not None else None}

    def on_reject(self, request: Request, status: int, code: str) -> None:
        """Count a request refused before any route (Host, origin, API key)."""
        self.errors.update([code])
        self.on_error(request, status, code)


def _unready_on_sigterm(service: Service) -> None:
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


def _tell(hook: Callable[[dict[str, Any]], None], event: dict[str, Any]) -> None:
    try:
        hook(event)
    except Exception:  # the rollback has happened whatever its hook does
        logger.exception("the rollback hook failed")


async def _every(interval: float, work: Callable[[], Any], what: str) -> None:
    """Run ``work`` every ``interval`` seconds, off the event loop; a failure is logged and the loop goes on
    (the alias poller and the rollout guard must outlive any one failure)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(work)
        except Exception:
            logger.exception("%s failed", what)

"""A server's log policy in one place: where an answer's rows go, and when the answer may go out.

``make_sink(mode, log)`` chooses once, by ``serving.log_sync``:

- ``"write"`` (``WriteSink``): a request writes its rows itself and is answered once the
  operating system has them, so nothing acknowledged is lost if the process is killed;
  the writer's thread fsyncs them every ``sync_interval_s``;
- ``"ack"`` (``AckSink``): group commit: an answer goes out only after the fsync of the
  batch holding its rows;
- ``"background"`` (``BackgroundSink``): the rows are handed to the writer's thread and
  the answer does not wait; a failure is only counted.

The caller (the server) hands rows over with ``write`` and waits on what it returns,
without knowing which sink it holds. Rows nobody waits for (the shadow challenger's,
error records) go through ``hand_over``.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from tabloop.errors import ServingError, TabloopError
from tabloop.predlog._store import PredictionLog
from tabloop.predlog._writer import RETRY_S, SYNC_INTERVAL_S, BackgroundLogWriter

LogSync = Literal["ack", "write", "background"]
LOG_SYNC_MODES: tuple[str, ...] = ("ack", "write", "background")


def check_log_policy(mode: str, *, retry_s: float = RETRY_S, sync_interval_s: float = SYNC_INTERVAL_S) -> None:
    """Refuse a log policy no sink can follow (the one check of ``log_sync`` and its timings)."""
    if mode not in LOG_SYNC_MODES:
        raise ServingError(f"log_sync must be 'ack', 'write' or 'background', got {mode!r}")
    if not retry_s > 0:
        raise ServingError(f"log_retry_s must be positive, got {retry_s}")
    if not sync_interval_s > 0:
        raise ServingError(f"log_sync_interval_s must be positive, got {sync_interval_s}")


def make_sink(
    mode: str, log: PredictionLog, *, retry_s: float = RETRY_S, sync_interval_s: float = SYNC_INTERVAL_S
) -> LogSink:
    """The sink for ``mode`` (``"ack"``, ``"write"`` or ``"background"``) over ``log``; its writer starts on ``open()``.

    ``retry_s``: while the log cannot be written, how often the writer probes it by itself,
    so a server's readiness comes back without traffic once it can. ``sync_interval_s``:
    under ``"write"``, how often the rows written are fsynced.
    """
    check_log_policy(mode, retry_s=retry_s, sync_interval_s=sync_interval_s)
    kinds: dict[str, type[LogSink]] = {"ack": AckSink, "write": WriteSink, "background": BackgroundSink}
    return kinds[mode](log, retry_s=retry_s, sync_interval_s=sync_interval_s)


class LogSink:
    """Rows to the prediction log under one policy; see ``make_sink``."""

    mode: ClassVar[LogSync]
    #: an answer goes out only once its rows are logged (so a log that cannot be written refuses answers)
    waits: ClassVar[bool] = True

    def __init__(self, log: PredictionLog, *, retry_s: float = RETRY_S, sync_interval_s: float = SYNC_INTERVAL_S) -> None:
        self.log = log
        self.retry_s = retry_s
        self.sync_interval_s = sync_interval_s
        self.writer: BackgroundLogWriter | None = None
        # the loops that will wake the writer once their current turn is over
        self._wakes: set[asyncio.AbstractEventLoop] = set()

    def open(self) -> None:
        """Start the writer's thread (a server does at start-up, not when the app is made)."""
        self.writer = self._make_writer()

    def _make_writer(self) -> BackgroundLogWriter:
        return BackgroundLogWriter(self.log, retry_s=self.retry_s, on_batch=_Acks.on_batch)

    def close(self, timeout: float) -> BackgroundLogWriter | None:
        """Drain and stop the writer (it fsyncs: keep this off an event loop); the writer, for its counters."""
        writer = self.writer
        if writer is not None:
            writer.close(timeout)
        return writer

    def write(self, records: list[dict[str, Any]], loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """Hand over an answer's rows, from the event loop ``loop``; await the future returned, if any.

        Raises ``TabloopError`` when the rows are refused now and the answer waits for them.
        """
        raise NotImplementedError

    def hand_over(self, records: list[dict[str, Any]]) -> None:
        """Rows nobody waits for (the shadow challenger's, error records); from any thread.

        On an event loop they join the batch of the loop's current turn. Raises what the writer
        raises; the caller decides whether it matters.
        """
        writer = self._open_writer()
        loop = _running_loop()
        if loop is not None:
            self._wake_after_turn(loop, writer)
        writer.post(records, wake=loop is None)

    @staticmethod
    async def wait(waiter: asyncio.Future[None], timeout: float) -> None:
        """Until the rows behind ``waiter`` are logged; ``TimeoutError`` after ``timeout`` seconds."""
        await _Acks.wait(waiter, timeout)

    @property
    def ok(self) -> bool:
        """Whether the latest write succeeded."""
        return self.writer.ok if self.writer is not None else True

    def status(self) -> dict[str, Any]:
        """The policy and the writer's counters (``last_error`` as the writer has it, paths included)."""
        w = self.writer
        return {
            "sync": self.mode,
            "ok": w.ok if w else True,
            "written": w.written if w else 0,
            "failed": w.failed if w else 0,
            "failed_writes": w.failed_writes if w else 0,
            "last_error": w.last_error if w and w.last_error else None,
        }

    def _open_writer(self) -> BackgroundLogWriter:
        if self.writer is None:
            raise ServingError("the prediction log sink is not open")
        return self.writer

    def _wake_after_turn(self, loop: asyncio.AbstractEventLoop, writer: BackgroundLogWriter) -> None:
        # woken by the first request, the writer would sync its rows alone, and the rest next time
        if loop in self._wakes:
            return
        self._wakes.add(loop)

        def wake() -> None:
            self._wakes.discard(loop)
            writer.wake()

        loop.call_soon(wake)


class WriteSink(LogSink):
    """``log_sync: write``: the request writes its rows itself; the writer's thread fsyncs them in batches."""

    mode = "write"

    def _make_writer(self) -> BackgroundLogWriter:
        return BackgroundLogWriter(
            self.log, retry_s=self.retry_s, on_batch=_Acks.on_batch, sync_interval_s=self.sync_interval_s
        )

    def write(self, records: list[dict[str, Any]], loop: asyncio.AbstractEventLoop) -> None:
        self._open_writer().append_now(records)
        return None

    def hand_over(self, records: list[dict[str, Any]]) -> None:
        self._open_writer().append_now(records)


class AckSink(LogSink):
    """``log_sync: ack``: group commit; the answer waits for the fsync of the batch holding its rows."""

    mode = "ack"

    def write(self, records: list[dict[str, Any]], loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        writer = self._open_writer()
        waiter: asyncio.Future[None] = loop.create_future()
        # a batch is what one turn of the loop answered, plus whatever came during the fsync in progress
        self._wake_after_turn(loop, writer)
        writer.post(records, waiter, wake=False)
        return waiter


class BackgroundSink(LogSink):
    """``log_sync: background``: rows handed to the writer's thread; the answer does not wait."""

    mode = "background"
    waits = False

    def _make_writer(self) -> BackgroundLogWriter:
        # nobody waits, so the writer lingers and one fsync serves a few ms of rows
        return BackgroundLogWriter(self.log, linger_s=0.002, retry_s=self.retry_s, on_batch=_Acks.on_batch)

    def write(self, records: list[dict[str, Any]], loop: asyncio.AbstractEventLoop) -> None:
        writer = self._open_writer()
        self._wake_after_turn(loop, writer)
        try:
            writer.post(records, wake=False)
        except TabloopError:
            pass  # nobody waits: the writer counted the failure
        return None


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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


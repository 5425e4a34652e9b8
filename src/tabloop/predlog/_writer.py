"""The threaded group-commit writer: takes records off a server's request path, many callers to one fsync.

``BackgroundLogWriter`` owns one thread and one appending descriptor on today's file of a
``PredictionLog``; it writes through the store's ``write_fd`` (locked, cut back on
failure), so what lands on disk is exactly what ``PredictionLog.append`` would write.
While the disk refuses, it probes the log folder on its own until writes succeed again.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tabloop.errors import PredictionLogError, ServingClosed, UnloggableRecords
from tabloop.predlog._store import PredictionLog

logger = logging.getLogger("tabloop.predlog")
#: while the log cannot be written, a writer probes it this often (seconds) until it can again
RETRY_S = 1.0
#: under write-through (``BackgroundLogWriter.append_now``), rows are fsynced at most this long after they are
#: written: as MongoDB's journal (100 ms); every 10 ms cost a 2-core server a fifth of its throughput in the kernel
SYNC_INTERVAL_S = 0.1
#: how many bytes a probe writes (and removes): enough to meet a full disk
_PROBE_BYTES = 4096
_DAY_S = 86400


#: what a batch hook is told about each fsynced batch: the tags of its submissions, and the error if it failed
BatchHook = Callable[[list[Any], BaseException | None], None]


class _Entry:
    """One submission waiting for the writer: its encoded lines and whoever waits for them."""

    __slots__ = ("future", "lines", "refused", "rows", "tag")

    def __init__(
        self, lines: list[bytes], refused: list[str], future: concurrent.futures.Future[int] | None, tag: Any,
    ) -> None:
        self.lines = lines
        self.refused = refused
        self.rows = len(lines) + len(refused)
        self.future = future
        self.tag = tag


class BackgroundLogWriter:
    """Takes records off the request path; a thread writes and fsyncs them in batches (group commit).

    Records are encoded in the caller's thread as they are handed over, so the thread's
    own Python work per batch is short: join, write, fsync, tell. While a batch is being
    synced, whatever is handed over meanwhile waits, and the next batch takes all of it,
    so every caller waiting at the same moment shares one fsync. The thread is woken only
    when it is idle, once per batch rather than once per record: on a 2-core machine each
    wake-up of a second Python thread costs the request thread tens of microseconds.

    Two ways to hand records over:

    - ``submit`` returns a ``concurrent.futures.Future`` that resolves only after the
      fsync of the batch holding those records: with the number written, or with the
      error (``PredictionLogError`` when the disk refused, ``UnloggableRecords`` when a
      record could not be encoded);
    - ``post`` returns at once; its ``tag`` (any object) is passed, with every other tag
      of the same batch, to ``on_batch(tags, error)`` once that batch is fsynced (error
      None) or has failed. One call per batch, in the writer's thread: a server resolves
      the waiting requests of a whole batch with one wake-up of its event loop.

    - ``append_now`` (a writer made with ``sync_interval_s``) writes in the caller's
      thread and returns once the lines are in the operating system's hands, where a
      killed process cannot lose them; this thread fsyncs them at most
      ``sync_interval_s`` later (one fsync for everything written meanwhile). No
      hand-over between threads per request: the cheapest way to log durably against
      a crash of the process, though a crash of the machine may lose the last interval.

    A server that waits before answering never acknowledges a row a crash could lose.
    ``close()`` drains what was handed over, so everything handed over before it is on
    disk. Failures are counted; ``ok`` says whether the latest write succeeded, so health
    turns back to ok by itself when the disk does: while not ok, the thread probes the
    log folder every ``retry_s`` seconds on its own (see ``_probe``), so ``ok`` (and a
    server's readiness, which follows it) comes back even when no traffic arrives.
    """

    def __init__(
        self, log: PredictionLog, *, max_batch: int = 512, linger_s: float = 0.0, linger_rows: int = 64,
        retry_s: float = RETRY_S, on_batch: BatchHook | None = None, sync_interval_s: float | None = None,
    ) -> None:
        if not retry_s > 0:
            raise ValueError(f"retry_s must be positive, got {retry_s}")
        if sync_interval_s is not None and not sync_interval_s > 0:
            raise ValueError(f"sync_interval_s must be positive, got {sync_interval_s}")
        self.log = log
        self.retry_s = retry_s
        self.max_batch = max_batch
        # with linger_s > 0 a batch of fewer than linger_rows rows waits that long for more: callers that
        # do not wait for the fsync (log_sync=background) then share one fsync instead of paying one each;
        # callers that do wait are batched by their own concurrency, behind the fsync in progress
        self.linger_s = linger_s
        self.linger_rows = min(linger_rows, max_batch)
        self.on_batch = on_batch
        self.sync_interval_s = sync_interval_s
        # the descriptor and the counters: the thread (batches, probes, syncs) and append_now's callers share them
        self._io = threading.Lock()
        # written by append_now and not fsynced yet: the thread syncs once the interval since its last sync is over
        self._dirty = False
        self._unsynced = 0
        self._last_sync = time.monotonic()  # the first sync comes an interval after the start, not at once
        self._pending: list[_Entry] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # the thread is waiting for work: only then does a hand-over notify it
        self._idle = False
        self._closed = False
        self.written = 0
        self.failed = 0
        self.failed_writes = 0
        self.last_error: str | None = None
        self.ok = True
        self._last_report = 0.0
        self._next_probe = 0.0
        self._fd: int | None = None
        self._fd_path: Path | None = None
        self._fd_until = 0.0
        self._thread = threading.Thread(target=self._run, name="tabloop-predlog", daemon=True)
        self._thread.start()

    def submit(self, records: Iterable[dict[str, Any]]) -> concurrent.futures.Future[int]:
        """Hand records over; the future resolves once they are fsynced (or fails with why not)."""
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        lines, refused = self.log.encode(records)
        if not self._enqueue(_Entry(lines, refused, fut, None)):
            fut.set_exception(ServingClosed("the prediction log writer is closed (the server is stopping)"))
        return fut

    def post(self, records: Iterable[dict[str, Any]], tag: Any = None, *, wake: bool = True) -> int:
        """Hand records over without a future; ``tag`` reaches ``on_batch`` once their batch is done.

        Returns how many records were queued. Raises ``ServingClosed`` after ``close()``
        (nothing queued), and ``UnloggableRecords`` when some records cannot be encoded:
        the others are queued all the same, without the tag. With ``wake=False`` an idle
        writer is not woken for them: the caller calls ``wake()`` once it has handed over
        everything that should share the batch (a busy writer takes them anyway when done).
        """
        lines, refused = self.log.encode(records)
        # refused records travel too, without the tag, so the writer counts them in ``failed``
        if not self._enqueue(_Entry(lines, refused, None, None if refused else tag), wake=wake):
            raise ServingClosed("the prediction log writer is closed (the server is stopping)")
        if refused:
            raise UnloggableRecords(len(lines), refused)
        return len(lines)

    def append_now(self, records: Iterable[dict[str, Any]]) -> int:
        """Write ``records`` now, in the caller's thread; this writer's thread fsyncs them within ``sync_interval_s``.

        Returns how many were written, once the operating system has them. Raises
        ``PredictionLogError`` when the disk refuses (counted in ``failed``; ``ok`` turns
        false until a write succeeds again), ``ServingClosed`` after ``close()``, and
        ``UnloggableRecords`` when some records cannot be encoded (the others are written).
        """
        if self.sync_interval_s is None:
            raise ValueError("append_now needs a writer made with sync_interval_s")
        lines, refused = self.log.encode(records)
        if lines:
            with self._io:
                if self._closed:
                    raise ServingClosed("the prediction log writer is closed (the server is stopping)")
                try:
                    self._write(lines, sync=False)
                except Exception as exc:
                    self._count_failure(exc, len(lines) + len(refused))
                    self._start_probing()
                    raise
                self._count_success(len(lines))
                self._unsynced += len(lines)
            if not self._dirty:
                with self._lock:
                    self._dirty = True
                    if self._idle:  # once per interval at most: the first write after a sync
                        self._idle = False
                        self._wake.notify()
        if refused:
            with self._io:
                self.failed += len(refused)
                self.last_error = str(UnloggableRecords(len(lines), refused))
            raise UnloggableRecords(len(lines), refused)
        return len(lines)

    def _start_probing(self) -> None:
        # the thread may be waiting for work with no timeout: woken, it sees ``ok`` false and probes every retry_s
        with self._lock:
            if self._idle:
                self._idle = False
                self._wake.notify()

    def wake(self) -> None:
        """Let an idle writer start on what is queued."""
        with self._lock:
            if self._idle and self._pending:
                self._idle = False
                self._wake.notify()

    def _enqueue(self, entry: _Entry, *, wake: bool = True) -> bool:
        with self._lock:
            # after close() the thread is gone: a record queued now would never be written
            if self._closed:
                return False
            self._pending.append(entry)
            if wake and self._idle:
                self._idle = False
                self._wake.notify()
        return True

    def _wait_for_work(self) -> None:
        """Block until something is queued or ``close()`` was called.

        While the log is failing, it probes the log folder every ``retry_s`` meanwhile.
        """
        while True:
            with self._lock:
                if self._pending or self._closed:
                    return
                if self._dirty:
                    left = self._last_sync + (self.sync_interval_s or 0.0) - time.monotonic()
                    if left <= 0:
                        return
                    self._idle = True  # a post wakes it; append_now does not need to (it is already dirty)
                    self._wake.wait(left)
                    self._idle = False
                    continue
                left = None if self.ok else self._next_probe - time.monotonic()
                if left is None or left > 0:
                    self._idle = True
                    self._wake.wait(left)
                    self._idle = False
                    continue
            self._probe()

    def _next_batch(self) -> tuple[list[_Entry], bool]:
        """The submissions to write next (whole ones, up to ``max_batch`` rows, at least one), and whether to stop."""
        self._wait_for_work()
        if self.linger_s > 0:
            with self._lock:
                linger = not self._closed and sum(entry.rows for entry in self._pending) < self.linger_rows
            if linger:
                # nobody waits on these rows: one sleep, then take what came meanwhile (at most one fsync
                # per linger_s), rather than a batch for every record or two
                time.sleep(self.linger_s)
        with self._lock:
            taken = 0
            rows = 0
            for entry in self._pending:
                if taken and rows + entry.rows > self.max_batch:
                    break
                taken += 1
                rows += entry.rows
            batch = self._pending[:taken]
            del self._pending[:taken]
            return batch, self._closed and not self._pending

    def _probe(self) -> None:
        """Is the log writable again? Reopen today's file and write, sync and remove a scratch file beside it.

        No line is added to the log: the scratch bytes go to a hidden file that no reader
        globs, so a full disk, a read-only mount or a broken folder shows here as it would
        in a real append. The scratch file is a new one, created exclusively under a random
        name without following links: a probe never truncates nor writes into an existing
        file. On success ``ok`` turns true (readiness with it); the descriptor is kept.
        """
        self._next_probe = time.monotonic() + self.retry_s
        path = self.log.predictions_path()
        scratch = self.log.directory / f".tabloop-write-probe-{os.getpid()}-{secrets.token_hex(8)}"
        try:
            with self._io:
                self._sync_held()
                self._close_fd()
                self._open(path)
            probe = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                try:
                    view = memoryview(bytes(_PROBE_BYTES))
                    while view:
                        view = view[os.write(probe, view):]
                    os.fdatasync(probe)
                finally:
                    os.close(probe)
            finally:
                try:
                    os.unlink(scratch)
                except OSError:
                    pass
        except Exception as exc:
            with self._io:
                self._close_fd()
            self.last_error = str(exc)
            logger.debug("prediction log: still not writable: %s", exc)
            return
        logger.warning("prediction log: writable again (%d row(s) were lost while it was not)", self.failed)
        self.ok = True

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._next_batch()
            if batch:
                self._commit(batch)
            if self._dirty and (stop or time.monotonic() >= self._last_sync + (self.sync_interval_s or 0.0)):
                self._sync()
        with self._io:
            self._sync_held()
            self._close_fd()

    def _sync(self) -> None:
        """fsync what ``append_now`` wrote since the last sync, without holding up writers meanwhile."""
        with self._lock:
            self._dirty = False  # a write from now on makes it dirty again, for the next sync
        with self._io:
            self._last_sync = time.monotonic()
            if self._fd is None or self._fd_path is None:
                return
            # a duplicate: a writer may close or replace the descriptor while this one syncs
            fd, path, rows, self._unsynced = os.dup(self._fd), self._fd_path, self._unsynced, 0
        try:
            os.fdatasync(fd)
        except OSError as exc:
            with self._io:
                # written, but maybe never on the disk: as far as anyone can tell, lost
                self._count_failure(PredictionLogError(path, exc), rows)
        finally:
            os.close(fd)

    def _sync_held(self) -> None:
        """``_sync`` for a caller holding ``_io`` that is about to close or replace the descriptor."""
        rows, self._unsynced = self._unsynced, 0
        if not rows or self._fd is None or self._fd_path is None:
            return
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._count_failure(PredictionLogError(self._fd_path, exc), rows)

    def _count_failure(self, exc: Exception, rows: int) -> None:
        """Count ``rows`` lost to ``exc`` and report it (with ``_io`` held)."""
        self.failed += rows
        self.failed_writes += 1
        self.last_error = str(exc)
        self._report_failure(exc, rows)

    def _count_success(self, rows: int) -> None:
        """Count ``rows`` written; the log is ok again if it was not (with ``_io`` held)."""
        if not self.ok:
            logger.warning("prediction log: writing again after failures (%d row(s) were lost)", self.failed)
        self.ok = True
        self.written += rows

    def _commit(self, items: list[_Entry]) -> None:
        """One write and one fsync for every submission in ``items``, then tell whoever waits for them."""
        lines = [line for entry in items for line in entry.lines]
        error: BaseException | None = None
        with self._io:
            try:
                if lines:
                    self._write(lines)
            except Exception as exc:  # the writer must outlive any one bad batch
                error = exc
                self._count_failure(exc, sum(entry.rows for entry in items))
            else:
                self._count_success(len(lines))
                self.failed += sum(len(entry.refused) for entry in items)
        if error is not None:
            for entry in items:
                if entry.future is not None:
                    entry.future.set_exception(error)
            self._tell(items, error)
            return
        for entry in items:
            if entry.refused:
                refusal = UnloggableRecords(len(entry.lines), entry.refused)
                self.last_error = str(refusal)
                if entry.future is not None:
                    entry.future.set_exception(refusal)
            elif entry.future is not None:
                entry.future.set_result(len(entry.lines))
        self._tell(items, None)

    def _tell(self, items: list[_Entry], error: BaseException | None) -> None:
        hook = self.on_batch
        tags = [entry.tag for entry in items if entry.tag is not None]
        if hook is None or not tags:
            return
        try:
            hook(tags, error)
        except Exception:  # whoever listens must not stop the writer
            logger.exception("prediction log: the batch hook failed")

    def _write(self, lines: list[bytes], *, sync: bool = True) -> None:
        """Append through a descriptor kept open between batches (reopened on a new day or after an error).

        With ``_io`` held. Rows written without a sync and not synced yet are synced
        before their descriptor is let go.
        """
        fd = self._fd
        # the file is named by the UTC day: worked out again only once the day of the open one is over
        path = (self._fd_path if fd is not None and self._fd_path is not None and time.time() < self._fd_until
                else self.log.predictions_path())
        if fd is not None:
            try:
                stale = path != self._fd_path or os.fstat(fd).st_nlink == 0  # new day, or file removed
            except OSError:  # the descriptor itself went bad (EBADF, EIO): reopen rather than fail for ever
                stale = True
            if stale:
                self._sync_held()
                self._close_fd()
                fd = None
        if fd is None:
            fd = self._open(path)
        try:
            if sync:
                self.log.write_fd(fd, path, lines)
            else:
                self.log.write_fd(fd, path, lines, sync=False)
        except Exception:
            self._sync_held()  # what was written before is in the OS: try to get it on the disk
            self._close_fd()  # start afresh next time: the folder may have been fixed or replaced
            raise

    def _open(self, path: Path) -> int:
        fd = self._fd = self.log.open_for_append(path)
        self._fd_path = path
        self._fd_until = (int(time.time()) // _DAY_S + 1) * _DAY_S  # next UTC midnight (epoch days are UTC days)
        return fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _report_failure(self, exc: Exception, rows: int) -> None:
        # the first failure, then at most one line every 10 s: a full disk must not flood the log too
        now = time.monotonic()
        if self.ok or now - self._last_report >= 10.0:
            self._last_report = now
            logger.error("prediction log: %d row(s) not written (%d so far): %s", rows, self.failed, exc)
        if self.ok:
            self._next_probe = now + self.retry_s
        self.ok = False

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 10.0) -> bool:
        """Drain and stop; True when everything handed over was written before ``timeout``.

        When the thread has not finished by then (a stalled disk), the submissions still
        queued are given up: their futures fail, their rows are counted in ``failed`` and
        an ERROR says how many were lost. The batch being written, if any, may still land.
        """
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon(timeout)
        return not self._thread.is_alive() and not self._pending and self.failed == 0

    def _abandon(self, timeout: float) -> None:
        error = ServingClosed(f"the prediction log writer did not finish within {timeout:g} s of closing")
        with self._lock:
            # the thread stops once its current batch is done: closed, and nothing left queued
            given_up, self._pending = self._pending, []
        lost = sum(entry.rows for entry in given_up)
        for entry in given_up:
            if entry.future is not None and not entry.future.done():
                entry.future.set_exception(error)
        self._tell(given_up, error)
        if lost:
            self.failed += lost
            self.last_error = str(error)
            logger.error(
                "prediction log: %d row(s) still queued after %g s of closing were not written and are lost",
                lost, timeout,
            )

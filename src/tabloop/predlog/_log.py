"""The prediction log: one JSON line per scored row, one per refused request, and the feedback labels.

A *prediction record* is one answered row (``LOG_COLUMNS``). An *error record*
(``"kind": "error"``, ``ERROR_COLUMNS``) is one request the server answered with an
error status: it holds no inputs and no outputs, only what the operational figures
need (status, code, a truncated message, latency, how many rows it carried). Readers
keep them apart: ``read_predictions`` never returns an error record, so drift, feedback
joins, performance and retraining see answered rows only; ``read_errors`` (or
``read_log`` for both in one pass) feeds the error rate.

Files live under ``.tabloop/predlog/``: ``predictions-YYYYMMDD.jsonl`` (appended,
fsynced), ``predictions-YYYYMMDD-<segment>.jsonl`` when several processes write at once
(one segment per server worker, so no two processes interleave inside one file) and
``feedback.jsonl``. A person can open them; pandas and DuckDB read them.

Writing never follows a link and never truncates: a log file is opened with
``O_NOFOLLOW`` and must be a regular file with one name, owned by this user (or
root); a new one is created exclusively (``O_EXCL``). A symbolic link, or anything
else, where a log file belongs is refused with ``PredictionLogError`` (a server
answers 503), so no record lands in whatever file it points at. The log *folder*
may be a symbolic link: where the log lives is the administrator's choice.
A write that fails part-way (a full disk) is cut back to the file's size before it.

Reading never raises on a damaged line: a line that is not one whole record (a
fragment torn by a crash, the unfinished last line of a write in progress, text
that is not JSON, JSON that is not a record) is skipped, counted (``SkippedLine``)
and named, by file and line, in one warning per file.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import errno
import fcntl
import itertools
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from tabloop.errors import DataError, TabloopError

PREDICTIONS_GLOB = "predictions-*.jsonl"
FEEDBACK_FILE = "feedback.jsonl"
#: the field, and its value, that mark an error record; prediction records carry no ``kind``
KIND = "kind"
ERROR_KIND = "error"
#: an error record keeps at most this many characters of the message, and this many violations
MESSAGE_LIMIT = 500
VIOLATIONS_LIMIT = 20
logger = logging.getLogger("tabloop.predlog")
#: while the log cannot be written, a writer probes it this often (seconds) until it can again
RETRY_S = 1.0
#: under write-through (``BackgroundLogWriter.append_now``), rows are fsynced at most this long after they are
#: written: as MongoDB's journal (100 ms); every 10 ms cost a 2-core server a fifth of its throughput in the kernel
SYNC_INTERVAL_S = 0.1
#: how many bytes a probe writes (and removes): enough to meet a full disk
_PROBE_BYTES = 4096
_DAY_S = 86400


#: (a whole UTC second, its ISO text): a server stamps thousands of records a second, one strftime each second
_SECOND: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """Now in UTC as ISO 8601 to the millisecond (``2026-11-29T16:09:06.123+00:00``)."""
    global _SECOND
    t = time.time()
    second = int(t)
    cached = _SECOND
    if cached[0] != second:
        cached = _SECOND = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{min(int((t - second) * 1000), 999):03d}+00:00"


class PredictionLogError(TabloopError):
    """The prediction log could not be written (disk full, read-only, permissions)."""

    code = "prediction_log_unavailable"

    def __init__(self, path: Path, cause: OSError, *, unsafe: str | None = None) -> None:
        self.path = path
        self.errno = cause.errno
        if unsafe is not None:
            # not the disk: something other than the log's own file sits where it belongs
            super().__init__(
                f"{path}: refusing to write the prediction log: {unsafe}",
                hint="remove or rename it so that tabloop creates a file of its own there; the log folder itself "
                "may be a symbolic link",
            )
            return
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        if cause.errno == errno.ENOSPC:
            hint = "the disk is full: free space; writes resume by themselves"
        elif cause.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            hint = "the log folder is not writable: fix its permissions or mount; writes resume by themselves"
        else:
            hint = "check disk space and permissions of the log folder"
        super().__init__(f"{path}: cannot write the prediction log: {reason} ({cause})", hint=hint)


class UnloggableRecords(DataError):
    """Some records could not be encoded as JSON; ``written`` others were logged."""

    def __init__(self, written: int, reasons: list[str]) -> None:
        self.written = written
        self.refused = len(reasons)
        super().__init__(f"{len(reasons)} record(s) could not be written to the prediction log: {reasons[0]}")


def _ends_with_newline(fd: int, size: int) -> bool:
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"


def _fsync_dir(directory: Path) -> None:
    """Make a newly created file's name durable too, not only its bytes."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the file's own fsync still held
    finally:
        os.close(fd)


def _cut_back(fd: int, path: Path, size: int) -> None:
    """Truncate ``fd`` back to ``size`` after a failed append; if even that fails, readers skip the fragment."""
    try:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)
    except OSError as exc:
        logger.error("%s: could not remove a partly written batch (%s); readers will skip it", path, exc)


def _check_own_file(fd: int, path: Path) -> None:
    """Close ``fd`` and raise unless it is a regular file of one name, owned by this user or root."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        problem = "it is not a regular file"
    elif st.st_nlink != 1:
        problem = f"it has {st.st_nlink} names (hard links): records would also change the other file(s)"
    elif st.st_uid not in (os.geteuid(), 0):
        problem = (f"it belongs to user id {st.st_uid}, not to this process's user ({os.geteuid()}) "
                   "who would be writing records into a file another user controls")
    else:
        return
    os.close(fd)
    raise PredictionLogError(path, OSError(errno.EPERM, problem), unsafe=problem)


@dataclass(frozen=True)
class SkippedLine:
    """A line of a log file that was not one whole record, so the readers left it out."""

    path: Path
    line: int
    #: "unfinished last line", "not JSON" or "JSON but not a record"
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def _is_log_record(value: Any) -> bool:
    """A prediction record (``request_id`` and ``row``) or an error record (``kind`` error, ``request_id``)."""
    if not isinstance(value, dict) or "request_id" not in value:
        return False
    return value.get(KIND) == ERROR_KIND or "row" in value


def _is_feedback_record(value: Any) -> bool:
    return isinstance(value, dict) and "request_id" in value and "row" in value and "label" in value


class PredictionLog:
    """Append-only JSONL prediction and feedback log in one folder.

    ``segment`` names this writer's own prediction files (e.g. a server worker's pid):
    each process appending through its own segment never shares a file with another.
    """

    def __init__(self, directory: str | Path, *, segment: str | None = None) -> None:
        self.directory = Path(directory)
        if segment is not None and not segment.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"segment must be letters, digits, '-' or '_', got {segment!r}")
        self.segment = segment

    # -- writing -------------------------------------------------------------
    def predictions_path(self, when: dt.datetime | None = None) -> Path:
        """Today's prediction file for this writer (UTC day, plus the segment if any)."""
        day = f"{(when or dt.datetime.now(dt.UTC)):%Y%m%d}"
        suffix = f"-{self.segment}" if self.segment else ""
        return self.directory / f"predictions-{day}{suffix}.jsonl"

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Append records durably (write, flush, fsync) before returning; returns how many.

        A record that cannot be encoded does not cost the others their place: the
        good ones are written, then ``UnloggableRecords`` says how many were refused.
        """
        return self._append(self.predictions_path(), records)

    def append_feedback(self, records: Iterable[dict[str, Any]]) -> int:
        return self._append(self.directory / FEEDBACK_FILE, records)

    @staticmethod
    def encode(records: Iterable[dict[str, Any]]) -> tuple[list[bytes], list[str]]:
        """Each record as one JSON line, and why any record could not be encoded."""
        lines: list[bytes] = []
        refused: list[str] = []
        for r in records:
            try:
                lines.append(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
            except TypeError as exc:
                refused.append(str(exc))
        return lines, refused

    def _append(self, path: Path, records: Iterable[dict[str, Any]]) -> int:
        lines, refused = self.encode(records)
        if lines:
            self.write_lines(path, lines)
        if refused:
            raise UnloggableRecords(len(lines), refused)
        return len(lines)

    def write_lines(self, path: Path, lines: list[bytes]) -> None:
        """Append encoded lines to ``path`` in one write, then sync; raise ``PredictionLogError`` if that fails."""
        fd = self.open_for_append(path)
        try:
            self.write_fd(fd, path, lines)
        finally:
            os.close(fd)

    def open_for_append(self, path: Path) -> int:
        """An appending descriptor on ``path``, creating it exclusively (and making its name durable) if needed.

        Never follows a symbolic link and never truncates: ``PredictionLogError`` when
        ``path`` is a link, not a regular file, has other names (hard links) or belongs
        to another user (root aside), so a planted name cannot steer records elsewhere.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # read: the torn-line check; O_NOFOLLOW: a link where the file belongs fails with ELOOP
            flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
            for _ in range(3):  # lost a race with a writer that created or removed it meanwhile: look again
                try:
                    fd = os.open(path, flags)
                except FileNotFoundError:
                    try:
                        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
                    except FileExistsError:
                        continue
                    _fsync_dir(self.directory)
                    return fd
                _check_own_file(fd, path)
                return fd
            fd = os.open(path, flags)
            _check_own_file(fd, path)
            return fd
        except PredictionLogError:
            raise
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PredictionLogError(path, exc, unsafe="it is a symbolic link, and the log never follows "
                                         "links (its records would land in the file it points at)") from exc
            raise PredictionLogError(path, exc) from exc

    @staticmethod
    def write_fd(fd: int, path: Path, lines: list[bytes], *, sync: bool = True) -> None:
        """One locked append of ``lines`` to ``fd``, then ``fdatasync`` (size included, so appends are durable).

        An exclusive ``flock`` keeps two processes appending to one file (a server and
        ``tabloop predict``, or workers sharing ``feedback.jsonl``) from interleaving.
        With ``sync=False`` the lines are only handed to the operating system (they
        survive the process being killed, not the machine crashing): whoever calls
        that way fsyncs later.
        """
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                # under the lock nobody else appends: the size now is where this write starts
                start = os.fstat(fd).st_size
                # a crash can leave a torn last line; start on a fresh line so this batch stays readable
                data = b"".join(lines) if _ends_with_newline(fd, start) else b"\n" + b"".join(lines)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    if sync:
                        os.fdatasync(fd)
                except OSError:
                    # a full disk can take part of the batch: cut it off, so that no fragment is left and no
                    # record the caller was told failed is read back
                    _cut_back(fd, path, start)
                    raise
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:
            raise PredictionLogError(path, exc) from exc

    # -- reading -------------------------------------------------------------
    def read_predictions(self, *, last: int | None = None, skipped: list[SkippedLine] | None = None) -> pd.DataFrame:
        """All logged prediction rows, oldest first (``last`` keeps the newest N); never an error record.

        ``skipped``, when given, receives every line that was not one whole record (see ``read_log``).
        """
        return self.read_log(last=last, skipped=skipped)[0]

    def read_errors(self, *, skipped: list[SkippedLine] | None = None) -> pd.DataFrame:
        """Every error record (one per refused request), oldest first, in ``ERROR_COLUMNS`` at least."""
        return self.read_log(skipped=skipped)[1]

    def read_log(
        self, *, last: int | None = None, skipped: list[SkippedLine] | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Prediction rows and error records from one pass over the files, each oldest first.

        ``last`` keeps the newest N prediction rows; every error record is returned.
        Never raises on a damaged line: a line that is not one whole record is left out,
        appended to ``skipped`` when a list is given, and named in a warning.
        """
        days: dict[str, list[Path]] = {}
        for path in sorted(self.directory.glob(PREDICTIONS_GLOB)):
            if path.is_file():  # a folder (or anything else) under a log file's name holds no records
                days.setdefault(path.name[len("predictions-"):][:8], []).append(path)
        records: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for day in sorted(days):
            part = self._read_lines(days[day], _is_log_record, skipped)
            if len(days[day]) > 1:
                # one day's segments (server workers) interleave in time; a stable sort keeps each
                # request's rows, and rows written in the same millisecond, in their file order
                part.sort(key=lambda r: str(r.get("ts") or ""))
            for r in part:
                (errors if r.get(KIND) == ERROR_KIND else records).append(r)
        df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=LOG_COLUMNS)
        if last is not None and len(df) > last:
            df = df.iloc[-last:]
        err = pd.DataFrame.from_records(errors) if errors else pd.DataFrame(columns=ERROR_COLUMNS)
        return df.reset_index(drop=True), err.reset_index(drop=True)

    def read_feedback(self, *, skipped: list[SkippedLine] | None = None) -> pd.DataFrame:
        """Feedback labels; a later label for the same (request_id, row) wins."""
        path = self.directory / FEEDBACK_FILE
        records = self._read_lines([path], _is_feedback_record, skipped) if path.is_file() else []
        df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=["request_id", "row", "label", "ts"])
        if len(df):
            df = df.drop_duplicates(subset=["request_id", "row"], keep="last").reset_index(drop=True)
        return df

    @staticmethod
    def _read_lines(
        paths: list[Path], is_record: Callable[[Any], bool], skipped: list[SkippedLine] | None = None
    ) -> list[dict[str, Any]]:
        """The whole records of ``paths``; every other non-blank line is skipped, counted and warned about."""
        out: list[dict[str, Any]] = []
        for path in paths:
            bad: list[SkippedLine] = []
            with open(path, "rb") as fh:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    reason = None
                    if not line.endswith(b"\n"):
                        # every write ends its lines: this one was torn by a crash, or is still being written
                        reason = "unfinished last line"
                    else:
                        try:
                            record = orjson.loads(line)
                        except orjson.JSONDecodeError:
                            # also a fragment of a torn write that a later write went on after (even one ending in '}')
                            reason = "not JSON"
                        else:
                            if is_record(record):
                                out.append(record)
                            else:
                                reason = "JSON but not a record"
                    if reason is not None:
                        bad.append(SkippedLine(path, lineno, reason))
            if bad:
                shown = ", ".join(f"{b.line} ({b.reason})" for b in bad[:20])
                more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
                logger.warning("%s: skipped %d line(s) that are not whole records: line %s%s",
                               path, len(bad), shown, more)
                if skipped is not None:
                    skipped.extend(bad)
        return out

    def inputs_frame(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """The logged input rows as a table, one column per feature."""
        if predictions.empty:
            return pd.DataFrame()
        return pd.DataFrame.from_records(list(predictions["inputs"]), index=predictions.index)


LOG_COLUMNS = [
    "request_id", "row", "ts", "source", "model", "version", "variant",
    "inputs", "prediction", "probabilities", "latency_ms",
]
ERROR_COLUMNS = [
    "kind", "request_id", "ts", "source", "model", "version", "variant", "dialect",
    "status", "code", "message", "violations", "rows", "latency_ms",
]


def error_record(
    *, request_id: str, status: int, code: str, message: str, dialect: str, model: str | None = None,
    version: str | None = None, variant: str | None = None, rows: int | None = None,
    latency_ms: float | None = None, violations: Iterable[dict[str, Any]] = (), source: str = "http",
    ts: str | None = None,
) -> dict[str, Any]:
    """One refused request as an error record: never its body (size, personal data), only what counts it.

    ``version`` and ``variant`` are None when the request failed before a model was chosen
    for it; ``rows`` is None when its body was never parsed. Violations keep their column,
    rule and row only: their messages and values may repeat what the client sent.
    """
    kept = [
        {"column": v.get("column"), "rule": v.get("rule"), **({"row": v["row"]} if v.get("row") is not None else {})}
        for v in itertools.islice(violations, VIOLATIONS_LIMIT)
    ]
    text = message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "\u2026"
    return {
        KIND: ERROR_KIND, "request_id": request_id, "ts": ts or utc_now(), "source": source,
        "model": model, "version": version, "variant": variant, "dialect": dialect,
        "status": int(status), "code": code, "message": text, "violations": kept,
        "rows": rows, "latency_ms": latency_ms,
    }


def prediction_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without error records: for tables read from the log files some other way than ``read_predictions``."""
    if KIND not in frame.columns:
        return frame
    return frame[(frame[KIND] != ERROR_KIND).to_numpy()]


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


class ServingClosed(TabloopError):
    """Records handed to a writer that has already stopped."""

    code = "prediction_log_closed"

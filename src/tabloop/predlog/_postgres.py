"""The prediction log in PostgreSQL: the local files shipped there in batches, and read back from there.

A server keeps writing its local JSONL segment exactly as without a database: an answered
row is on local disk before (``ack``) or as (``write``) it is answered, so the local file
stays the durable buffer and the database is never on the request path. A ``LogShipper``
thread copies what the files gained into the table ``tabloop_predlog``, one transaction
per batch; while the database is away the files simply grow, and the next round ships
what they gained meanwhile.

Nothing is lost and nothing is shipped twice, across outages, restarts and kills:

- every record's key is ``(project, file, byte_offset)``: where its line starts in its
  file; rows go in with ``ON CONFLICT DO NOTHING``;
- how far each file has been shipped lives in ``tabloop_predlog_files``, and is moved in
  the same transaction as the rows it covers; that row is locked (``FOR UPDATE``) first, so
  any number of shippers (every server worker, ``tabloop monitor``'s catch-up) may run at
  once: each file is shipped by one at a time, each batch exactly once;
- a file is read under a shared ``flock`` (its writers append under an exclusive one, and
  cut a failed batch back under it) after an ``fdatasync``: what is shipped is whole lines
  that are on disk, so a write cut back, or a machine crash, cannot shrink a file below what
  the database already holds;
- a file is known by its name *and* a digest of its first line (``file`` is
  ``name:digest:epoch``): two machines whose workers share a pid (containers) write two
  files of one name, and stay two files. A file found shorter than what was shipped from
  it was truncated outside tabloop: shipping goes on from its end under a new ``epoch``,
  and an error says so.

Lines that are not whole records (a fragment torn by a crash) are skipped as the file
readers skip them, and counted. ``PostgresLog`` reads the table back into the same
DataFrames, in the same order, as ``PredictionLog`` reads the files (``log_frames``,
``feedback_frame``); ``ShippedLog`` is a project's log when ``serving.log_url`` is set:
it writes the local files, catches up the shipping, and reads from the database, or from
the local files, with a warning, when the database cannot be reached.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tabloop.errors import LogDatabaseError
from tabloop.predlog._records import ERROR_KIND, KIND, is_feedback_record, is_log_record
from tabloop.predlog._store import FEEDBACK_FILE, PREDICTIONS_GLOB, PredictionLog, SkippedLine, feedback_frame, log_frames

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("tabloop.predlog")

#: the URL schemes this backend takes (SQLAlchemy's driver suffix, ``+psycopg``, is accepted and dropped)
SCHEMES = ("postgresql", "postgres")
#: one transaction ships at most this many bytes of one file
BATCH_BYTES = 1 << 20
#: how often a shipper looks for new lines (seconds)
SHIP_INTERVAL_S = 0.5
#: while the database is away, rounds are tried this often at most (seconds)
RETRY_MAX_S = 5.0
_CONNECT_TIMEOUT_S = 5
_STATEMENT_TIMEOUT_MS = 30_000
_FIRST_LINE_MAX = 1 << 24
# serialises the tables' creation: CREATE TABLE IF NOT EXISTS run by two sessions at once can still collide
_DDL_LOCK = int.from_bytes(hashlib.sha256(b"tabloop.predlog.ddl").digest()[:8], "big", signed=True)
_DDL = """
CREATE TABLE IF NOT EXISTS tabloop_predlog (
    project text NOT NULL,
    file text NOT NULL,
    byte_offset bigint NOT NULL,
    name text NOT NULL,
    day text NOT NULL,
    kind text NOT NULL,
    request_id text,
    ts text,
    record json NOT NULL,
    shipped_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, file, byte_offset)
);
CREATE INDEX IF NOT EXISTS tabloop_predlog_kind ON tabloop_predlog (project, kind, day);
CREATE TABLE IF NOT EXISTS tabloop_predlog_files (
    project text NOT NULL,
    name text NOT NULL,
    head text NOT NULL,
    epoch integer NOT NULL DEFAULT 0,
    shipped bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, name, head)
);
"""
# rows come in by COPY into a temporary table, then one INSERT moves them: COPY is the fast way in (binding
# arrays of thousands of strings cost psycopg most of a second per batch), the INSERT keeps ON CONFLICT
_STAGE = """
CREATE TEMPORARY TABLE IF NOT EXISTS tabloop_predlog_in (
    byte_offset bigint, kind text, request_id text, ts text, record json
) ON COMMIT DELETE ROWS
"""
_COPY = "COPY tabloop_predlog_in (byte_offset, kind, request_id, ts, record) FROM STDIN"
_INSERT = """
INSERT INTO tabloop_predlog (project, file, byte_offset, name, day, kind, request_id, ts, record)
SELECT %(project)s, %(file)s, byte_offset, %(name)s, %(day)s, kind, request_id, ts, record FROM tabloop_predlog_in
ON CONFLICT DO NOTHING
"""


def is_log_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database this backend can ship to."""
    return "://" in url and url.split("://", 1)[0].split("+", 1)[0].lower() in SCHEMES


def _conninfo(url: str) -> str:
    """psycopg's form of ``url``: SQLAlchemy's ``postgresql+psycopg://`` without the driver."""
    if not is_log_url(url):
        raise LogDatabaseError(f"the prediction log URL {_shown(url)!r} is not a PostgreSQL URL",
                               hint="set serving.log_url (or TABLOOP_PREDLOG_URL) to postgresql://user@host/db")
    return "postgresql://" + url.split("://", 1)[1]


def _shown(url: str) -> str:
    from tabloop.data import redact_url

    return redact_url(url)


def connect(url: str) -> Any:
    """A psycopg connection to ``url``; ``LogDatabaseError`` (password left out) when there is none."""
    import psycopg

    try:
        # a database that stops answering mid-statement must not hold a shipper (or a server's stop) for ever
        return psycopg.connect(_conninfo(url), connect_timeout=_CONNECT_TIMEOUT_S, application_name="tabloop-predlog",
                               options=f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}", keepalives=1,
                               keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
    except psycopg.Error as exc:
        raise LogDatabaseError(f"prediction log database {_shown(url)}: cannot connect: {_first_line(exc)}",
                               hint="the local log keeps every record; shipping catches up once it is reachable") from exc


def ensure_tables(conn: Any) -> None:
    """Create the log's two tables if they are missing (idempotent, safe from several processes at once)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        conn.execute(_DDL)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass
class ShipStats:
    """What one round of shipping did."""

    rows: int = 0
    batches: int = 0
    skipped: list[SkippedLine] = field(default_factory=list)


@dataclass
class _Known:
    """A file as this shipper last left it: its identity and how far it is shipped."""

    head: str
    shipped: int
    #: the file's size when it was last read: unchanged, it has nothing new (an unfinished last line included)
    size: int


class LogShipper:
    """Ships a log folder's files into PostgreSQL: ``ship()`` once, or ``start()`` a thread that keeps at it.

    ``project`` keeps several projects apart in one database. A round that fails (the
    database is away) raises ``LogDatabaseError`` from ``ship()``; the thread counts it,
    says so at most once every 10 s, and tries again (every ``interval_s``, slowing to
    ``RETRY_MAX_S``), so the log catches up by itself once the database is back.
    """

    def __init__(self, directory: str | Path, url: str, project: str, *, interval_s: float = SHIP_INTERVAL_S,
                 batch_bytes: int = BATCH_BYTES) -> None:
        _conninfo(url)  # a URL that is not PostgreSQL's fails now, not in the thread
        self.directory = Path(directory)
        self.url = url
        self.project = project
        self.interval_s = interval_s
        self.batch_bytes = batch_bytes
        self.shipped = 0
        self.failures = 0
        self.last_error: str | None = None
        self.ok = True
        self._conn: Any = None
        self._ready = False
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()  # one round at a time per shipper (the thread, close, a reader's catch-up)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._caught_up = False
        self._last_report = 0.0

    # -- the thread ---------------------------------------------------------------------
    def start(self) -> None:
        """Ship in a background thread every ``interval_s`` until ``close()``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tabloop-predlog-ship", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        wait = self.interval_s
        while not self._stop.wait(wait):
            try:
                self.ship()
                wait = self.interval_s
            except Exception:  # counted and reported by ship(); the local log keeps everything meanwhile
                wait = min(max(wait * 2, self.interval_s), RETRY_MAX_S)
        try:  # one last round, here: a stalled database then holds this thread, not whoever stops it
            self.ship()
            self._caught_up = True
        except Exception:
            pass

    def close(self, timeout: float = 10.0) -> bool:
        """Stop after one last round, waiting at most ``timeout`` s; True when the files were shipped to their end.

        What is not shipped stays in the local files, where the next shipper (a restarted server,
        a command's catch-up) finds it.
        """
        self._stop.set()
        if self._thread is None:
            try:
                self.ship(wait_s=timeout)
                self._caught_up = True
            except Exception:
                pass
        else:
            self._thread.join(timeout)
        if not self._caught_up:
            logger.warning("prediction log: not all of %s was shipped to %s before stopping (%s); the next shipper "
                           "catches up from the local files", self.directory, _shown(self.url),
                           self.last_error or f"still shipping after {timeout:g} s")
        if self._thread is None or not self._thread.is_alive():
            self._disconnect()
        return self._caught_up

    def status(self) -> dict[str, Any]:
        """For /health and /metrics: whether the latest round worked, rows shipped, failed rounds, the last error."""
        return {"ok": self.ok, "shipped": self.shipped, "failures": self.failures, "last_error": self.last_error}

    # -- one round ------------------------------------------------------------------------
    def ship(self, *, wait_s: float | None = None) -> ShipStats:
        """Ship whatever the folder's files gained since they were last shipped; ``LogDatabaseError`` if it cannot.

        ``wait_s``: how long to wait for a round already running in another thread (None: as long as it takes).
        """
        if not self._lock.acquire(timeout=-1 if wait_s is None else wait_s):
            raise LogDatabaseError(f"prediction log database {_shown(self.url)}: a round of shipping is still "
                                   f"running after {wait_s:g} s", hint="the database may be stalled")
        try:
            try:
                stats = self._ship()
            except Exception as exc:
                self._disconnect()
                self._failed(exc)
                if isinstance(exc, LogDatabaseError):
                    raise
                raise LogDatabaseError(f"prediction log database {_shown(self.url)}: {_first_line(exc)}",
                                       hint="the local log keeps every record; shipping catches up once it works"
                                       ) from exc
            if not self.ok:
                logger.warning("prediction log: shipping to %s works again", _shown(self.url))
            self.ok = True
            self.last_error = None
            return stats
        finally:
            self._lock.release()

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = _first_line(exc.__cause__ or exc)
        now = time.monotonic()
        # a caller shipping once (a command's catch-up) reports the failure its own way; the thread says it here
        if self._thread is not None and (self.ok or now - self._last_report >= 10.0):
            self._last_report = now
            logger.error("prediction log: cannot ship to %s (%s); the local log keeps every record and shipping "
                         "catches up once it works", _shown(self.url), self.last_error)
        self.ok = False

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url)
            self._ready = False
        if not self._ready:
            ensure_tables(self._conn)
            with self._conn.transaction():
                self._conn.execute(_STAGE)
            self._ready = True
        return self._conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _ship(self) -> ShipStats:
        stats = ShipStats()
        files = _log_files(self.directory)
        # files already shipped to their end are skipped without a word to the database
        todo = []
        for path in files:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            known = self._known.get(path.name)
            if known is None or size not in (known.shipped, known.size):
                todo.append(path)
        if not todo:
            return stats
        conn = self._connection()
        for path in todo:
            while self._ship_batch(conn, path, stats):
                pass
        self.shipped += stats.rows
        if stats.skipped:
            logger.warning("prediction log: %d line(s) that are not whole records were not shipped: %s",
                           len(stats.skipped), ", ".join(str(s) for s in stats.skipped[:10]))
        return stats

    def _ship_batch(self, conn: Any, path: Path, stats: ShipStats) -> bool:
        """Ship the next batch of ``path`` in one transaction; True when there may be more.

        The file's shared ``flock`` is held only while its bytes are synced and read, never
        across a call to the database: a writer (a request, under ``log_sync: write``) never
        waits for PostgreSQL, even a stalled one.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            logger.warning("prediction log: %s cannot be read for shipping (%s)", path, exc)
            return False
        try:
            with _shared_lock(fd):
                head = _head(fd)
            if head is None:  # not even one whole line yet
                return False
            name = path.name
            with conn.transaction():
                conn.execute("INSERT INTO tabloop_predlog_files (project, name, head) VALUES (%s, %s, %s) "
                             "ON CONFLICT DO NOTHING", (self.project, name, head))
                # locked until commit: another shipper of this file waits here, then starts where this one ended
                epoch, shipped = conn.execute(
                    "SELECT epoch, shipped FROM tabloop_predlog_files WHERE project = %s AND name = %s "
                    "AND head = %s FOR UPDATE", (self.project, name, head)).fetchone()
                before = epoch
                with _shared_lock(fd):
                    # under the lock no append is half done, and no failed one is half cut back
                    size = os.fstat(fd).st_size
                    if size < shipped:
                        resume = _still_held(conn, self.project, name, head, fd, size)
                        logger.error("prediction log: %s is shorter (%d bytes) than what was shipped from it (%d): it "
                                     "was truncated outside tabloop; its lines from byte %d on are shipped anew",
                                     path, size, shipped, resume)
                        epoch, shipped = epoch + 1, resume
                    # what is shipped must be on disk: a machine crash then cannot take back what the table holds
                    os.fdatasync(fd)
                    data = os.pread(fd, min(self.batch_bytes, size - shipped), shipped) if size > shipped else b""
                    end = data.rfind(b"\n") + 1
                    if end == 0 and size - shipped > len(data):
                        # one line longer than a batch: read up to its end
                        data = _read_line(fd, shipped, size)
                        end = len(data)
                rows = _parse(path, data[:end], shipped, stats)
                if rows:
                    with conn.cursor() as cur:
                        with cur.copy(_COPY) as copy:
                            for row in rows:
                                copy.write_row(row)
                        cur.execute(_INSERT, {"project": self.project, "file": f"{name}:{head}:{epoch}",
                                              "name": name, "day": _day(name)})
                new = shipped + end
                if new != shipped or epoch != before:
                    conn.execute("UPDATE tabloop_predlog_files SET shipped = %s, epoch = %s, updated_at = now() "
                                 "WHERE project = %s AND name = %s AND head = %s",
                                 (new, epoch, self.project, name, head))
            more = end > 0 and new < size
            # only once committed: a failed commit ships the batch again next round
            self._known[name] = _Known(head, new, -1 if more else size)
            stats.rows += len(rows)
            stats.batches += 1 if end else 0
            return more
        finally:
            os.close(fd)


def _still_held(conn: Any, project: str, name: str, head: str, fd: int, size: int) -> int:
    """Where a truncated file stops matching what the table holds of it: the lines before are shipped already.

    Lines that are not records (never shipped) count as matching; the first record line the table
    does not hold, at its offset and to the byte, is where shipping resumes.
    """
    held: dict[int, set[str]] = {}
    for offset, text in conn.execute(
        "SELECT byte_offset, record::text FROM tabloop_predlog WHERE project = %s AND name = %s "
        "AND starts_with(file, %s) AND byte_offset < %s", (project, name, f"{name}:{head}:", size),
    ):
        held.setdefault(int(offset), set()).add(text)
    data = os.pread(fd, size, 0)
    offset = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if text.strip() and text not in held.get(offset, ()):
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                pass  # not a record: never shipped, nothing to resume for
            else:
                return offset
        offset += len(line)
    return offset


def _log_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    paths = sorted(p for p in directory.glob(PREDICTIONS_GLOB) if p.is_file())
    feedback = directory / FEEDBACK_FILE
    return paths + ([feedback] if feedback.is_file() else [])


@contextmanager
def _shared_lock(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _head(fd: int) -> str | None:
    """A digest of the file's first whole line (None if it has none yet): the file's identity beside its name."""
    chunk = os.pread(fd, 65536, 0)
    end = chunk.find(b"\n")
    if end < 0 and len(chunk) == 65536:
        chunk = _read_line(fd, 0, min(os.fstat(fd).st_size, _FIRST_LINE_MAX))
        end = chunk.find(b"\n")
    if end < 0:
        return None
    return hashlib.sha256(chunk[: end + 1]).hexdigest()[:16]


def _read_line(fd: int, start: int, size: int) -> bytes:
    """From ``start`` up to and including the next newline (empty if the line is not finished)."""
    out = bytearray()
    pos = start
    while pos < size:
        chunk = os.pread(fd, 1 << 20, pos)
        if not chunk:
            break
        cut = chunk.find(b"\n")
        if cut >= 0:
            out += chunk[: cut + 1]
            return bytes(out)
        out += chunk
        pos += len(chunk)
    return b""


def _day(name: str) -> str:
    return name[len("predictions-"):][:8] if name.startswith("predictions-") else ""


def _parse(path: Path, data: bytes, start: int, stats: ShipStats) -> list[tuple[int, str, str, str | None, str]]:
    """``(offset, kind, request_id, ts, line)`` for each whole record in ``data`` (whole lines from ``start``)."""
    feedback = path.name == FEEDBACK_FILE
    is_record = is_feedback_record if feedback else is_log_record
    rows = []
    offset = start
    for line in data.splitlines(keepends=True):
        here, offset = offset, offset + len(line)
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record, reason = None, "not JSON"
        else:
            reason = None if is_record(record) else "JSON but not a record"
        if reason is not None:
            stats.skipped.append(SkippedLine(path, 0, f"{reason} (at byte {here})"))
            continue
        kind = "feedback" if feedback else ("error" if record.get(KIND) == ERROR_KIND else "prediction")
        ts = record.get("ts")
        # JSON text as written: the json type keeps it as is (jsonb would reorder its keys and refuse \u0000)
        rows.append((here, kind, str(record.get("request_id")), None if ts is None else str(ts),
                     line.rstrip(b"\r\n").decode("utf-8")))
    return rows


class PostgresLog:
    """The prediction log as the table holds it, read into ``PredictionLog``'s DataFrames, in its order."""

    def __init__(self, url: str, project: str) -> None:
        _conninfo(url)
        self.url = url
        self.project = project

    def read_log(self, *, last: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Prediction rows and error records of every file shipped (every machine's), as ``PredictionLog.read_log``."""
        days: dict[str, list[list[dict[str, Any]]]] = {}
        for (day, _), records in self._files("kind <> 'feedback'").items():
            days.setdefault(day, []).append(records)
        return log_frames(days, last=last)

    def read_predictions(self, *, last: int | None = None) -> pd.DataFrame:
        return self.read_log(last=last)[0]

    def read_errors(self) -> pd.DataFrame:
        return self.read_log()[1]

    def read_feedback(self) -> pd.DataFrame:
        """Feedback labels of every feedback file shipped; a later label for the same (request_id, row) wins."""
        return feedback_frame(list(self._files("kind = 'feedback'").values()))

    def count(self) -> dict[str, int]:
        """Rows held per kind (prediction, error, feedback)."""
        with self._connect() as conn:
            rows = conn.execute("SELECT kind, count(*) FROM tabloop_predlog WHERE project = %s GROUP BY kind",
                                (self.project,)).fetchall()
        return {kind: int(n) for kind, n in rows}

    def _files(self, where: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Each shipped file's records in file order, keyed ``(day, file)`` in name order."""
        import psycopg

        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        with self._connect() as conn:
            try:
                # text, not json: parsed by orjson exactly as the file reader parses the line
                cur = conn.execute(f"SELECT day, file, record::text FROM tabloop_predlog WHERE project = %s AND {where} "
                                   "ORDER BY name, file, byte_offset", (self.project,))
                for day, file, text in cur:
                    out.setdefault((day, file), []).append(orjson.loads(text))
            except psycopg.Error as exc:
                raise LogDatabaseError(f"prediction log database {_shown(self.url)}: {_first_line(exc)}") from exc
        return out

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        conn = connect(self.url)
        try:
            ensure_tables(conn)
            yield conn
        finally:
            conn.close()


class ShippedLog(PredictionLog):
    """A project's log when it has a database: written to the local files, read from the database.

    Each read first ships what the local files gained (so what this machine logged is
    there), then reads the table: every machine's log. When the database cannot be
    reached, it reads the local files instead and says so in a warning and in
    ``read_from``.
    """

    def __init__(self, directory: str | Path, url: str, project: str, *, segment: str | None = None) -> None:
        super().__init__(directory, segment=segment)
        self.shipper = LogShipper(directory, url, project)
        self.remote = PostgresLog(url, project)
        #: where the latest read came from, in words
        self.read_from = f"{_shown(url)} (table tabloop_predlog, project {project!r})"
        # once the database could not be reached, this log (one command's) reads the files without trying again
        self._down = False

    def _remote(self, read: Any, local: Any) -> Any:
        if not self._down:
            try:
                self.shipper.ship()
                return read()
            except LogDatabaseError as exc:
                self._down = True
                self.read_from = (f"the local files in {self.directory} (the database {_shown(self.shipper.url)} "
                                  f"cannot be reached: {_first_line(exc.__cause__ or exc)})")
                logger.warning("prediction log: reading %s", self.read_from)
        return local()

    def read_log(self, *, last: int | None = None,
                 skipped: list[SkippedLine] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self._remote(lambda: self.remote.read_log(last=last),
                            lambda: super(ShippedLog, self).read_log(last=last, skipped=skipped))

    def read_feedback(self, *, skipped: list[SkippedLine] | None = None) -> pd.DataFrame:
        return self._remote(self.remote.read_feedback, lambda: super(ShippedLog, self).read_feedback(skipped=skipped))

    def ship(self) -> ShipStats | None:
        """Ship what the local files gained; None (and a warning) when the database cannot be reached."""
        if self._down:
            return None
        try:
            return self.shipper.ship()
        except LogDatabaseError as exc:
            self._down = True
            logger.warning("prediction log: not shipped to %s now (%s); the local files keep it, and the next "
                           "shipper catches up", _shown(self.shipper.url), _first_line(exc.__cause__ or exc))
            return None

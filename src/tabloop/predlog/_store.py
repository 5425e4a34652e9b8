"""The prediction log's files on disk: appending lines durably and safely, reading them back tolerantly.

Files live under ``.tabloop/predlog/``: ``predictions-YYYYMMDD.jsonl`` (appended,
fsynced), ``predictions-YYYYMMDD-<segment>.jsonl`` when several processes write at once
(one segment per server worker, so no two processes interleave inside one file) and
``feedback.jsonl``. A person can open them; pandas and DuckDB read them. What a line
holds is ``_records``' business; readers keep prediction and error records apart:
``read_predictions`` never returns an error record, so drift, feedback joins,
performance and retraining see answered rows only; ``read_errors`` (or ``read_log``
for both in one pass) feeds the error rate.

Writing never follows a link and never truncates: a log file is opened with
``O_NOFOLLOW`` and must be a regular file with one name, owned by this user (or
root); a new one is created exclusively (``O_EXCL``). A symbolic link, or anything
else, where a log file belongs is refused with ``PredictionLogError`` (a server
answers 503), so no record lands in whatever file it points at. The log *folder*
may be a symbolic link: where the log lives is the administrator's choice.
Each append holds an exclusive ``flock`` on its file; a write that fails part-way
(a full disk) is cut back to the file's size before it.

Reading never raises on a damaged line: a line that is not one whole record (a
fragment torn by a crash, the unfinished last line of a write in progress, text
that is not JSON, JSON that is not a record) is skipped, counted (``SkippedLine``)
and named, by file and line, in one warning per file.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from tabloop.errors import PredictionLogError, UnloggableRecords
from tabloop.predlog._records import (
    ERROR_COLUMNS,
    ERROR_KIND,
    FEEDBACK_COLUMNS,
    KIND,
    LOG_COLUMNS,
    encode,
    is_feedback_record,
    is_log_record,
)

PREDICTIONS_GLOB = "predictions-*.jsonl"
FEEDBACK_FILE = "feedback.jsonl"
logger = logging.getLogger("tabloop.predlog")


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


def log_frames(
    days: dict[str, list[list[dict[str, Any]]]], *, last: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prediction rows and error records in the log's order, from each day's files' records (in file-name order).

    The one ordering every reader of the log uses (the files here, PostgreSQL in ``_postgres``): days
    in order; one file's records as written; a day of several files (server workers) merged by time.
    """
    records: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for day in sorted(days):
        files = days[day]
        part = [r for file in files for r in file]
        if len(files) > 1:
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


def feedback_frame(files: list[list[dict[str, Any]]]) -> pd.DataFrame:
    """Feedback labels from each feedback file's records; a later label for the same (request_id, row) wins.

    Labels of several files (several machines' logs) are merged by time, each file's in its own order.
    """
    records = [r for file in files for r in file]
    if len(files) > 1:
        records.sort(key=lambda r: str(r.get("ts") or ""))
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=FEEDBACK_COLUMNS)
    if len(df):
        df = df.drop_duplicates(subset=["request_id", "row"], keep="last").reset_index(drop=True)
    return df


@dataclass(frozen=True)
class SkippedLine:
    """A line of a log file that was not one whole record, so the readers left it out."""

    path: Path
    line: int
    #: "unfinished last line", "not JSON" or "JSON but not a record"
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


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

    #: each record as one JSON line, and why any record could not be encoded (no wrapper: the hot path calls it)
    encode = staticmethod(encode)

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
        files = {day: [self._read_lines([p], is_log_record, skipped) for p in paths] for day, paths in days.items()}
        return log_frames(files, last=last)

    def read_feedback(self, *, skipped: list[SkippedLine] | None = None) -> pd.DataFrame:
        """Feedback labels; a later label for the same (request_id, row) wins."""
        path = self.directory / FEEDBACK_FILE
        records = self._read_lines([path], is_feedback_record, skipped) if path.is_file() else []
        return feedback_frame([records])

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


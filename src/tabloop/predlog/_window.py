"""The prediction log's newest windows, read from the end of its files: what the live dashboard draws.

``tabloop monitor`` reads the whole log; a page refreshing every few seconds must not
(with 318k rows a refresh took 10-12 s, and the server's memory and p99 latency followed).
``LogWindow.read`` returns exactly the rows and error records that ``split_windows`` would
put in the newest ``timeline.max_windows`` windows of the whole log, so the monitor's own
functions run on them and give the report's figures, at a cost set by the window, not by
the log:

- by rows, windows are cut from the log's first row, so where the newest ones start
  depends on how many rows the log holds. That count is kept per file: a file is scanned
  once for its newlines (C speed, a few MiB at a time, nothing parsed), and afterwards
  only the bytes appended since; the counts are saved beside the files (``_row_counts``),
  so a restarted server scans only what it cannot trust. Then the newest rows are parsed
  from the files' ends, newest day first, as many as the windows hold;
- by time (a window length that divides a day: 1h, 6h, 1D), each file is read from its
  end until its records fall before the oldest window shown;
- feedback is read from the end of ``feedback.jsonl`` until its labels are older than
  the windows (a label arrives after its prediction, so no older one can join).

Each file is assumed in time order (appends are); one worker's segment a few
milliseconds behind another's changes nothing but ties. A torn line left by a crash is
skipped when read and, by rows, still counted (a window boundary moves by one row).
With a window length that does not divide a day, or no rows at all (refusals only), the
whole log is read.
"""

from __future__ import annotations

import datetime as dt
import heapq
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from tabloop.predlog._records import ERROR_COLUMNS, ERROR_KIND, FEEDBACK_COLUMNS, KIND, LOG_COLUMNS
from tabloop.predlog._row_counts import RowCount, load_counts, save_counts, trusted
from tabloop.predlog._store import FEEDBACK_FILE, PREDICTIONS_GLOB, PredictionLog
from tabloop.spec import TimelineSpec

#: how an error record's line starts: ``error_record`` puts ``kind`` first and orjson writes no spaces
_ERROR_PREFIX = f'{{"{KIND}":"{ERROR_KIND}"'.encode()
_CHUNK = 1 << 20
#: read from a file's end this much at a time
_TAIL_CHUNK = 256 * 1024
#: feedback older than the oldest window by more than this is not read (clocks of several writers differ)
_FEEDBACK_SLACK = dt.timedelta(hours=1)
_DAY_NS = 86_400 * 10**9
#: while the log only grows, its row counts are saved at most this often (seconds): a restart counts what came since
SAVE_EVERY_S = 60.0


@dataclass
class ReadStats:
    """What reads cost: bytes scanned for newlines (and in which files), bytes and lines read from the ends (and where)."""

    scanned_bytes: int = 0
    scanned_files: set[str] = field(default_factory=set)
    tail_bytes: int = 0
    parsed_lines: int = 0
    files: set[str] = field(default_factory=set)


class LogWindow:
    """Reads the newest windows of one prediction log folder; keeps per-file row counts between reads."""

    def __init__(self, log: PredictionLog) -> None:
        self.directory = log.directory
        self.stats = ReadStats()
        self._counts: dict[Path, RowCount] = {}
        # what an earlier window over this folder counted (this process's or another's), checked before use
        self._saved = load_counts(self.directory)
        # the counts are saved when a file was counted from its start, else at most every SAVE_EVERY_S
        self._unsaved = False
        self._fresh = False
        self._saved_at = time.monotonic()
        self._lock = threading.Lock()

    # -- public --------------------------------------------------------------
    def read(self, timeline: TimelineSpec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(prediction rows, error records, feedback) of the windows shown, each as its reader returns it."""
        with self._lock:
            days = self._days()
            preds: list[dict[str, Any]] | None
            errs: list[dict[str, Any]]
            if timeline.by == "rows":
                preds, errs = self._by_rows(days, timeline)
            else:
                preds, errs = self._by_time(days, timeline)
            if preds is None:  # cannot be bounded: the whole log, as the monitor reads it
                logged, errors = PredictionLog(self.directory).read_log()
                feedback = PredictionLog(self.directory).read_feedback()
                return logged, errors, feedback
            logged = pd.DataFrame.from_records(preds) if preds else pd.DataFrame(columns=LOG_COLUMNS)
            errors = pd.DataFrame.from_records(errs) if errs else pd.DataFrame(columns=ERROR_COLUMNS)
            return logged, errors, self._feedback(_oldest(preds))

    # -- by rows -------------------------------------------------------------
    def _by_rows(
        self, days: list[list[Path]], timeline: TimelineSpec
    ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
        total = sum(self._rows_in(p) for day in days for p in day)
        self._save_counts([p for day in days for p in day])
        if total == 0:
            return None, []
        last = total % timeline.rows or timeline.rows
        want = min(total, (timeline.max_windows - 1) * timeline.rows + last)
        candidates: list[list[dict[str, Any]]] = []  # per day, newest day first, in read_log's order
        errors: list[list[dict[str, Any]]] = []
        found = 0
        for day in reversed(days):
            part, err_part = self._newest_rows(day, want - found)
            if len(day) > 1:
                part.sort(key=_ts_text)
                err_part.sort(key=_ts_text)
            candidates.append(part)
            errors.append(err_part)
            found += len(part)
            if found >= want:
                break
        rows = [r for part in reversed(candidates) for r in part]
        # the newest `want` in split_windows' order: a stable sort by time of the rows in read_log's order
        stamps = pd.to_datetime(pd.Series([r.get("ts") for r in rows], dtype=object), utc=True, errors="coerce",
                                format="ISO8601")
        stamps = stamps.fillna(stamps.min()) if stamps.notna().any() else stamps
        order = stamps.argsort(kind="stable").to_numpy() if stamps.notna().any() else range(len(rows))
        kept = [rows[i] for i in list(order)[-want:]]
        start = _oldest(kept)
        errs = [e for part in reversed(errors) for e in part]
        if start is not None:
            errs = [e for e in errs if (_parse(e.get("ts")) or start) >= start]
        return kept, errs

    def _rows_in(self, path: Path) -> int:
        """Prediction records in ``path``: counted once, then only what was appended since."""
        try:
            st = path.stat()
        except OSError:
            return 0
        count = self._counts.get(path)
        if count is None:
            saved = self._saved.pop(path.name, None)
            if saved is not None and trusted(path, saved, st):
                count = saved
        if count is None or count.inode != st.st_ino or st.st_size < count.offset:
            count = RowCount(st.st_ino, 0, 0)
            self._fresh = True
        if st.st_size > count.offset:
            self._unsaved = True
            with open(path, "rb") as fh:
                fh.seek(count.offset)
                pending = b""
                while True:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    self.stats.scanned_bytes += len(chunk)
                    data = pending + chunk
                    end = data.rfind(b"\n") + 1
                    if end:
                        whole = data[:end]
                        lines = whole.count(b"\n")
                        errors = whole.startswith(_ERROR_PREFIX) + whole.count(b"\n" + _ERROR_PREFIX)
                        count.rows += lines - errors
                        count.offset += end
                    pending = data[end:]
            self.stats.scanned_files.add(path.name)
        self._counts[path] = count
        return count.rows

    def _newest_rows(self, day: list[Path], want: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The newest ``want`` prediction records over a day's files (and every tie of the last), with the error
        records among them: the files are read from their ends together, newest first, as a merge by time."""
        rows: list[dict[str, Any]] = []
        errs: list[dict[str, Any]] = []
        boundary: str | None = None
        records = heapq.merge(*(self._backwards(p) for p in day), key=_ts_text, reverse=True)
        for record in records:
            if boundary is not None and _ts_text(record) != boundary:
                break  # past the oldest row wanted and its ties: split_windows' stable order picks among them
            if record.get(KIND) == ERROR_KIND:
                errs.append(record)
                continue
            rows.append(record)
            if len(rows) == want:
                boundary = _ts_text(record)
        rows.reverse()
        errs.reverse()
        return rows, errs

    def _save_counts(self, paths: list[Path]) -> None:
        now = time.monotonic()
        if not self._unsaved or not (self._fresh or now - self._saved_at >= SAVE_EVERY_S):
            return
        save_counts(self.directory, {p: self._counts[p] for p in paths if p in self._counts})
        self._unsaved = self._fresh = False
        self._saved_at = now

    # -- by time -------------------------------------------------------------
    def _by_time(
        self, days: list[list[Path]], timeline: TimelineSpec
    ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
        try:
            step = pd.tseries.frequencies.to_offset(timeline.every).nanos
        except ValueError:
            return None, []  # not a fixed length (a month): the monitor's reader says what is wrong
        if step <= 0 or _DAY_NS % step:
            return None, []  # bins anchored on the log's first day: only the whole log places them
        bins: set[int] = set()
        cutoff: int | None = None  # the oldest bin still shown, once max_windows bins are known
        per_day: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
        for day in reversed(days):
            if cutoff is not None and _day_end_ns(day[0]) < cutoff:
                break
            rows: list[dict[str, Any]] = []
            errs: list[dict[str, Any]] = []
            for path in day:
                for record in self._backwards(path):
                    stamp = _parse(record.get("ts"))
                    b = None if stamp is None else stamp.value // step * step
                    if b is not None:
                        if cutoff is not None and b < cutoff:
                            break  # older records of this file are older still
                        bins.add(b)
                        if len(bins) > timeline.max_windows:
                            bins.discard(min(bins))
                        if len(bins) == timeline.max_windows:
                            cutoff = min(bins)
                    (errs if record.get(KIND) == ERROR_KIND else rows).append(record)
            per_day.append((rows, errs))
        keep = cutoff if cutoff is not None else None
        out_rows: list[dict[str, Any]] = []
        out_errs: list[dict[str, Any]] = []
        for (rows, errs), day in zip(reversed(per_day), reversed(days[len(days) - len(per_day):]), strict=True):
            rows.reverse()
            errs.reverse()
            if len(day) > 1:  # as read_log orders a day of several workers' files
                rows.sort(key=_ts_text)
                errs.sort(key=_ts_text)
            out_rows.extend(r for r in rows if keep is None or _bin_of(r, step) is None or _bin_of(r, step) >= keep)
            out_errs.extend(e for e in errs if keep is None or _bin_of(e, step) is None or _bin_of(e, step) >= keep)
        return out_rows, out_errs

    # -- feedback ------------------------------------------------------------
    def _feedback(self, start: pd.Timestamp | None) -> pd.DataFrame:
        path = self.directory / FEEDBACK_FILE
        if not path.exists():
            return pd.DataFrame(columns=FEEDBACK_COLUMNS)
        floor = None if start is None else start - _FEEDBACK_SLACK
        records: list[dict[str, Any]] = []
        for record in self._backwards(path):
            stamp = _parse(record.get("ts"))
            if floor is not None and stamp is not None and stamp < floor:
                break
            records.append(record)
        records.reverse()
        df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=FEEDBACK_COLUMNS)
        if len(df):
            df = df.drop_duplicates(subset=["request_id", "row"], keep="last").reset_index(drop=True)
        return df

    # -- reading -------------------------------------------------------------
    def _days(self) -> list[list[Path]]:
        days: dict[str, list[Path]] = {}
        for path in sorted(self.directory.glob(PREDICTIONS_GLOB)):
            days.setdefault(path.name[len("predictions-"):][:8], []).append(path)
        return [days[d] for d in sorted(days)]

    def _backwards(self, path: Path) -> Iterator[dict[str, Any]]:
        """The records of ``path``, newest (last) first; a line that is not JSON (torn by a crash) is skipped."""
        try:
            fh = open(path, "rb")
        except OSError:
            return
        self.stats.files.add(path.name)
        with fh:
            end = os.fstat(fh.fileno()).st_size
            pending = b""  # the start of the line that straddles the chunk read last and the one before it
            first = True
            while end > 0:
                start = max(0, end - _TAIL_CHUNK)
                fh.seek(start)
                chunk = fh.read(end - start)
                self.stats.tail_bytes += len(chunk)
                data = chunk + pending
                end = start
                if first:
                    # a line still being written (no newline yet) is not a record yet
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        pending = data if start > 0 else b""
                        continue
                    data = data[: cut + 1]
                    first = False
                if start > 0:
                    cut = data.find(b"\n")
                    if cut < 0:
                        pending = data
                        continue
                    pending, data = data[:cut], data[cut + 1 :]
                else:
                    pending = b""
                for line in reversed(data.split(b"\n")):
                    record = self._load(line)
                    if record is not None:
                        yield record

    def _load(self, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        self.stats.parsed_lines += 1
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        return record if isinstance(record, dict) else None


def _ts_text(record: dict[str, Any]) -> str:
    return str(record.get("ts") or "")


def _parse(value: Any) -> pd.Timestamp | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _bin_of(record: dict[str, Any], step: int) -> int | None:
    stamp = _parse(record.get("ts"))
    return None if stamp is None else stamp.value // step * step


def _oldest(records: list[dict[str, Any]]) -> pd.Timestamp | None:
    if not records:
        return None
    stamps = pd.to_datetime(pd.Series([r.get("ts") for r in records], dtype=object), utc=True, errors="coerce",
                            format="ISO8601")
    oldest = stamps.min()
    return None if pd.isna(oldest) else oldest


def _day_end_ns(path: Path) -> int:
    """The end of the UTC day a prediction file is named after (records in it are no newer, give or take)."""
    day = path.name[len("predictions-"):][:8]
    try:
        start = pd.Timestamp(dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=dt.UTC))
    except ValueError:
        return 2**62
    # a record stamped just before midnight can land in the next day's file; a day of slack covers it
    return start.value + 2 * _DAY_NS

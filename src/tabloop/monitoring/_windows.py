"""Cutting the prediction log into windows, by row count or by time.

The log's error records (one per refused request) are placed in the same windows by
their time, so a window's error rate counts the requests refused while its rows were
answered; they never add to a window's rows, which stay answered prediction rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tabloop.errors import DataError
from tabloop.spec import TimelineSpec

__all__ = ["Window", "split_windows"]


@dataclass
class Window:
    """Rows ``positions`` of the log (positional, oldest first), logged between ``start`` and ``end``.

    ``errors`` are positions in the error records that fall in this window; None when no
    error records were given, or they could not be placed (a log without times).
    """

    index: int
    start: str | None
    end: str | None
    positions: np.ndarray
    errors: np.ndarray | None = field(default=None)

    @property
    def rows(self) -> int:
        return int(self.positions.size)

    @property
    def label(self) -> str:
        if self.start is None:
            return f"#{self.index + 1}"
        return self.start[:16].replace("T", " ")


def split_windows(log: pd.DataFrame, timeline: TimelineSpec, errors: pd.DataFrame | None = None) -> list[Window]:
    """The newest ``timeline.max_windows`` windows of ``log`` (which needs a ``ts`` column for time windows).

    By rows, the log is cut into consecutive runs of ``timeline.rows`` rows in the order
    it was logged; the last run may be shorter. By time, rows fall into calendar bins of
    length ``timeline.every``; bins with no rows are left out.

    ``errors`` (error records, with ``ts``) are placed by time: by rows, each goes to
    the run that was being filled when it came (errors before the first row to the
    first run); by time, to its calendar bin, and a bin holding errors only is a window
    of no rows (an outage shows as a window whose every request failed).
    """
    n = len(log)
    err_ts = _timestamps(errors) if errors is not None and len(errors) else None
    m = 0 if errors is None else len(errors)
    if n == 0 and m == 0:
        return []
    ts = _timestamps(log) if n else None
    placed = errors is not None and (m == 0 or (err_ts is not None and (ts is not None or n == 0)))
    if n == 0 and not placed:
        return []  # error records that cannot be placed in time make no window of their own
    none = np.array([], dtype=np.int64)
    err_chunks: list[np.ndarray] | None = None
    if timeline.by == "rows":
        order = np.argsort(ts.to_numpy(), kind="stable") if ts is not None else np.arange(n)
        chunks = [order[i : i + timeline.rows] for i in range(0, n, timeline.rows)] or [none]
        if placed:
            err_chunks = _place_by_start(chunks, ts, err_ts, m)
    else:
        if n and ts is None:
            raise DataError("the prediction log has no 'ts' column, so it cannot be cut into time windows",
                            hint="set monitoring.timeline.by to 'rows'")
        # the rows' positions, then the error records' shifted by n, binned together
        stamps = [s for s in (ts, err_ts if placed else None) if s is not None]
        index = pd.DatetimeIndex(pd.concat(stamps, ignore_index=True))
        try:
            groups = pd.Series(np.arange(len(index)), index=index).groupby(pd.Grouper(freq=timeline.every))
        except ValueError as exc:
            raise DataError(f"monitoring.timeline.every {timeline.every!r} is not a pandas frequency ({exc})",
                            hint="use e.g. 1h, 6h, 1D or 7D") from exc
        both = [np.sort(g.to_numpy()) for _, g in groups if len(g)]
        chunks = [b[b < n] for b in both]
        if placed:
            err_chunks = [b[b >= n] - n for b in both]
    keep = slice(-timeline.max_windows, None)
    chunks = chunks[keep]
    err_kept = err_chunks[keep] if err_chunks is not None else [None] * len(chunks)
    out = []
    for i, (pos, err) in enumerate(zip(chunks, err_kept, strict=True)):
        start = end = None
        # the rows' times; a window of refusals alone takes theirs
        when = ts.iloc[pos] if ts is not None and pos.size else (
            err_ts.iloc[err] if err_ts is not None and err is not None and err.size else None)
        if when is not None:
            start, end = _iso(when.min()), _iso(when.max())
        out.append(Window(index=i, start=start, end=end, positions=np.asarray(pos, dtype=np.int64),
                          errors=None if err is None else np.asarray(err, dtype=np.int64)))
    return out


def _place_by_start(
    chunks: list[np.ndarray], ts: pd.Series | None, err_ts: pd.Series | None, m: int
) -> list[np.ndarray]:
    """Error positions per run of rows: each error to the last run that started at or before it."""
    if m == 0 or err_ts is None:
        return [np.array([], dtype=np.int64) for _ in chunks]
    if ts is None or len(chunks) == 1:
        return [np.arange(m, dtype=np.int64)] + [np.array([], dtype=np.int64)] * (len(chunks) - 1)
    stamps = pd.DatetimeIndex(ts).as_unit("ns").asi8
    starts = np.array([stamps[c].min() for c in chunks], dtype=np.int64)  # runs are in time order
    at = np.searchsorted(starts, pd.DatetimeIndex(err_ts).as_unit("ns").asi8, side="right") - 1
    at = np.clip(at, 0, len(chunks) - 1)
    return [np.flatnonzero(at == k) for k in range(len(chunks))]


def _timestamps(log: pd.DataFrame) -> pd.Series | None:
    if "ts" not in log.columns:
        return None
    ts = pd.to_datetime(log["ts"], utc=True, errors="coerce", format="ISO8601")
    if ts.isna().all():
        return None
    # rows without a readable time sort first instead of breaking the windows
    return ts.fillna(ts.min())


def _iso(value: pd.Timestamp) -> str | None:
    return None if pd.isna(value) else value.isoformat()

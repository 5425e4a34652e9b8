"""Cutting the prediction log into windows, by row count or by time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabloop.errors import DataError
from tabloop.spec import TimelineSpec

__all__ = ["Window", "split_windows"]


@dataclass
class Window:
    """Rows ``positions`` of the log (positional, oldest first), logged between ``start`` and ``end``."""

    index: int
    start: str | None
    end: str | None
    positions: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.positions.size)

    @property
    def label(self) -> str:
        if self.start is None:
            return f"#{self.index + 1}"
        return self.start[:16].replace("T", " ")


def split_windows(log: pd.DataFrame, timeline: TimelineSpec) -> list[Window]:
    """The newest ``timeline.max_windows`` windows of ``log`` (which needs a ``ts`` column for time windows).

    By rows, the log is cut into consecutive runs of ``timeline.rows`` rows in the order
    it was logged; the last run may be shorter. By time, rows fall into calendar bins of
    length ``timeline.every``; bins with no rows are left out.
    """
    n = len(log)
    if n == 0:
        return []
    ts = _timestamps(log)
    if timeline.by == "rows":
        order = np.argsort(ts.to_numpy(), kind="stable") if ts is not None else np.arange(n)
        chunks = [order[i : i + timeline.rows] for i in range(0, n, timeline.rows)]
    else:
        if ts is None:
            raise DataError("the prediction log has no 'ts' column, so it cannot be cut into time windows",
                            hint="set monitoring.timeline.by to 'rows'")
        try:
            groups = pd.Series(np.arange(n), index=pd.DatetimeIndex(ts)).groupby(pd.Grouper(freq=timeline.every))
        except ValueError as exc:
            raise DataError(f"monitoring.timeline.every {timeline.every!r} is not a pandas frequency ({exc})",
                            hint="use e.g. 1h, 6h, 1D or 7D") from exc
        chunks = [np.sort(g.to_numpy()) for _, g in groups if len(g)]
    chunks = chunks[-timeline.max_windows :]
    out = []
    for i, pos in enumerate(chunks):
        start = end = None
        if ts is not None:
            part = ts.iloc[pos]
            start, end = _iso(part.min()), _iso(part.max())
        out.append(Window(index=i, start=start, end=end, positions=np.asarray(pos, dtype=np.int64)))
    return out


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

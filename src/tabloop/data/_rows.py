"""Row objects (JSON rows, one dict each): do they all send the same keys?

A key one row sends and another leaves out is a gap pandas would fill silently (NaN,
which a nullable column accepts). Every path that takes row objects (the contract's
``check_records``, serving's DataFrame path, the ONNX fast path) asks the same question
here and, where it reports, says the same :data:`RAGGED_MESSAGE`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RAGGED_MESSAGE", "frame_from_records", "ragged_keys", "same_keys"]

#: what a row that leaves out a key other rows send is told, as a ``missing_column`` violation
RAGGED_MESSAGE = "row leaves out this key, which other rows send; send null if unknown"


def same_keys(rows: Sequence[Mapping[str, Any]]) -> bool:
    """True when every row sends exactly the keys of the first (or there are no rows)."""
    if not rows:
        return True
    first = rows[0].keys()
    return all(r.keys() == first for r in rows)


def ragged_keys(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Any], dict[Any, list[int]]]:
    """Every key the rows send (first seen first), and for each the positions of the rows that leave it out.

    The second is empty when every row sends the same keys (the common case, one pass).
    """
    if same_keys(rows):
        return (list(rows[0].keys()) if rows else []), {}
    seen: dict[Any, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    names = list(seen)
    return names, {k: [i for i, r in enumerate(rows) if k not in r] for k in names}


def frame_from_records(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``pd.DataFrame.from_records(rows)``, except that a column holding an integer too large for a float
    stays a column of objects, for the contract to refuse by its cell, instead of failing the whole frame.

    pandas 2 raises ``OverflowError`` for such a column (pandas 3 keeps it as objects): one JSON
    number like 1e400 written as an integer turned a client's mistake into a 500.
    """
    import pandas as pd

    try:
        return pd.DataFrame.from_records(rows)
    except OverflowError:
        pass
    df = pd.DataFrame(list(rows), dtype=object)
    out = {}
    for name in df.columns:
        try:
            out[name] = df[name].infer_objects()
        except OverflowError:
            out[name] = df[name]
    return pd.DataFrame(out, index=df.index)

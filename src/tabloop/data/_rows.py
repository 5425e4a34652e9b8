"""Row objects (JSON rows, one dict each): do they all send the same keys?

A key one row sends and another leaves out is a gap pandas would fill silently (NaN,
which a nullable column accepts). Every path that takes row objects (the contract's
``check_records``, serving's DataFrame path, the ONNX fast path) asks the same question
here and, where it reports, says the same :data:`RAGGED_MESSAGE`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["RAGGED_MESSAGE", "ragged_keys", "same_keys"]

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

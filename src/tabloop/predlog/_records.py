"""The record schema of the prediction log: what one JSON line holds.

A *prediction record* is one answered row (``LOG_COLUMNS``). An *error record*
(``"kind": "error"``, ``ERROR_COLUMNS``) is one request the server answered with an
error status: it holds no inputs and no outputs, only what the operational figures
need (status, code, a truncated message, latency, how many rows it carried). A
*feedback record* is one label that came back for a logged row (``FEEDBACK_COLUMNS``).
Readers keep them apart with ``is_log_record`` and ``is_feedback_record``; ``encode``
turns records into the lines the store appends.

A prediction record may carry ``holdout: true`` (answered with the prior) and
``contract``: the rules the row broke that the contract's policy let through, as
``[{"column", "rule", "policy"}, ...]`` (``tabloop.bundle.CONTRACT_KEY``); a row within the
contract, and every row logged before the field existed, has none, so old logs read as
rows within the contract.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pandas as pd

#: the field, and its value, that mark an error record; prediction records carry no ``kind``
KIND = "kind"
ERROR_KIND = "error"
#: an error record keeps at most this many characters of the message, and this many violations
MESSAGE_LIMIT = 500
VIOLATIONS_LIMIT = 20

LOG_COLUMNS = [
    "request_id", "row", "ts", "source", "model", "version", "variant",
    "inputs", "prediction", "probabilities", "latency_ms",
]
ERROR_COLUMNS = [
    "kind", "request_id", "ts", "source", "model", "version", "variant", "dialect",
    "status", "code", "message", "violations", "rows", "latency_ms",
]
FEEDBACK_COLUMNS = ["request_id", "row", "label", "ts"]


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


def is_log_record(value: Any) -> bool:
    """A prediction record (``request_id`` and ``row``) or an error record (``kind`` error, ``request_id``)."""
    if not isinstance(value, dict) or "request_id" not in value:
        return False
    return value.get(KIND) == ERROR_KIND or "row" in value


def is_feedback_record(value: Any) -> bool:
    """A label for one logged row: ``request_id``, ``row`` and ``label``."""
    return isinstance(value, dict) and "request_id" in value and "row" in value and "label" in value


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

"""From request bytes to a checked table of rows, on the hot path (no pydantic per row)."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd

from tabloop.bundle import Rows
from tabloop.data import RAGGED_MESSAGE, Contract, check_frame, frame_from_records, ragged_keys
from tabloop.errors import ContractViolation, MalformedRequest, PayloadTooLarge, Violation

SOURCE = "request body"
EXPECTED_SHAPE = 'expected a JSON list of row objects, e.g. [{"col": 1}], or {"rows": [{"col": 1}, ...]}'
MAX_VIOLATIONS = 100


def parse_rows(body: bytes, *, max_rows: int) -> list[dict[str, Any]]:
    """The row objects in ``body``, or a 400/413/422 error that says what shape to send."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(
            f"{SOURCE} is not valid JSON: {exc}",
            violations=[Violation(None, "malformed_json", str(exc))],
            hint=EXPECTED_SHAPE,
        ) from None
    if isinstance(payload, dict):
        if "rows" not in payload:
            raise MalformedRequest(
                f"{SOURCE} is a JSON object without a 'rows' key; {EXPECTED_SHAPE}",
                violations=[Violation(None, "shape", "object without 'rows'")],
                hint="to send one row, wrap it in a list: [{...}]",
            )
        extra = sorted(k for k in payload if k != "rows")
        if extra:
            raise MalformedRequest(
                f"{SOURCE} has unknown top-level key(s) {extra}; {EXPECTED_SHAPE}",
                violations=[Violation(k, "shape", "unknown top-level key") for k in extra],
            )
        rows = payload["rows"]
    else:
        rows = payload
    return check_rows(rows, max_rows=max_rows)


def check_rows(
    rows: Any, *, max_rows: int, source: str = SOURCE, expected: str = EXPECTED_SHAPE
) -> list[dict[str, Any]]:
    """``rows`` if it is a non-empty list of at most ``max_rows`` row objects, else a 400/413/422 error."""
    if not isinstance(rows, list):
        raise MalformedRequest(
            f"{source} holds a JSON {_json_type(rows)} where a list of rows belongs; {expected}",
            violations=[Violation(None, "shape", f"got a {_json_type(rows)}")],
        )
    if not rows:
        raise ContractViolation([Violation(None, "empty", "no rows to predict; send at least one row object")], source=source)
    if len(rows) > max_rows:
        raise PayloadTooLarge(
            f"{source} has {len(rows)} rows; this server takes at most {max_rows} per request",
            violations=[Violation(None, "max_rows", f"{len(rows)} > {max_rows}")],
            hint="split the rows over several requests, or use batch scoring",
        )
    bad = [i for i, r in enumerate(rows) if type(r) is not dict]
    if bad:
        raise MalformedRequest(
            f"{source}: {len(bad)} row(s) are not JSON objects (first: row {bad[0]}, a {_json_type(rows[bad[0]])}); "
            f"{expected}",
            violations=[
                Violation(None, "row_type", f"row is a {_json_type(rows[i])}, not an object", row=i)
                for i in bad[:MAX_VIOLATIONS]
            ],
        )
    return rows


def rows_to_frame(rows: Rows, contract: Contract) -> pd.DataFrame:
    """The rows as a DataFrame, refusing rows that leave out a key other rows send.

    pandas fills a key absent from one row with NaN, which a nullable column would
    accept: that is a silent guess, so it is reported as ``missing_column`` for that
    row, together with whatever else the contract finds.
    """
    df = frame_from_records(rows)
    _, ragged = ragged_keys(rows)
    if not ragged:
        return df
    features = set(contract.feature_names)
    found: list[Violation] = []
    for name in df.columns:
        if name not in features:
            continue
        for i in ragged.get(name, ()):
            found.append(Violation(name, "missing_column", RAGGED_MESSAGE, row=i))
            if len(found) >= MAX_VIOLATIONS:
                break
    if not found:
        return df
    seen = {(v.column, v.row) for v in found}
    try:
        check_frame(df, contract, source=SOURCE)
    except ContractViolation as exc:
        found.extend(v for v in exc.violations if (v.column, v.row) not in seen)
    raise ContractViolation(found[:MAX_VIOLATIONS], source=SOURCE)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"

"""Values made plain for JSON: the one home of the cleaning every JSON writer of tabloop needs.

Below every layer (``tabloop.errors`` uses it) and free of any library: NumPy scalars are
recognised by their ``item()`` method, so importing this costs nothing.

Four spellings, each for a reason:

- :func:`plain` (reports, results, monitoring verdicts): containers rebuilt with string
  keys, NumPy scalars as Python ones, paths as text, objects with ``to_dict()`` as their
  dict, and a number JSON cannot write (NaN, and unless told otherwise infinity) as
  ``null``;
- :func:`scalar`: a NumPy scalar as the Python one, anything else untouched (labels,
  values orjson writes without options);
- :func:`plain_records`: rows of a DataFrame as a JSON client sends them (NaN as ``None``);
- :func:`shown`: a value as an error message shows it: JSON scalars as they are, anything
  else as text, so a violation reports ``"nan"`` or ``"inf"`` (the value that broke a rule)
  rather than hiding it as ``null``.

:func:`json_default` is the ``default=`` hook of ``json.dumps`` for files written to disk.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

__all__ = ["json_default", "plain", "plain_records", "scalar", "shown"]


def scalar(value: Any) -> Any:
    """``value.item()`` for a NumPy scalar (anything with ``item()`` and no dimensions), else ``value`` itself."""
    # an array has item() too, but is no scalar: left for the caller (it has no plain form here)
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value


def plain(value: Any, *, keep_infinity: bool = False) -> Any:
    """``value`` as plain JSON data: dicts (string keys), lists, str, int, float, bool, None.

    NaN becomes ``None``, and so does an infinity unless ``keep_infinity`` (the facade's
    results have always printed ``Infinity`` for an unbounded number, the monitoring
    verdicts ``null``). Values with no plain form (a timestamp, a string) are returned as
    they are.
    """
    if isinstance(value, dict):
        return {str(k): plain(v, keep_infinity=keep_infinity) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, keep_infinity=keep_infinity) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return plain(value.to_dict(), keep_infinity=keep_infinity)
    value = scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return value if keep_infinity and not math.isnan(value) else None
    return value


def plain_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows from ``DataFrame.to_dict("records")`` as a JSON client sends them, changed in place and returned.

    NumPy scalars become Python ones and a float NaN (pandas' missing value) becomes
    ``None``; an infinity stays, because the contract, not this, decides what to do with it.
    """
    for record in records:
        for key, value in record.items():
            value = scalar(value)
            record[key] = None if isinstance(value, float) and math.isnan(value) else value
    return records


def shown(value: Any) -> Any:
    """``value`` as an error message's JSON shows it: str, int, bool, None and finite floats as they are, else text."""
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def json_default(obj: Any) -> Any:
    """``json.dumps(..., default=json_default)``: NumPy scalars and arrays, and paths; anything else is an error."""
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, PurePath):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

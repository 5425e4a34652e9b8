"""Semantic column types: what a column holds, inferred from its values, overridden by ``data.types``.

A storage type (pandas' dtype) says how values are kept; a semantic type says what they are
for a model. Six types, and what the contract does with each:

- ``numeric``: numbers, a feature (a number column of the contract);
- ``categorical``: labels from a small set, a feature (a category column);
- ``boolean``: two values (true/false, yes/no, 0/1), a feature kept as stored, as the
  contract always has: 0/1 numbers stay a number column, true/false or yes/no a category column;
- ``datetime``: dates and times, kept out of the features (a raw timestamp lets a model
  memorise when a row was recorded rather than learn from it; turn it into features first);
- ``text``: free text (long, mostly different sentences), kept out of the features;
- ``identifier``: a key (a different whole number or code in every row, a UUID), kept out
  of the features: it can only memorise rows.

The thresholds below are deliberately conservative: a column is only kept out of the features
when the evidence is plain, and ``data.types`` overrides any inference.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args

import numpy as np
import pandas as pd

from tabloop.data._csv import Levels, read_levels
from tabloop.data._findings import Finding
from tabloop.errors import DataError
from tabloop.spec import SemanticType

SEMANTIC_TYPES: tuple[str, ...] = get_args(SemanticType)
#: the types the model never sees as they are: the contract lists such columns as ignored
EXCLUDED_TYPES = ("datetime", "text", "identifier")

#: a column is an identifier only with at least this many rows: in a smaller table distinct values are common
MIN_ROWS_FOR_IDENTIFIER = 20
#: free text: mean length of its values in characters ...
TEXT_MIN_MEAN_LENGTH = 30
#: ... at least this share of values with a space inside (words, not codes) ...
TEXT_MIN_SPACE_SHARE = 0.5
#: ... and at least this share of distinct values (a short list of long labels is still categories)
TEXT_MIN_UNIQUE_SHARE = 0.5
#: dates stored as text: this share of the values (of a sample of SAMPLE) must look like and parse as dates
DATETIME_MIN_SHARE = 0.95
#: UUIDs (or 32 hex digits): this share of the values must be shaped so
UUID_MIN_SHARE = 0.95
#: text in which at least this share of the present values are distinct (names, titles, codes) is an identifier:
#: as categories nearly every one would be seen once, which a model cannot learn from
NEAR_UNIQUE_SHARE = 0.9
#: how many values the text tests look at (the first ones that are present): enough to judge, cheap on big tables
SAMPLE = 2_000

_UUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$")
# ISO 8601 (2024-05-01, 2024-05-01T10:00:00Z, 2024-05-01 10:00), 2024/05/01, 01/05/2024, 1.5.2024, 5-Jan-2024
_DATE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}[- ][A-Za-z]{3,9}[- ]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?\s*$"
)
# a name that says key: id, user_id, userId, customer-ID, uuid, guid, key, row numbers as pandas names them
_ID_NAME = re.compile(r"(?:^|[_\-\s.])(?:id|uuid|guid|key)$|^(?:id|uuid|guid|index|rownames|unnamed: ?0)$|[a-z]Id$",
                      re.IGNORECASE)
_BOOLEAN_PAIRS = ({"true", "false"}, {"yes", "no"}, {"y", "n"}, {"t", "f"})


def infer_semantic_types(df: pd.DataFrame) -> dict[str, SemanticType]:
    """The semantic type of every column of ``df``, by its values (and, for a key, its name).

    Rules, first match wins:

    - a bool column, a number column holding exactly 0 and 1, or a text column whose values are
      one pair of true/false, yes/no, y/n, t/f (any case): ``boolean``;
    - a datetime column, or text of which at least :data:`DATETIME_MIN_SHARE` reads as dates: ``datetime``;
    - text of which at least :data:`UUID_MIN_SHARE` are UUIDs: ``identifier``;
    - text with a mean length of :data:`TEXT_MIN_MEAN_LENGTH` characters or more, spaces in at least
      :data:`TEXT_MIN_SPACE_SHARE` of the values and :data:`TEXT_MIN_UNIQUE_SHARE` of them distinct: ``text``;
    - text with at least :data:`MIN_ROWS_FOR_IDENTIFIER` values present of which at least
      :data:`NEAR_UNIQUE_SHARE` are distinct (names, titles, codes): ``identifier``;
    - with at least :data:`MIN_ROWS_FOR_IDENTIFIER` rows, no gaps and a different whole number in every
      row, counting 0 or 1, 2, 3, ... in row order (row numbers) or in a column named like a key (``id``, ``user_id``, ``userId``,
      ``uuid``, ``key``, ``index``): ``identifier``. Distinct measurements (incomes, weights) are not keys;
    - any other number column: ``numeric``; anything else: ``categorical``.
    """
    return {str(name): _infer(df[name], str(name)) for name in df.columns}


def _infer(s: pd.Series, name: str, levels: Levels | None = None) -> SemanticType:
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if not pd.api.types.is_numeric_dtype(dtype):
        return _infer_text(s, levels)
    present = s.dropna()
    if present.empty:
        return "numeric"
    values = present.to_numpy(dtype="float64")
    # linear passes only: a sort or a hash of every value costs a second per ten numeric columns of a
    # million rows, and this runs for the contract and the profile alike
    low, high = float(values.min()), float(values.max())
    if low == 0 and high == 1 and bool(np.all((values == 0) | (values == 1))):
        return "boolean"
    if len(values) == len(s) >= MIN_ROWS_FOR_IDENTIFIER and math.isfinite(low) and math.isfinite(high):
        # row numbers count from 0 or 1 in row order; a run of years (1920..1941) is a time axis and
        # shuffled 1..n is a rank (a measurement), neither a key. Whole numbers rising strictly from 0 or 1
        # over len(s) values are 0 (or 1), 1, 2, ...: a different one in every row, without counting them
        spans_rows = low in (0, 1) and high - low + 1 == len(values)
        named = _ID_NAME.search(name) is not None
        if (spans_rows or named) and bool(np.all(np.mod(values, 1) == 0)):
            if (spans_rows and bool(np.all(np.diff(values) > 0))) or (named and _unique_per_row(s)):
                return "identifier"
    return "numeric"


def _infer_text(s: pd.Series, levels: Levels | None = None) -> SemanticType:
    """``_infer`` of a column that is not numbers, reading the whole column only where a rule needs it: dropping
    the gaps of a million cells of text (``isna`` plus a copy) cost as much as all the rules together."""
    head = _first_present(s, SAMPLE)
    if head.empty:
        return "categorical"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    text = head.map(str)
    lowered = set(text.str.strip().str.lower().unique())
    if len(lowered) <= 2 and any(lowered <= pair for pair in _BOOLEAN_PAIRS) and _all_text(s):
        return "boolean"
    if _share(text.str.match(_DATE)) >= DATETIME_MIN_SHARE and _share(_parses_as_dates(text)) >= DATETIME_MIN_SHARE:
        return "datetime"
    if _share(text.str.match(_UUID)) >= UUID_MIN_SHARE:
        return "identifier"
    if (text.str.len().mean() >= TEXT_MIN_MEAN_LENGTH and _share(text.str.strip().str.contains(r"\s"))
            >= TEXT_MIN_SPACE_SHARE and text.nunique() / len(text) >= TEXT_MIN_UNIQUE_SHARE):
        return "text"
    distinct = s.nunique() if levels is None else len(levels[1])  # of the present values
    # at least as many values are present as in the head: fewer distinct values than NEAR_UNIQUE_SHARE of the
    # head settles it without counting the gaps of the whole column
    if distinct < NEAR_UNIQUE_SHARE * len(head):
        return "categorical"
    present = len(s) - int(s.isna().sum() if levels is None else np.count_nonzero(levels[0] < 0))
    if present >= MIN_ROWS_FOR_IDENTIFIER and distinct >= NEAR_UNIQUE_SHARE * present:
        return "identifier"
    return "categorical"


def _first_present(s: pd.Series, k: int) -> pd.Series:
    """``s.dropna().iloc[:k]`` without dropping the gaps of the whole column: growing slices from the top."""
    size = k
    while True:
        head = s.iloc[:size].dropna()
        if len(head) >= k or size >= len(s):
            return head.iloc[:k]
        size *= 4


def _unique_per_row(s: pd.Series) -> bool:
    return len(s) >= MIN_ROWS_FOR_IDENTIFIER and not s.isna().any() and s.nunique() == len(s)


def _all_text(values: pd.Series) -> bool:
    """Text or Python booleans (a JSON column with gaps) in the present values: other objects that merely print
    so stay categories."""
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        return True  # a string dtype holds text only
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "boolean"):  # one C pass, not one call a value
        return True
    return bool(values.dropna().map(lambda v: isinstance(v, (str, bool, np.bool_))).all())


def _share(mask: pd.Series | np.ndarray) -> float:
    arr = np.asarray(mask, dtype=bool)
    return float(arr.mean()) if arr.size else 0.0


def _parses_as_dates(text: pd.Series) -> np.ndarray:
    """Whether each value reads as a date or time (each on its own: formats may mix)."""
    import warnings

    with warnings.catch_warnings():  # pandas warns when a value falls back to dateutil: trying is the point here
        warnings.simplefilter("ignore")
        try:  # utc: values with and without a time zone may mix (naive ones count as UTC)
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError):
            return np.zeros(len(text), dtype=bool)
    return parsed.notna().to_numpy()


def resolve_types(
    df: pd.DataFrame, overrides: Mapping[str, str] | None = None, *, levels: Mapping[str, Levels] | None = None
) -> dict[str, SemanticType]:
    """Every column's semantic type: ``overrides`` (``data.types``) where given, checked against the
    values (:func:`check_overrides`), else inferred (:func:`infer_semantic_types`). ``levels``:
    :func:`text_levels` of ``df`` when the caller has them (its distinct values are then not counted again)."""
    checked = check_overrides(df, overrides)
    levels = levels or {}
    return {str(name): checked[str(name)] if str(name) in checked else _infer(df[name], str(name),
                                                                             levels.get(str(name)))
            for name in df.columns}


def text_levels(df: pd.DataFrame) -> dict[str, Levels]:
    """Each text (object) column factorized once: the semantic types, the contract and the profile each counted a
    text column's distinct values with a hash of every cell (a tenth of a second per million cells each)."""
    out = {}
    for name in df.columns:
        if df[name].dtype == object:
            # a CSV read by arrow came with them (its dictionary encoding); anything else is factorized here
            out[str(name)] = read_levels(df, name) or pd.factorize(df[name], use_na_sentinel=True)
    return out


def check_overrides(df: pd.DataFrame, overrides: Mapping[str, str] | None) -> dict[str, SemanticType]:
    """``overrides`` (``data.types``) checked against ``df``.

    Raises ``DataError`` naming the column for a column not in ``df``, a type not known,
    ``numeric`` over values that are not numbers, ``boolean`` over more than two values or
    ``datetime`` over values that are not dates, with the first bad rows.
    """
    overrides = dict(overrides or {})
    columns = [str(c) for c in df.columns]
    unknown = [c for c in overrides if c not in columns]
    if unknown:
        raise DataError(f"data.types names column(s) {unknown} that are not in the data (columns: {columns})",
                        hint="fix the names in data.types in tabloop.yaml, or remove them")
    position = {str(c): i for i, c in enumerate(df.columns)}
    return {name: _checked_override(df.iloc[:, position[name]], name, kind) for name, kind in overrides.items()}


def _checked_override(s: pd.Series, name: str, kind: str) -> SemanticType:
    if kind not in SEMANTIC_TYPES:
        raise DataError(f"data.types: column {name!r} has type {kind!r}, which is not one of {list(SEMANTIC_TYPES)}")
    present = s.dropna()
    if kind == "numeric":
        bad = _not_numbers(s)
        if bad:
            raise DataError(
                f"data.types says column {name!r} is numeric, but {len(bad)} of its values are not numbers "
                f"({_cells(s, bad)}; rows count from 0 after the header)",
                hint=f"fix or blank those cells, or set {_key(name)} to categorical",
            )
    elif kind == "boolean":
        distinct = present.map(_label).unique()
        if len(distinct) > 2:
            shown = sorted(map(str, distinct))[:10]
            raise DataError(f"data.types says column {name!r} is boolean, but it holds {len(distinct)} distinct "
                            f"values ({shown})", hint=f"set {_key(name)} to categorical")
    elif kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(s.dtype) and not present.empty:
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            raise DataError(f"data.types says column {name!r} is datetime, but it holds {s.dtype} values",
                            hint="store the dates as ISO text (2024-05-01) or leave data.types to infer the type")
        ok = _parses_as_dates(present.map(str))
        if not ok.all():
            positions = np.flatnonzero(s.notna().to_numpy())[~ok].tolist()
            raise DataError(f"data.types says column {name!r} is datetime, but {len(positions)} of its values are "
                            f"not dates ({_cells(s, positions)}; rows count from 0 after the header)",
                            hint="fix or blank those cells (ISO 8601 reads best: 2024-05-01T10:00:00)")
    return kind  # type: ignore[return-value]


def _key(name: str) -> str:
    """How a column's entry in data.types is written: dotted when the name allows it, else quoted."""
    return f"data.types.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f'data.types["{name}"]'


def _label(value: Any) -> str:
    from tabloop.data._categories import category_label

    return category_label(value)


def _not_numbers(s: pd.Series) -> list[int]:
    """Positions of the present cells that are not numbers (booleans are not numbers)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return np.flatnonzero(s.notna().to_numpy()).tolist()
    if pd.api.types.is_numeric_dtype(s.dtype):
        return []
    raw = s.to_numpy(dtype=object)
    out: list[int] = []
    for i, v in enumerate(raw):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, (bool, np.bool_)):
            out.append(i)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            continue
        elif pd.isna(pd.to_numeric(str(v).strip(), errors="coerce")):
            out.append(i)
    return out


def _cells(s: pd.Series, positions: Sequence[int]) -> str:
    shown = ", ".join(f"row {i} {s.iat[i]!r}" for i in positions[:5])
    return shown + (f" and {len(positions) - 5} more" if len(positions) > 5 else "")


def apply_types(df: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """``df`` with the columns ``types`` calls numeric but that are stored as text turned into numbers.

    ``resolve_types`` has checked that every present value is a number, so nothing is lost; the
    other columns are left as they are (the contract spells categories and checks the rest).
    """
    out = df
    for name, kind in types.items():
        if kind != "numeric" or name not in df.columns:
            continue
        s = df[name]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            continue
        if out is df:
            out = df.copy()
        out[name] = pd.to_numeric(s.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    if out is not df:
        out.attrs = dict(df.attrs)
    return out


def excluded_by_type(
    types: Mapping[str, str], *, target: str | None = None, ignored: Sequence[str] = ()
) -> list[str]:
    """Feature columns whose type keeps them out of the features (datetime, free text, identifier)."""
    return [name for name, kind in types.items()
            if kind in EXCLUDED_TYPES and name != target and name not in ignored]


_WHY = {
    "identifier": ("a different value in every row (an identifier): as a feature it can only memorise rows",
                   "info"),
    "text": ("free text: the model does not read text", "warning"),
    "datetime": ("dates or times: as raw values they let a model learn when rows were recorded, not what they "
                 "say", "warning"),
}


def type_findings(
    df: pd.DataFrame,
    types: Mapping[str, str],
    *,
    overrides: Mapping[str, str] | None = None,
    target: str | None = None,
    ignored: Sequence[str] = (),
) -> list[Finding]:
    """One finding per column kept out of the features by its type, saying why and how to keep it in."""
    overrides = overrides or {}
    out: list[Finding] = []
    for name in excluded_by_type(types, target=target, ignored=ignored):
        kind = types[name]
        why, severity = _WHY[kind]
        chosen = name in overrides
        unique = float(df[name].nunique() / len(df)) if len(df) else 0.0
        if chosen:
            message = f"column {name!r} is typed {kind} in data.types: it is left out of the features"
            action = "nothing to do; remove it from data.types to let tabloop infer its type"
            severity = "info"
        else:
            if kind == "identifier" and not (df[name].notna().all() and df[name].nunique() == len(df)):
                why = why.replace("in every row", "in nearly every row")
            message = f"column {name!r} holds {why}; it is left out of the features"
            keep_as = "numeric" if pd.api.types.is_numeric_dtype(df[name].dtype) else "categorical"
            action = (f"to use it as a feature, set {_key(name)} to {keep_as}"
                      + ("; or derive features from it (day of week, hour, age) in the data" if kind == "datetime"
                         else ""))
        out.append(Finding(
            code=f"{kind}_column", severity=severity, message=message, action=action, column=name, score=unique,
            spec_change=None if chosen else f"{_key(name)}: "
            + ("numeric" if pd.api.types.is_numeric_dtype(df[name].dtype) else "categorical"),
        ))
    return out

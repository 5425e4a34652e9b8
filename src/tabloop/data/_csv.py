"""Reading a CSV file into the frame pandas' reader makes of it, with pyarrow's multithreaded reader where it agrees.

pandas' C parser read the profile benchmark's 161 MiB in a second of one core; pyarrow's reader
parses on every core in about half the CPU. The two differ at the edges, so arrow's table is
taken only when it is the frame pandas would have made, and pandas reads the file otherwise:

- types: only whole numbers, numbers, true/false, text and empty columns are taken from arrow
  (a date or a time, which arrow types and pandas leaves as text, is read again as text);
  text whose first value reads as a number or as true/false, which pandas may have typed where
  arrow did not (spaces around a number, ``Infinity``), and whole numbers past 2**53 with gaps
  or past 2**63 (pandas' float and uint64) go to pandas;
- gaps: the markers pandas reads as missing (``NA``, ``null``, ``None``, ...) are arrow's too; a
  gap in text or in a true/false column is ``NaN`` as pandas has it, not ``None``;
- layout: a header with an empty or repeated name, ragged rows, bytes that are not UTF-8, or any
  other error of arrow's goes to pandas, whose error messages the callers already explain.

Numbers: both read each value as the double nearest its text, the correctly rounded one. pandas'
own default parser (``float_precision=None``) is off by one unit in the last place in about one
value in eight of 17 significant digits, so pandas is asked for ``round_trip`` (Python's own
conversion) here: whichever reader takes a file, its numbers are the same, and the same as JSON
gives for the same text (tests/data/test_csv.py).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: what pandas reads as missing by default (``pandas._libs.parsers.STR_NA_VALUES``; pinned by tests/data/test_csv.py)
NA_VALUES = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
             "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
#: what pandas' C parser reads as booleans
TRUE_VALUES = ("True", "TRUE", "true")
FALSE_VALUES = ("False", "FALSE", "false")
#: beyond this a whole number is not exact as a double: pandas reads such a column with gaps digit by digit
EXACT_INTEGER = 2**53
#: smaller files are read by pandas: importing pyarrow's reader and starting its threads costs more than it saves
ARROW_MIN_BYTES = 4 * 2**20
#: text columns whose first values are looked at for numbers pandas may have read
PROBE = 100
#: a number or a boolean as pandas may read one (float() would take 1_000 too, which no CSV reader does)
_TYPED = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)|true|false", re.IGNORECASE)


def read_csv(path: Path) -> pd.DataFrame:
    """``pd.read_csv(path, low_memory=False, float_precision="round_trip")``, from pyarrow's reader where it makes
    the same frame. Raises what pandas raises."""
    df = read_csv_arrow(path) if _size(path) >= ARROW_MIN_BYTES else None
    if df is not None:
        return df
    return pd.read_csv(path, low_memory=False, float_precision="round_trip")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_csv_arrow(path: Path) -> pd.DataFrame | None:
    """The frame pandas would make of ``path``, read by pyarrow; None where arrow's reading may differ from pandas'."""
    if _pandas_types_text_as_str():
        return None  # pandas 3 reads text as its str dtype: pandas reads, rather than a second path to keep in step
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency; without it pandas reads
        return None
    convert = dict(null_values=list(NA_VALUES), true_values=list(TRUE_VALUES), false_values=list(FALSE_VALUES),
                   strings_can_be_null=True, quoted_strings_can_be_null=True)
    # a quoted value may hold a line break (pandas reads it so): arrow must then not cut its blocks at any line
    # break, which costs it a third more CPU; a file without a quote has no such value
    parse = pacsv.ParseOptions(newlines_in_values=_has_quotes(path))
    # blocks of 4 MiB and the C library's allocator: a third less CPU than arrow's 1 MiB blocks in mimalloc on the
    # benchmark table, most of it system time spent mapping and unmapping memory
    read = dict(read_options=pacsv.ReadOptions(block_size=4 << 20), parse_options=parse,
                memory_pool=pa.system_memory_pool())
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(**convert), **read)
        # an empty name is pandas' "Unnamed: <position>" (R's row names); a repeated one pandas renames (a.1), which
        # read_table's header check then refuses in its own words
        names = [name or f"Unnamed: {i}" for i, name in enumerate(table.column_names)]
        if len(set(names)) != len(names) or table.num_rows == 0:  # no rows: pandas' column types, read_table's error
            return None
        retype = [i for i, f in enumerate(table.schema) if not _plain(f.type, pa)]
        if retype:  # dates and times: text, as pandas leaves them
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types={table.column_names[i]: pa.string() for i in retype}, **convert), **read)
        rows, kinds, arrays = table.num_rows, list(table.schema.types), list(table.columns)
        del table  # each arrow column is let go once converted: the file is not held twice

        def convert(i: int) -> tuple[Any, Levels | None] | None:
            done = _pandas_values(kinds[i], arrays[i], pa)
            arrays[i] = None
            return done

        # two at a time: arrow's dictionary encoding and casts release the GIL, numpy's take of objects does not
        with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            converted = list(pool.map(convert, range(len(names))))
        if any(done is None for done in converted):
            return None
    except (pa.ArrowException, OSError, ValueError, UnicodeError):
        return None  # pandas reads it, or says why it cannot
    df = pd.DataFrame({name: done[0] for name, done in zip(names, converted, strict=True)},
                      index=pd.RangeIndex(rows), copy=False)
    _remember_levels(df, {name: done[1] for name, done in zip(names, converted, strict=True) if done[1] is not None})
    return df


#: ``pd.factorize(s, use_na_sentinel=True)`` of a text column: codes (-1 for a gap) and the distinct values
Levels = tuple[np.ndarray, Any]
#: where a frame this reader made keeps its text columns' levels (not ``attrs``: pandas deep-copies those into every
#: frame derived from it, a million codes at a time)
_LEVELS = "_tabloop_text_levels"


def _remember_levels(df: pd.DataFrame, levels: dict[str, Levels]) -> None:
    # each with the array it describes, so that a column replaced since reading is not described by them
    object.__setattr__(df, _LEVELS, {name: (df[name].to_numpy(), *found) for name, found in levels.items()})


def read_levels(df: pd.DataFrame, name: str) -> Levels | None:
    """The levels of text column ``name`` as this reader found them, handed over once (None for any other frame or
    column, for a column replaced since reading, and the second time): the first to ask is whoever read the frame,
    before anything could write into it (nothing in tabloop writes into a frame it read), and the frame does not
    keep a million codes per text column alive after that."""
    remembered = df.__dict__.get(_LEVELS, {}).pop(name, None)
    if remembered is None:
        return None
    values, codes, uniques = remembered
    now = df[name].to_numpy() if name in df.columns else None
    if now is None or now.dtype != object or len(now) != len(values) or not np.shares_memory(now[:1], values[:1]):
        return None
    return codes, uniques


def _has_quotes(path: Path) -> bool:
    if str(path).lower().endswith(".gz"):
        return True  # not worth decompressing twice
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            if b'"' in chunk:
                return True
    return False


def _pandas_types_text_as_str() -> bool:
    try:
        return bool(pd.get_option("future.infer_string"))
    except (KeyError, pd.errors.OptionError):
        return int(pd.__version__.split(".")[0]) >= 3


def _plain(kind: Any, pa: Any) -> bool:
    return (pa.types.is_int64(kind) or pa.types.is_float64(kind) or pa.types.is_boolean(kind)
            or pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind))


def _pandas_values(kind: Any, column: Any, pa: Any) -> tuple[Any, Levels | None] | None:
    """A column as pandas' reader has it, with a text column's levels; None where pandas may have read it otherwise."""
    import pyarrow.compute as pc

    n = len(column)
    gaps = column.null_count
    if pa.types.is_null(kind):
        return np.full(n, np.nan), None  # an empty column: float64 NaN
    if pa.types.is_int64(kind):
        if gaps == 0:
            return column.to_numpy(), None
        extremes = pc.min_max(column)
        if max(abs(extremes["min"].as_py()), abs(extremes["max"].as_py())) > EXACT_INTEGER:
            return None
        return column.to_numpy(zero_copy_only=False).astype("float64"), None  # gaps: NaN in a float column, as pandas
    if pa.types.is_float64(kind):
        values = column.to_numpy(zero_copy_only=False)
        # numpy's fmin/fmax skip the gaps (NaN) without a copy: a fifth of arrow's max of abs, which made one
        low, high = float(np.fmin.reduce(values, initial=np.inf)), float(np.fmax.reduce(values, initial=-np.inf))
        high = max(abs(low), abs(high))
        if 2.0**63 <= high < float("inf"):
            return None  # 2**63..2**64 whole numbers are uint64 to pandas
        return values, None
    if pa.types.is_boolean(kind):
        if gaps == 0:
            return column.to_numpy(zero_copy_only=False), None
        return _with_nan(column), None  # True/False objects and NaN
    # text
    if gaps < n and _may_be_typed(pc.drop_null(column.slice(0, max(PROBE, gaps + PROBE))).slice(0, PROBE)):
        return None
    return _text(column, pc)


def _text(column: Any, pc: Any) -> tuple[np.ndarray, Levels]:
    """A text column as pandas has it (one Python string per distinct value, NaN gaps) and its levels, both from
    arrow's dictionary encoding: the distinct values in the order they first occur and each cell's code (-1 for a
    gap), which is ``pd.factorize``'s answer, without hashing a million Python strings a second time."""
    encoded = pc.dictionary_encode(column).combine_chunks()  # one dictionary for every chunk
    uniques = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object, copy=False)
    codes = encoded.indices.fill_null(-1).to_numpy().astype(np.intp)
    # a gap's code -1 takes the last value: NaN after the distinct ones
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = uniques
    table[-1] = np.nan
    values = table.take(codes)
    return values, (codes, pd.Index(uniques, dtype=object, copy=False))  # as pd.factorize gives them for a Series


def _with_nan(column: Any) -> np.ndarray:
    # one Python object per distinct value, as pandas' parser has it: a million cells of a few labels are a few
    # strings, not a million (a third of the frame's memory)
    out = column.to_pandas(deduplicate_objects=True).to_numpy()
    if column.null_count:
        out = out.astype(object, copy=False)
        out[column.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return out


def _may_be_typed(head: Any) -> bool:
    """Whether text values look like what pandas may read as numbers or booleans (then pandas reads the file)."""
    return any(_TYPED.fullmatch(value.strip()) for value in head.to_pylist())

"""Reading tables: CSV, Parquet, or a SQL query, with errors that name the source."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.errors import DataError

#: ``DataFrame.attrs`` key of a table read from text (CSV): its cells were text, so a number column
#: that pandas left as text is parsed cell by cell by the contract check (see ``check_frame``)
TEXT_SOURCE = "tabloop.text_source"
_SQL_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql", "mssql", "oracle", "duckdb")


def is_database_url(source: str) -> bool:
    return "://" in source and source.split("://", 1)[0].split("+", 1)[0] in _SQL_SCHEMES


def redact_url(url: str) -> str:
    """``url`` with its credentials (``user:password@``) replaced by ``***``: how a storage URL is shown or logged."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def read_table(source: str | Path, *, query: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file, or run ``query`` against a database URL."""
    text = str(source)
    if is_database_url(text):
        return _read_sql(text, query)
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file", hint="check the path; paths in tabloop.yaml are relative to the project folder")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz", ".txt"):
            df = pd.read_csv(path, low_memory=False)
            # pandas renames a repeated header ('a', 'a.1'); read the header as written to catch it
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            raise DataError(f"{path}: unknown table format {suffix!r}", hint="use .csv, .csv.gz or .parquet")
    except DataError:
        raise
    except Exception as exc:  # pandas raises a zoo of parser errors
        raise DataError(f"{path}: cannot be read as a table: {exc}") from exc
    if df.empty:
        raise DataError(f"{path}: the table has no rows")
    if suffix not in (".csv", ".csv.gz", ".txt"):
        header = [str(c) for c in df.columns]
    dupes = sorted({c for c in header if c and header.count(c) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column names {dupes}", hint="rename them so each column is unique")
    if suffix in (".csv", ".csv.gz", ".txt"):
        # the file's lines are counted only if a violation is reported (first_data_line): a clean
        # file is not read twice
        df.attrs[TEXT_SOURCE] = {"rows": len(df), "path": str(path), "suffix": suffix}
    return df


def first_data_line(path: Path, rows: int, suffix: str) -> int | None:
    """The file line of the first data row (2: after the header), when every row is one line.

    Blank lines (pandas skips them) or a quoted value spanning lines break the row-to-line
    mapping; the line count then disagrees with the rows and no line numbers are claimed.
    """
    if suffix != ".csv" and suffix != ".txt":
        return None
    newlines, last = 0, b"\n"
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:  # gone or changed since it was read: the message goes without line numbers
        return None
    lines = newlines + (last != b"\n")
    return 2 if lines == rows + 1 else None


def _read_sql(url: str, query: str | None) -> pd.DataFrame:
    if not query:
        raise DataError(f"{url}: a database source needs a query",
                        hint="set data.query in the spec; tabloop monitor takes --reference-query / --current-query")
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            df = pd.read_sql(sqlalchemy.text(query), conn)
    except Exception as exc:
        raise DataError(f"{url}: query failed: {exc}") from exc
    if df.empty:
        raise DataError(f"{url}: the query returned no rows")
    return df


def frame_fingerprint(df: pd.DataFrame, *, row_hashes: Any = None) -> str:
    """Content hash of a table (values, column names and order).

    ``row_hashes``: ``pd.util.hash_pandas_object(df, index=False)`` as an array, when a caller has
    it already (the profile builds it column by column), so the table is not hashed twice.
    """
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, df.columns)).encode())
    rows = pd.util.hash_pandas_object(df, index=False).to_numpy() if row_hashes is None else row_hashes
    digest.update(rows.tobytes())
    return digest.hexdigest()

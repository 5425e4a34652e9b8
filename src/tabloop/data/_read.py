"""Reading tables: CSV, Parquet, a SQL table or query, or a DataFrame, with errors that name the source."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tabloop.data._csv import read_csv
from tabloop.errors import DataError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: ``DataFrame.attrs`` key of a table read from text (CSV): its cells were text, so a number column
#: that pandas left as text is parsed cell by cell by the contract check (see ``check_frame``)
TEXT_SOURCE = "tabloop.text_source"
#: how a table handed over from Python is named in reports, results and lineage
DATAFRAME_SOURCE = "<DataFrame>"
_SQL_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql", "mssql", "oracle", "duckdb")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")
#: the first bytes of files that are tables in another format, or not text at all: a CSV named so by mistake
_MAGIC = {b"PAR1": "a Parquet file; name it .parquet", b"\x1f\x8b": "gzip-compressed; name it .csv.gz",
          b"PK\x03\x04": "a ZIP archive (an Excel workbook?); export the sheet as CSV",
          b"SQLite format 3": "an SQLite database; pass sqlite:///PATH with a table or query"}

Source = str | Path | pd.DataFrame


def is_database_url(source: str) -> bool:
    return "://" in source and source.split("://", 1)[0].split("+", 1)[0] in _SQL_SCHEMES


def redact_url(url: str) -> str:
    """``url`` with its credentials (``user:password@``) replaced by ``***``: how a storage URL is shown or logged."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def source_name(source: Source, *, query: str | None = None, table: str | None = None) -> str:
    """How a source is named in results, reports and lineage: a path, ``<DataFrame>``, or a URL without its
    credentials followed by its table or query."""
    if isinstance(source, pd.DataFrame):
        return DATAFRAME_SOURCE
    text = str(source)
    if not is_database_url(text):
        return text
    if table is not None:
        return f"{redact_url(text)} (table {table})"
    return redact_url(text) if query is None else f"{redact_url(text)} ({' '.join(query.split())})"


def read_table(source: Source, *, query: str | None = None, table: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file, a database URL's ``table`` or ``query``, or take a DataFrame as it is.

    A DataFrame is copied (the caller's frame is never changed) and checked as a file is: rows and
    unique column names.
    """
    if isinstance(source, pd.DataFrame):
        if query is not None or table is not None:
            raise DataError("a DataFrame source takes no query or table", hint="pass the DataFrame alone")
        return _checked_frame(source.copy(), DATAFRAME_SOURCE, [str(c) for c in source.columns])
    text = str(source)
    if is_database_url(text):
        return _read_sql(text, query, table)
    if query is not None or table is not None:
        raise DataError(f"{text}: a query or table needs a database URL as the source, not a file",
                        hint="pass a SQLAlchemy URL such as postgresql+psycopg://user@host:5432/db")
    path = Path(source)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    _check_file(path, suffix)
    try:
        if suffix in _CSV_SUFFIXES:
            df = read_csv(path)  # pyarrow's reader where it makes pandas' frame, else pandas'
            # pandas renames a repeated header ('a', 'a.1'); read the header as written to catch it
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
        else:
            df = pd.read_parquet(path)
            header = [str(c) for c in df.columns]
    except PermissionError as exc:
        raise DataError(f"{path}: permission denied ({exc.strerror})",
                        hint="make the file readable by this user") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot be read as a table: not text in UTF-8 ({exc.reason} at byte {exc.start})",
                        hint="save the table as UTF-8 CSV, or as Parquet") from exc
    except Exception as exc:  # pandas and pyarrow raise a zoo of parser errors
        raise DataError(f"{path}: cannot be read as a table: {_first_line(exc)}") from exc
    df = _checked_frame(df, str(path), header)
    if suffix in _CSV_SUFFIXES:
        # the file's lines are counted only if a violation is reported (first_data_line): a clean
        # file is not read twice
        df.attrs[TEXT_SOURCE] = {"rows": len(df), "path": str(path), "suffix": suffix}
    return df


def _check_file(path: Path, suffix: str) -> None:
    """Refuse, before pandas opens it, what is no table file: gone, a folder, a FIFO (opening one would
    wait for a writer forever), an unknown format, binary bytes under a CSV name."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file",
                        hint="check the path; paths in tabloop.yaml are relative to the project folder") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be opened ({exc.strerror})") from exc
    if stat.S_ISDIR(mode) and suffix not in _PARQUET_SUFFIXES:  # a folder named .parquet is a Parquet dataset
        raise DataError(f"{path}: is a directory, not a table file", hint="name a .csv or .parquet file inside it")
    if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        raise DataError(f"{path}: is not a regular file (a FIFO, socket or device) and cannot be read as a table",
                        hint="write the table to a .csv or .parquet file first")
    if suffix not in _CSV_SUFFIXES + _PARQUET_SUFFIXES:
        raise DataError(f"{path}: unknown table format {suffix!r}", hint="use .csv, .csv.gz or .parquet")
    if stat.S_ISDIR(mode):
        return
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: permission denied (not readable by this user)",
                        hint="make the file readable by this user")
    if suffix in (".csv", ".txt"):
        try:
            with open(path, "rb") as fh:
                head = fh.read(8192)
        except OSError as exc:
            raise DataError(f"{path}: cannot be opened ({exc.strerror})") from exc
        for magic, what in _MAGIC.items():
            if head.startswith(magic):
                raise DataError(f"{path}: cannot be read as a table: the file is {what.split(';')[0]}, not CSV text",
                                hint=what.split("; ", 1)[1])
        if b"\x00" in head:
            raise DataError(f"{path}: cannot be read as a table: binary content (NUL bytes), not CSV text",
                            hint="check that this is the file you meant; save the table as CSV or Parquet")


def _checked_frame(df: pd.DataFrame, name: str, header: list[Any]) -> pd.DataFrame:
    if df.empty:
        raise DataError(f"{name}: the table has no rows")
    header = [str(c) for c in header]
    dupes = sorted({c for c in header if c and header.count(c) > 1})
    if dupes:
        raise DataError(f"{name}: duplicate column names {dupes}", hint="rename them so each column is unique")
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


def _read_sql(url: str, query: str | None, table: str | None) -> pd.DataFrame:
    shown = redact_url(url)
    if query is not None and table is not None:
        raise DataError(f"{shown}: give a table or a query, not both", hint="set data.table or data.query, not both")
    if not query and not table:
        raise DataError(f"{shown}: a database source needs a query or a table",
                        hint="set data.table or data.query in the spec; tabloop monitor takes --reference-table / "
                             "--current-table or --reference-query / --current-query")
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:  # an unparsable URL, a dialect or driver that is not installed
        raise DataError(f"{shown}: not a usable database URL: {_first_line(exc)}",
                        hint="a SQLAlchemy URL such as postgresql+psycopg://user@host:5432/db, with its driver "
                             "installed") from exc
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:") \
            and not Path(database).is_file():
        engine.dispose()  # SQLite would create an empty database there: reading must not write
        raise DataError(f"{shown}: no such database file {database!r}",
                        hint="check the path; sqlite:///relative/path.db or sqlite:////absolute/path.db")
    try:
        try:
            conn = engine.connect()
        except Exception as exc:
            raise DataError(f"{shown}: cannot connect: {_reason(exc)}",
                            hint="is the server running, and are the host, port, database and user right?") from exc
        with conn:
            what = f"table {table!r}" if table is not None else "query"
            try:
                statement = _table_select(conn, table, shown) if table is not None else sqlalchemy.text(query or "")
                df = pd.read_sql(statement, conn)
            except DataError:
                raise
            except Exception as exc:
                raise DataError(f"{shown}: {what} failed: {_reason(exc)}") from exc
    finally:
        engine.dispose()
    if df.empty:
        raise DataError(f"{shown}: the {what} returned no rows" if table is None else f"{shown}: {what} has no rows")
    return _checked_frame(df, f"{shown} ({what})", list(df.columns))


def _table_select(conn: Connection, name: str, shown_url: str) -> Any:
    """``SELECT *`` of a reflected table: the name is quoted by SQLAlchemy, never pasted into SQL.

    ``schema.table`` is tried as a schema-qualified name when no table is called so literally.
    """
    import sqlalchemy

    candidates = [(name, None)]
    if "." in name:
        schema, _, bare = name.partition(".")
        candidates.append((bare, schema))
    for bare, schema in candidates:
        try:
            reflected = sqlalchemy.Table(bare, sqlalchemy.MetaData(), schema=schema, autoload_with=conn)
        except sqlalchemy.exc.NoSuchTableError:
            continue
        return sqlalchemy.select(reflected)
    known = sqlalchemy.inspect(conn).get_table_names()
    shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
    raise DataError(f"{shown_url}: no such table {name!r}", hint=f"tables here: {shown or 'none'}; a table in another schema is schema.table")


def _reason(exc: BaseException) -> str:
    """The driver's own words, on one line: pandas wraps SQLAlchemy's error, which wraps the driver's with the
    statement and a link."""
    seen: BaseException | None = exc
    while seen is not None:
        orig = getattr(seen, "orig", None)
        if orig is not None:
            return _first_line(orig)
        seen = seen.__cause__ or seen.__context__
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).strip().splitlines()[:1]) or type(exc).__name__
    return text[:300]


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

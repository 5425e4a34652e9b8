"""Reading tables: CSV, Parquet, a SQL table or query, or a DataFrame, with errors that name the source."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
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


def _engine(url: str, shown: str) -> Any:
    """A SQLAlchemy engine for ``url`` (shown as ``shown``), refusing a SQLite file that does not exist:
    SQLite would create an empty database there, and reading must not write."""
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
        engine.dispose()
        raise DataError(f"{shown}: no such database file {database!r}",
                        hint="check the path; sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return engine


def _connect(engine: Any, shown: str) -> Any:
    try:
        return engine.connect()
    except Exception as exc:
        raise DataError(f"{shown}: cannot connect: {_reason(exc)}",
                        hint="is the server running, and are the host, port, database and user right?") from exc


def _read_sql(url: str, query: str | None, table: str | None) -> pd.DataFrame:
    shown = redact_url(url)
    if query is not None and table is not None:
        raise DataError(f"{shown}: give a table or a query, not both", hint="set data.table or data.query, not both")
    if not query and not table:
        raise DataError(f"{shown}: a database source needs a query or a table",
                        hint="set data.table or data.query in the spec; tabloop monitor takes --reference-table / "
                             "--current-table or --reference-query / --current-query")
    import sqlalchemy

    engine = _engine(url, shown)
    try:
        conn = _connect(engine, shown)
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
        raise _no_rows(shown, what, table)
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


# ---------------------------------------------------------------------------------------------------------------
# Chunked reading: a table of any size, a bounded number of rows and bytes at a time (batch scoring)

#: what a CSV cell reads as missing: pandas' own list, so a streamed CSV has the gaps ``read_table`` finds
CSV_NULLS: tuple[str, ...] = tuple(sorted(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
     "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}))
#: chunk bounds when a caller gives none: about 50,000 rows or 32 MB of input, whichever comes first
CHUNK_ROWS = 50_000
CHUNK_BYTES = 32 << 20
#: the most bytes of CSV text Arrow reads and parses at once (Arrow's own default); its reader holds up to
#: 32 of them read ahead
_CSV_BLOCK = 1 << 20


def read_chunks(
    source: Source,
    *,
    rows: int = CHUNK_ROWS,
    bytes_: int = CHUNK_BYTES,
    numbers: Collection[str] = (),
    query: str | None = None,
    table: str | None = None,
) -> Iterator[pd.DataFrame]:
    """The table ``read_table`` would read, as DataFrames of at most ``rows`` rows (and about ``bytes_`` bytes of
    input), in order; memory stays bounded whatever the table's size.

    A CSV's cells stay text (``attrs[TEXT_SOURCE]`` is set, so the contract check parses number columns cell
    by cell and one bad cell is reported alone), except the ``numbers`` columns of a chunk whose every cell is
    a number or a gap: those come as float64, read at Arrow's speed. Parquet and SQL keep their types. The
    errors are ``read_table``'s, naming the source; a source without rows raises as it does.
    """
    if rows < 1 or bytes_ < 1:
        raise DataError(f"chunks need at least one row and one byte (got rows={rows}, bytes={bytes_})")
    if isinstance(source, pd.DataFrame):
        if query is not None or table is not None:
            raise DataError("a DataFrame source takes no query or table", hint="pass the DataFrame alone")
        frame = _checked_frame(source, DATAFRAME_SOURCE, [str(c) for c in source.columns])
        for start in range(0, len(frame), rows):
            yield frame.iloc[start:start + rows].reset_index(drop=True)
        return
    text = str(source)
    if is_database_url(text):
        yield from _sql_chunks(text, query, table, rows)
        return
    if query is not None or table is not None:
        raise DataError(f"{text}: a query or table needs a database URL as the source, not a file",
                        hint="pass a SQLAlchemy URL such as postgresql+psycopg://user@host:5432/db")
    path = Path(source)
    suffix = table_suffix(path)
    _check_file(path, suffix)
    chunks = _csv_chunks(path, suffix, rows, bytes_, numbers) if suffix in _CSV_SUFFIXES \
        else _parquet_chunks(path, rows, bytes_)
    seen = 0
    for chunk in chunks:
        seen += len(chunk) + len(chunk.attrs.get(MALFORMED_ATTR, ()))
        yield chunk
    if not seen:
        raise DataError(f"{path}: the table has no rows")


def table_suffix(path: Path) -> str:
    """A table file's format suffix: ``.csv.gz`` counts as one."""
    return "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()


def text_frame(table: Any, numbers: Collection[str] = ()) -> pd.DataFrame:
    """A DataFrame from an Arrow table of CSV text: the ``numbers`` columns whose every cell reads as a number
    (or a gap) become float64; every other column stays text (str, NaN for gaps), marked as read from text.

    The one conversion of CSV cells, whoever read them (this module's chunks, a Dask partition), so both give
    the same frame.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns):
        if name in numbers and pa.types.is_string(column.type):
            try:
                columns[name] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a cell that is not a number: checked cell by cell
                pass
        # text as str objects, gaps as None: what the contract check takes from JSON rows and CSV bodies alike
        columns[name] = pd.Series(_text_cells(column), dtype=object)
    df = pd.DataFrame(columns)
    df.attrs[TEXT_SOURCE] = {"rows": len(df)}
    return df


def _text_cells(column: Any) -> np.ndarray:
    """An Arrow text column as an object array of ``str`` (``None`` for a gap), the cells ``to_numpy`` gives.

    A column with few distinct values (a categorical one: HMDA's are yes/no) is dictionary-encoded and each
    distinct text made a ``str`` once, then shared by every cell that holds it: half the CPU of a ``str`` per
    cell (0.26 s against 0.50 s for the 7 text columns of 1,000,000 HMDA rows); a column of mostly distinct
    values goes cell by cell, as the dictionary would only add its hashing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(column)
    if n < 64 or not pa.types.is_string(column.type):
        return column.to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
    words = encoded.dictionary
    if len(words) > n // 4:
        return column.to_numpy(zero_copy_only=False)
    table = np.empty(len(words) + 1, dtype=object)
    table[:-1] = words.to_pylist()
    table[-1] = None  # the gap's index, below
    return table[encoded.indices.fill_null(len(words)).to_numpy(zero_copy_only=False)]


def csv_header(path: Path, suffix: str) -> list[str]:
    """The CSV file's column names as written (a repeated name is refused, naming it)."""
    import csv
    import gzip

    opener = gzip.open if suffix.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot be read as a table: not text in UTF-8 ({exc.reason} at byte {exc.start})",
                        hint="save the table as UTF-8 CSV, or as Parquet") from exc
    except (OSError, EOFError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a table: {_first_line(exc)}") from exc
    if not header:
        raise DataError(f"{path}: cannot be read as a table: no header line")
    _checked_frame(pd.DataFrame({"x": [0]}), str(path), header)  # the duplicate-name check, on the header alone
    return header


#: ``DataFrame.attrs`` keys of a streamed CSV chunk: the input row number of each row (when a malformed line was
#: skipped before it, the rows are no longer counted by position), and the malformed lines skipped since the
#: last chunk, as (row, expected fields, fields, text): rows to reject, not to lose
ROWS_ATTR = "tabloop.rows"
MALFORMED_ATTR = "tabloop.malformed"


def _csv_chunks(path: Path, suffix: str, rows: int, bytes_: int, numbers: Collection[str]) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = csv_header(path, suffix)
    # every column as text: Arrow infers types from the first block and fails the whole read on a later block
    # that disagrees; text lets the contract judge each cell, and rejects only the row that holds a bad one
    convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in header}, null_values=list(CSV_NULLS),
                                   strings_can_be_null=True, quoted_strings_can_be_null=True)
    skipped: list[tuple[int, int, int, str]] = []

    def malformed(row: Any) -> str:
        # ``number`` counts records from the header's (1), a quoted value across lines included
        skipped.append((-1 if row.number is None else row.number - 2, row.expected_columns, row.actual_columns,
                        str(row.text)[:200]))
        return "skip"

    # one thread: Arrow then numbers every malformed record; newlines inside quoted values, as pandas reads them
    read = pacsv.ReadOptions(block_size=max(1 << 16, min(bytes_, _CSV_BLOCK)), use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=malformed)
    import gzip

    # Arrow's streaming reader reads up to 32 blocks ahead of the batches taken, on its I/O thread, whatever it
    # reads from: the block size is what bounds the memory that holds. Blocks were the chunk byte bound (32 MB),
    # so a file under 1 GB was read whole ahead of the model (184 MB of a 3M-row CSV before its first chunk was
    # scored; peak RSS 567 MB at 1M rows, 1,152 MB at 10M); with 1 MiB blocks it holds about 32 MB
    try:
        fh = gzip.open(path, "rb") if suffix.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"{path}: cannot be opened ({exc.strerror})") from exc
    try:
        reader = pacsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        fh.close()
        _refuse_long_row(path, exc, read.block_size)
        raise DataError(f"{path}: cannot be read as a table: {_first_line(exc)}") from exc
    next_row, reported = 0, 0
    gaps: set[int] = set()

    def emit(part: Any) -> pd.DataFrame:
        nonlocal next_row, reported
        gaps.update(r for r, *_ in skipped[reported:])
        frame = text_frame(part, numbers)
        if gaps and max(gaps) >= next_row:  # a skipped line among these rows: number them one by one
            numbered = []
            for _ in range(part.num_rows):
                while next_row in gaps:
                    next_row += 1
                numbered.append(next_row)
                next_row += 1
            frame.attrs[ROWS_ATTR] = tuple(numbered)
        else:  # a range, not an array: pandas copies and compares attrs (pd.concat of chunks does)
            frame.attrs[ROWS_ATTR] = range(next_row, next_row + part.num_rows)
            next_row += part.num_rows
        frame.attrs[MALFORMED_ATTR] = skipped[reported:]
        reported = len(skipped)
        return frame

    # chunks of exactly ``rows`` rows (the last excepted), whatever Arrow's blocks hold, so the bound the caller
    # set is the size every chunk has (a block's remainder no longer makes a chunk of its own)
    pending: list[Any] = []
    held = 0
    with fh, reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
                _refuse_long_row(path, exc, read.block_size)
                raise DataError(f"{path}: cannot be read as a table: {_first_line(exc)}",
                                hint="save the table as UTF-8 CSV") from exc
            pending.append(batch)
            held += batch.num_rows
            while held >= rows:
                table = pa.Table.from_batches(pending)
                yield emit(table.slice(0, rows))
                rest = table.slice(rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield emit(pa.Table.from_batches(pending))
    if reported < len(skipped):  # malformed lines after the last good row: a chunk without rows carries them
        frame = text_frame(pa.table({name: pa.array([], pa.string()) for name in header}), numbers)
        frame.attrs[ROWS_ATTR] = range(0)
        frame.attrs[MALFORMED_ATTR] = skipped[reported:]
        yield frame


def _refuse_long_row(path: Path, exc: BaseException, block: int) -> None:
    """Arrow's words for a row longer than a block, said as what it means to whoever holds the file."""
    if "straddl" in str(exc):
        raise DataError(f"{path}: a row is longer than {block:,} bytes, more than the streamed CSV reader takes at "
                        "once (it reads blocks of that size, so that memory stays bounded)",
                        hint="save the table as Parquet, which has no such bound") from exc


def _parquet_chunks(path: Path, rows: int, bytes_: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(path), format="parquet")
        fragments = list(dataset.get_fragments())
        total_rows, total_bytes = 0, 0
        for fragment in fragments:
            meta = fragment.metadata
            total_rows += meta.num_rows
            total_bytes += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        per_row = max(1, total_bytes // max(1, total_rows))
        batch_rows = max(1, min(rows, bytes_ // per_row))
        header = dataset.schema.names
        _checked_frame(pd.DataFrame({"x": [0]}), str(path), header)
        batches = dataset.to_batches(batch_size=batch_rows, batch_readahead=1, fragment_readahead=1)
        for batch in batches:
            if batch.num_rows:
                yield pa.Table.from_batches([batch]).to_pandas()
    except DataError:
        raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot be read as a table: {_first_line(exc)}") from exc


def _sql_chunks(url: str, query: str | None, table: str | None, rows: int) -> Iterator[pd.DataFrame]:
    shown = redact_url(url)
    if query is not None and table is not None:
        raise DataError(f"{shown}: give a table or a query, not both", hint="pass a table or a query, not both")
    if not query and not table:
        raise DataError(f"{shown}: a database source needs a query or a table", hint="name a table or give a query")
    import sqlalchemy

    engine = _engine(url, shown)
    what = f"table {table!r}" if table is not None else "query"
    seen = 0
    try:
        conn = _connect(engine, shown)
        with conn:
            # a server-side cursor: the server hands over ``rows`` rows at a time, not the whole result
            conn = conn.execution_options(stream_results=True, max_row_buffer=rows)
            try:
                statement = _table_select(conn, table, shown) if table is not None else sqlalchemy.text(query or "")
                chunks = pd.read_sql(statement, conn, chunksize=rows)
                for chunk in chunks:
                    if len(chunk):
                        if not seen:
                            _checked_frame(chunk, f"{shown} ({what})", list(chunk.columns))
                        seen += len(chunk)
                        yield chunk
            except DataError:
                raise
            except GeneratorExit:
                raise
            except Exception as exc:
                raise DataError(f"{shown}: {what} failed: {_reason(exc)}") from exc
    finally:
        engine.dispose()
    if not seen:
        raise _no_rows(shown, what, table)


def _no_rows(shown: str, what: str, table: str | None) -> DataError:
    """The error for a query or table with no rows, as read whole or streamed."""
    return DataError(f"{shown}: the {what} returned no rows" if table is None else f"{shown}: {what} has no rows")

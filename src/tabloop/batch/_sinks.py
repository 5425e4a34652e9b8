"""Where batch output goes, a chunk at a time: a Parquet or CSV file, or a SQL table, whole or not at all.

Every sink writes under a temporary name (a hidden file beside the target, a staging table) and
renames it over the target in ``commit``; ``abort`` (or a killed process) leaves the target as it
was, so a failed run never leaves half an artifact where a reader would take it for the whole.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from tabloop.data import is_database_url, redact_url, table_suffix
from tabloop.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

FILE_SUFFIXES = (".csv", ".parquet", ".pq")


class Sink(Protocol):
    """Rows appended chunk by chunk; visible at ``where`` only after ``commit``."""

    where: str

    def write(self, frame: pd.DataFrame) -> None: ...

    def commit(self) -> str: ...

    def abort(self) -> None: ...


def check_target(target: str | Path, table: str | None, *, what: str = "output") -> str:
    """Refuse, before any row is scored, a target no sink can write; returns how it is named."""
    text = str(target)
    if is_database_url(text):
        if not table:
            raise DataError(f"{redact_url(text)}: a database {what} needs a table name",
                            hint=f"pass --{what}-table NAME")
        return f"{redact_url(text)} (table {table})"
    if table is not None:
        raise DataError(f"{text}: a table name needs a database URL as the {what}, not a file",
                        hint="pass a SQLAlchemy URL such as postgresql+psycopg://user@host:5432/db")
    path = Path(text)
    if table_suffix(path) not in FILE_SUFFIXES:
        raise DataError(f"{path}: unknown {what} format {path.suffix!r}", hint="use .csv, .parquet or a database URL")
    if path.is_dir():
        raise DataError(f"{path}: is a directory", hint=f"name a file for the {what}")
    return str(path)


def open_sink(target: str | Path, *, table: str | None = None, schema: pa.Schema | None = None) -> Sink:
    """The sink for a file (CSV or Parquet by suffix) or a database URL's ``table``; ``schema`` fixes the
    columns' types (else the first chunk's, a column of gaps as text)."""
    check_target(target, table)
    if is_database_url(str(target)):
        return SqlSink(str(target), str(table), schema)
    return FileSink(Path(target), schema)


def arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The file schema a first chunk gives: its types, with a column of nothing but gaps as text (a later
    chunk may fill it)."""
    import pyarrow as pa

    schema = pa.Schema.from_pandas(frame, preserve_index=False).remove_metadata()
    for i, field in enumerate(schema):
        if pa.types.is_null(field.type):
            schema = schema.set(i, field.with_type(pa.string()))
    return schema


class FileSink:
    """A Parquet (``pyarrow.parquet.ParquetWriter``) or CSV (``pyarrow.csv.CSVWriter``) file, appended to."""

    def __init__(self, path: Path, schema: pa.Schema | None = None) -> None:
        self.path = path
        self.where = str(path)
        self.csv = table_suffix(path) == ".csv"
        self.schema = schema
        self._writer: Any = None
        self._tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")

    def _open(self, schema: pa.Schema) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self._writer = pacsv.CSVWriter(str(self._tmp), schema) if self.csv else pq.ParquetWriter(str(self._tmp), schema)

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        if self._writer is None:
            self._open(self.schema if self.schema is not None else arrow_schema(frame))
        try:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"{self.where}: a chunk's columns do not fit the first chunk's types: {exc}",
                            hint="a column changed type part-way through the input") from exc
        self._writer.write_table(table)

    def commit(self) -> str:
        if self._writer is None:  # nothing written: the file still gets its columns
            if self.schema is None:
                raise DataError(f"{self.where}: no rows and no columns to write")
            self._open(self.schema)
            self._writer.write_table(self.schema.empty_table())
        self._writer.close()
        self._writer = None
        with open(self._tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self.path)
        return self.where

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the temporary file goes anyway
                pass
            self._writer = None
        self._tmp.unlink(missing_ok=True)


class SqlSink:
    """A table of a database: chunks go to a staging table (one transaction each), which replaces the target
    in one transaction at the end (drop, rename), so readers see the old table or the whole new one."""

    def __init__(self, url: str, table: str, schema: pa.Schema | None = None) -> None:
        import sqlalchemy

        self.table = table
        self.where = f"{redact_url(url)} (table {table})"
        self.schema = schema
        self.stage = f"{table[:40]}__tabloop_{uuid.uuid4().hex[:8]}"
        try:
            self.engine = sqlalchemy.create_engine(url)
        except Exception as exc:
            raise DataError(f"{redact_url(url)}: not a usable database URL: {exc}") from exc
        self._created = False

    def _quote(self, name: str) -> str:
        return str(self.engine.dialect.identifier_preparer.quote(name))

    def write(self, frame: pd.DataFrame) -> None:
        import sqlalchemy

        texts = {c: sqlalchemy.Text() for c in frame.columns if frame[c].dtype == object}
        try:
            with self.engine.begin() as conn:
                frame.to_sql(self.stage, conn, if_exists="append", index=False, dtype=texts or None)
        except Exception as exc:
            raise DataError(f"{self.where}: writing a chunk failed: {str(exc).splitlines()[0][:300]}") from exc
        self._created = True

    def commit(self) -> str:
        import sqlalchemy

        if not self._created:
            if self.schema is None:
                raise DataError(f"{self.where}: no rows and no columns to write")
            self.write(self.schema.empty_table().to_pandas())
        try:
            with self.engine.begin() as conn:
                conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {self._quote(self.table)}"))
                conn.execute(sqlalchemy.text(
                    f"ALTER TABLE {self._quote(self.stage)} RENAME TO {self._quote(self.table)}"))
        except Exception as exc:
            self.abort()
            raise DataError(f"{self.where}: replacing the table failed: {str(exc).splitlines()[0][:300]}") from exc
        self.engine.dispose()
        return self.where

    def abort(self) -> None:
        import sqlalchemy

        try:
            with self.engine.begin() as conn:
                conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {self._quote(self.stage)}"))
        except Exception:  # noqa: BLE001 - the run's own error is the one to report
            pass
        self.engine.dispose()

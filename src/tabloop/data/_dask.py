"""Tables on a Dask cluster: the one way tabloop reaches a cluster, reads a table into partitions and splits it.

Batch scoring (``tabloop.batch``) and training (``tabloop.training``) both come here for a client,
so ``--scheduler`` and ``--workers`` mean the same thing to ``predict`` and ``train``. Nothing here
computes a whole table: a split is decided row by row inside each partition, a summary is a Dask
reduction, and a sample is bounded by the rows asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data._read import CSV_NULLS, frame_fingerprint, is_database_url, table_suffix
from tabloop.errors import DataError
from tabloop.spec import Spec

#: the formats a Dask engine reads (a Parquet dataset may be a folder of part files)
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


@contextmanager
def _children_print_to_stderr(processes: bool) -> Iterator[None]:
    """Start worker processes with this process's stderr as their stdout.

    They inherit file descriptor 1, and what runs in them prints there from C (LightGBM's
    "[LightGBM] [Info] Listening..." as its network starts): under ``--json`` that landed before the one
    JSON document on stdout (seen in one whole-suite run of two; the workers' timing decides).
    """
    if not processes:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int = 2, processes: bool = True) -> Iterator[Any]:
    """A client of the cluster at ``scheduler`` (``tcp://10.0.0.5:8786``), or of a ``LocalCluster`` of
    ``workers`` single-threaded processes started here and closed on exit.

    An address that does not answer within Dask's ``distributed.comm.timeouts.connect`` (30 s unless
    configured) is a :class:`DataError` naming it.
    """
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    # the scheduler's and nannies' INFO lines (a dozen per run) are not the user's business; warnings still show
    logging.getLogger("distributed").setLevel(logging.WARNING)
    # every shuffle (xgboost.dask aligns its inputs with one) is announced as a WARNING that asks nothing of anyone
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    try:
        if scheduler:
            client = Client(scheduler, timeout=dask.config.get("distributed.comm.timeouts.connect"))
        else:
            with _children_print_to_stderr(processes):
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                       dashboard_address=":0", silence_logs=logging.WARNING)
            client = Client(cluster)
    except Exception as exc:
        if cluster is not None:
            cluster.close()
        raise DataError(f"cannot reach the Dask scheduler {scheduler or '(local cluster)'}: {exc}",
                        hint="start one with 'dask scheduler' and 'dask worker ADDRESS' and pass its address, "
                             "or drop --scheduler to start a local cluster") from exc
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def read_dask_table(source: str | Path, *, blocksize: int | None = None) -> Any:
    """``source`` (a CSV or Parquet file, a folder of Parquet part files, or a glob of either) as a Dask
    DataFrame, typed as the local reader types it: numbers as float64 where a column holds gaps, text
    as object columns, the same missing markers. Nothing is read but the schema and a first block."""
    import dask
    import dask.dataframe as dd

    text = str(source)
    if is_database_url(text):
        raise DataError(f"{text}: the Dask engine reads CSV or Parquet files, not a database",
                        hint="export the table to Parquet (one file or a folder of part files), or train locally")
    path = Path(text)
    suffix = table_suffix(path) if path.suffix else ""
    parquet = suffix in PARQUET_SUFFIXES or (path.is_dir() and any(path.glob("*.parquet")))
    if not parquet and suffix not in CSV_SUFFIXES:
        raise DataError(f"{text}: the Dask engine reads .csv, .csv.gz or .parquet (a file or a folder of parts), "
                        f"not {suffix or 'a folder without .parquet files'!r}", hint="convert the table to Parquet")
    if "*" not in text and not path.exists():
        raise DataError(f"{text}: no such file", hint="check data.source in tabloop.yaml")
    with dask.config.set({"dataframe.convert-string": False}):  # the local reader's object columns, not Arrow's
        try:
            if parquet:
                return dd.read_parquet(text)
            return dd.read_csv(text, keep_default_na=False, na_values=list(CSV_NULLS), assume_missing=True,
                               blocksize=None if suffix.endswith(".gz") else (blocksize or "64MB"))
        except Exception as exc:
            raise DataError(f"{text}: cannot be read as a table: {str(exc).splitlines()[0][:300]}") from exc


def dask_split(ddf: Any, spec: Spec, *, share: float, salt: int = 0) -> tuple[Any, Any]:
    """``ddf``'s rows in two parts, ``share`` of them in the second, each row placed by itself inside its partition.

    ``random`` and ``stratified`` draw each row with a random stream seeded by ``spec.seed``, ``salt`` and the
    partition's number (stratification needs the whole table's class counts; on many rows a random draw keeps
    the shares of each class within a fraction of a percent); ``group`` puts a group wholly on one side by a hash
    of its value. The same table in the same partitions and the same seed give the same parts. ``time`` needs
    the table ordered in time, which a Dask engine does not do: it is refused.
    """
    split = spec.split
    if split.strategy == "time":
        raise DataError("split.strategy 'time' needs the whole table ordered in time, which the Dask engine does not do",
                        hint="split the table into a training file and a later test file yourself, or train locally")
    column = split.group_column if split.strategy == "group" else None
    if column is not None and column not in ddf.columns:
        raise DataError(f"split column {column!r} is not in the data (columns: {list(ddf.columns)})")
    seed = int(spec.seed) * 1_000_003 + salt
    # one opaque step per side that reads every column: Dask cannot then push a column selection down to the
    # reader, which could cut the file into other partitions for each side and misalign the draws
    first = ddf.map_partitions(_side, False, share, seed, column, meta=ddf._meta)
    second = ddf.map_partitions(_side, True, share, seed, column, meta=ddf._meta)
    return first, second


def _side(part: pd.DataFrame, second: bool, share: float, seed: int, column: str | None,
          partition_info: Any = None) -> pd.DataFrame:
    if column is not None:
        # a group's place depends on its value and the seed alone (the seed is the hash's 16-byte key)
        hashed = pd.util.hash_pandas_object(part[column].astype(str), index=False, hash_key=f"{seed % 10**16:016d}")
        draw = hashed.to_numpy() / float(np.iinfo(np.uint64).max)
    else:
        number = (partition_info or {}).get("number", 0)
        draw = np.random.default_rng([seed, number]).random(len(part))
    return part[(draw < share) == second]


def partition_counts(s: Any) -> Any:
    """Each partition's value counts of the Dask column ``s``, lazily (no shuffle: a handful of values per
    partition); :func:`summed_counts` adds them up once computed."""
    return s.map_partitions(lambda p: p.value_counts(dropna=True), meta=pd.Series(dtype="int64", name="count"))


def summed_counts(counts: pd.Series) -> pd.Series:
    """Value counts of the whole column from :func:`partition_counts`' computed result."""
    return counts.groupby(level=0, sort=True).sum()


def dask_fingerprint(ddf: Any) -> Any:
    """Each partition's :func:`frame_fingerprint`, lazily (compute it with the table's other reductions, in one
    pass); :func:`joined_fingerprint` of the result is the table's content hash."""
    return ddf.map_partitions(lambda p: pd.Series([frame_fingerprint(p)]), meta=(None, object))


def joined_fingerprint(parts: pd.Series) -> str:
    """The partitions' fingerprints hashed in order: the same rows split into other partitions hash differently."""
    digest = hashlib.sha256()
    digest.update("".join(parts.astype(str)).encode())
    return digest.hexdigest()


def bounded_sample(ddf: Any, rows: int, total: int, *, seed: int) -> pd.DataFrame:
    """About ``rows`` rows drawn from all partitions (all of them when the table has fewer), brought to this process."""
    if total <= rows:
        return ddf.compute().reset_index(drop=True)
    return ddf.sample(frac=rows / total, random_state=seed).compute().reset_index(drop=True)


def widen_contract(contract: Any, ddf: Any) -> Any:
    """``contract`` (inferred from a sample) with each column's range, gaps and categories taken from every row
    of ``ddf`` by Dask reductions, so no value of the table falls outside the contract learned from it."""
    import dask

    from tabloop.data._categories import category_label
    from tabloop.data._contract import ColumnContract

    wanted: dict[str, Any] = {}
    for col in contract.columns:
        if col.name not in ddf.columns:
            continue
        s = ddf[col.name]
        if col.kind == "numeric":
            s = dd_numeric(s)
            wanted[col.name] = (s.min(), s.max(), s.isna().any())
        else:
            wanted[col.name] = (partition_counts(s), s.isna().any())
    (found,) = dask.compute(wanted)
    cols = []
    for col in contract.columns:
        if col.name not in found:
            cols.append(col)
        elif col.kind == "numeric":
            lo, hi, gaps = found[col.name]
            cols.append(ColumnContract(col.name, "numeric", bool(col.nullable or gaps), col.integer,
                                       _finite_or(lo, col.min, min), _finite_or(hi, col.max, max),
                                       col.categories))
        else:
            counts, gaps = found[col.name]
            cats = sorted(set(col.categories or []) | {category_label(v) for v in summed_counts(counts).index})
            cols.append(ColumnContract(col.name, "categorical", bool(col.nullable or gaps), categories=cats))
    return dataclasses.replace(contract, columns=cols)


def dd_numeric(s: Any) -> Any:
    """A Dask column as float64 (text that is not a number becomes a gap: the contract's own check says so later)."""
    return s.map_partitions(pd.to_numeric, errors="coerce", meta=(s.name, "float64")).astype("float64")


def _finite_or(value: Any, other: float | None, pick: Any) -> float | None:
    values = [float(v) for v in (value, other) if v is not None and np.isfinite(float(v))]
    return float(pick(values)) if values else None


def write_parquet_parts(ddf: Any, path: Path, *, keep: int = 0) -> tuple[int, pd.DataFrame]:
    """Write ``ddf`` to the one Parquet file ``path``, partition after partition as each is computed (this process
    holds one at a time), and return its row count and its first ``keep`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(ddf._meta)
    rows, kept = 0, []
    writer = pq.ParquetWriter(str(path), schema)
    try:
        for part in ddf.to_delayed():
            frame = part.compute().reset_index(drop=True)
            if not len(frame):
                continue
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False, safe=False))
            if rows < keep:
                kept.append(frame.head(keep - rows))
            rows += len(frame)
    finally:
        writer.close()
    head = pd.concat(kept, ignore_index=True) if kept else ddf._meta.iloc[:0]
    return rows, head


def _schema(meta: pd.DataFrame) -> Any:
    import pyarrow as pa

    fields = []
    for name, dtype in meta.dtypes.items():
        kind = pa.string() if dtype == object else pa.from_numpy_dtype(dtype) if dtype.kind in "biufM" else None
        if kind is None:
            kind = pa.Schema.from_pandas(meta[[name]], preserve_index=False).field(0).type
        fields.append(pa.field(str(name), kind))
    return pa.schema(fields)

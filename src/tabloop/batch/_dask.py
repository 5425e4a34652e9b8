"""The Dask engine: the input's partitions scored on a cluster's workers by the local engine's ``ChunkScorer``.

``dask.dataframe`` splits a CSV by byte ranges (or a Parquet dataset by row groups); each
worker turns its partition's cells into the frame the local reader gives (``text_frame``:
the same conversion of CSV text), scores it ``chunk_rows`` rows at a time, and the client
writes the results in input order, numbering rows as it goes. At most ``2 x workers``
partitions are in flight, so the client's memory stays bounded too. The result is the local
engine's, row for row (``tests/batch/test_dask.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.batch._stream import ChunkScorer, ScoredChunk
from tabloop.data import CSV_NULLS, TEXT_SOURCE, csv_header, dask_client, table_suffix, text_frame
from tabloop.errors import DataError


def dask_results(
    scorer: ChunkScorer,
    path: Path,
    *,
    chunk_rows: int,
    chunk_bytes: int,
    scheduler: str | None = None,
    workers: int = 2,
) -> Iterator[ScoredChunk]:
    """Score ``path`` (CSV or Parquet) on the cluster at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``), or on a ``LocalCluster`` of ``workers`` single-threaded processes."""
    import dask
    import dask.dataframe as dd

    suffix = table_suffix(path)
    if not path.exists():
        raise DataError(f"{path}: no such file", hint="check the path")
    text = suffix in (".csv", ".csv.gz", ".txt")
    if not text and suffix not in (".parquet", ".pq"):
        raise DataError(f"{path}: unknown table format {suffix!r}", hint="use .csv, .csv.gz or .parquet")
    numbers = list(scorer.bundle.contract.numeric)
    with dask.config.set({"dataframe.convert-string": False}):  # the local reader's object columns, not Arrow's
        try:
            if text:
                header = csv_header(path, suffix)
                ddf = dd.read_csv(str(path), dtype={c: object for c in header}, keep_default_na=False,
                                  na_values=list(CSV_NULLS), blocksize=None if suffix.endswith(".gz") else chunk_bytes)
            else:
                ddf = dd.read_parquet(str(path))
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: cannot be read as a table: {str(exc).splitlines()[0][:300]}") from exc
        parts = ddf.to_delayed()
    with dask_client(scheduler, workers=workers) as client:
        yield from _in_order(client, scorer, parts, chunk_rows, numbers, text)


def _in_order(client: Any, scorer: ChunkScorer, parts: list[Any], chunk_rows: int, numbers: list[str],
              text: bool) -> Iterator[ScoredChunk]:
    import dask

    window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
    [shared] = client.scatter([scorer], broadcast=True)  # one copy per worker, its predictor built once there
    pending: deque[Any] = deque()
    upcoming = iter(parts)
    offset = 0

    def submit() -> bool:
        part = next(upcoming, None)
        if part is None:
            return False
        pending.append(client.compute(dask.delayed(score_partition)(shared, part, chunk_rows, numbers, text)))
        return True

    while len(pending) < window and submit():
        pass
    while pending:
        result: ScoredChunk = pending.popleft().result()
        submit()
        if len(result.frame):
            result.frame["row"] += offset
        if len(result.rejects):
            result.rejects["row"] += offset
        offset += result.rows_in
        yield result


def score_partition(scorer: ChunkScorer, part: pd.DataFrame, chunk_rows: int, numbers: Collection[str],
                    text: bool) -> ScoredChunk:
    """One partition on a worker, rows numbered from 0 (the client shifts them): CSV cells converted as the
    local reader converts them, then scored ``chunk_rows`` rows at a time."""
    import pyarrow as pa

    part = part.reset_index(drop=True)
    if text:
        part = text_frame(pa.Table.from_pandas(part, preserve_index=False), numbers)
    pieces = []
    for start in range(0, len(part), chunk_rows):
        piece = part.iloc[start:start + chunk_rows].reset_index(drop=True)
        if text:
            piece.attrs[TEXT_SOURCE] = {"rows": len(piece)}
        pieces.append(scorer(piece, start))
    return _joined(pieces, len(part))


def _joined(pieces: list[ScoredChunk], rows_in: int) -> ScoredChunk:
    frames = [p.frame for p in pieces if len(p.frame)]
    rejects = [p.rejects for p in pieces if len(p.rejects)]
    inputs = [p.inputs for p in pieces if p.inputs is not None and len(p.inputs)]
    marks: dict[int, Any] = {}
    base = 0
    for p in pieces:
        for i, m in p.marks.items():
            marks[base + i] = m
        base += len(p.frame)
    empty_rejects = pieces[0].rejects.iloc[:0] if pieces else pd.DataFrame()
    return ScoredChunk(
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
        pd.concat(rejects, ignore_index=True) if rejects else empty_rejects,
        rows_in,
        pd.concat(inputs, ignore_index=True) if inputs else None,
        marks,
    )

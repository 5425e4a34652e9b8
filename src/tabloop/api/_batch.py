"""``tabloop predict``: a table of any size scored in chunks, rows that break the contract set aside with reasons."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.data import CHUNK_BYTES, CHUNK_ROWS, is_database_url, source_name, table_suffix
from tabloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from tabloop.batch import Progress

#: the engines ``predict`` runs on
ENGINES = ("local", "dask")


@dataclass
class PredictResult(Result):
    model: str
    version: str
    #: rows scored (written to ``output``); ``rows_scored`` says the same
    rows: int
    output: str
    request_id: str
    logged: int
    #: rows the contract let through out of it (warn, clip, unknown); the output's out_of_contract column names them
    out_of_contract: int = 0
    rows_scored: int = 0
    #: rows set aside in ``rejects``, one line per broken rule (row, column, value, rule, reason)
    rows_rejected: int = 0
    rejects: str = ""
    seconds: float = 0.0
    #: input rows (scored and rejected) per second, reading and writing included
    rows_per_second: float = 0.0
    engine: str = "local"
    #: chunks the local engine scored at once (1 on Dask: each worker scores its own)
    threads: int = 1
    #: what scored the rows: onnx (the graph the server answers with) or sklearn (the pipeline)
    runtime: str = ""


def default_rejects(output: str | Path, output_table: str | None) -> tuple[str, str | None]:
    """Where rejects go when not named: beside the output (``out.rejects.csv`` for ``out.csv``), or the output
    table's name with ``_rejects`` in the same database."""
    text = str(output)
    if is_database_url(text):
        return text, f"{output_table}_rejects" if output_table else None
    path = Path(text)
    suffix = table_suffix(path)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return str(path.with_name(f"{stem}.rejects{suffix or '.csv'}")), None


def predict(
    input: str | Path | pd.DataFrame,
    output: str | Path,
    *,
    model: str | None = None,
    project: str | Path | None = None,
    log_predictions: bool = True,
    rejects: str | Path | None = None,
    input_table: str | None = None,
    input_query: str | None = None,
    output_table: str | None = None,
    rejects_table: str | None = None,
    add_version: bool = False,
    row_id: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    chunk_bytes: int = CHUNK_BYTES,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    threads: int | None = None,
    on_progress: Progress | None = None,
) -> PredictResult:
    """Score a CSV/Parquet file, a database table or query, or a DataFrame with ``model`` (default: the champion),
    ``chunk_rows`` rows (and about ``chunk_bytes`` bytes of input) at a time.

    Each scored row gets its input ``row`` number (from 0), ``request_id``, the prediction, one ``proba_<class>``
    per class, ``out_of_contract``, the ``row_id`` column (default: the spec's ``data.id_column``) when the input
    has it, and ``model_version`` with ``add_version``. A row that breaks a rule the contract refuses is not
    scored: its reasons go to ``rejects`` (default: beside the output), one line per broken rule, and the rest
    are scored. ``output`` and ``rejects`` are written under temporary names and renamed at the end.
    ``engine='dask'`` scores the chunks on a Dask cluster (``scheduler``'s address, or a local cluster of
    ``workers`` processes) with the same result. The local engine scores ``threads`` chunks at once (default:
    the CPUs this process may use); the output is the same whatever their number.

    With a feature store (``features:``), rows that send only their entity keys get the features the model
    uses from its offline store, point in time (as training joined them): as of each row's
    ``features.entity_timestamp`` when the input has that column, else as of the run's start. A row the store
    has no value for is rejected (rule ``no_value``) or, under ``features.on_missing: impute``, scored with
    the gaps imputed and marked. The local engine only.
    """
    from tabloop.batch import (
        ChunkScorer,
        batch_threads,
        check_target,
        log_chunk,
        open_sink,
        rejects_schema,
        write_scored,
    )

    if engine not in ENGINES:
        raise DataError(f"unknown engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")
    if chunk_rows < 1 or chunk_bytes < 1:
        raise DataError(f"a chunk needs at least one row and one byte (got {chunk_rows} rows, {chunk_bytes} bytes)")
    if threads is not None and threads < 1:
        raise DataError(f"scoring needs at least one thread (got {threads})", hint="pass --threads 1 or more")
    proj = Project.open(project)
    if rejects is None:
        rejects, auto_table = default_rejects(output, output_table)
        rejects_table = rejects_table or auto_table
    shown_output = check_target(output, output_table)
    shown_rejects = check_target(rejects, rejects_table, what="rejects")
    if shown_output == shown_rejects:
        raise DataError(f"{shown_output}: the output and the rejects cannot be the same", hint="name another --rejects")
    bundle = proj.load_bundle(model)
    source = source_name(input, query=input_query, table=input_table)
    completion = None
    if engine != "dask":  # the store's connections do not travel to Dask workers
        from tabloop.api._features import batch_completion

        completion = batch_completion(proj, bundle, source)
    complete, scoring = completion if completion is not None else (None, bundle)
    scorer = ChunkScorer(scoring, request_id=f"batch-{uuid.uuid4().hex}", source=source,
                         id_column=row_id or proj.spec.data.id_column, add_version=add_version,
                         keep_inputs=log_predictions, complete=complete, on_missing=proj.spec.features.on_missing)
    if engine == "dask":
        if input_query is not None or input_table is not None or not isinstance(input, (str, Path)) \
                or is_database_url(str(input)):
            raise DataError("--engine dask reads CSV or Parquet files", hint="score a database table with the local "
                                                                             "engine, or export it to Parquet first")
        from tabloop.batch import dask_results

        threads = 1
        results: Any = dask_results(scorer, Path(input), chunk_rows=chunk_rows, chunk_bytes=chunk_bytes,
                                    scheduler=scheduler, workers=workers)
    else:
        from tabloop.batch import local_results
        from tabloop.data import read_chunks

        chunks = read_chunks(input, rows=chunk_rows, bytes_=chunk_bytes, numbers=bundle.contract.numeric,
                             query=input_query, table=input_table)
        threads = threads or batch_threads()
        results = local_results(scorer, chunks, threads=threads)
    log = (lambda chunk: log_chunk(proj.predlog, bundle, scorer.request_id, chunk, variant="batch")) \
        if log_predictions else None
    summary = write_scored(results, open_sink(output, table=output_table),
                           open_sink(rejects, table=rejects_table, schema=rejects_schema()),
                           on_progress=on_progress, log=log)
    if summary.logged:
        proj.ship_log()  # with serving.log_url: in the database now, or by whichever shipper runs next
    return PredictResult(
        bundle.name or "", bundle.version or "", summary.rows_scored, summary.output, scorer.request_id,
        summary.logged, summary.out_of_contract, summary.rows_scored, summary.rows_rejected, summary.rejects,
        round(summary.seconds, 3), round(summary.rows_per_second, 1), engine, threads, scorer.engine,
    )

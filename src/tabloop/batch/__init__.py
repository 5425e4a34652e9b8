"""Batch scoring (layer 14): tables in, predictions out, every row accounted for (scored or rejected)."""

from tabloop.batch._dask import dask_results
from tabloop.batch._score import BatchOutput, log_batch, log_chunk, score_frame, write_table
from tabloop.batch._sinks import FileSink, Sink, SqlSink, check_target, open_sink
from tabloop.batch._stream import (
    OUT_OF_CONTRACT_COLUMN,
    REJECT_COLUMNS,
    VERSION_COLUMN,
    ChunkScorer,
    Progress,
    ScoredChunk,
    StreamSummary,
    batch_threads,
    local_results,
    rejects_schema,
    write_scored,
)

__all__ = [
    "OUT_OF_CONTRACT_COLUMN",
    "REJECT_COLUMNS",
    "VERSION_COLUMN",
    "BatchOutput",
    "ChunkScorer",
    "FileSink",
    "Progress",
    "ScoredChunk",
    "Sink",
    "SqlSink",
    "StreamSummary",
    "batch_threads",
    "check_target",
    "dask_results",
    "local_results",
    "log_batch",
    "log_chunk",
    "open_sink",
    "rejects_schema",
    "score_frame",
    "write_scored",
    "write_table",
]

"""The prediction log (layer 12): what was predicted, what was refused, and the labels that came back.

``_records`` is the schema of one JSON line (prediction, error and feedback records),
``_store`` the files on disk (``PredictionLog``: safe durable appends, tolerant reads),
``_writer`` the threaded group-commit writer a server logs through
(``BackgroundLogWriter``), ``_sink`` the ``serving.log_sync`` policy chosen once
(``make_sink``: ack, write or background), ``_window`` the newest windows of the log read
from the files' ends (``LogWindow``, for the live dashboard) and ``_row_counts`` the
per-file row counts it keeps beside the log; ``_postgres`` ships the files to PostgreSQL
and reads them back from there (``LogShipper``, ``PostgresLog``, ``ShippedLog``), for
``serving.log_url``. The exceptions live in
``tabloop.errors`` and are importable from here too.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): ``utc_now`` or an error class costs no pandas
if TYPE_CHECKING:
    from tabloop.errors import LogDatabaseError, PredictionLogError, ServingClosed, UnloggableRecords
    from tabloop.predlog._postgres import LogShipper, PostgresLog, ShippedLog, ShipStats, is_log_url
    from tabloop.predlog._records import (
        ERROR_COLUMNS,
        ERROR_KIND,
        LOG_COLUMNS,
        error_record,
        prediction_rows,
        utc_now,
    )
    from tabloop.predlog._sink import (
        LOG_SYNC_MODES,
        AckSink,
        BackgroundSink,
        LogSink,
        LogSync,
        WriteSink,
        check_log_policy,
        make_sink,
    )
    from tabloop.predlog._store import PredictionLog, SkippedLine
    from tabloop.predlog._window import LogWindow, ReadStats
    from tabloop.predlog._writer import RETRY_S, SYNC_INTERVAL_S, BackgroundLogWriter, BatchHook

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "ERROR_COLUMNS",
    "ERROR_KIND",
    "LOG_COLUMNS",
    "LOG_SYNC_MODES",
    "RETRY_S",
    "SYNC_INTERVAL_S",
    "AckSink",
    "BackgroundLogWriter",
    "BackgroundSink",
    "BatchHook",
    "LogDatabaseError",
    "LogShipper",
    "LogSink",
    "LogSync",
    "LogWindow",
    "PostgresLog",
    "PredictionLog",
    "PredictionLogError",
    "ReadStats",
    "ServingClosed",
    "ShipStats",
    "ShippedLog",
    "SkippedLine",
    "UnloggableRecords",
    "WriteSink",
    "check_log_policy",
    "error_record",
    "is_log_url",
    "make_sink",
    "prediction_rows",
    "utc_now",
]

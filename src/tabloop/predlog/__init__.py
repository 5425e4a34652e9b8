"""The prediction log (layer 5): what was predicted, what was refused, and the labels that came back."""

from tabloop.predlog._log import (
    ERROR_COLUMNS,
    ERROR_KIND,
    LOG_COLUMNS,
    RETRY_S,
    SYNC_INTERVAL_S,
    BackgroundLogWriter,
    BatchHook,
    PredictionLog,
    PredictionLogError,
    ServingClosed,
    SkippedLine,
    UnloggableRecords,
    error_record,
    prediction_rows,
    utc_now,
)

__all__ = [
    "ERROR_COLUMNS",
    "ERROR_KIND",
    "LOG_COLUMNS",
    "RETRY_S",
    "SYNC_INTERVAL_S",
    "BackgroundLogWriter",
    "BatchHook",
    "PredictionLog",
    "PredictionLogError",
    "ServingClosed",
    "SkippedLine",
    "UnloggableRecords",
    "error_record",
    "prediction_rows",
    "utc_now",
]

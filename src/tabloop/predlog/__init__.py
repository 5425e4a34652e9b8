"""The prediction log (layer 5): what was predicted, and the labels that came back."""

from tabloop.predlog._log import (
    LOG_COLUMNS,
    BackgroundLogWriter,
    PredictionLog,
    PredictionLogError,
    UnloggableRecords,
    utc_now,
)

__all__ = ["LOG_COLUMNS", "BackgroundLogWriter", "PredictionLog", "PredictionLogError", "UnloggableRecords", "utc_now"]

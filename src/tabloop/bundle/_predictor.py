"""The seam between a caller with JSON rows and a model: ``RowPredictor``.

A predictor gets the rows exactly as a client sent them (JSON-safe mappings) and
returns ``Predictions``; it must apply the rules of ``check_frame`` and raise
``ContractViolation`` naming column, row and rule, and should set ``Predictions.marks``
for the rows the contract's policies let through (``screen_records`` gives them). tabloop.export holds the pipeline
and ONNX implementations; serving wraps them and accepts any other object with this
method (``create_app(predictor=...)``), so the protocol asks for nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from tabloop.bundle._predictions import Predictions

#: rows as a client sends them: one mapping of column -> JSON value per row
Rows = Sequence[Mapping[str, Any]]


@runtime_checkable
class RowPredictor(Protocol):
    """Predicts a list of row objects; raises ``ContractViolation`` for rows that break the contract."""

    def predict_rows(self, rows: Rows) -> Predictions: ...

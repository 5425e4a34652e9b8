"""Predictions for a batch of rows, as every runtime (pipeline, ONNX graph, prior) gives them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PREDICTION_COLUMN = "prediction"


def proba_column(label: Any) -> str:
    """The column holding the probability of class ``label`` in a scored table."""
    return f"proba_{label}"


@dataclass
class Predictions:
    """Outputs for a batch of rows: labels (or values) and, for classifiers, probabilities."""

    labels: list[Any]
    proba: np.ndarray | None  # shape (n, k) in ``classes`` order
    classes: list[Any]

    def to_frame(self) -> pd.DataFrame:
        out = pd.DataFrame({PREDICTION_COLUMN: self.labels})
        if self.proba is not None:
            for j, c in enumerate(self.classes):
                out[proba_column(c)] = self.proba[:, j]
        return out

    def records(self) -> list[dict[str, Any]]:
        """One dict per row: {"prediction": ..., "probabilities": {label: p}}."""
        rows: list[dict[str, Any]] = []
        for i, label in enumerate(self.labels):
            row: dict[str, Any] = {"prediction": label}
            if self.proba is not None:
                row["probabilities"] = {str(c): float(self.proba[i, j]) for j, c in enumerate(self.classes)}
            rows.append(row)
        return rows

"""Predictions for a batch of rows, as every runtime (pipeline, ONNX graph, prior) gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import Marks

PREDICTION_COLUMN = "prediction"
#: the key of a row's contract marks in ``records()`` (and in the prediction log)
CONTRACT_KEY = "contract"


def proba_column(label: Any) -> str:
    """The column holding the probability of class ``label`` in a scored table."""
    return f"proba_{label}"


@dataclass
class Predictions:
    """Outputs for a batch of rows: labels (or values) and, for classifiers, probabilities.

    ``marks``: the rows the contract let through out of contract (row -> its marks), as
    ``screen_frame`` / ``screen_records`` found them; empty when every row was within it.
    """

    labels: list[Any]
    proba: np.ndarray | None  # shape (n, k) in ``classes`` order
    classes: list[Any]
    marks: Marks = field(default_factory=dict, kw_only=True)

    @property
    def out_of_contract(self) -> list[int]:
        """The rows answered out of contract, in order."""
        return list(self.marks)

    def to_frame(self) -> pd.DataFrame:
        out = pd.DataFrame({PREDICTION_COLUMN: self.labels})
        if self.proba is not None:
            for j, c in enumerate(self.classes):
                out[proba_column(c)] = self.proba[:, j]
        return out

    def records(self) -> list[dict[str, Any]]:
        """One dict per row: {"prediction": ..., "probabilities": {label: p}}, and on a row out of contract
        ``"contract": [{"column", "rule", "policy"}, ...]``."""
        rows: list[dict[str, Any]] = []
        for i, label in enumerate(self.labels):
            row: dict[str, Any] = {"prediction": label}
            if self.proba is not None:
                row["probabilities"] = {str(c): float(self.proba[i, j]) for j, c in enumerate(self.classes)}
            rows.append(row)
        for i, marks in self.marks.items():
            rows[i][CONTRACT_KEY] = [m.to_dict() for m in marks]
        return rows

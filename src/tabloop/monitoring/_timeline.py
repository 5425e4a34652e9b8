"""Drift over time: each window of the log against the reference, one effect size per feature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import Contract
from tabloop._plain import plain
from tabloop.monitoring._drift import compute_drift
from tabloop.monitoring._windows import Window
from tabloop.spec import DriftSpec

__all__ = ["DriftTimeline", "drift_over_time"]


@dataclass
class DriftTimeline:
    """Per feature: the deciding effect size in each window, its threshold, and which windows drifted."""

    windows: list[dict[str, Any]]  # index, label, start, end, rows, too_small, drifted_features
    effects: dict[str, str]  # column -> effect name
    thresholds: dict[str, float]
    values: dict[str, list[float | None]]
    drifted: dict[str, list[bool]]

    def to_dict(self) -> dict[str, Any]:
        return plain({
            "windows": self.windows, "effects": self.effects, "thresholds": self.thresholds,
            "values": self.values, "drifted": self.drifted,
        })


def drift_over_time(
    reference: pd.DataFrame,
    inputs: pd.DataFrame,
    windows: list[Window],
    *,
    policy: DriftSpec,
    contract: Contract | None = None,
    columns: list[str] | None = None,
    prediction_column: str | None = None,
    keep: np.ndarray | None = None,
) -> DriftTimeline:
    """``compute_drift`` of each window of ``inputs`` (rows by position) against ``reference``.

    ``keep`` (one bool per row of ``inputs``) leaves rows out of every window: shadow
    copies repeat the inputs of the request they copy, and would count them twice.
    The domain classifier is left out: it is the expensive part and one verdict on the
    newest window says what it has to say.
    """
    out = DriftTimeline(windows=[], effects={}, thresholds={}, values={}, drifted={})
    for w in windows:
        positions = w.positions if keep is None else w.positions[keep[w.positions]]
        current = inputs.iloc[positions]
        result = compute_drift(reference, current, policy=policy, contract=contract, columns=columns,
                               prediction_column=prediction_column, multivariate=False)
        out.windows.append({"index": w.index, "label": w.label, "start": w.start, "end": w.end, "rows": len(positions),
                            "too_small": result.too_small, "drifted_features": result.drifted_features})
        verdicts = list(result.features) + ([result.prediction] if result.prediction is not None else [])
        for f in verdicts:
            out.effects.setdefault(f.column, f.effect)
            out.thresholds.setdefault(f.column, f.effect_threshold)
            out.values.setdefault(f.column, []).append(None if result.too_small else f.effect_value)
            out.drifted.setdefault(f.column, []).append(bool(f.drifted))
    return out

"""Feedback labels: validate them, join them to logged predictions by request id (the one place labels meet the log)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabloop.errors import DataError
from tabloop.monitoring import shadow_mask
from tabloop.predlog import prediction_rows


@dataclass
class JoinedLabels:
    joined: pd.DataFrame  # logged predictions with a ``label`` column
    unmatched: pd.DataFrame  # label rows with no logged prediction


def normalise_labels(labels: pd.DataFrame, *, target: str, classes: list[Any], source: str) -> pd.DataFrame:
    """Columns request_id, row (default 0) and label (named ``label`` or as the target); checked."""
    if "request_id" not in labels.columns:
        raise DataError(f"{source}: no 'request_id' column", hint="labels join to predictions by the request id they answered with")
    label_col = "label" if "label" in labels.columns else target if target in labels.columns else None
    if label_col is None:
        raise DataError(f"{source}: no label column; name it 'label' or {target!r}")
    out = pd.DataFrame({
        "request_id": labels["request_id"].astype(object),
        "row": labels["row"] if "row" in labels.columns else 0,
        "label": labels[label_col].astype(object),
    })
    missing = out["request_id"].isna() | out["label"].isna()
    if missing.any():
        rows = [int(i) for i in np.flatnonzero(missing.to_numpy())[:10]]
        raise DataError(f"{source}: request_id or label is empty in {int(missing.sum())} row(s), first at rows {rows}")
    rows_num = pd.to_numeric(out["row"], errors="coerce")
    if rows_num.isna().any() or (rows_num < 0).any() or (rows_num % 1 != 0).any():
        bad = [int(i) for i in np.flatnonzero((rows_num.isna() | (rows_num < 0) | (rows_num % 1 != 0)).to_numpy())[:10]]
        raise DataError(f"{source}: column 'row' must hold non-negative whole numbers; bad at rows {bad}")
    out["row"] = rows_num.astype("int64")
    if classes:
        known = {str(c): c for c in classes}
        keys = out["label"].map(str)
        unknown = ~keys.isin(list(known))
        if unknown.any():
            rows = [int(i) for i in np.flatnonzero(unknown.to_numpy())[:10]]
            raise DataError(
                f"{source}: labels {sorted(set(keys[unknown]))[:10]} are not classes the model knows {classes}; rows {rows}"
            )
        out["label"] = keys.map(known)
    out["request_id"] = out["request_id"].map(str)
    return out


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame) -> JoinedLabels:
    """Inner join on (request_id, row); labels without a prediction are returned, not dropped."""
    # a refused request's error record answered nothing a label could judge (read_predictions already leaves
    # them out; a table read from the files some other way may still hold them)
    predictions = prediction_rows(predictions)
    if predictions.empty:
        return JoinedLabels(predictions.assign(label=pd.Series(dtype=object)), labels)
    # a shadow copy shares its request id with the answer the client got; the label judges that answer
    predictions = predictions[~shadow_mask(predictions)]
    preds = predictions.drop_duplicates(subset=["request_id", "row"], keep="last")
    merged = labels.merge(preds[["request_id", "row"]], on=["request_id", "row"], how="left", indicator=True)
    unmatched = labels[(merged["_merge"] == "left_only").to_numpy()]
    joined = preds.merge(labels[["request_id", "row", "label"]], on=["request_id", "row"], how="inner")
    return JoinedLabels(joined.reset_index(drop=True), unmatched.reset_index(drop=True))

"""Each feature's importance to the model, so that drift can be ranked by what matters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import Contract, check_frame, encode_target
from tabloop.evaluation import SCORERS

__all__ = ["permutation_importances"]


def permutation_importances(
    pipeline: Any,
    reference: pd.DataFrame,
    *,
    contract: Contract,
    target: str,
    classes: list[Any],
    metric: str,
    seed: int = 0,
    repeats: int = 3,
    max_rows: int = 2000,
) -> dict[str, float]:
    """Mean drop of ``metric`` when each feature is shuffled, on up to ``max_rows`` reference rows.

    The reference carries the target, so this needs nothing but the model bundle.
    Negative drops (noise) count as 0; an empty dict when the reference has no target.
    """
    from sklearn.inspection import permutation_importance

    if target not in reference.columns or reference.empty:
        return {}
    sample = reference if len(reference) <= max_rows else reference.sample(n=max_rows, random_state=seed)
    # the saved reference also carries the model's outputs and the target: only the features go to the model
    X = check_frame(sample.drop(columns=[c for c in sample.columns if c not in contract.feature_names]), contract,
                    source="reference sample")
    y = encode_target(sample[target].reset_index(drop=True), classes)
    if classes and len(np.unique(y)) < 2:
        return {}
    res = permutation_importance(
        pipeline, X.reset_index(drop=True), y, scoring=SCORERS[metric][0], n_repeats=repeats,
        random_state=seed, n_jobs=1,
    )
    return {str(c): max(float(v), 0.0) for c, v in zip(X.columns, res.importances_mean, strict=True)}

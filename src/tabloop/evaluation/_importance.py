"""What the model leans on: permutation importance for every model, SHAP values for tree models.

Permutation importance asks the whole pipeline (any family, an ensemble too) how much the metric
drops when one input column is shuffled. SHAP values split each prediction among the features;
for boosted trees LightGBM, XGBoost and CatBoost compute them exactly themselves
(``pred_contrib``), for scikit-learn's trees the ``shap`` package does when it is installed. They
are per encoded column (one per category after one-hot encoding) and are summed back to the
input column they came from.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from tabloop.evaluation._metrics import SCORERS

__all__ = ["permutation_ranking", "shap_ranking"]

log = logging.getLogger("tabloop.evaluation")

#: rows each importance is computed on, at most: a ranking settles long before the test part ends
PERMUTATION_ROWS = 1000
SHAP_ROWS = 500
PERMUTATION_REPEATS = 3


def _sample(n: int, rows: int, seed: int) -> np.ndarray:
    if n <= rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))


def permutation_ranking(pipeline: Any, X: pd.DataFrame, y: np.ndarray, *, metric: str, seed: int = 0,
                        repeats: int = PERMUTATION_REPEATS, max_rows: int = PERMUTATION_ROWS) -> list[dict[str, Any]]:
    """Each input column's mean drop in ``metric`` when shuffled (with its spread over ``repeats``), largest first."""
    from sklearn.inspection import permutation_importance

    rows = _sample(len(X), max_rows, seed)
    Xs, ys = X.iloc[rows].reset_index(drop=True), np.asarray(y)[rows]
    if metric in SCORERS:
        scoring = SCORERS[metric][0]
    else:
        scoring = "neg_log_loss" if len(np.unique(ys)) > 1 and hasattr(pipeline, "predict_proba") else None
    res = permutation_importance(pipeline, Xs, ys, scoring=scoring, n_repeats=repeats, random_state=seed, n_jobs=1)
    out = [{"feature": str(c), "mean": float(m), "std": float(s)}
           for c, m, s in zip(X.columns, res.importances_mean, res.importances_std, strict=True)]
    return sorted(out, key=lambda r: -r["mean"])


def _encoded(pipeline: Any, X: pd.DataFrame) -> tuple[Any, Any, list[str]] | None:
    """The pipeline's last step, ``X`` through the steps before it, and the encoded columns' names."""
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return None
    Xt: Any = X
    names: list[str] = [str(c) for c in X.columns]
    for _, step in steps[:-1]:
        if step in (None, "passthrough") or hasattr(step, "fit_resample"):  # a sampler changes training rows only
            continue
        Xt = step.transform(Xt)
        try:
            names = [str(n) for n in step.get_feature_names_out(names)]
        except Exception:  # a step that cannot name its outputs: positions will do
            names = [f"x{i}" for i in range(np.shape(Xt)[1])]
    if hasattr(Xt, "toarray"):
        Xt = Xt.toarray()
    return steps[-1][1], np.asarray(Xt, dtype="float64"), names


def _contributions(model: Any, Xt: np.ndarray) -> tuple[np.ndarray, str] | None:
    """``(rows, columns[, classes])`` SHAP values of a tree model on encoded rows, and how they were computed."""
    library = type(model).__module__.split(".")[0]
    if library == "lightgbm":
        raw = np.asarray(model.predict(Xt, pred_contrib=True))
        return _by_class(raw, Xt.shape[1]), "LightGBM pred_contrib (exact TreeSHAP, log-odds / raw score)"
    if library == "xgboost":
        import xgboost

        raw = np.asarray(model.get_booster().predict(xgboost.DMatrix(Xt), pred_contribs=True))
        if raw.ndim == 3:  # multiclass: (rows, classes, columns + 1)
            return raw[:, :, :-1].transpose(0, 2, 1), "XGBoost pred_contribs (exact TreeSHAP, margin)"
        return raw[:, :-1], "XGBoost pred_contribs (exact TreeSHAP, margin)"
    if library == "catboost":
        from catboost import Pool

        raw = np.asarray(model.get_feature_importance(Pool(Xt), type="ShapValues"))
        if raw.ndim == 3:
            return raw[:, :, :-1].transpose(0, 2, 1), "CatBoost ShapValues (exact TreeSHAP, raw score)"
        return raw[:, :-1], "CatBoost ShapValues (exact TreeSHAP, raw score)"
    if type(model).__module__.startswith(_SKLEARN_TREES):
        try:
            import shap
        except ImportError:
            return None
        values = shap.TreeExplainer(model).shap_values(Xt, check_additivity=False)
        values = np.stack(values, axis=-1) if isinstance(values, list) else np.asarray(values)
        return values, "shap TreeExplainer (exact TreeSHAP, probability)"
    return None


#: modules of scikit-learn's tree models, which shap.TreeExplainer reads
_SKLEARN_TREES = ("sklearn.ensemble._forest", "sklearn.tree", "sklearn.ensemble._gb")


def _by_class(raw: np.ndarray, columns: int) -> np.ndarray:
    """LightGBM's flat ``(rows, classes * (columns + 1))`` contributions as ``(rows, columns[, classes])``."""
    if raw.shape[1] == columns + 1:
        return raw[:, :-1]
    k = raw.shape[1] // (columns + 1)
    return raw.reshape(raw.shape[0], k, columns + 1)[:, :, :-1].transpose(0, 2, 1)


def _source_column(encoded: str, inputs: list[str]) -> str:
    """The input column an encoded column came from: itself, or the longest input name it starts with
    followed by '_' (one-hot: ``colour_red``)."""
    if encoded in inputs:
        return encoded
    found = [c for c in inputs if encoded.startswith(f"{c}_")]
    return max(found, key=len) if found else encoded


def shap_ranking(pipeline: Any, X: pd.DataFrame, *, seed: int = 0, max_rows: int = SHAP_ROWS) -> dict[str, Any]:
    """Mean absolute SHAP value of each input column (encoded columns summed per row first; classes summed),
    largest first, for a tree model; otherwise ``{"features": [], "note": why not}``."""
    found = _encoded(pipeline, X.iloc[_sample(len(X), max_rows, seed)].reset_index(drop=True))
    model = found[0] if found else pipeline
    name = type(model).__name__
    if found is None:
        return {"method": None, "features": [], "note": f"{name} is not a tree model: SHAP values are shown for tree "
                                                        "models only (see permutation importance)"}
    model, Xt, names = found
    try:
        got = _contributions(model, Xt)
    except Exception as exc:  # an explanation must not sink the evaluation
        log.warning("SHAP values of %s failed: %s", name, exc)
        return {"method": None, "features": [], "note": f"SHAP values of {name} failed: {exc}"}
    if got is None:
        note = ("install the shap package for SHAP values of scikit-learn's trees"
                if type(model).__module__.startswith(_SKLEARN_TREES)
                else f"{name} is not a tree model: SHAP values are shown for tree models only (see permutation "
                "importance)")
        return {"method": None, "features": [], "note": note}
    values, method = got
    if values.ndim == 2:  # one output: a binary log-odds, a regression value
        values = values[:, :, None]
    elif values.shape[2] == 2:  # binary as two mirrored outputs: the positive class's
        values = values[:, :, 1:]
    inputs = [str(c) for c in X.columns]
    sources = [_source_column(n, inputs) for n in names[: values.shape[1]]]
    columns = list(dict.fromkeys(sources))
    # an input's SHAP value is the sum of its encoded columns' (row by row, class by class)
    grouped = np.stack([values[:, [i for i, s in enumerate(sources) if s == c], :].sum(axis=1) for c in columns], axis=1)
    importance = np.abs(grouped).sum(axis=2).mean(axis=0)
    ranked = sorted(zip(columns, importance.tolist(), strict=True), key=lambda r: -r[1])
    return {"method": method, "rows": int(Xt.shape[0]),
            "features": [{"feature": c, "mean_abs": float(v)} for c, v in ranked]}

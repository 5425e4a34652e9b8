"""The one adapter to skl2onnx / onnxmltools: a fitted pipeline to ONNX, and the parity check.

The graph takes the contract's columns, one input each (``[None, 1]``, float32 for
numbers, strings for categories), so a server feeds it arrays built straight from JSON
rows. A conversion is only trusted after the parity check: the ONNX graph and the
scikit-learn pipeline score the same held-out rows, plus copies of them with a gap in
every nullable column, and the largest difference must stay within the tolerance.
"""

from __future__ import annotations

import copy
import importlib.metadata as md
import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import MISSING_SENTINEL, Contract, check_frame
from tabloop.errors import ContractViolation, NotConvertible
from tabloop.export._catboost import register_catboost
from tabloop.export._runtime import make_session, onnx_feed, output_index
from tabloop.export._steps import check_convertible, register_step_converters, walk, without_droppers
from tabloop.bundle import ModelBundle

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 1e-4
#: conservative opsets, so the graph also runs on runtimes a few years old
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
#: skl2onnx's KNNImputer converter needs opset 18 (onnxruntime 1.14, 2023 and later): only such graphs use it
KNN_IMPUTER_OPSET = {"": 18, "ai.onnx.ml": 3}
#: rows the parity check scores at most (held-out rows first), and gap rows per nullable column
PARITY_ROWS = 2000
GAP_ROWS = 25
REPORT_FORMAT = 1


@dataclass
class OnnxExport:
    """The ONNX graph (None when the pipeline did not convert) and the report on it."""

    onnx: bytes | None
    report: dict[str, Any]

    @property
    def used(self) -> bool:
        """True when the graph converted and matched the pipeline within the tolerance."""
        return bool(self.report.get("used"))


def export_onnx(
    pipeline: Any,
    contract: Contract,
    *,
    task: str,
    rows: pd.DataFrame | None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> OnnxExport:
    """Convert ``pipeline`` and check it against itself on ``rows``; never raises for a model it cannot convert.

    ``rows`` are held-out rows with (at least) the contract's columns; rows that break the
    contract are left out. ``report["used"]`` is True only when the conversion worked and
    the maximum absolute difference (probabilities; regression values scaled by
    ``max(1, |value|)``) is at most ``tolerance``.
    """
    started = time.perf_counter()
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "convertible": False,
        "used": False,
        "parity_max_abs_diff": None,
        "tolerance": tolerance,
        "compared": "regression values" if task == "regression" else "probabilities",
        "rows": 0,
        "gap_rows": 0,
        "reason": None,
        "opset": opset_for(pipeline),
        "versions": _versions(),
    }
    try:
        onnx_bytes = to_onnx(pipeline, contract, task=task)
    except ImportError as exc:
        report["reason"] = f"ONNX export needs skl2onnx, onnxmltools and onnxruntime ({exc})"
        return _done(OnnxExport(None, report), started)
    except Exception as exc:  # every converter failure means "serve the pipeline", never a failed registration
        report["reason"] = f"not convertible: {_short(exc)}"
        return _done(OnnxExport(None, report), started)
    report["convertible"] = True
    report["onnx_bytes"] = len(onnx_bytes)
    X = parity_rows(rows, contract)
    if X is None or len(X) == 0:
        report["reason"] = "no rows that pass the contract to check parity on"
        return _done(OnnxExport(onnx_bytes, report), started)
    X, gaps = with_gaps(X, contract)
    report["rows"], report["gap_rows"] = len(X), gaps
    try:
        report.update(check_parity(pipeline, onnx_bytes, contract, X, task=task, tolerance=tolerance))
    except Exception as exc:
        report["reason"] = f"parity check failed to run: {_short(exc)}"
    return _done(OnnxExport(onnx_bytes, report), started)


def export_bundle(bundle: ModelBundle, rows: pd.DataFrame | None, *, tolerance: float = DEFAULT_TOLERANCE) -> OnnxExport:
    """Export ``bundle``'s pipeline, checking parity on ``rows`` (held-out) or else its reference sample.

    Sets ``bundle.onnx`` (when it converted) and ``bundle.manifest.onnx`` (the report),
    so that saving the bundle stores ``model.onnx`` with its hash.
    """
    source = "held-out rows"
    if rows is None or len(rows) == 0:
        rows, source = bundle.reference, "reference sample"
    result = export_onnx(bundle.pipeline, bundle.contract, task=bundle.task, rows=rows, tolerance=tolerance)
    result.report["parity_rows_from"] = source
    bundle.onnx = result.onnx
    bundle.manifest = bundle.manifest.replace(onnx=result.report)
    if not result.used:
        log.info("ONNX export not used: %s", result.report.get("reason"))
    return result


# -- conversion ----------------------------------------------------------------
def to_onnx(pipeline: Any, contract: Contract, *, task: str) -> bytes:
    """The serialized ONNX graph of ``pipeline``, with one input per contract column."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _register_converters()
    for col in contract.columns:
        if MISSING_SENTINEL in (col.categories or []):
            raise NotConvertible(f"column {col.name!r} has a category spelled like the internal gap marker")
    model = without_droppers(_convertible_ensembles(_with_string_gap_marker(pipeline)))
    check_convertible(model)
    inputs = [
        (col.name, FloatTensorType([None, 1]) if col.kind == "numeric" else StringTensorType([None, 1]))
        for col in contract.columns
    ]
    options: dict[int, dict[str, Any]] = {}
    if task != "regression":
        options[id(_final_estimator(model))] = {"zipmap": False}
    with warnings.catch_warnings():
        # skl2onnx's SVC converter still reads probA_/probB_, which scikit-learn 1.9 deprecates (the
        # SVM candidate's SVC has none: a calibrator or a stacked logistic makes its probabilities): noise, not ours
        warnings.filterwarnings("ignore", message="Attribute `prob[AB]_` was deprecated", category=FutureWarning)
        onx = convert_sklearn(model, initial_types=inputs, options=options or None, target_opset=opset_for(model))
    return bytes(onx.SerializeToString())


def opset_for(pipeline: Any) -> dict[str, int]:
    """The opsets a pipeline's graph targets: :data:`TARGET_OPSET`, unless a step's converter needs newer ones."""
    from sklearn.impute import KNNImputer

    if any(isinstance(est, KNNImputer) for est, _ in walk(pipeline, "pipeline")):
        return dict(KNN_IMPUTER_OPSET)
    return dict(TARGET_OPSET)


_REGISTERED = False


def _register_converters() -> None:
    """skl2onnx knows scikit-learn; LightGBM (and XGBoost when installed) come from onnxmltools."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        import lightgbm as lgb
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(
            lgb.LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
            convert_lightgbm, options=classifier_options,
        )
        update_registered_converter(
            lgb.LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
            convert_lightgbm, options={"split": None},
        )
    except ImportError:
        pass
    try:
        import xgboost as xgb
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        update_registered_converter(
            xgb.XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
            convert_xgboost, options=classifier_options,
        )
        update_registered_converter(
            xgb.XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost,
        )
    except ImportError:
        pass
    register_catboost()
    register_step_converters()
    _REGISTERED = True


def _with_string_gap_marker(pipeline: Any) -> Any:
    """A copy whose string imputers look for :data:`MISSING_SENTINEL` instead of NaN (ONNX strings have no NaN).

    The fitted statistics are untouched, so a gap still becomes the most frequent category.
    """
    model = copy.deepcopy(pipeline)
    for imputer in _string_imputers(model):
        mv = imputer.missing_values
        if isinstance(mv, float) and math.isnan(mv) or mv is None or mv is pd.NA:
            imputer.missing_values = MISSING_SENTINEL
    return model


def _string_imputers(est: Any) -> list[Any]:
    from sklearn.impute import SimpleImputer

    found: list[Any] = []
    for step, _ in walk(est, "pipeline"):  # pipelines, column transformers and an ensemble's members
        stats = getattr(step, "statistics_", None) if isinstance(step, SimpleImputer) else None
        # a constant imputer of numbers may keep its statistics as objects too: only strings mark a categorical one
        if stats is not None and stats.dtype == object and any(isinstance(v, str) for v in stats):
            found.append(step)
    return found


def _convertible_ensembles(model: Any) -> Any:
    """``model`` (a copy the caller owns) with its voting ensembles as skl2onnx's converters read them.

    The converters divide by ``weights.sum()`` (tabloop's ensemble keeps a list) and refuse
    ``flatten_transform``, which only shapes ``transform``'s output, never the probabilities.
    """
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    for est, _ in walk(model, "pipeline"):
        if isinstance(est, (VotingClassifier, VotingRegressor)):
            if est.weights is not None:
                est.weights = np.asarray(est.weights, dtype=float)
            if isinstance(est, VotingClassifier):
                est.flatten_transform = False
    return model


def _final_estimator(model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


# -- parity ----------------------------------------------------------------------
def parity_rows(rows: pd.DataFrame | None, contract: Contract, *, limit: int = PARITY_ROWS) -> pd.DataFrame | None:
    """The contract's columns of ``rows`` (at most ``limit``), checked; rows that break the contract are left out."""
    if rows is None:
        return None
    names = [c for c in contract.feature_names if c in rows.columns]
    df = rows[names].head(limit).reset_index(drop=True)
    for _ in range(3):
        if len(df) == 0:
            return None
        try:
            return check_frame(df, contract, source="parity rows", allow_target=False)
        except ContractViolation as exc:
            bad = {v.row for v in exc.violations}
            if None in bad:  # a whole column is wrong: nothing to compare on
                return None
            df = df.drop(index=df.index[sorted(bad)]).reset_index(drop=True)  # type: ignore[type-var]
    return None


def with_gaps(X: pd.DataFrame, contract: Contract, *, per_column: int = GAP_ROWS) -> tuple[pd.DataFrame, int]:
    """``X`` plus copies of its first rows with a gap in each nullable column, and one with all of them."""
    nullable = [c.name for c in contract.columns if c.nullable]
    if not nullable:
        return X, 0
    parts = [X]
    for name in nullable:
        part = X.head(per_column).copy()
        part[name] = np.nan
        parts.append(part)
    every = X.head(per_column).copy()
    for name in nullable:
        every[name] = np.nan
    parts.append(every)
    out = pd.concat(parts, ignore_index=True)
    for col in contract.columns:  # concat must not turn the categories into another dtype
        out[col.name] = out[col.name].astype(object if col.kind == "categorical" else "float64")
    return out, len(out) - len(X)


def check_parity(
    pipeline: Any, onnx_bytes: bytes, contract: Contract, X: pd.DataFrame, *, task: str, tolerance: float
) -> dict[str, Any]:
    """Score checked rows ``X`` with both; the largest difference and whether it is within ``tolerance``."""
    session = make_session(onnx_bytes)
    columns = {name: X[name].to_numpy() for name in contract.feature_names}
    got = np.asarray(session.run(None, onnx_feed(columns, contract))[output_index(session, task)], dtype=float)
    if task == "regression":
        want = np.asarray(pipeline.predict(X), dtype=float).reshape(-1)
        got = got.reshape(-1)
    else:
        want = np.asarray(pipeline.predict_proba(X), dtype=float)
    if got.shape != want.shape:
        return {"used": False, "reason": f"ONNX output has shape {got.shape}, the pipeline's {want.shape}"}
    diff = np.abs(got - want)
    max_abs = float(np.max(diff)) if diff.size else 0.0
    out: dict[str, Any] = {"parity_max_abs_diff": max_abs}
    if task == "regression":
        scaled = float(np.max(diff / np.maximum(1.0, np.abs(want)))) if diff.size else 0.0
        out["parity_max_scaled_diff"] = scaled
        measure = scaled
    else:
        out["label_mismatches"] = int(np.sum(got.argmax(axis=1) != want.argmax(axis=1)))
        measure = max_abs
    ok = bool(np.isfinite(measure) and measure <= tolerance and np.all(np.isfinite(got)))
    out["used"] = ok
    if not ok:
        out["reason"] = f"parity does not hold: maximum difference {measure:.3g} > tolerance {tolerance:g}"
    return out


def _done(result: OnnxExport, started: float) -> OnnxExport:
    result.report["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 400 else text[:397] + "..."


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for pkg in ("onnx", "skl2onnx", "onnxmltools", "onnxruntime"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out

"""What ``tabloop export`` writes and reports: the file, its parity, and the int8 / distilled variants beside the float one.

Every variant is measured the same way on the version's held-out rows: size in bytes, median latency of
one row and of a batch (one thread, as served), and the spec's metric. The written file is checked for
parity against the pipeline it came from (the version's, or the student's for ``--distill``) before
anything is written; an int8 graph is lossy by design, so it is held to its own, looser tolerance
(:data:`INT8_TOLERANCE` unless given) and refused beyond it, with the metric change shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabloop.bundle import ModelBundle
from tabloop.data import Contract, check_frame
from tabloop.errors import ContractViolation, ExportError
from tabloop.export._distill import describe, distill
from tabloop.export._onnx import DEFAULT_TOLERANCE, with_gaps
from tabloop.export._quantize import quantize_int8
from tabloop.export._runtime import make_session
from tabloop.export._standalone import compare, export_file, latency, metric_of, run_graph

#: the largest difference of probabilities (scaled values) an int8 graph may show against the pipeline
INT8_TOLERANCE = 0.05


@dataclass
class Artifact:
    onnx: bytes
    report: dict[str, Any]


def build_artifact(
    bundle: ModelBundle,
    held_out: pd.DataFrame,
    *,
    target: str,
    metric: str,
    train_rows: pd.DataFrame | None = None,
    quantize: str | None = None,
    distill_student: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    int8_tolerance: float = INT8_TOLERANCE,
    seed: int = 0,
) -> Artifact:
    """The bytes to write and the report; raises :class:`ExportError` (nothing to write) with the reason."""
    if quantize not in (None, "int8"):
        raise ExportError(f"unknown quantization {quantize!r}", hint="use --quantize int8")
    X, y = scored_rows(held_out, bundle.contract, target)
    report: dict[str, Any] = {"metric": metric, "held_out_rows": len(X), "tolerance": tolerance}
    source = "held-out rows"
    if distill_student is None:
        exported = export_file(bundle, held_out, tolerance=tolerance, source=source)
        chosen, data = bundle, exported.onnx
        report["float"] = _measure(bundle, data, X, y, metric)
    else:
        if train_rows is None or len(train_rows) == 0:
            raise ExportError("no training rows to distil the student from")
        teacher: dict[str, Any] = {"metric": _pipeline_metric(bundle, X, y, metric)}
        try:
            teacher_file = export_file(bundle, held_out, tolerance=tolerance, source=source)
            teacher.update(_measure(bundle, teacher_file.onnx, X, y, metric))
        except ExportError as exc:  # the student is the way out for a model that does not convert
            teacher["onnx"] = f"not exported: {exc.message}"
        student = distill(bundle, train_rows, student=distill_student, seed=seed)
        exported = export_file(student, held_out, tolerance=tolerance, source=source)
        chosen, data = student, exported.onnx
        measured = _measure(student, data, X, y, metric)
        gaps, _ = with_gaps(X, bundle.contract)
        agreement = compare(student, make_session(data), gaps, tolerance=float("inf"),
                            reference=_pipeline_outputs(bundle, gaps))
        report["distill"] = {
            "student": distill_student, "what": describe(distill_student), "training_rows": int(min(len(train_rows),
                                                                                                20_000)),
            "teacher": teacher, "student_model": measured,
            "metric_change": _change(measured.get("metric"), teacher.get("metric")),
            "vs_teacher": {k: agreement[k] for k in ("max_abs_diff", "mean_abs_diff", "class_agreement", "max_scaled_diff")
                           if k in agreement},
        }
        report["float"] = measured
    report["parity"] = exported.parity
    report["inputs"], report["outputs"] = exported.inputs, exported.outputs
    written = "student" if distill_student else "float"
    if quantize == "int8":
        q = quantize_int8(data)
        int8: dict[str, Any] = {"quantized_nodes": q.quantized_nodes, "stayed_float": q.stayed_float, "note": q.note}
        if q.quantized_nodes:
            int8.update(_measure(chosen, q.onnx, X, y, metric))
            gaps, _ = with_gaps(X, bundle.contract)
            parity = compare(chosen, make_session(q.onnx), gaps, tolerance=int8_tolerance)
            int8["parity"] = parity
            int8["metric_change"] = _change(int8.get("metric"), report["float"].get("metric"))
            if not parity["ok"]:
                raise ExportError(f"the int8 graph does not answer as the pipeline does on the {source}: "
                                  f"{parity['reason']} (int8 tolerance); nothing written", report=report | {"int8": int8},
                                  hint="export the float graph (without --quantize), or pass a larger --int8-tolerance")
            data = q.onnx
            written += "-int8"
        else:
            int8.update({k: report["float"][k] for k in ("bytes", "p50_one_row_ms", "p50_batch_ms", "metric")})
            int8["metric_change"] = 0.0
        report["int8"] = int8
    report["written"] = written
    report["bytes"] = len(data)
    return Artifact(data, report)


def scored_rows(rows: pd.DataFrame, contract: Contract, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Held-out rows with a label that pass the contract, and their labels, aligned."""
    if target not in rows.columns:
        raise ExportError(f"the held-out rows have no target column {target!r}")
    rows = rows[rows[target].notna()].reset_index(drop=True)
    names = contract.feature_names
    for _ in range(3):
        if len(rows) == 0:
            break
        try:
            X = check_frame(rows[[c for c in names if c in rows.columns]], contract, source="held-out rows",
                            allow_target=False)
            return X, rows[target]
        except ContractViolation as exc:
            bad = {v.row for v in exc.violations}
            if None in bad:
                raise ExportError(f"the held-out rows break the model's contract as a whole: {exc.message}") from exc
            rows = rows.drop(index=rows.index[sorted(bad)]).reset_index(drop=True)  # type: ignore[type-var]
    raise ExportError("no held-out rows with a label pass the model's contract, so nothing can be measured")


def _measure(bundle: ModelBundle, data: bytes, X: pd.DataFrame, y: pd.Series, metric: str) -> dict[str, Any]:
    session = make_session(data)
    outputs, _ = run_graph(session, bundle, X)
    return {"bytes": len(data), **latency(session, bundle, X), "metric": _rounded(metric_of(bundle, metric, y, outputs))}


def _pipeline_metric(bundle: ModelBundle, X: pd.DataFrame, y: pd.Series, metric: str) -> float | None:
    outputs, _ = _pipeline_outputs(bundle, X)
    return _rounded(metric_of(bundle, metric, y, outputs))


def _pipeline_outputs(bundle: ModelBundle, X: pd.DataFrame) -> tuple[np.ndarray, list[Any]]:
    if bundle.task == "regression":
        values = np.asarray(bundle.pipeline.predict(X), dtype=float).reshape(-1)
        return values, []
    proba = np.asarray(bundle.pipeline.predict_proba(X), dtype=float)
    return proba, bundle.predictions_from(proba).labels


def _change(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None else round(new - old, 6)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


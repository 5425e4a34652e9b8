"""One ONNX file that answers as the model version does, for runtimes without tabloop (``tabloop export``).

The graph is the one the server uses (:func:`tabloop.export.to_onnx`: one input per contract column,
``[None, 1]``, float32 for numbers and strings for categories; the preparation and the model), with
outputs a user reads directly:

- classifiers: ``label`` (``[N]``, the class names; int64 when every class is an integer, else strings),
  decided by the version's own rule (its decision threshold for a binary model, else the most probable
  class), and ``probabilities`` (``[N, K]`` float32, in the order of the ``classes`` metadata);
- regressors: ``value`` (``[N]`` float32).

The metadata entry ``tabloop`` (JSON) names the model, version, task, classes, threshold, every input with
its type, and the string that stands for a missing category (a numeric gap is NaN). The file does not apply
the data contract (ranges, unseen categories): tabloop's server does.

Nothing is written unless the file answers as the pipeline does on the held-out rows (plus copies with a
gap in each nullable column): the largest difference of probabilities (values, scaled by ``max(1, |value|)``)
within the tolerance, and the same label on every row whose probability is farther than the tolerance from
the decision threshold (a row on the threshold itself may fall either way in float32).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop.bundle import ModelBundle
from tabloop.data import MISSING_SENTINEL, Contract, encode_target
from tabloop.errors import ExportError, NotConvertible
from tabloop.export._onnx import DEFAULT_TOLERANCE, opset_for, parity_rows, to_onnx, with_gaps
from tabloop.export._runtime import make_session, onnx_feed

#: how many times one row and one batch are scored for the median latency, and the batch's size
ONE_ROW_RUNS = 200
BATCH_RUNS = 20
BATCH_ROWS = 1000
METADATA_KEY = "tabloop"


@dataclass
class FileExport:
    """The exported file's bytes and what was measured on it."""

    onnx: bytes
    parity: dict[str, Any]
    inputs: list[dict[str, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def export_file(bundle: ModelBundle, rows: pd.DataFrame | None, *, tolerance: float = DEFAULT_TOLERANCE,
                source: str = "held-out rows") -> FileExport:
    """The version's pipeline as one self-describing ONNX graph, parity-checked on ``rows``.

    Raises :class:`ExportError` naming the step with no converter, or the maximum difference and tolerance
    (and the label disagreements) when the graph does not answer as the pipeline does.
    """
    try:
        raw = to_onnx(bundle.pipeline, bundle.contract, task=bundle.task)
    except NotConvertible:
        raise
    except ImportError as exc:
        raise ExportError(f"ONNX export needs skl2onnx, onnxmltools and onnxruntime ({exc})") from exc
    except Exception as exc:  # a converter's own failure: name the model's steps, since skl2onnx's message may not
        raise NotConvertible(f"the pipeline ({_steps(bundle.pipeline)}) did not convert: {type(exc).__name__}: {exc}"
                             ) from exc
    data = finish_graph(raw, bundle)
    X = parity_rows(rows, bundle.contract)
    if X is None or len(X) == 0:
        raise ExportError(f"no {source} pass the data contract, so parity cannot be checked",
                          hint="export a version whose held-out part is available")
    X, gaps = with_gaps(X, bundle.contract)
    parity = compare(bundle, make_session(data), X, tolerance=tolerance)
    parity.update({"rows": len(X) - gaps, "gap_rows": gaps, "rows_from": source})
    if not parity["ok"]:
        raise ExportError(f"the exported graph does not answer as the pipeline does on the {source}: "
                          f"{parity['reason']}; nothing written", report=parity,
                          hint="report the model's steps to the maintainers; the server still serves the pipeline")
    return FileExport(data, parity, input_types(bundle.contract), output_names(bundle.task))


def finish_graph(raw: bytes, bundle: ModelBundle) -> bytes:
    """``raw`` (skl2onnx's graph) with the outputs named above, the version's decision rule and the metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(raw)
    graph = model.graph
    produced = []
    for out in graph.output:  # skl2onnx's names (label, probabilities, variable) would clash with the ones added
        _rename(graph, out.name, f"tabloop_raw_{out.name}")
        produced.append(f"tabloop_raw_{out.name}")
    nodes: list[Any] = []
    consts: list[Any] = []
    if bundle.task == "regression":
        consts.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "tabloop_flat"))
        nodes.append(helper.make_node("Reshape", [produced[0], "tabloop_flat"], ["value"], name="tabloop_value"))
        outputs = [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["N"])]
    else:
        proba = "tabloop_raw_probabilities" if "tabloop_raw_probabilities" in produced else produced[-1]
        nodes.append(helper.make_node("Identity", [proba], ["probabilities"], name="tabloop_probabilities"))
        if bundle.task == "binary" and bundle.threshold is not None:
            consts.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "tabloop_one"))
            consts.append(numpy_helper.from_array(np.array([bundle.threshold], dtype=np.float32), "tabloop_threshold"))
            nodes += [
                helper.make_node("Gather", [proba, "tabloop_one"], ["tabloop_p1"], axis=1, name="tabloop_positive"),
                helper.make_node("GreaterOrEqual", ["tabloop_p1", "tabloop_threshold"], ["tabloop_above"],
                                 name="tabloop_decide"),
                helper.make_node("Cast", ["tabloop_above"], ["tabloop_idx2"], to=TensorProto.INT64, name="tabloop_cast"),
            ]
        else:
            nodes.append(helper.make_node("ArgMax", [proba], ["tabloop_idx2"], axis=1, keepdims=1, name="tabloop_argmax"))
        consts.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "tabloop_flat"))
        nodes.append(helper.make_node("Reshape", ["tabloop_idx2", "tabloop_flat"], ["tabloop_idx"], name="tabloop_flat_idx"))
        labels, elem = _class_tensor(bundle.classes)
        consts.append(labels)
        nodes.append(helper.make_node("Gather", [labels.name, "tabloop_idx"], ["label"], axis=0, name="tabloop_label"))
        outputs = [helper.make_tensor_value_info("label", elem, ["N"]),
                   helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(bundle.classes)])]
    graph.initializer.extend(consts)
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend(outputs)
    _prune(graph)
    graph.name = f"tabloop_{bundle.name or 'model'}"
    graph.doc_string = ("tabloop export: preparation and model in one graph; metadata 'tabloop' (JSON) names the "
                        "inputs, classes and the missing-category marker")
    del model.metadata_props[:]
    meta = model.metadata_props.add()
    meta.key, meta.value = METADATA_KEY, json.dumps(metadata(bundle))
    model.producer_name = "tabloop"
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def metadata(bundle: ModelBundle) -> dict[str, Any]:
    """What a runtime without tabloop needs to feed the graph and read its answers."""
    return {
        "format": 1,
        "model": bundle.name,
        "version": bundle.version,
        "task": bundle.task,
        "classes": [_plain_class(c) for c in bundle.classes],
        "threshold": bundle.threshold if bundle.task == "binary" else None,
        "inputs": input_types(bundle.contract),
        "outputs": output_names(bundle.task),
        "missing_number": "NaN",
        "missing_category": MISSING_SENTINEL,
        "opset": opset_for(bundle.pipeline),
    }


def input_types(contract: Contract) -> list[dict[str, str]]:
    return [{"name": c.name, "type": "float32" if c.kind == "numeric" else "string", "shape": "[N, 1]"}
            for c in contract.columns]


def output_names(task: str) -> list[str]:
    return ["value"] if task == "regression" else ["label", "probabilities"]


# -- parity -------------------------------------------------------------------------
def compare(bundle: ModelBundle, session: Any, X: pd.DataFrame, *, tolerance: float,
            reference: tuple[np.ndarray, list[Any]] | None = None) -> dict[str, Any]:
    """The exported graph against the pipeline (or ``reference``: outputs and labels) on checked rows ``X``."""
    got, got_labels = run_graph(session, bundle, X)
    if reference is None:
        want = np.asarray(bundle.pipeline.predict(X) if bundle.task == "regression" else bundle.pipeline.predict_proba(X),
                          dtype=float)
        want_labels = bundle.predictions_from(want).labels
    else:
        want, want_labels = reference
    want = want.reshape(got.shape) if want.size == got.size else want
    out: dict[str, Any] = {"tolerance": tolerance,
                           "compared": "regression values" if bundle.task == "regression" else "probabilities"}
    if got.shape != want.shape:
        out.update(ok=False, reason=f"the graph's output has shape {got.shape}, the pipeline's {want.shape}")
        return out
    diff = np.abs(got - want)
    out["max_abs_diff"] = float(diff.max()) if diff.size else 0.0
    out["mean_abs_diff"] = float(diff.mean()) if diff.size else 0.0
    if bundle.task == "regression":
        measure = float((diff / np.maximum(1.0, np.abs(want))).max()) if diff.size else 0.0
        out["max_scaled_diff"] = measure
    else:
        measure = out["max_abs_diff"]
        same = np.array([str(a) == str(b) for a, b in zip(got_labels, want_labels, strict=True)])
        out["class_agreement"] = float(same.mean()) if same.size else 1.0
        out["label_mismatches"] = int((~same).sum())
        near = _near_boundary(want, bundle, tolerance)
        out["label_mismatches_off_boundary"] = int((~same & ~near).sum())
    finite = bool(np.all(np.isfinite(got)))
    ok = finite and np.isfinite(measure) and measure <= tolerance and not out.get("label_mismatches_off_boundary")
    out["ok"] = bool(ok)
    if not finite:
        out["reason"] = "the graph answers NaN or infinity where the pipeline does not"
    elif measure > tolerance or not np.isfinite(measure):
        what = "scaled difference of values" if bundle.task == "regression" else "difference of probabilities"
        out["reason"] = f"maximum {what} {measure:.3g} > tolerance {tolerance:g}"
    elif not ok:
        out["reason"] = (f"{out['label_mismatches_off_boundary']} row(s) get another label, away from the decision "
                         "threshold")
    return out


def run_graph(session: Any, bundle: ModelBundle, X: pd.DataFrame) -> tuple[np.ndarray, list[Any]]:
    """The graph's probabilities (values) as float64 and its labels, on checked rows ``X``."""
    feed = onnx_feed({c: X[c].to_numpy() for c in bundle.contract.feature_names}, bundle.contract)
    if bundle.task == "regression":
        (value,) = session.run(["value"], feed)
        return np.asarray(value, dtype=float).reshape(-1), []
    label, proba = session.run(["label", "probabilities"], feed)
    return np.asarray(proba, dtype=float), list(label)


def _near_boundary(proba: np.ndarray, bundle: ModelBundle, tolerance: float) -> np.ndarray:
    """Rows whose decision the float32 graph may take either way: within the tolerance of the threshold or a tie."""
    if bundle.task == "binary" and bundle.threshold is not None:
        return np.asarray(np.abs(proba[:, 1] - bundle.threshold) <= tolerance)
    top = np.sort(proba, axis=1)
    return np.asarray(top[:, -1] - top[:, -2] <= 2 * tolerance) if proba.shape[1] > 1 else np.zeros(len(proba), bool)


def metric_of(bundle: ModelBundle, metric: str, target: pd.Series, outputs: np.ndarray) -> float | None:
    """The spec's ``metric`` of ``outputs`` (probabilities or values, in the rows' order) against ``target``."""
    from tabloop.evaluation import compute_metrics

    if bundle.task == "regression":
        values = compute_metrics("regression", target.to_numpy(dtype=float), y_pred=outputs.reshape(-1), metrics=[metric])
    else:
        y = encode_target(target, bundle.classes)
        lookup = {str(c): i for i, c in enumerate(bundle.classes)}
        y_pred = np.array([lookup[str(p)] for p in bundle.predictions_from(outputs).labels])
        values = compute_metrics(bundle.task, y, proba=outputs, y_pred=y_pred, metrics=[metric])
    return values.get(metric)


# -- speed ---------------------------------------------------------------------------
def latency(session: Any, bundle: ModelBundle, X: pd.DataFrame) -> dict[str, float]:
    """Median milliseconds for one row and for a batch of :data:`BATCH_ROWS` rows (one thread, as served)."""
    contract = bundle.contract
    one = onnx_feed({c: X[c].to_numpy()[:1] for c in contract.feature_names}, contract)
    reps = -(-BATCH_ROWS // max(len(X), 1))
    big = pd.concat([X] * reps, ignore_index=True).head(BATCH_ROWS)
    batch = onnx_feed({c: big[c].to_numpy() for c in contract.feature_names}, contract)
    return {"p50_one_row_ms": _median_ms(session, one, ONE_ROW_RUNS),
            "p50_batch_ms": _median_ms(session, batch, BATCH_RUNS), "batch_rows": len(big)}


def _median_ms(session: Any, feed: dict[str, np.ndarray], runs: int) -> float:
    session.run(None, feed)  # the first run allocates
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1000, 4)


# -- graph surgery ---------------------------------------------------------------------
def _class_tensor(classes: list[Any]) -> tuple[Any, int]:
    from onnx import TensorProto, helper

    plain = [_plain_class(c) for c in classes]
    if all(isinstance(c, int) and not isinstance(c, bool) for c in plain):
        return helper.make_tensor("tabloop_classes", TensorProto.INT64, [len(plain)], plain), TensorProto.INT64
    text = [str(c).encode() for c in plain]
    return (helper.make_tensor("tabloop_classes", TensorProto.STRING, [len(text)], text),  # type: ignore[arg-type]
            TensorProto.STRING)


def _plain_class(c: Any) -> Any:
    return c.item() if hasattr(c, "item") else c


def _rename(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def _prune(graph: Any) -> None:
    """Drop the nodes and initializers no output needs (skl2onnx's own label, ZipMaps)."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)


def _steps(pipeline: Any) -> str:
    from tabloop.export._steps import walk

    return ", ".join(f"{path} ({type(est).__name__})" for est, path in walk(pipeline, "pipeline")[1:]) or \
        type(pipeline).__name__

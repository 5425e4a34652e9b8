"""The one adapter to onnxruntime: a session tuned for one small request at a time, and its feed.

The graph takes one input per contract column, shape ``[None, 1]``: float32 for numeric
columns, strings for categorical ones. A categorical gap travels as
:data:`tabloop.data.MISSING_SENTINEL`, the string the exported imputer replaces with its most frequent category, as scikit-learn
replaces NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tabloop.data import MISSING_SENTINEL, Contract


def make_session(onnx_bytes: bytes) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU, one thread, nodes run in order.

    One thread per request is the fast choice for single rows; the server runs requests
    side by side in its own threads (``InferenceSession.run`` is thread-safe).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return ort.InferenceSession(onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def onnx_feed(columns: dict[str, np.ndarray], contract: Contract) -> dict[str, np.ndarray]:
    """The session's inputs from checked columns (as ``check_records`` or ``check_frame`` give them)."""
    feed: dict[str, np.ndarray] = {}
    for col in contract.columns:
        values = columns[col.name]
        if col.kind == "numeric":
            with np.errstate(over="ignore"):  # beyond float32 becomes inf; the predictor falls back on it
                feed[col.name] = np.asarray(values, dtype=np.float32).reshape(-1, 1)
        else:
            arr = np.empty(len(values), dtype=object)
            for i, v in enumerate(values):
                arr[i] = v if isinstance(v, str) else MISSING_SENTINEL
            feed[col.name] = arr.reshape(-1, 1)
    return feed


def output_index(session: Any, task: str) -> int:
    """Which of the session's outputs holds the probabilities (classifiers) or the values (regressors)."""
    names = [o.name for o in session.get_outputs()]
    if task == "regression":
        return 0
    return names.index("probabilities") if "probabilities" in names else len(names) - 1

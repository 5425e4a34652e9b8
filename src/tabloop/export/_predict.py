"""Row predictors for the request path: JSON rows in, ``Predictions`` out, no pandas on the fast one.

Both check every row with ``check_records`` (the rules and messages of ``check_frame``)
and decide labels with ``ModelBundle.predictions_from`` (the bundle's threshold and
argmax rules), so which one answers changes nothing but the speed.

>>> predictor = make_row_predictor(bundle)          # doctest: +SKIP
>>> predictor.predict_rows([{"dir": 0.3, ...}]).records()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tabloop.data import check_records
from tabloop.errors import ServingError
from tabloop.export._runtime import make_session, onnx_feed, output_index
from tabloop.train import ModelBundle, Predictions

log = logging.getLogger(__name__)
Rows = Sequence[Mapping[str, Any]]


class RowPredictor(Protocol):
    bundle: ModelBundle
    #: "onnx" or "sklearn": what answers
    engine: str

    def predict_rows(self, rows: Rows, *, source: str = "input") -> Predictions: ...


class SklearnRowPredictor:
    """The fallback: checked rows become a small DataFrame for the scikit-learn pipeline."""

    engine = "sklearn"

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self._dtypes = {c.name: object if c.kind == "categorical" else "float64" for c in bundle.contract.columns}

    def predict_rows(self, rows: Rows, *, source: str = "input") -> Predictions:
        """Check ``rows`` against the contract (raising ``ContractViolation``) and predict them."""
        return self.predict_columns(check_records(rows, self.bundle.contract, source=source))

    def predict_columns(self, columns: dict[str, np.ndarray]) -> Predictions:
        """Predict columns that ``check_records`` already passed."""
        df = pd.DataFrame({name: pd.Series(columns[name], dtype=dtype) for name, dtype in self._dtypes.items()})
        return self.bundle.predict(df, checked=True)


class OnnxRowPredictor:
    """One onnxruntime session over the exported graph (one thread, sequential).

    Rows whose numbers overflow float32 (beyond about 3.4e38) go to the scikit-learn
    pipeline instead, which works in float64, rather than being scored as infinity.
    """

    engine = "onnx"

    def __init__(self, bundle: ModelBundle, onnx_bytes: bytes | None = None) -> None:
        data = onnx_bytes if onnx_bytes is not None else bundle.onnx
        if data is None:
            raise ServingError(
                f"model {bundle.name or ''} v{bundle.version or '?'} has no ONNX graph",
                hint="register the model again with the ONNX extras installed, or serve it with the scikit-learn pipeline",
            )
        self.bundle = bundle
        try:
            self.session = make_session(data)
        except Exception as exc:
            raise ServingError(f"the model's ONNX graph cannot be loaded: {exc}") from exc
        names = [i.name for i in self.session.get_inputs()]
        if names != bundle.contract.feature_names:
            raise ServingError(
                f"the ONNX graph's inputs {names} are not the contract's columns {bundle.contract.feature_names}",
                hint="register the model again",
            )
        self._output = self.session.get_outputs()[output_index(self.session, bundle.task)].name
        self._numeric = bundle.contract.numeric
        self._fallback = SklearnRowPredictor(bundle)

    def predict_rows(self, rows: Rows, *, source: str = "input") -> Predictions:
        """Check ``rows`` against the contract (raising ``ContractViolation``) and predict them."""
        return self.predict_columns(check_records(rows, self.bundle.contract, source=source))

    def predict_columns(self, columns: dict[str, np.ndarray]) -> Predictions:
        """Predict columns that ``check_records`` already passed."""
        feed = onnx_feed(columns, self.bundle.contract)
        for name in self._numeric:
            if np.isinf(feed[name]).any():  # finite in float64, too large for float32
                return self._fallback.predict_columns(columns)
        (output,) = self.session.run([self._output], feed)
        return self.bundle.predictions_from(output)


def make_row_predictor(bundle: ModelBundle, *, prefer_onnx: bool = True) -> RowPredictor:
    """ONNX when the bundle has a graph whose parity held at registration, else the scikit-learn pipeline."""
    report = bundle.manifest.get("onnx") or {}
    if prefer_onnx and bundle.onnx is not None and report.get("used"):
        try:
            return OnnxRowPredictor(bundle)
        except (ServingError, ImportError) as exc:
            log.warning("serving with the scikit-learn pipeline: %s", exc)
    return SklearnRowPredictor(bundle)

"""Row predictors for the request path: JSON rows in, ``Predictions`` out, no pandas on the fast one.

Both check every row with ``screen_records`` (the rules and messages of ``check_frame``)
and decide labels with ``ModelBundle.predictions_from`` (the bundle's threshold and
argmax rules), so which one answers changes nothing but the speed.

>>> predictor = make_row_predictor(bundle)          # doctest: +SKIP
>>> predictor.predict_rows([{"dir": 0.3, ...}]).records()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import MISSING_SENTINEL, ColumnContract, Contract, same_keys, screen_records
from tabloop.errors import ServingError
from tabloop.export._fold import FoldedGraph, fold_categoricals
from tabloop.export._runtime import make_session, onnx_feed, output_index
from tabloop.bundle import ModelBundle, Predictions, Rows

log = logging.getLogger(__name__)

#: requests with at most this many rows try the plain-Python feed first (see ``_SmallFeed``)
SMALL_ROWS = 16
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class SklearnRowPredictor:
    """The fallback: checked rows become a small DataFrame for the scikit-learn pipeline."""

    engine = "sklearn"

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self._dtypes = {c.name: object if c.kind == "categorical" else "float64" for c in bundle.contract.columns}

    def predict_rows(self, rows: Rows, *, source: str = "input") -> Predictions:
        """Check ``rows`` against the contract (raising ``ContractViolation``) and predict them."""
        return _predict_screened(self, rows, source)

    def predict_columns(self, columns: dict[str, np.ndarray]) -> Predictions:
        """Predict columns that ``screen_records`` already passed."""
        df = pd.DataFrame({name: pd.Series(columns[name], dtype=dtype) for name, dtype in self._dtypes.items()})
        return self.bundle.predict(df, checked=True)


class OnnxRowPredictor:
    """One onnxruntime session over the exported graph (one thread, sequential).

    Rows whose numbers overflow float32 (beyond about 3.4e38) go to the scikit-learn
    pipeline instead, which works in float64, rather than being scored as infinity.
    A few clean rows take a second session when the graph folds (see ``_fold``): the
    graph past its categorical encodings, fed the encodings looked up per value; it is
    used only if it gives the whole graph's answers on the reference rows
    (``folded`` says whether it is; ``fold=False`` never folds).
    """

    engine = "onnx"

    def __init__(self, bundle: ModelBundle, onnx_bytes: bytes | None = None, *, fold: bool = True) -> None:
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
        folding = self._fold(data) if fold else None
        self.folded = folding is not None
        self._small_session = folding[1] if folding is not None else self.session
        self._small = _SmallFeed(bundle.contract, folding[0] if folding is not None else None)

    def _fold(self, data: bytes) -> tuple[FoldedGraph, Any] | None:
        """The folded graph and its session, if the graph folds and answers as the whole graph does."""
        try:
            folded = fold_categoricals(data, self.bundle.contract)
            if folded is None:
                return None
            session = make_session(folded.onnx_bytes)
            if _same_answers(self.session, session, folded, self.bundle, self._output):
                return folded, session
            log.info("model %s v%s: the folded graph disagrees with the whole one; serving the whole graph",
                     self.bundle.name, self.bundle.version)
        except Exception as exc:  # an optimisation only: the whole graph serves, as it would without it
            log.info("model %s v%s: categorical encodings not folded (%s)", self.bundle.name, self.bundle.version, exc)
        return None

    def predict_rows(self, rows: Rows, *, source: str = "input") -> Predictions:
        """Check ``rows`` against the contract (raising ``ContractViolation``) and predict them."""
        if len(rows) <= SMALL_ROWS:
            feed = self._small.feed(rows)
            if feed is not None:
                (output,) = self._small_session.run([self._output], feed)
                return self.bundle.predictions_from(output)
        return _predict_screened(self, rows, source)

    def predict_columns(self, columns: dict[str, np.ndarray]) -> Predictions:
        """Predict columns that ``screen_records`` already passed."""
        feed = onnx_feed(columns, self.bundle.contract)
        for name in self._numeric:
            if np.isinf(feed[name]).any():  # finite in float64, too large for float32
                return self._fallback.predict_columns(columns)
        (output,) = self.session.run([self._output], feed)
        return self.bundle.predictions_from(output)


def _predict_screened(predictor: SklearnRowPredictor | OnnxRowPredictor, rows: Rows, source: str) -> Predictions:
    """The full check, then the model on what it passed; the rows let through out of contract keep their marks."""
    screened = screen_records(rows, predictor.bundle.contract, source=source)
    preds = predictor.predict_columns(screened.values)
    preds.marks = screened.marks
    return preds


class _SmallFeed:
    """The session's feed for a few clean rows in plain Python, or None to take the checked path.

    On one row, ``check_records`` + ``onnx_feed`` spend most of their time setting up
    NumPy per column. This accepts only rows that plainly pass every rule (the same keys
    in every row, every feature present, no unknown key, numbers within the trained range
    (and float32), known category strings, gaps only where the contract allows them: rows
    no policy marks) and builds the
    feed those two would build. Anything else returns None, and the full check answers,
    with its violations and messages; so the rules keep one home, ``check_records``.
    With ``folded``, categorical values are looked up into the folded graph's inputs.
    """

    def __init__(self, contract: Contract, folded: FoldedGraph | None = None) -> None:
        self.folded = folded
        self.features = [
            (c.name, c.kind == "numeric", c.nullable, frozenset(c.categories or ()), *_bounds(c))
            for c in contract.columns
        ]
        self.names = frozenset(contract.feature_names)
        allowed = set(self.names) | set(contract.ignored)
        if contract.target:
            allowed.add(contract.target)
        self.allowed = frozenset(allowed)

    def feed(self, rows: Rows) -> dict[str, np.ndarray] | None:
        if not rows:
            return None
        keys = rows[0].keys()
        if not (self.names <= keys and keys <= self.allowed) or not same_keys(rows):
            return None
        n = len(rows)
        feed: dict[str, np.ndarray] = {}
        values: dict[str, list[str]] = {}
        numbers: list[list[float]] = []  # one list per numeric column: one NumPy array for them all, below
        for name, numeric, nullable, categories, lo, hi in self.features:
            if numeric:
                nums: list[float] = []
                for r in rows:
                    v = r[name]
                    t = type(v)
                    if t is float or t is int:
                        x = float(v)
                        if not lo <= x <= hi:  # NaN, inf, out of the trained range: the full check
                            return None
                        nums.append(x)
                    elif v is None and nullable:
                        nums.append(math.nan)
                    else:
                        return None
                numbers.append(nums)
                feed[name] = _PENDING
            elif self.folded is not None:
                texts: list[str] = []
                for r in rows:
                    v = r[name]
                    if type(v) is str and v in categories:
                        texts.append(v)
                    elif v is None and nullable:
                        texts.append(MISSING_SENTINEL)
                    else:
                        return None
                values[name] = texts
            else:
                arr = np.empty((n, 1), dtype=object)
                for i, r in enumerate(rows):
                    v = r[name]
                    if type(v) is str and v in categories:
                        arr[i, 0] = v
                    elif v is None and nullable:
                        arr[i, 0] = MISSING_SENTINEL
                    else:  # numbers as categories, unseen values: the full check canonicalizes or refuses
                        return None
                feed[name] = arr
        if numbers:
            block = np.array(numbers, dtype=np.float32)  # (columns, rows): each row a contiguous column
            k = 0
            for name, value in feed.items():
                if value is _PENDING:
                    feed[name] = block[k].reshape(n, 1)
                    k += 1
        if self.folded is not None:
            return self.folded.feed(feed, values, n)
        return feed


def _bounds(col: ColumnContract) -> tuple[float, float]:
    """The numbers a clean row may hold in a column: its trained range, within float32."""
    lo = -_FLOAT32_MAX if col.min is None else max(float(col.min), -_FLOAT32_MAX)
    hi = _FLOAT32_MAX if col.max is None else min(float(col.max), _FLOAT32_MAX)
    return lo, hi


#: a numeric column's place in the feed, kept in contract order until its array is made
_PENDING = np.empty((0, 1), dtype=np.float32)


def _same_answers(whole: Any, folded_session: Any, folded: FoldedGraph, bundle: ModelBundle, output: str) -> bool:
    """Do both graphs give the same output on the bundle's reference rows (with every gap and category seen)?"""
    contract = bundle.contract
    ref = bundle.reference
    if ref is None or len(ref) == 0 or any(name not in ref.columns for name in contract.feature_names):
        return False
    ref = ref.head(500)
    n = len(ref)
    feed = onnx_feed({name: ref[name].to_numpy() for name in contract.feature_names}, contract)
    values = {name: feed[name][:, 0].tolist() for name in contract.categorical}
    if not all(folded.knows(name, v) for name, texts in values.items() for v in set(texts)):
        return False
    (expected,) = whole.run([output], feed)
    numeric = {name: feed[name] for name in contract.numeric}
    (got,) = folded_session.run([output], folded.feed(numeric, values, n))
    return bool(np.allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=1e-5, atol=1e-6))


def make_row_predictor(bundle: ModelBundle, *, prefer_onnx: bool = True) -> SklearnRowPredictor | OnnxRowPredictor:
    """ONNX when the bundle has a graph whose parity held at registration, else the scikit-learn pipeline."""
    report = bundle.manifest.onnx or {}
    if prefer_onnx and bundle.onnx is not None and report.get("used"):
        try:
            return OnnxRowPredictor(bundle)
        except (ServingError, ImportError) as exc:
            log.warning("serving with the scikit-learn pipeline: %s", exc)
    return SklearnRowPredictor(bundle)

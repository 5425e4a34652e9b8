"""The app's predictors: implementations of ``RowPredictor`` (tabloop.bundle), the seam to the model.

The app hands a predictor the rows exactly as the client sent them (JSON-safe
dicts) and gets ``Predictions`` back. A predictor must apply the rules of
``check_frame`` and raise ``ContractViolation`` naming column, row and rule.
``BundlePredictor`` is the reference implementation (pandas + the scikit-learn
pipeline). ``FastPredictor``, the default, answers from the exported ONNX graph when
the bundle carries one whose parity held at registration, without building a
DataFrame. Another one plugs in through ``ServeConfig(predictor=...)`` as a factory
taking the bundle, so every version loaded later gets one too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tabloop.bundle import ModelBundle, Predictions, RowPredictor, Rows
from tabloop.data import Contract, screen_frame
from tabloop.errors import ContractViolation, Violation
from tabloop.export import make_row_predictor
from tabloop.serving._parse import SOURCE, rows_to_frame

__all__ = ["BundlePredictor", "FastPredictor", "PredictorFactory", "RowPredictor", "Served", "overflow_violations"]

PredictorFactory = Callable[[ModelBundle], RowPredictor]


class BundlePredictor:
    """Today's path: the rows as a DataFrame, checked by ``screen_frame``, through the pipeline."""

    engine = "sklearn"

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    def predict_rows(self, rows: Rows) -> Predictions:
        df = rows_to_frame(rows, self.bundle.contract)
        screened = screen_frame(df, self.bundle.contract, source=SOURCE)
        try:
            preds = self.bundle.predict(screened.values, source=SOURCE, checked=True)
            preds.marks = screened.marks
            return preds
        except (ValueError, FloatingPointError, OverflowError):
            # finite but enormous numbers (1e300) overflow inside the pipeline: the client's values, not our bug
            found = overflow_violations(rows, self.bundle.contract)
            if found:
                raise ContractViolation(found, source=SOURCE) from None
            raise


class FastPredictor:
    """ONNX when the bundle has a checked graph, else the pipeline, both without pandas per value.

    Which engine answers changes nothing but the speed: both check rows with
    ``check_records`` (the rules of ``check_frame``) and decide labels the bundle's way;
    tests/serving hold the two paths to the same answers.
    """

    def __init__(self, bundle: ModelBundle, *, prefer_onnx: bool = True) -> None:
        self.bundle = bundle
        self._inner = make_row_predictor(bundle, prefer_onnx=prefer_onnx)
        self.engine: str = self._inner.engine

    def predict_rows(self, rows: Rows) -> Predictions:
        try:
            return self._inner.predict_rows(rows, source=SOURCE)
        except (ValueError, FloatingPointError, OverflowError) as exc:
            if isinstance(exc, ContractViolation):
                raise
            found = overflow_violations(rows, self.bundle.contract)
            if found:
                raise ContractViolation(found, source=SOURCE) from None
            raise


MAX_MAGNITUDE = 1e100


def overflow_violations(rows: Rows, contract: Contract) -> list[Violation]:
    """Numbers so large that a model's arithmetic overflows on them, named by column and row."""
    found: list[Violation] = []
    for name in contract.numeric:
        for i, row in enumerate(rows):
            v = row.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > MAX_MAGNITUDE:
                found.append(Violation(name, "out_of_range", f"{v!r} is too large for the model (|x| > {MAX_MAGNITUDE:g})", row=i))
                if len(found) >= 100:
                    return found
    return found


@dataclass(frozen=True)
class Served:
    """One loaded model version as a variant: what a request holds on to from start to end."""

    bundle: ModelBundle
    predictor: RowPredictor
    variant: str

    @property
    def name(self) -> str | None:
        return self.bundle.name

    @property
    def version(self) -> str | None:
        return self.bundle.version

    @property
    def model(self) -> dict[str, str | None]:
        return {"name": self.bundle.name, "version": self.bundle.version}

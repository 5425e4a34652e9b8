"""Requests that carry entity keys instead of features: the rest comes from the online store, then the contract.

``with_online_features`` wraps the app's predictor factory, so every version swapped in
later completes its rows the same way. A row the online store cannot complete (an entity it
does not hold, a value older than its view's ttl) follows ``features.on_missing``: ``reject``
answers 422 naming the join key, entity and rule (``missing_entity`` or ``expired``);
``impute`` sends those features as gaps, which the model fills as it was trained to (the
contract's ``not_null`` check is relaxed for them alone) and marks the row with the rule and
policy ``impute``, in the answer, the log and the metrics, as any out-of-contract row. The
request's rows are completed in place, so the prediction log holds the features the model used.

An online store that cannot be read at all (Redis down) is the same gap for every row that needed
it: ``impute`` answers on, each looked-up feature marked ``store_unavailable``, so predictions
continue while the store is away; ``reject`` answers 503 (the server's fault, not the caller's).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tabloop.bundle import ModelBundle, Predictions, RowPredictor, Rows
from tabloop.data import Mark
from tabloop.errors import ContractViolation, FeatureStoreError
from tabloop.serving._parse import SOURCE
from tabloop.serving._predictor import PredictorFactory

if TYPE_CHECKING:
    from tabloop.features import OnlineRows

#: the policy of a mark on a feature the online store could not give and the model imputed
IMPUTE = "impute"
#: the rule of a mark on a feature imputed because the online store could not be read at all
STORE_UNAVAILABLE = "store_unavailable"
#: seconds between two warnings that the online store is away (each answer carries its marks anyway)
_WARN_EVERY_S = 60.0

log = logging.getLogger("tabloop.serving")


class RowFiller(Protocol):
    """What the online lookup offers (``tabloop.features.Lookup``): the features it gives, and rows filled."""

    features: list[str]

    def fill(self, rows: Rows) -> OnlineRows: ...


class OnlineFeaturesPredictor:
    """A predictor whose rows are completed from the online store before the contract check."""

    def __init__(self, bundle: ModelBundle, factory: PredictorFactory, lookup: RowFiller,
                 on_missing: Literal["reject", "impute"]) -> None:
        self.bundle = bundle
        self.lookup = lookup
        self.on_missing = on_missing
        self._inner = factory(bundle)
        # not "onnx": a lookup is I/O, so the service keeps it off the event loop
        self.engine = f"{getattr(self._inner, 'engine', 'model')}+features"
        self._imputing: RowPredictor | None = None
        if on_missing == IMPUTE:
            self._imputing = factory(_gaps_allowed(bundle, lookup.features))

    def predict_rows(self, rows: Rows) -> Predictions:
        try:
            filled = self.lookup.fill(rows)
        except FeatureStoreError as exc:
            if self.on_missing != IMPUTE or self._imputing is None:
                raise
            filled = self._store_away(rows, exc)
        self._log_as_used(rows, filled.rows)
        if not filled.gaps:
            return self._inner.predict_rows(filled.rows)
        if self.on_missing != IMPUTE or self._imputing is None:
            raise ContractViolation(filled.violations(), source=SOURCE)
        imputed: dict[int, dict[str, str]] = {}
        for i, gaps in filled.gaps.items():
            for gap in gaps:
                for name in gap.features:
                    filled.rows[i].setdefault(name, None)
                    imputed.setdefault(i, {})[name] = gap.rule
        self._log_as_used(rows, filled.rows)
        preds = self._imputing.predict_rows(filled.rows)
        for i, columns in imputed.items():
            # the relaxed not_null mark says less than why the value is missing: that one replaces it
            kept = [m for m in preds.marks.get(i, []) if not (m.column in columns and m.rule == "not_null")]
            preds.marks[i] = kept + [Mark(column, rule, IMPUTE) for column, rule in columns.items()]
        preds.marks = dict(sorted(preds.marks.items()))
        return preds

    _warned_at = 0.0

    def _store_away(self, rows: Rows, exc: FeatureStoreError) -> OnlineRows:
        """Every row that needed the store, with each feature it lacks as a ``store_unavailable`` gap."""
        from tabloop.features import OnlineRows
        from tabloop.features._online import Gap

        now = time.monotonic()
        if now - OnlineFeaturesPredictor._warned_at >= _WARN_EVERY_S:
            OnlineFeaturesPredictor._warned_at = now
            log.warning("%s; answering with the looked-up features imputed (features.on_missing: impute)", exc)
        out = OnlineRows([dict(r) for r in rows])
        for i, row in enumerate(rows):
            missing = tuple(f for f in self.lookup.features if f not in row)
            if missing:
                out.gaps[i] = [Gap("online store", STORE_UNAVAILABLE, "", missing)]
        out.looked_up = len(out.gaps)
        return out

    @staticmethod
    def _log_as_used(rows: Rows, filled: list[dict[str, Any]]) -> None:
        """The request's own row dicts get the looked-up values: the prediction log (and monitoring's drift
        per feature) then sees the features the model used, and a shadow challenger gets complete rows."""
        for sent, used in zip(rows, filled, strict=True):
            if isinstance(sent, dict):
                sent.update(used)


def with_online_features(factory: PredictorFactory, lookup: RowFiller,
                         on_missing: Literal["reject", "impute"]) -> PredictorFactory:
    """``factory``, with every predictor it makes completing its rows from ``lookup`` first."""

    def make(bundle: ModelBundle) -> RowPredictor:
        return OnlineFeaturesPredictor(bundle, factory, lookup, on_missing)

    return make


def _gaps_allowed(bundle: ModelBundle, features: list[str]) -> ModelBundle:
    """``bundle`` whose contract lets a gap through (marked) in the looked-up features."""
    from tabloop.features import gaps_allowed

    return dataclasses.replace(bundle, contract=gaps_allowed(bundle.contract, features))

"""The feedback holdout: a share of traffic the model does not decide.

When labels come back only for what the model chose (loans it approved, cases it
flagged), retraining on them teaches the model its own choices. A holdout row is
answered with the training prior instead (the majority class, or the training mean),
so its outcome, and its label, do not depend on the model; the model still scores
it, and that prediction is what the log keeps, marked ``holdout: true``, so
monitoring can measure the model on rows it did not influence.

Membership is a pure function of the row, like rollout routing, so replicas agree:
with ``key``, the hash of that column's value (an entity stays in or out); without,
the hash of the request id (a whole request together). The hash is salted so the
holdout does not coincide with the A/B split, which hashes the same values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tabloop.errors import ServingError
from tabloop.serving._rollout import bucket
from tabloop.bundle import ModelBundle, Predictions

_SALT = "tabloop-feedback-holdout:"


@dataclass(frozen=True)
class Holdout:
    share: float = 0.0
    key: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.share, bool) or not 0.0 <= float(self.share) <= 1.0:
            raise ServingError(f"serving.feedback_holdout.share must be between 0 and 1, got {self.share!r}")
        if self.key is not None and not (isinstance(self.key, str) and self.key):
            raise ServingError(f"serving.feedback_holdout.key must be a column name or empty, got {self.key!r}")

    @property
    def enabled(self) -> bool:
        return self.share > 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, bundle: ModelBundle) -> None:
        """Refuse, at start-up, a holdout this model cannot honour."""
        if not self.enabled:
            return
        if self.key is not None:
            known = set(bundle.contract.feature_names) | set(bundle.contract.ignored)
            if self.key not in known:
                raise ServingError(
                    f"serving.feedback_holdout.key: column {self.key!r} is not in the contract of "
                    f"{bundle.name or 'the model'} (columns: {sorted(known)})",
                    hint="name a column requests carry, or leave key empty to hold out by request",
                )
        if bundle.prior is None:
            raise ServingError(
                f"serving.feedback_holdout: {bundle.name or 'the model'} v{bundle.version or '?'} has no "
                "training prior to answer holdout rows with",
                hint="retrain it (new models store one) or set serving.feedback_holdout.share to 0",
            )

    def rows(self, request_id: str, rows: list[dict[str, Any]]) -> list[bool]:
        """Which rows of this request are held out."""
        if not self.enabled:
            return [False] * len(rows)
        if self.key is None:
            return [bucket(_SALT + request_id) < self.share] * len(rows)
        # a row without the key (null) falls back to its request, so it is still assigned, never dropped
        return [
            bucket(_SALT + (f"key:{row[self.key]!r}" if row.get(self.key) is not None else request_id)) < self.share
            for row in rows
        ]


@dataclass
class HeldOut(Predictions):
    """What a request is answered with when some of its rows are held out.

    ``labels``/``proba`` are the answer (the prior on held-out rows, the model elsewhere);
    ``model`` is what the model said on every row; ``mask`` marks the held-out rows.
    """

    model: Predictions
    mask: list[bool]

    def records(self) -> list[dict[str, Any]]:
        out = super().records()
        for row, held in zip(out, self.mask, strict=True):
            if held:
                row["holdout"] = True
        return out

    def model_records(self) -> list[dict[str, Any]]:
        """The model's own outputs, flagged where held out: what the prediction log keeps."""
        out = self.model.records()
        for row, held in zip(out, self.mask, strict=True):
            if held:
                row["holdout"] = True
        return out


def apply_holdout(holdout: Holdout, bundle: ModelBundle, request_id: str, rows: list[dict[str, Any]],
                  preds: Predictions) -> Predictions:
    """``preds`` unchanged when no row is held out, else a ``HeldOut`` answering those rows with the prior."""
    mask = holdout.rows(request_id, rows)
    if not any(mask):
        return preds
    prior = bundle.prior_predictions(len(rows))
    labels = [p if held else m for held, p, m in zip(mask, prior.labels, preds.labels, strict=True)]
    proba = None
    if preds.proba is not None and prior.proba is not None:
        proba = np.where(np.asarray(mask)[:, None], prior.proba, preds.proba)
    return HeldOut(labels=labels, proba=proba, classes=preds.classes, model=preds, mask=mask, marks=preds.marks)


def logged_records(preds: Predictions, records: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The outputs the prediction log keeps for ``preds``: always the model's own.

    ``records``, when given, are ``preds.records()`` built already (for the answer): reused, not rebuilt.
    """
    if isinstance(preds, HeldOut):
        return preds.model_records()
    return records if records is not None else preds.records()

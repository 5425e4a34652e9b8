"""The model versions being served, and swapping them while requests keep flowing.

``ModelSet`` holds one ``Served`` per variant (``champion``, ``challenger``). A
request takes the ``Served`` it was routed to once, at its start, and finishes on
it; a swap only rebinds the variant's entry, so it is atomic and drops nothing.

``poll_once`` asks a ``ModelSource`` (given by the caller; serving never opens the
registry itself) which version each alias points at; when that moved it loads the
new version, warms it up on its reference sample, checks the answers, and only
then swaps it in. A version that fails stays out, the old one keeps serving, and
the failure is kept for /health.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from tabloop._plain import plain_records
from tabloop.errors import ServingError
from tabloop.predlog import utc_now
from tabloop.serving._predictor import FastPredictor, PredictorFactory, RowPredictor, Served
from tabloop.serving._rollout import CHALLENGER, CHAMPION
from tabloop.bundle import ModelBundle

logger = logging.getLogger("tabloop.serving")
WARMUP_ROWS = 64


class ModelSource(Protocol):
    """Where versions come from: the facade wraps the tracking registry in one of these."""

    def version(self, alias: str) -> str | None:
        """The version ``alias`` points at now, or None."""
        ...

    def load(self, alias: str, version: str) -> ModelBundle:
        """The bundle of ``version`` (hash-checked against the registry)."""
        ...


def check_servable(bundle: ModelBundle) -> str:
    """The bundle's task, or ServingError when it cannot be served."""
    task = bundle.manifest.task
    if task is None:
        raise ServingError("the model bundle's manifest has no 'task'; it cannot be served", hint="register the model again")
    if task != "regression" and not bundle.classes:
        raise ServingError(f"the model bundle is a {task} model without 'classes' in its manifest; it cannot be served")
    return task


def reference_rows(bundle: ModelBundle, limit: int = WARMUP_ROWS) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the reference sample as a client would send them."""
    names = [n for n in bundle.contract.feature_names if n in bundle.reference.columns]
    if len(names) != len(bundle.contract.feature_names) or len(bundle.reference) == 0:
        return []
    rows: list[dict[str, Any]] = bundle.reference[names].head(limit).astype(object).to_dict("records")
    return plain_records(rows)


def warm_up(bundle: ModelBundle, predictor: RowPredictor) -> int:
    """Predict the reference sample and check the answers; the number of rows checked."""
    rows = reference_rows(bundle)
    if not rows:
        return 0
    preds = predictor.predict_rows(rows)
    if len(preds.labels) != len(rows):
        raise ServingError(f"warm-up: {len(rows)} rows in, {len(preds.labels)} predictions out")
    if preds.proba is not None:
        if preds.proba.shape != (len(rows), len(bundle.classes)) or not np.isfinite(preds.proba).all():
            raise ServingError("warm-up: class probabilities are missing or not finite")
        known = {str(c) for c in bundle.classes}
        if any(str(label) not in known for label in preds.labels):
            raise ServingError("warm-up: a predicted label is not one of the model's classes")
    elif not all(math.isfinite(float(v)) for v in preds.labels):
        raise ServingError("warm-up: predicted values are not finite")
    return len(rows)


class ModelSet:
    def __init__(
        self,
        champion: Served,
        challenger: Served | None = None,
        *,
        factory: PredictorFactory | None = None,
        source: ModelSource | None = None,
        aliases: dict[str, str] | None = None,
        on_swap: Callable[[str, Served | None, Served | None], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        check: Callable[[ModelBundle], None] | None = None,
    ) -> None:
        self._served: dict[str, Served | None] = {CHAMPION: champion, CHALLENGER: challenger}
        self.primary = champion.variant
        self.factory: PredictorFactory = factory or FastPredictor
        self.source = source
        # variant -> alias to follow; only variants served by alias are polled
        self.aliases = dict(aliases or {})
        self.on_swap = on_swap
        self.on_failure = on_failure
        # what the server needs of every version beyond being servable (the feedback holdout's prior)
        self.check = check
        self.failures: dict[str, dict[str, Any]] = {}
        self.swaps = 0
        self._lock = threading.Lock()  # one swap at a time; readers never wait on it

    @property
    def champion(self) -> Served:
        served = self._served[CHAMPION]
        assert served is not None
        return served

    @property
    def challenger(self) -> Served | None:
        return self._served[CHALLENGER]

    def get(self, variant: str) -> Served | None:
        return self._served.get(variant)

    def by_version(self, version: str) -> Served | None:
        for served in self._served.values():
            if served is not None and served.version == version:
                return served
        return None

    def prepare(self, bundle: ModelBundle, variant: str) -> Served:
        """A checked, warmed-up ``Served`` for ``bundle`` (not yet serving).

        ``check`` runs here too, so a version the server could not answer with (a holdout
        without a training prior) fails its swap and the old version keeps serving.
        """
        check_servable(bundle)
        if self.check is not None:
            self.check(bundle)
        predictor = self.factory(bundle)
        warm_up(bundle, predictor)
        return Served(bundle, predictor, self.primary if variant == CHAMPION else variant)

    def swap(self, variant: str, served: Served | None) -> None:
        if variant == CHAMPION and served is None:
            raise ServingError("the champion cannot be removed; point its alias at another version instead")
        old = self._served.get(variant)
        self._served[variant] = served
        self.swaps += 1
        self.failures.pop(variant, None)
        if self.on_swap is not None:
            self.on_swap(variant, old, served)
        logger.info(
            "%s: now serving %s (was %s)",
            variant,
            f"v{served.version}" if served else "nothing",
            f"v{old.version}" if old else "nothing",
        )

    def poll_once(self) -> dict[str, str]:
        """Follow every alias once; variant -> what happened (``unchanged``, ``swapped``, ``failed``, ``removed``)."""
        if self.source is None:
            return {}
        outcome: dict[str, str] = {}
        with self._lock:
            for variant, alias in self.aliases.items():
                outcome[variant] = self._follow(variant, alias)
        return outcome

    def _follow(self, variant: str, alias: str) -> str:
        assert self.source is not None
        current = self._served.get(variant)
        try:
            version = self.source.version(alias)
        except Exception as exc:
            self._failed(variant, None, f"cannot read alias {alias!r}: {exc}")
            logger.error("%s: cannot read alias %r: %s", variant, alias, exc)  # the answers show it without paths
            return "failed"
        if version is None:
            if variant == CHALLENGER and current is not None:
                self.swap(variant, None)
                return "removed"
            return "unchanged"
        if current is not None and current.version == version:
            return "unchanged"
        failed = self.failures.get(variant)
        if failed is not None and failed.get("version") == version:
            return "failed"  # tried already; wait for the alias to move again
        try:
            bundle = self.source.load(alias, version)
            served = self.prepare(bundle, variant)
        except Exception as exc:
            self._failed(variant, version, str(exc))
            logger.error("%s: version %s could not be loaded or checked; %s keeps serving", variant, version,
                         f"v{current.version}" if current else "nothing", exc_info=exc)
            return "failed"
        self.swap(variant, served)
        return "swapped"

    def _failed(self, variant: str, version: str | None, error: str) -> None:
        self.failures[variant] = {"version": version, "error": error, "ts": utc_now()}
        if self.on_failure is not None:
            self.on_failure(variant)

    def status(self) -> dict[str, Any]:
        return {
            variant: (served.model if served else None) for variant, served in self._served.items()
        } | {"swaps": self.swaps, "failures": dict(self.failures)}

"""Drift statistics: is the current window drawn from the same world as the reference?

Each feature gets a significance test (two-sample Kolmogorov-Smirnov for numbers,
chi-square of homogeneity for categories) *and* effect sizes: the population
stability index (PSI) for both kinds, the Wasserstein distance in units of the
reference's standard deviation for numbers, and the Jensen-Shannon distance
(base 2, between 0 and 1) for categories. A feature counts as drifted only when
both agree: the Holm-adjusted p-value is below ``policy.p_value`` and the effect
the policy names for its kind (``numeric_effect``, ``categorical_effect``)
reaches that effect's threshold. The test alone would flag every feature of a
million-row window for a shift nobody cares about; an effect size alone would
flag noise in a window of two hundred rows.

The default effects are the normed Wasserstein distance for numbers and the
Jensen-Shannon distance for categories, each at 0.1, as in Evidently's
DataDriftPreset for references over 1,000 rows: unlike PSI over deciles they
grow in proportion to a moderate shift (a 0.2 sd mean shift is a Wasserstein
distance of 0.2 but a PSI of only about 0.04), so such shifts are flagged at any
window size while the test vetoes noise. PSI stays computed and selectable.

Beyond one column at a time, a domain classifier (``_multivariate``) asks whether
the two windows can be told apart at all, and names the features that do it.

Everything here is a pure function of the DataFrames it is given; reading the
windows and writing reports is the caller's business.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from tabloop._plain import plain
from tabloop.data import MISSING_LABEL, Contract
from tabloop.errors import DataError
from tabloop.monitoring._columns import Kind, as_float, category_counts
from tabloop.monitoring._multivariate import DomainWorker, MultivariateDrift, PendingDomainCheck, start_domain_check
from tabloop.spec import DriftSpec
from tabloop.stats import (
    cdf_distances,
    chi2_homogeneity,
    holm_adjust,
    jensen_shannon,
    ks_2samp_sorted,
    psi,
    quantile_bin_counts,
)

__all__ = [
    "DriftResult",
    "FeatureDrift",
    "compute_drift",
    "DriftJob",
    "start_drift",
]

#: how many categories the JSON keeps per feature (the most common on either side)
TOP_CATEGORIES = 10
#: below this many cells in all, threads cost more than they save
_PARALLEL_MIN_CELLS = 2_000_000


@dataclass
class FeatureDrift:
    """The verdict on one column (or on the predictions)."""

    column: str
    kind: Kind
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    p_value_adjusted: float
    psi: float
    drifted: bool
    reference_rows: int
    current_rows: int
    #: current rows whose category never occurs in the reference (categorical only)
    unseen_categories: int = 0
    #: share of rows that are missing (numbers: NaN or infinite, left out of the test)
    reference_missing: float = 0.0
    current_missing: float = 0.0
    reference_mean: float | None = None
    current_mean: float | None = None
    reference_std: float | None = None
    current_std: float | None = None
    #: shares of the most common categories (categorical only), same keys on both sides
    reference_shares: dict[str, float] | None = None
    current_shares: dict[str, float] | None = None
    #: why a statistic could not be computed, or why the verdict is what it is
    note: str | None = None
    #: Wasserstein distance divided by the reference's standard deviation (numeric only)
    wasserstein: float = math.nan
    #: Jensen-Shannon distance between the category shares, base 2, in [0, 1] (categorical only)
    jensen_shannon: float = math.nan
    #: the effect size that decided, its value and the policy's threshold for it
    effect: str = "psi"
    effect_value: float = math.nan
    effect_threshold: float = math.nan
    #: the feature's importance to the model (share of the total), when the caller knows it
    importance: float | None = None
    #: whether the p-value joined the Holm family (False for predictions and untestable columns)
    in_family: bool = field(default=True, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("in_family")
        return plain(out)


@dataclass
class DriftResult:
    """Every feature's verdict plus the window-level decision."""

    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    too_small: bool
    reference_rows: int
    current_rows: int
    policy: dict[str, Any]
    #: the domain classifier's verdict; None when the policy turned it off
    multivariate: MultivariateDrift | None = None

    @property
    def drifted_features(self) -> list[str]:
        return [f.column for f in self.features if f.drifted]

    @property
    def ranked(self) -> list[FeatureDrift]:
        """Features by importance to the model (when known), then by how far past its threshold the effect is."""

        def key(f: FeatureDrift) -> tuple[bool, float, float]:
            ratio = f.effect_value / f.effect_threshold if f.effect_threshold > 0 else math.nan
            return (
                not f.drifted,
                -(f.importance or 0.0),
                -(ratio if math.isfinite(ratio) else (math.inf if ratio == math.inf else -1.0)),
            )

        return sorted(self.features, key=key)

    @property
    def multivariate_drifted(self) -> bool:
        return not self.too_small and self.multivariate is not None and self.multivariate.drifted

    @property
    def prediction_drifted(self) -> bool:
        return self.prediction is not None and self.prediction.drifted

    @property
    def policy_crossed(self) -> bool:
        # drifted_features is empty when too small, so this can never fire on noise
        if self.too_small:
            return False
        if len(self.drifted_features) > int(self.policy["max_drifted_features"]):
            return True
        return bool(self.policy.get("act_on_multivariate")) and self.multivariate_drifted

    @property
    def status(self) -> Literal["too_small", "drift", "no_drift"]:
        if self.too_small:
            return "too_small"
        return "drift" if self.drifted_features or self.prediction_drifted or self.multivariate_drifted else "no_drift"

    @property
    def summary(self) -> str:
        min_rows = int(self.policy["min_rows"])
        if self.too_small:
            return (
                f"Too small to judge: the reference has {self.reference_rows} rows and the current window "
                f"{self.current_rows}; each needs at least {min_rows}. No feature is marked as drifted."
            )
        drifted = self.drifted_features
        parts = [f"{len(drifted)} of {len(self.features)} features drifted"]
        if drifted:
            parts[0] += f" ({', '.join(drifted)})"
        if self.prediction is not None:
            parts.append("predictions drifted" if self.prediction.drifted else "predictions stable")
        if self.multivariate is not None and self.multivariate.auc is not None:
            mv = self.multivariate
            if mv.drifted:
                names = ", ".join(mv.separating) or "no single feature"
                parts.append(f"the windows can be told apart (domain classifier AUC {mv.auc:.3f}; mostly by {names})")
            else:
                parts.append(f"the windows cannot be told apart (domain classifier AUC {mv.auc:.3f})")
        limit = int(self.policy["max_drifted_features"])
        crossed = "crossed" if self.policy_crossed else "not crossed"
        parts.append(f"policy {crossed} (at most {limit} drifted feature(s) allowed)")
        return "; ".join(parts) + "."

    def feature(self, column: str) -> FeatureDrift:
        for f in self.features:
            if f.column == column:
                return f
        raise KeyError(column)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain Python types, and None where a number is undefined (never NaN)."""
        return plain(
            {
                "status": self.status,
                "summary": self.summary,
                "too_small": self.too_small,
                "reference_rows": self.reference_rows,
                "current_rows": self.current_rows,
                "drifted_features": self.drifted_features,
                "policy_crossed": self.policy_crossed,
                "prediction_drifted": self.prediction_drifted,
                "multivariate_drifted": self.multivariate_drifted,
                "policy": dict(self.policy),
                "ranked": [f.column for f in self.ranked],
                "features": [f.to_dict() for f in self.features],
                "multivariate": self.multivariate.to_dict() if self.multivariate is not None else None,
                "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            }
        )


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    policy: DriftSpec,
    contract: Contract | None = None,
    columns: list[str] | None = None,
    prediction_column: str | None = None,
    importances: dict[str, float] | None = None,
    multivariate: bool | None = None,
    seed: int = 0,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column and decide under ``policy``.

    Columns and their kinds come from ``contract`` (its feature columns) when given,
    else from the reference's dtypes; ``columns`` narrows the set. The prediction
    column, when named and present in both frames, is judged the same way but
    outside the Holm family and outside ``drifted_features``. ``importances``
    (feature -> importance to the model) ranks the verdicts; ``multivariate``
    overrides ``policy.domain_classifier``; ``seed`` drives the domain classifier.
    """
    return start_drift(
        reference, current, policy=policy, contract=contract, columns=columns, prediction_column=prediction_column,
        importances=importances, multivariate=multivariate, seed=seed, fork=False,
    ).result()


def start_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    policy: DriftSpec,
    contract: Contract | None = None,
    columns: list[str] | None = None,
    prediction_column: str | None = None,
    importances: dict[str, float] | None = None,
    multivariate: bool | None = None,
    seed: int = 0,
    fork: bool = True,
    worker: DomainWorker | None = None,
) -> DriftJob:
    """``compute_drift`` with the domain classifier started now, in a child process where that is safe.

    A command calls it as soon as its tables are read, does what it can meanwhile (loading
    the report's plotting library), then takes ``.result()``; the numbers are those of
    ``compute_drift``. ``fork=False`` keeps all the work in this process. ``worker``
    (``start_domain_worker``'s, forked before the tables were read) takes the classifier instead
    of a new child; it is closed here whether it is used or not.
    """
    plan = _plan(reference, current, contract=contract, columns=columns, prediction_column=prediction_column)
    too_small = len(reference) < policy.min_rows or len(current) < policy.min_rows
    pending = None
    if policy.domain_classifier if multivariate is None else multivariate:
        pending = start_domain_check(reference, current, plan, policy=policy, seed=seed, too_small=too_small, fork=fork,
                                     worker=worker)
    elif worker is not None:
        worker.close()
    return DriftJob(reference, current, plan, policy=policy, prediction_column=prediction_column,
                    importances=importances, too_small=too_small, pending=pending)


class DriftJob:
    """A drift comparison under way (see ``start_drift``); ``result()`` finishes it."""

    def __init__(
        self,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        plan: list[tuple[str, Kind]],
        *,
        policy: DriftSpec,
        prediction_column: str | None,
        importances: dict[str, float] | None,
        too_small: bool,
        pending: PendingDomainCheck | None,
    ) -> None:
        self._args = (reference, current, plan)
        self._policy, self._prediction_column, self._importances = policy, prediction_column, importances
        self._too_small, self._pending = too_small, pending

    def result(self) -> DriftResult:
        reference, current, plan = self._args
        policy, prediction_column, importances, too_small = (
            self._policy, self._prediction_column, self._importances, self._too_small)
        ref_rows, cur_rows = len(reference), len(current)

        jobs: list[tuple[str, Kind]] = list(plan)
        has_prediction = False
        if (prediction_column is not None and prediction_column in reference.columns
                and prediction_column in current.columns):
            has_prediction = True
            jobs.append((prediction_column, _infer_kind(reference[prediction_column])))

        def one(job: tuple[str, Kind]) -> FeatureDrift:
            name, kind = job
            return _column_drift(name, kind, reference[name], current[name])

        cells = (ref_rows + cur_rows) * len(jobs)
        workers = min(len(jobs), _cpus(), 8)
        if workers > 1 and cells >= _PARALLEL_MIN_CELLS:
            # numpy's sorts, cumsum and pandas' hashing release the GIL, so threads do scale here
            with ThreadPoolExecutor(max_workers=workers) as pool:
                verdicts = list(pool.map(one, jobs))
        else:
            verdicts = [one(job) for job in jobs]

        features = verdicts[: len(plan)]
        prediction = verdicts[len(plan)] if has_prediction else None
        if prediction is not None:
            prediction.in_family = False

        family = [f for f in features if f.in_family and not math.isnan(f.p_value)]
        for f, adjusted in zip(family, holm_adjust([f.p_value for f in family]), strict=True):
            f.p_value_adjusted = float(adjusted)
        for f in [*features, *([prediction] if prediction is not None else [])]:
            _set_effect(f, policy)
            f.drifted = _decide(f, policy, too_small)
        if importances:
            total = sum(max(float(v), 0.0) for v in importances.values()) or 1.0
            for f in features:
                if f.column in importances:
                    f.importance = max(float(importances[f.column]), 0.0) / total

        return DriftResult(
            features=features,
            prediction=prediction,
            too_small=too_small,
            reference_rows=ref_rows,
            current_rows=cur_rows,
            policy=policy.model_dump(),
            multivariate=None if self._pending is None else self._pending.result(),
        )


def _cpus() -> int:
    # a container's CPU share, not the host's core count
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _set_effect(f: FeatureDrift, policy: DriftSpec) -> None:
    name = policy.numeric_effect if f.kind == "numeric" else policy.categorical_effect
    f.effect = name
    f.effect_value = {"psi": f.psi, "wasserstein": f.wasserstein, "jensen_shannon": f.jensen_shannon}[name]
    f.effect_threshold = effect_threshold(policy, name)


def effect_threshold(policy: DriftSpec, name: str) -> float:
    """The policy's threshold for the effect size ``name`` (psi, wasserstein, jensen_shannon)."""
    return float(getattr(policy, f"{name}_threshold"))


def _decide(f: FeatureDrift, policy: DriftSpec, too_small: bool) -> bool:
    if too_small:
        return False
    if f.note == _WENT_MISSING:
        # a column that lost every value is the classic broken pipeline: no test needed
        return True
    if math.isnan(f.p_value_adjusted) or math.isnan(f.effect_value):
        return False
    return f.p_value_adjusted < policy.p_value and f.effect_value >= f.effect_threshold


# --------------------------------------------------------------------------- planning


def _infer_kind(series: pd.Series) -> Kind:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return "numeric"
    return "categorical"


def _plan(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    contract: Contract | None,
    columns: list[str] | None,
    prediction_column: str | None,
) -> list[tuple[str, Kind]]:
    if contract is not None:
        kinds: dict[str, Kind] = {c.name: c.kind for c in contract.columns}
        names = list(dict.fromkeys(columns)) if columns is not None else list(kinds)
        unknown = [n for n in names if n not in kinds]
        if unknown:
            raise DataError(
                f"columns {unknown} are not feature columns of the contract",
                hint=f"choose among {list(kinds)}",
            )
    else:
        if columns is not None:
            names = list(dict.fromkeys(columns))
        else:
            names = [str(c) for c in reference.columns if c != prediction_column]
        kinds = {}
    for frame, label in ((reference, "reference"), (current, "current")):
        absent = [n for n in names if n not in frame.columns]
        if absent:
            raise DataError(
                f"the {label} window has no column {', '.join(repr(a) for a in absent)}",
                hint=f"its columns are {[str(c) for c in frame.columns]}; pass 'columns' to compare fewer",
            )
    return [(n, kinds[n] if n in kinds else _infer_kind(reference[n])) for n in names]


# --------------------------------------------------------------------------- per column


def _column_drift(name: str, kind: Kind, ref: pd.Series, cur: pd.Series) -> FeatureDrift:
    if kind == "numeric":
        return _numeric_drift(name, as_float(ref, name, "reference"), as_float(cur, name, "current"))
    return _categorical_drift(name, category_counts(ref), category_counts(cur))


_WENT_MISSING = "every value is missing in the current window"


def _numeric_drift(name: str, ref: np.ndarray, cur: np.ndarray) -> FeatureDrift:
    # infinities cannot be binned or compared meaningfully, so they count as missing
    ref_ok, cur_ok = np.isfinite(ref), np.isfinite(cur)
    a = np.sort(ref if ref_ok.all() else ref[ref_ok])
    b = np.sort(cur if cur_ok.all() else cur[cur_ok])
    out = FeatureDrift(
        column=name,
        kind="numeric",
        test="ks",
        statistic=math.nan,
        p_value=math.nan,
        p_value_adjusted=math.nan,
        psi=math.nan,
        drifted=False,
        reference_rows=int(ref.size),
        current_rows=int(cur.size),
        reference_missing=_share(ref.size - a.size, ref.size),
        current_missing=_share(cur.size - b.size, cur.size),
        reference_mean=float(a.mean()) if a.size else None,
        current_mean=float(b.mean()) if b.size else None,
        reference_std=float(a.std()) if a.size else None,
        current_std=float(b.std()) if b.size else None,
    )
    if a.size == 0 or b.size == 0:
        out.in_family = False
        if a.size and not b.size and cur.size:
            out.note = _WENT_MISSING
        elif not a.size and b.size:
            out.note = "every value is missing in the reference window; nothing to compare with"
        else:
            out.note = "no values to compare"
        return out
    d, w1 = cdf_distances(a, b)
    out.statistic, out.p_value = ks_2samp_sorted(a, b, d)
    out.p_value_adjusted = out.p_value
    out.psi = psi(*quantile_bin_counts(a, b))
    scale = float(a.std())
    if scale > 0 and math.isfinite(scale):
        out.wasserstein = w1 / scale
    else:
        # a constant reference has no spread to measure against: report the distance in the column's units
        out.wasserstein = w1
        out.note = "the reference is constant: Wasserstein is in the column's own units"
    return out


def _categorical_drift(name: str, ref: pd.Series, cur: pd.Series) -> FeatureDrift:
    union = ref.index.union(cur.index, sort=False)
    ref_counts = ref.reindex(union, fill_value=0).to_numpy(dtype="int64")
    cur_counts = cur.reindex(union, fill_value=0).to_numpy(dtype="int64")
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    is_missing = np.asarray(union == MISSING_LABEL)
    unseen = int(cur_counts[(ref_counts == 0) & ~is_missing].sum())
    out = FeatureDrift(
        column=name,
        kind="categorical",
        test="chi2",
        statistic=math.nan,
        p_value=math.nan,
        p_value_adjusted=math.nan,
        psi=math.nan,
        drifted=False,
        reference_rows=n_ref,
        current_rows=n_cur,
        unseen_categories=unseen,
        reference_missing=_share(int(ref_counts[is_missing].sum()), n_ref),
        current_missing=_share(int(cur_counts[is_missing].sum()), n_cur),
    )
    if n_ref == 0 or n_cur == 0:
        out.in_family = False
        out.note = "no values to compare"
        return out
    ref_share, cur_share = ref_counts / n_ref, cur_counts / n_cur
    top = np.argsort(-np.maximum(ref_share, cur_share), kind="stable")[:TOP_CATEGORIES]
    out.reference_shares = {str(union[i]): float(ref_share[i]) for i in top}
    out.current_shares = {str(union[i]): float(cur_share[i]) for i in top}
    out.statistic, out.p_value = chi2_homogeneity(ref_counts, cur_counts)
    out.p_value_adjusted = out.p_value
    out.psi = psi(ref_counts, cur_counts)
    out.jensen_shannon = jensen_shannon(ref_share, cur_share)
    return out


def _share(part: int, whole: int) -> float:
    return float(part) / whole if whole else 0.0

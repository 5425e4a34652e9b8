"""A weighted ensemble of the best candidates, measured without peeking.

Weights come from greedy forward selection with replacement (Caruana et al., 2004)
on out-of-fold predictions. Its cross-validated score is honest: for each fold the
weights are chosen on the other folds' out-of-fold rows and scored on this fold's
rows (for a holdout: chosen on the other parts of its rows), so the ensemble is never scored
on the rows that chose its weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tabloop.evaluation import greater_is_better
from tabloop.training._cv import Split, holdout_parts, score_predictions

ROUNDS = 15


@dataclass
class EnsembleRun:
    members: list[str]  # candidate names, in the order of ``weights``
    weights: list[float]
    fold_scores: dict[str, list[float]] = field(default_factory=dict)

    def stats(self) -> dict[str, dict[str, float]]:
        out = {}
        for m, s in self.fold_scores.items():
            a = np.asarray(s, dtype=float)
            out[m] = {"mean": float(np.nanmean(a)), "std": float(np.nanstd(a, ddof=1)) if len(a) > 1 else math.nan}
        return out


def greedy_weights(preds: list[np.ndarray], y: np.ndarray, rows: np.ndarray, *, task: str, metric: str) -> np.ndarray:
    """Weights (summing to 1) of the members, chosen greedily on ``rows``.

    Every round adds the member that makes the best blend, even when that blend is no
    better than the last one, and the weights are those of the best round: stopping at
    the first round without a gain would never reach 2:1 (adding the best member again
    leaves a 1:0 blend unchanged, and 1:1 may be worse than 1:0 where 2:1 is better).
    """
    sign = 1.0 if greater_is_better(metric) else -1.0
    counts = np.zeros(len(preds))
    total = np.zeros_like(preds[0][rows])
    best_counts, best_round_score = counts, -math.inf
    for _ in range(ROUNDS):
        best_j, best_score = -1, -math.inf
        n = counts.sum() + 1
        for j, p in enumerate(preds):
            blend = (total + p[rows]) / n
            score = sign * score_predictions(task, y[rows], blend, [metric])[metric]
            if score > best_score + 1e-12:
                best_j, best_score = j, score
        if best_j < 0:
            break  # no member gives a finite score
        counts = counts.copy()
        counts[best_j] += 1
        total = total + preds[best_j][rows]
        if best_score > best_round_score + 1e-12:
            best_counts, best_round_score = counts, best_score
    return best_counts / best_counts.sum()


def blend(preds: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    return sum(w * p for w, p in zip(weights, preds, strict=True))


def evaluate_ensemble(
    names: list[str], preds: list[np.ndarray], y: np.ndarray, splits: list[Split], *, task: str, metrics: list[str]
) -> EnsembleRun:
    """Nested evaluation over the folds, then weights chosen on all out-of-fold rows.

    With a single holdout split its validation rows are scored in the parts of
    :func:`holdout_parts`, each by weights chosen on the others, as folds would be.
    """
    covered = np.all([~np.isnan(p.reshape(len(p), -1)).any(axis=1) for p in preds], axis=0)
    run = EnsembleRun(members=list(names), weights=[], fold_scores={m: [] for m in metrics})
    parts = [va for _, va in splits]
    if len(parts) == 1:
        parts = [parts[0][p] for p in holdout_parts(y[parts[0]], task)]
    for va in parts:
        in_fold = np.zeros(len(y), dtype=bool)
        in_fold[va] = True
        fit_rows = np.flatnonzero(covered & ~in_fold)
        score_rows = np.flatnonzero(covered & in_fold)
        if len(fit_rows) == 0 or len(score_rows) == 0:
            continue
        w = greedy_weights(preds, y, fit_rows, task=task, metric=metrics[0])
        scores = score_predictions(task, y[score_rows], blend(preds, w)[score_rows], metrics)
        for m, v in scores.items():
            run.fold_scores[m].append(v)
    run.weights = [float(w) for w in greedy_weights(preds, y, np.flatnonzero(covered), task=task, metric=metrics[0])]
    return run


def make_ensemble(members: list[tuple[str, Any]], weights: list[float], task: str) -> Any:
    """One scikit-learn estimator averaging the members' probabilities (or values) with ``weights``."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    kept = [(n, est, w) for (n, est), w in zip(members, weights, strict=True) if w > 0]
    estimators = [(n, est) for n, est, _ in kept]
    ws = [w for _, _, w in kept]
    if task == "regression":
        return VotingRegressor(estimators, weights=ws)
    return VotingClassifier(estimators, voting="soft", weights=ws)

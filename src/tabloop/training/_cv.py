"""Cross-validation of one pipeline, fold by fold, with out-of-fold predictions.

Everything is fitted inside the fold (preparation, resampling, selection and model),
so no statistic of a validation row reaches the model that scores it.

A boosted model is also scored after fewer of its rounds (:func:`stage_counts`): the count whose
mean over the folds is best becomes the trial's, as ``lightgbm.cv`` and ``xgboost.cv`` choose it.
It is one choice for all folds, like any other parameter the search compares by its mean score.
"""

from __future__ import annotations

import math
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tabloop.evaluation import compute_metrics, greater_is_better
from tabloop.spec import HOLDOUT_PARTS

Split = tuple[np.ndarray, np.ndarray]
#: called after each fold with (fold index, running mean of the primary score); True stops the run
OnFold = Callable[[int, float], bool]


@dataclass
class FoldRun:
    fold_scores: dict[str, list[float]] = field(default_factory=dict)  # metric -> score per finished fold
    # (n, k) probabilities or (n,) values, averaged over repeats; rows no finished fold scored are NaN
    oof: np.ndarray | None = None
    fit_seconds: float = 0.0
    predict_seconds_per_row: float = 0.0
    model_bytes: int = 0
    complete: bool = False
    rounds: int | None = None  # a booster whose rounds were chosen: the rounds whose scores these are
    rounds_param: str = ""  # and the model's parameter that counts them

    def stats(self) -> dict[str, dict[str, float]]:
        out = {}
        for m, scores in self.fold_scores.items():
            arr = np.asarray(scores, dtype=float)
            out[m] = {"mean": _nanmean(arr), "std": _nanstd(arr)}
        return out


def _nanmean(a: np.ndarray) -> float:
    return float(np.nanmean(a)) if np.isfinite(a).any() else math.nan


def _nanstd(a: np.ndarray) -> float:
    return float(np.nanstd(a, ddof=1)) if np.isfinite(a).sum() > 1 else math.nan


def predict_matrix(model: Any, X: pd.DataFrame, task: str, n_classes: int, **kwargs: Any) -> np.ndarray:
    """Probabilities in all ``n_classes`` columns (a fold may lack a class), or regression values."""
    if task == "regression":
        return np.asarray(model.predict(X, **kwargs), dtype=float)
    return _all_classes(np.asarray(model.predict_proba(X, **kwargs), dtype=float), model.classes_, n_classes)


def _all_classes(proba: np.ndarray, classes: Any, n_classes: int) -> np.ndarray:
    if proba.shape[1] == n_classes:
        return proba
    full = np.zeros((len(proba), n_classes))
    full[:, np.asarray(classes, dtype=int)] = proba
    return full


#: how many round counts of a boosted trial are scored (evenly spaced up to the rounds its folds trained)
STAGE_POINTS = 12


@dataclass(frozen=True)
class _Booster:
    rounds: str  # the parameter counting boosting rounds
    first: Callable[[int], dict[str, Any]]  # predict keywords that use only the first k rounds
    trained: Callable[[Any], int]  # rounds a fitted model holds


_BOOSTERS: dict[str, _Booster] = {
    "lightgbm": _Booster("n_estimators", lambda k: {"num_iteration": k}, lambda m: int(m.booster_.current_iteration())),
    "xgboost": _Booster("n_estimators", lambda k: {"iteration_range": (0, k)},
                        lambda m: int(m.get_booster().num_boosted_rounds())),
    "catboost": _Booster("iterations", lambda k: {"ntree_end": k}, lambda m: int(m.tree_count_)),
}


def _library(estimator: Any) -> str:
    """The package an estimator comes from (lightgbm, xgboost, catboost, sklearn, ...)."""
    return type(estimator).__module__.split(".")[0]


def _booster(model: Any) -> _Booster | None:
    steps = getattr(model, "steps", None)
    return _BOOSTERS.get(_library(steps[-1][1])) if steps else None


def stage_counts(rounds: int, points: int = STAGE_POINTS) -> list[int]:
    """The round counts at which a boosted model of ``rounds`` rounds is scored, ``rounds`` last."""
    return sorted({max(1, round(rounds * i / points)) for i in range(1, points + 1)})


def patience(rounds: int) -> int:
    """Rounds without a better validation score after which the first fold of a boosted trial stops."""
    return max(20, min(200, rounds // 5))


def _transform(model: Any, X: pd.DataFrame) -> Any:
    """``X`` through a fitted pipeline's steps before its model (a sampler changes training rows only)."""
    Xt: Any = X
    for _, step in model.steps[:-1]:
        if not hasattr(step, "fit_resample"):
            Xt = step.transform(Xt)
    return Xt


def staged_predictions(model: Any, X: pd.DataFrame, task: str, n_classes: int, counts: list[int]) -> list[np.ndarray]:
    """Predictions of a fitted pipeline whose model is a LightGBM, XGBoost or CatBoost booster, after its
    first k rounds for each k in ``counts``."""
    booster = _booster(model)
    if booster is None:
        raise TypeError(f"{type(model.steps[-1][1]).__name__} is not a booster tabloop can stage")
    Xt = _transform(model, X)
    final = model.steps[-1][1]
    summed = _summed_margins(final, Xt)
    if summed is None:
        return [predict_matrix(final, Xt, task, n_classes, **booster.first(k)) for k in counts]
    margin_of, link = summed
    out: list[np.ndarray] = []
    total: np.ndarray | None = None
    done = 0
    for k in counts:  # one pass over the trees: after k rounds = after the last count + the rounds between
        part = margin_of(done, k)
        total = part if total is None else total + part
        done = k
        pred = link(total)
        out.append(pred if task == "regression" else _all_classes(pred, final.classes_, n_classes))
    return out


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-margin))
    return np.column_stack([1.0 - p, p])


def _softmax(margin: np.ndarray) -> np.ndarray:
    e = np.exp(margin - margin.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


#: the built-in objectives tabloop's LightGBM and XGBoost candidates use, and how each turns margins into predictions
_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "regression": lambda m: m, "binary": _sigmoid, "multiclass": _softmax,  # LightGBM
    "reg:squarederror": lambda m: m, "binary:logistic": _sigmoid, "multi:softprob": _softmax,  # XGBoost
}


def _summed_margins(model: Any, Xt: Any) -> tuple[Callable[[int, int], np.ndarray], Callable[[np.ndarray], np.ndarray]] | None:
    """For a LightGBM or XGBoost model with a built-in objective: the margin that rounds [a, b) add, and the
    objective's link. Predicting after k rounds costs k rounds of trees, so staged predictions summed range by
    range cost one prediction instead of one per count. None for any other model (predicted count by count)."""
    lib = _library(model)
    objective = getattr(model, "objective_", None) if lib == "lightgbm" else getattr(model, "objective", None)
    if lib not in ("lightgbm", "xgboost") or objective not in _LINKS:
        return None
    if lib == "lightgbm":  # its first round carries the starting score: ranges add up exactly
        return (lambda a, b: np.asarray(model.predict(Xt, raw_score=True, start_iteration=a, num_iteration=b - a),
                                        dtype=float)), _LINKS[objective]
    booster = model.get_booster()

    def margin(X: Any, a: int, b: int) -> np.ndarray:
        return np.asarray(booster.inplace_predict(X, predict_type="margin", iteration_range=(a, b),
                                                  missing=model.missing), dtype=float)

    # XGBoost adds its base score to every range's margin; ranges [0, 1) + [1, 2) - [0, 2) is that base score
    one = Xt[:1] if not isinstance(Xt, pd.DataFrame) else Xt.iloc[:1]
    base = (margin(one, 0, 1) + margin(one, 1, 2) - margin(one, 0, 2))[0] if booster.num_boosted_rounds() >= 2 else 0.0
    return (lambda a, b: margin(Xt, a, b) - (base if a > 0 else 0.0)), _LINKS[objective]


def _fit_steps(model: Any, X: pd.DataFrame, y: np.ndarray) -> tuple[Any, Any]:
    """Fit a pipeline's steps before its model as Pipeline.fit does; the rows and targets its model is fitted on."""
    Xt: Any = X
    yt: Any = y
    for _, step in model.steps[:-1]:
        if hasattr(step, "fit_resample"):
            Xt, yt = step.fit_resample(Xt, yt)
        else:
            Xt = step.fit_transform(Xt, yt)
    return Xt, yt


#: parts in which the first fold of a forest grows its trees, so that a trial that cannot end in time shows it early
GROW_PARTS = 5


class _OutOfTime(Exception):
    """Control flow, not an error: a growing forest stops early and the fold loop ends the trial.

    Raised and caught inside this module only (never reaches a user), so it stays out of
    the tree in ``tabloop.errors``; tests/test_errors.py allow-lists it by name.
    """


def _grows(model: Any) -> bool:
    """Whether the pipeline's model is a scikit-learn forest (its trees can be grown in parts)."""
    steps = getattr(model, "steps", None)
    return bool(steps) and type(steps[-1][1]).__module__ == "sklearn.ensemble._forest"


def _fit_growing(model: Any, X: pd.DataFrame, y: np.ndarray, stop: Callable[[float], bool]) -> None:
    """Fit a pipeline whose model is a scikit-learn forest, its trees in :data:`GROW_PARTS` parts (warm start:
    the same trees as one fit), asking ``stop(share of the trees grown)`` after each part but the last."""
    Xt, yt = _fit_steps(model, X, y)
    final = model.steps[-1][1]
    trees = int(final.n_estimators)
    final.set_params(warm_start=True)
    for part in range(1, GROW_PARTS + 1):
        final.set_params(n_estimators=max(1, round(trees * part / GROW_PARTS)))
        final.fit(Xt, yt)
        if part < GROW_PARTS and stop(part / GROW_PARTS):
            raise _OutOfTime
    final.set_params(warm_start=False)


def _fit_stopping(model: Any, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame, y_val: np.ndarray) -> None:
    """Fit a pipeline whose model is a booster, stopping its rounds once its score on ``X_val`` has not
    improved for :func:`patience` rounds (every round trained stays in the model)."""
    Xt, yt = _fit_steps(model, X, y)
    final = model.steps[-1][1]
    lib = _library(final)
    most = int(final.get_params()[_BOOSTERS[lib].rounds])
    wait = patience(most)
    Xv = _transform(model, X_val)
    if lib == "lightgbm":
        final.fit(Xt, yt, eval_set=[(Xv, y_val)], callbacks=[_lightgbm_stop(wait)])
    elif lib == "xgboost":
        final.set_params(early_stopping_rounds=wait)
        final.fit(Xt, yt, eval_set=[(Xv, y_val)], verbose=False)
    else:
        final.fit(Xt, yt, eval_set=(Xv, y_val), early_stopping_rounds=wait, use_best_model=False)


def _lightgbm_stop(wait: int) -> Callable[[Any], None]:
    """LightGBM's early stopping, but keeping every round trained (its own callback cuts the model back to
    the best round of this one validation fold, which would decide the rounds of every other fold)."""
    import lightgbm as lgb

    best: dict[str, Any] = {"score": None, "at": 0}

    def callback(env: Any) -> None:
        _, _, score, higher_better = env.evaluation_result_list[0]
        if best["score"] is None or (score > best["score"] if higher_better else score < best["score"]):
            best.update(score=score, at=env.iteration)
        elif env.iteration - best["at"] >= wait:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 30  # type: ignore[attr-defined]  # after LightGBM's own recording callbacks
    return callback


def score_predictions(task: str, y: np.ndarray, pred: np.ndarray, metrics: list[str]) -> dict[str, float]:
    """Metrics in natural units (higher or lower is better by metric); undefined ones are NaN."""
    if task == "regression":
        raw = compute_metrics(task, y, y_pred=pred, metrics=metrics)
    else:
        raw = compute_metrics(task, y, proba=pred, metrics=metrics)
    return {m: (math.nan if v is None else float(v)) for m, v in raw.items()}


def holdout_parts(y: np.ndarray, task: str, parts: int = HOLDOUT_PARTS) -> list[np.ndarray]:
    """Positions (into ``y``, a holdout's validation targets) of ``parts`` disjoint parts, stratified
    for classes where every class has a row in each part; always the same parts for the same ``y``."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    parts = max(1, min(parts, n))
    if parts == 1:
        return [np.arange(n)]
    stratify = task != "regression" and np.bincount(np.asarray(y, dtype=int)).min(initial=n) >= parts
    cv = StratifiedKFold(parts, shuffle=True, random_state=0) if stratify else KFold(parts, shuffle=True, random_state=0)
    return [np.sort(va) for _, va in cv.split(np.zeros(n), y if stratify else None)]


def cross_validate(
    estimator: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: list[Split],
    *,
    task: str,
    n_classes: int,
    metrics: list[str],
    on_fold: OnFold | None = None,
    choose_rounds: bool = False,
    on_first_fold: Callable[[float], bool] | None = None,
) -> FoldRun:
    """Fit a clone of ``estimator`` on each training fold and score it on the matching validation fold
    (one split, a holdout: on each of :func:`holdout_parts` of its validation rows).

    ``choose_rounds`` (a LightGBM, XGBoost or CatBoost model; its rounds parameter is then the most it may
    train): the first fold stops once its validation score has not improved for :func:`patience` rounds,
    the other folds train as many rounds as it did, every fold is scored after each of
    :func:`stage_counts` of them, and the run reports the count whose mean of ``metrics[0]`` is best
    (``rounds``). A model that is not a booster is cross-validated as it is.

    ``on_first_fold`` (a scikit-learn forest): the first fold grows its trees in parts and calls it with the
    share grown after each; True stops the run there, with no fold scored (a trial that cannot end in time
    shows it a fifth of the way into its first fold, not after it)."""
    run = FoldRun(fold_scores={m: [] for m in metrics})
    booster = _booster(estimator) if choose_rounds else None
    primary, sign = metrics[0], (1.0 if greater_is_better(metrics[0]) else -1.0)
    counts: list[int] = []
    # per fold: its validation rows, the parts it is scored in, and its predictions (at each of counts)
    folds: list[tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]] = []
    by_count: list[list[float]] = []  # primary score of each fold part, per count
    predict_seconds = 0.0
    predicted_rows = 0
    model = None
    for i, (tr, va) in enumerate(splits):
        model = clone(estimator)
        if booster is not None and counts:
            model.steps[-1][1].set_params(**{booster.rounds: counts[-1]})
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if i == 0 and on_first_fold is not None and _grows(model):
                try:
                    _fit_growing(model, X.iloc[tr], y[tr], on_first_fold)
                except _OutOfTime:
                    break
            elif booster is not None and not counts:
                try:
                    _fit_stopping(model, X.iloc[tr], y[tr], X.iloc[va], y[va])
                except Exception:  # noqa: BLE001  e.g. a validation class its training rows lack: train every round
                    model = clone(estimator)
                    model.fit(X.iloc[tr], y[tr])
                counts = stage_counts(booster.trained(model.steps[-1][1]))
            else:
                model.fit(X.iloc[tr], y[tr])
            t1 = time.perf_counter()
            # one plain prediction, timed: the leaderboard's latency per row is the model's as it will serve
            pred = predict_matrix(model, X.iloc[va], task, n_classes)
            t2 = time.perf_counter()
            preds = staged_predictions(model, X.iloc[va], task, n_classes, counts) if booster is not None else [pred]
        run.fit_seconds += t1 - t0
        predict_seconds += t2 - t1
        predicted_rows += len(va)
        parts = holdout_parts(y[va], task) if len(splits) == 1 else [np.arange(len(va))]
        folds.append((va, parts, preds))
        by_count += [[] for _ in range(len(preds) - len(by_count))]
        for c, p in enumerate(preds):
            by_count[c] += [score_predictions(task, y[va][part], p[part], [primary])[primary] for part in parts]
        if on_fold is not None and i < len(splits) - 1:
            if on_fold(i, _best(by_count, sign)[1]):
                break
    else:
        run.complete = True
    chosen = _best(by_count, sign)[0] if folds else 0
    if booster is not None and counts:
        run.rounds, run.rounds_param = counts[chosen], booster.rounds
    shape = (len(X),) if task == "regression" else (len(X), n_classes)
    # repeated k-fold scores each row once per repeat: its out-of-fold prediction is the mean of those
    total = np.zeros(shape)
    seen = np.zeros(len(X))
    for va, parts, preds in folds:
        total[va] += preds[chosen]
        seen[va] += 1
        for part in parts:
            for m, v in score_predictions(task, y[va][part], preds[chosen][part], metrics).items():
                run.fold_scores[m].append(v)
    per_row = seen if task == "regression" else seen[:, None]
    run.oof = np.where(per_row > 0, total / np.maximum(per_row, 1), np.nan)
    run.predict_seconds_per_row = predict_seconds / max(predicted_rows, 1)
    run.model_bytes = model_size(model)
    return run


def _best(scores: list[list[float]], sign: float) -> tuple[int, float]:
    """Index and value of the best finite mean of ``scores`` (one list per round count; the first of equals:
    fewer rounds); NaN when none is finite."""
    means = [_nanmean(np.asarray(v, dtype=float)) for v in scores]
    finite = [(i, m) for i, m in enumerate(means) if math.isfinite(m)]
    if not finite:
        return 0, math.nan
    return max(finite, key=lambda im: (sign * im[1], -im[0]))


def model_size(model: Any) -> int:
    """Bytes of the pickled fitted model (what a registered version would carry)."""
    if model is None:
        return 0
    try:
        return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # a model that cannot be pickled is reported as size 0, not fatal
        return 0

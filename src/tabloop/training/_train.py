"""Cross-validate the candidates inside the training part, search, pick the winner honestly, refit it.

Pure: data and spec in, leaderboard, trial records and the fitted winner out. The
search study goes to the storage URL the caller passes (None: in memory); nothing
else is written and nothing is tracked here.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import (
    Contract,
    check_frame,
    describe_validation,
    encode_target,
    frame_fingerprint,
    make_folds,
    validation_scheme,
)
from tabloop.errors import TrainingError
from tabloop.evaluation import greater_is_better, metrics_for
from tabloop.preparation import check_preparation
from tabloop.spec import HOLDOUT_PARTS, Spec, setting
from tabloop.stats import score_interval
from tabloop.training._budget import Budget
from tabloop.training._candidates import KNN_MAX_ROWS, Candidate, Options, make_candidates, serving_threads, too_big
from tabloop.training._cv import Split, cross_validate, score_predictions
from tabloop.training._ensemble import ROUNDS as ENSEMBLE_ROUNDS
from tabloop.training._ensemble import evaluate_ensemble, make_ensemble
from tabloop.training._search import SearchOutcome, TrialRecord, refit_reserve, refit_seconds, run_search, study_name

Progress = Callable[[str], None]

#: at most this share of the budget (and at least MIN_IMPORTANCE_SECONDS) goes to permutation importance
IMPORTANCE_SHARE = 0.03
MIN_IMPORTANCE_SECONDS = 1.0
IMPORTANCE_REPEATS = 3
MIN_IMPORTANCE_ROWS = 100
#: the ensemble blends at most this many families' best trials
ENSEMBLE_MEMBERS = 5
ENSEMBLE = "ensemble"
ENSEMBLE_COMPLEXITY = 9
#: under a budget the ensemble is skipped when it and what follows would overrun by more than this share of the
#: budget (the search keeps its time back, but its last trial may end a little late; the estimate counts the
#: refit of every member, which only an ensemble that wins needs)
ENSEMBLE_SLACK = 0.05
#: imbalance choices are offered when the rarest class has fewer rows than this share of the commonest
IMBALANCE_RATIO = 0.5
#: feature selection is offered from this many features up
SELECT_MIN_FEATURES = 5
IMPORTANCE_ROWS = 1000

RULE = "simplest within one standard error of the best"  # SE of the paired per-fold differences


@dataclass
class CandidateResult:
    name: str
    params: dict[str, Any]
    status: str  # ok, pruned, skipped, failed
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> {mean, std}
    fold_scores: dict[str, list[float]] = field(default_factory=dict)
    fit_seconds: float = 0.0
    note: str = ""
    family: str = ""
    complexity: int = 0
    trial: int | None = None  # the study's trial number behind this row
    trials: int = 0  # trials the search spent on this family
    predict_seconds_per_row: float = 0.0
    model_bytes: int = 0

    def mean(self, metric: str) -> float:
        return self.metrics[metric]["mean"]

    def std(self, metric: str) -> float:
        return self.metrics[metric]["std"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    leaderboard: list[CandidateResult]
    winner: str
    rule: str
    metric: str
    pipeline: Any
    seconds: float
    trials: list[TrialRecord] = field(default_factory=list)
    study: str = ""
    stopped_because: str = ""
    importance: dict[str, float] = field(default_factory=dict)  # feature -> mean drop in the metric when shuffled
    folds: int = 0  # validation splits every candidate was fitted for (repeats included; 1 for a holdout)
    validation: str = ""  # the scheme in words, e.g. "5-fold repeated 3 times (stratified); auto for 426 training rows"
    warnings: list[str] = field(default_factory=list)  # what a person must know before using the winner
    budget: Budget | None = None  # under a time budget: how the time was spent (the caller adds its phases)
    duplicates_dropped: int = 0  # preparation.dedupe: exact duplicate training rows left out before fitting
    #: validation rows per training row of a split (Nadeau-Bengio's correction of the CV interval); 0 for a
    #: holdout, whose parts are disjoint rows scored by one fitted model
    test_to_train: float = 0.0

    def winner_result(self) -> CandidateResult:
        return next(c for c in self.leaderboard if c.name == self.winner)

    def interval(self, candidate: CandidateResult, metric: str) -> tuple[float, float]:
        """The 95% interval of ``candidate``'s mean ``metric`` over the validation splits."""
        return score_interval(candidate.fold_scores.get(metric, []), test_to_train=self.test_to_train)

    def _with_interval(self, row: dict[str, Any]) -> dict[str, Any]:
        row["ci95"] = {m: list(score_interval(s, test_to_train=self.test_to_train))
                       for m, s in row.get("fold_scores", {}).items()}
        return row

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "greater_is_better": greater_is_better(self.metric),
            "winner": self.winner,
            "rule": self.rule,
            "seconds": self.seconds,
            "folds": self.folds,
            "validation": self.validation,
            "study": self.study,
            "stopped_because": self.stopped_because,
            "leaderboard": [self._with_interval(c.to_dict()) for c in self.leaderboard],
            "trials": [t.to_dict() for t in self.trials],
            "importance": self.importance,
            "warnings": self.warnings,
            "time": None if self.budget is None else self.budget.to_dict(),
            "duplicates_dropped": self.duplicates_dropped,
        }


@dataclass
class _Prepared:
    X: pd.DataFrame
    y: np.ndarray
    splits: list[Split]
    metrics: list[str]
    n_classes: int
    candidates: list[Candidate]
    searchable: list[Candidate]
    skipped: list[CandidateResult]
    options: Options
    study: str
    validation: str  # the scheme in words
    independent: int  # scores independent enough for a standard error (folds of one repeat; a holdout's parts)
    duplicates_dropped: int = 0  # preparation.dedupe: exact duplicate training rows left out before fitting


def dedupe_rows(train_df: pd.DataFrame, contract: Contract, target: str) -> tuple[pd.DataFrame, int]:
    """``train_df`` without exact duplicates of an earlier row (features and target), and how many went.

    A row operation, so it is no step of the saved pipeline: it runs on the training part only, before the
    folds are drawn, and never on the test part or at serving time.
    """
    subset = [c for c in [*contract.feature_names, target] if c in train_df.columns]
    keep = ~train_df.duplicated(subset=subset, keep="first")
    return train_df[keep.to_numpy()].reset_index(drop=True), int((~keep).sum())


def _prepare(train_df: pd.DataFrame, spec: Spec, contract: Contract, classes: list[Any], data_hash: str | None) -> _Prepared:
    check_preparation(spec.preparation, contract)
    dropped = 0
    if spec.preparation.dedupe:
        train_df, dropped = dedupe_rows(train_df, contract, spec.data.target)
    X = check_frame(train_df, contract, source="training data")
    y = encode_target(train_df[spec.data.target], classes)
    cv, groups = make_folds(train_df, spec)
    scheme = validation_scheme(len(train_df), spec)
    splits = [(np.asarray(tr), np.asarray(va)) for tr, va in cv.split(X, y if spec.task != "regression" else None, groups)]
    n_features = len(contract.feature_names)
    candidates = make_candidates(list(spec.train.candidates), spec.task, contract, spec.seed, spec.preparation)
    searchable, skipped = [], []
    for c in candidates:
        if c.family == "dummy":
            continue
        why = too_big(c.family, len(X), n_features)
        if why:
            skipped.append(CandidateResult(c.name, c.params, "skipped", note=why, family=c.family, complexity=c.complexity))
        else:
            searchable.append(c)
    imbalance: tuple[str, ...] = ()
    if spec.task != "regression":
        counts = np.bincount(y, minlength=len(classes))
        if counts.max() > 0 and counts.min() / counts.max() < IMBALANCE_RATIO:
            imbalance = tuple(spec.train.imbalance)
    select = tuple(spec.train.selection) if n_features >= SELECT_MIN_FEATURES else ()
    return _Prepared(
        X=X, y=y, splits=splits, metrics=metrics_for(spec.task, spec.resolved_metric),
        n_classes=0 if spec.task == "regression" else len(classes), candidates=candidates, searchable=searchable,
        skipped=skipped, options=Options(imbalance=imbalance, select=select, knn_impute=len(X) <= KNN_MAX_ROWS),
        study=study_name(data_hash or frame_fingerprint(train_df), spec),
        validation=describe_validation(len(train_df), spec),
        independent={"repeated_kfold": len(splits) // spec.split.repeats, "holdout": HOLDOUT_PARTS}.get(scheme, len(splits)),
        duplicates_dropped=dropped,
    )


def search_trials(
    train_df: pd.DataFrame,
    spec: Spec,
    contract: Contract,
    classes: list[Any],
    *,
    budget_seconds: float | None = None,
    trials: int | None = None,
    storage: str | None = None,
    data_hash: str | None = None,
    progress: Progress | None = None,
) -> SearchOutcome:
    """Only the search: what a ``--worker`` runs, adding its trials to the shared study."""
    start = time.perf_counter()
    prep = _prepare(train_df, spec, contract, classes, data_hash)
    n_trials = setting(spec, "train.trials", trials)
    budget = setting(spec, "train.budget_seconds", budget_seconds)
    deadline = None if n_trials is not None else start + budget
    return run_search(prep.X, prep.y, prep.splits, prep.searchable, task=spec.task, n_classes=prep.n_classes,
                      metrics=prep.metrics, seed=spec.seed, options=prep.options, name=prep.study, storage=storage,
                      deadline=deadline, trials=n_trials, progress=progress, threads=spec.train.threads)


def train_candidates(
    train_df: pd.DataFrame,
    spec: Spec,
    contract: Contract,
    classes: list[Any],
    *,
    budget_seconds: float | None = None,
    trials: int | None = None,
    storage: str | None = None,
    data_hash: str | None = None,
    progress: Progress | None = None,
    budget: Budget | None = None,
) -> TrainResult:
    """Baseline, search, ensemble, selection and refit (all preparation fitted inside the folds).

    With ``trials`` (or ``train.trials``) the search runs that many trials whatever the
    time, and the same seed gives the same leaderboard and model. Otherwise training ends by
    ``budget`` (a whole command's, which says what follows training and how long it will take), or
    by ``budget_seconds`` (or ``train.budget_seconds``) from now: the search gets what the
    baseline, the refit, the ensemble and the importance leave (see :class:`Budget`). The winner is
    the simplest candidate within one standard error of the best (:func:`_select`), so a complex
    model, an ensemble included, must earn its place.
    """
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    n_trials = setting(spec, "train.trials", trials)
    if n_trials is not None:
        budget = None
    elif budget is None:
        budget = Budget(setting(spec, "train.budget_seconds", budget_seconds), start)
    prep = _prepare(train_df, spec, contract, classes, data_hash)
    metric = prep.metrics[0]
    task = spec.task
    by_family = {c.family: c for c in prep.candidates}
    members = ENSEMBLE_MEMBERS if spec.train.ensemble else 1
    rows = len(prep.candidates) + 1  # leaderboard rows that may be logged without a trial: dummy, skipped, ensemble

    results: list[CandidateResult] = []
    dummy = by_family["dummy"]
    say(f"validation: {prep.validation}")
    if spec.preparation.dedupe:
        say(f"dedupe: {prep.duplicates_dropped} duplicate training rows left out")
    say(f"cross-validating the {dummy.name} baseline ({len(prep.splits)} splits)")
    results.append(_evaluate_fixed(dummy, dummy.params, prep, task))
    results.extend(prep.skipped)
    if budget is not None:
        budget.importance = max(MIN_IMPORTANCE_SECONDS, IMPORTANCE_SHARE * budget.total)
        if spec.train.ensemble:
            budget.ensemble = ensemble_estimate(prep, task, metric, members)
        budget.lap("prepare")

    def keep(existing: list[Any]) -> float:
        assert budget is not None
        refit = refit_reserve(existing, greater_is_better(metric), len(prep.splits), members)
        return budget.after_search(len(existing) + 1 + rows, refit, ensemble=spec.train.ensemble)

    outcome = SearchOutcome(prep.study, [], {}, 0, "no candidate to search")
    if prep.searchable:
        mode = f"{n_trials} trials" if budget is None else f"{budget.search_seconds():.0f}s of a {budget.total:.0f}s budget"
        say(f"searching {', '.join(c.name for c in prep.searchable)} ({mode}, study {prep.study})")
        outcome = run_search(prep.X, prep.y, prep.splits, prep.searchable, task=task, n_classes=prep.n_classes,
                             metrics=prep.metrics, seed=spec.seed, options=prep.options, name=prep.study,
                             storage=storage, deadline=None if budget is None else budget.end, trials=n_trials,
                             progress=say, keep=None if budget is None else keep, threads=spec.train.threads)
        family_rows = _family_rows(prep.searchable, outcome.records, metric, None if budget is None else budget.total)
        for r in family_rows:
            if r.status == "skipped":
                say(f"skipped {r.name}: {r.note}")
        results.extend(family_rows)
    if budget is not None:
        budget.lap("search")

    if spec.train.ensemble:
        runs = len(outcome.records) + rows
        need = 0.0 if budget is None else budget.after_search(runs, refit_of(outcome, metric, len(prep.splits), members))
        blendable = len({r.family for r in results if r.status == "ok" and r.trial is not None}) >= 2
        if budget is not None and blendable and budget.left() < need - ENSEMBLE_SLACK * budget.total:
            budget.note(f"ensemble skipped: {max(budget.left(), 0):.1f}s were left, it and what follows need {need:.1f}s")
            say(budget.notes[-1])
        else:
            after = None if budget is None else budget.end - budget.importance - budget.tail(runs)
            ens = _ensemble_row(results, outcome, prep, by_family, task, metric, deadline=after,
                                threads=spec.train.threads)
            if ens is not None:
                results.append(ens)
        if budget is not None:
            budget.lap("ensemble")

    ok = [r for r in results if r.status == "ok"]
    if not ok:
        notes = "; ".join(f"{r.name}: {r.note}" for r in results)
        raise TrainingError(f"no candidate could be trained ({notes})")
    sign = 1.0 if greater_is_better(metric) else -1.0
    ok.sort(key=lambda r: (r.complexity, -sign * _finite(r.mean(metric), sign)))
    winner, rule = _select(ok, metric, prep.independent)
    alerts = [baseline_warning(task, rule)] if next(r for r in ok if r.name == winner).family == "dummy" else []
    for alert in alerts:
        say(f"WARNING: {alert}")
    say(f"refitting {winner} on all {len(prep.X)} training rows")
    best = next(r for r in ok if r.name == winner)
    pipeline = _build_winner(best, by_family, results, spec.train.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(prep.X, prep.y)
    serving_threads(pipeline)
    seconds = None
    if budget is not None:
        budget.lap("refit")
        # what is left once logging, export and registration are kept back, never more than its share
        seconds = min(budget.importance, budget.left() - budget.tail(len(outcome.records) + rows))
    importance: dict[str, float] = {}
    if seconds is not None and seconds < MIN_IMPORTANCE_SECONDS:
        budget.note(f"feature importance skipped: {max(seconds, 0):.1f}s were left for it")  # type: ignore[union-attr]
        say(budget.notes[-1])  # type: ignore[union-attr]
    else:
        importance = _importance(pipeline, prep, task, metric, spec.seed, seconds=seconds,
                                 seconds_per_row=best.predict_seconds_per_row)
    if budget is not None:
        budget.lap("importance")
    ordered = sorted(results, key=lambda r: _sort_key(r, metric))
    return TrainResult(ordered, winner, rule, metric, pipeline, time.perf_counter() - start, trials=outcome.records,
                       study=outcome.study_name, stopped_because=outcome.stopped_because, importance=importance,
                       folds=len(prep.splits), validation=prep.validation, warnings=alerts, budget=budget,
                       duplicates_dropped=prep.duplicates_dropped, test_to_train=_test_to_train(prep))


def _test_to_train(prep: _Prepared) -> float:
    """Validation rows per training row, averaged over the splits; 0 for a holdout (one fit, disjoint parts)."""
    if prep.validation.startswith("holdout") or not prep.splits:
        return 0.0
    return float(np.mean([len(test) / max(len(train), 1) for train, test in prep.splits]))


def refit_of(outcome: SearchOutcome, metric: str, folds: int, members: int) -> float:
    """Seconds refitting the best complete trial of the ``members`` best families on all rows will take."""
    done = [(t.family, t.value, t.fit_seconds) for t in outcome.records if t.state == "complete"]
    return refit_seconds(done, greater_is_better(metric), folds, members)


def ensemble_estimate(prep: _Prepared, task: str, metric: str, members: int) -> float:
    """Seconds the ensemble's weights will take: greedy selection scores ``members`` blends per round, for
    each fold's weights and once more for all rows; one scoring pass on all rows is timed here."""
    if task == "regression":
        pred = np.full(len(prep.y), float(np.mean(prep.y)))
    else:
        shares = np.bincount(prep.y, minlength=prep.n_classes) / max(len(prep.y), 1)
        pred = np.tile(shares, (len(prep.y), 1))
    t0 = time.perf_counter()
    score_predictions(task, prep.y, pred, [metric])
    once = time.perf_counter() - t0
    parts = len(prep.splits) if len(prep.splits) > 1 else HOLDOUT_PARTS
    return once * ENSEMBLE_ROUNDS * members * (parts + 1)


def baseline_warning(task: str, rule: str) -> str:
    """What to say when the winner is the constant baseline: no candidate learned anything the folds could see."""
    what = "the mean" if task == "regression" else "the majority class (the training class shares as probabilities)"
    return (f"the best model is no better than predicting {what}: the registered model is the constant baseline "
            f"({rule}); check the target, the features and data.exclude, or give the search more time")


def _finite(v: float, sign: float) -> float:
    return v if math.isfinite(v) else -sign * math.inf


def _evaluate_fixed(cand: Candidate, params: dict[str, Any], prep: _Prepared, task: str) -> CandidateResult:
    try:
        run = cross_validate(cand.build(params), prep.X, prep.y, prep.splits, task=task, n_classes=prep.n_classes,
                             metrics=prep.metrics)
    except Exception as exc:  # reported, not fatal
        return CandidateResult(cand.name, params, "failed", note=f"{type(exc).__name__}: {exc}", family=cand.family,
                               complexity=cand.complexity)
    return CandidateResult(cand.name, params, "ok", metrics=run.stats(), fold_scores=run.fold_scores,
                           fit_seconds=run.fit_seconds, family=cand.family, complexity=cand.complexity,
                           predict_seconds_per_row=run.predict_seconds_per_row, model_bytes=run.model_bytes)


def _family_rows(cands: list[Candidate], records: list[TrialRecord], metric: str, budget: float | None) -> list[CandidateResult]:
    """One leaderboard row per family: its best complete trial (else what stopped it)."""
    sign = 1.0 if greater_is_better(metric) else -1.0
    rows = []
    for c in cands:
        mine = [t for t in records if t.family == c.family]
        done = [t for t in mine if t.state == "complete" and t.value is not None and math.isfinite(t.value)]
        if done:
            t = max(done, key=lambda t: (sign * t.value, -t.number))  # type: ignore[operator]
            rows.append(CandidateResult(
                c.name, t.params, "ok", metrics=t.metrics, fold_scores=t.fold_scores, fit_seconds=t.fit_seconds,
                family=c.family, complexity=c.complexity, trial=t.number, trials=len(mine),
                predict_seconds_per_row=t.predict_seconds_per_row, model_bytes=t.model_bytes,
                note=f"best of {len(mine)} trials",
            ))
        elif mine:
            last = mine[-1]
            status = "pruned" if any(t.state == "pruned" for t in mine) else "failed"
            rows.append(CandidateResult(c.name, last.params, status, note=last.note, family=c.family,
                                        complexity=c.complexity, trials=len(mine)))
        else:
            note = f"budget of {budget:.0f}s spent" if budget is not None else "no trial left for it"
            rows.append(CandidateResult(c.name, c.params, "skipped", note=note, family=c.family, complexity=c.complexity))
    return rows


def _ensemble_row(
    results: list[CandidateResult], outcome: SearchOutcome, prep: _Prepared, by_family: dict[str, Candidate],
    task: str, metric: str, *, deadline: float | None, threads: int = 1,
) -> CandidateResult | None:
    sign = 1.0 if greater_is_better(metric) else -1.0
    pool = [r for r in results if r.status == "ok" and r.family not in ("dummy", "") and r.trial is not None]
    pool.sort(key=lambda r: -sign * r.mean(metric))
    pool = pool[:ENSEMBLE_MEMBERS]
    if len(pool) < 2:
        return None
    preds, names = [], []
    for r in pool:
        oof = outcome.oof.get(r.trial)  # type: ignore[arg-type]
        if oof is None:  # a trial of another worker or an earlier run: recompute its out-of-fold predictions
            if deadline is not None and time.perf_counter() > deadline:
                continue
            run = cross_validate(by_family[r.family].build(r.params, threads=threads), prep.X, prep.y, prep.splits, task=task,
                                 n_classes=prep.n_classes, metrics=prep.metrics)
            oof = run.oof
        preds.append(oof)
        names.append(r.name)
    if len(preds) < 2:
        return None
    run = evaluate_ensemble(names, preds, prep.y, prep.splits, task=task, metrics=prep.metrics)
    if not run.fold_scores[metric]:
        return None
    members = {n: w for n, w in zip(names, run.weights, strict=True) if w > 0}
    if len(members) < 2:
        return None  # greedy selection kept one model: that model is already on the leaderboard
    used = [r for r in pool if r.name in members]
    return CandidateResult(
        ENSEMBLE, {"members": members}, "ok", metrics=run.stats(), fold_scores=run.fold_scores,
        fit_seconds=sum(r.fit_seconds for r in used), family=ENSEMBLE, complexity=ENSEMBLE_COMPLEXITY,
        predict_seconds_per_row=sum(r.predict_seconds_per_row for r in used),
        model_bytes=sum(r.model_bytes for r in used),
        note="weighted average of " + ", ".join(f"{n} {w:.2f}" for n, w in members.items())
        + "; weights chosen on other folds than the one scored",
    )


def _build_winner(best: CandidateResult, by_family: dict[str, Candidate], results: list[CandidateResult],
                  threads: int = 1) -> Any:
    if best.family != ENSEMBLE:
        return by_family[best.family].build(best.params, threads=threads)
    rows = {r.name: r for r in results}
    names = list(best.params["members"])
    members = [(n, by_family[rows[n].family].build(rows[n].params, threads=threads)) for n in names]
    return make_ensemble(members, [best.params["members"][n] for n in names], by_family["dummy"].task)


def importance_rows(n_rows: int, n_features: int, seconds: float | None, seconds_per_row: float) -> int:
    """Rows to score permutation importance on: IMPORTANCE_ROWS, fewer when ``seconds`` would not cover them."""
    rows = min(n_rows, IMPORTANCE_ROWS)
    if seconds is None or seconds_per_row <= 0:
        return rows
    affordable = int(seconds / (seconds_per_row * max(n_features, 1) * (IMPORTANCE_REPEATS + 1)))
    return min(rows, max(affordable, MIN_IMPORTANCE_ROWS))


def _importance(pipeline: Any, prep: _Prepared, task: str, metric: str, seed: int, *, seconds: float | None = None,
                seconds_per_row: float = 0.0) -> dict[str, float]:
    """Permutation importance of each input column for the refitted winner, on a sample of training rows
    (fewer rows when a time budget would not cover IMPORTANCE_ROWS at the winner's prediction speed)."""
    from sklearn.inspection import permutation_importance

    from tabloop.training._cv import predict_matrix

    rows = prep.X
    y = prep.y
    n = importance_rows(len(rows), rows.shape[1], seconds, seconds_per_row)
    if len(rows) > n:
        idx = np.random.default_rng(seed).choice(len(rows), n, replace=False)
        rows, y = rows.iloc[np.sort(idx)], y[np.sort(idx)]
    sign = 1.0 if greater_is_better(metric) else -1.0

    def scorer(est: Any, X: pd.DataFrame, yy: np.ndarray) -> float:
        value = score_predictions(task, yy, predict_matrix(est, X, task, prep.n_classes), [metric])[metric]
        return sign * value if math.isfinite(value) else 0.0

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = permutation_importance(pipeline, rows, y, scoring=scorer, n_repeats=IMPORTANCE_REPEATS,
                                         random_state=seed, n_jobs=1)
    except Exception:  # importance is a report, never a reason to fail training
        return {}
    pairs = sorted(zip(rows.columns, res.importances_mean, strict=True), key=lambda p: -p[1])
    return {str(c): float(v) for c, v in pairs}


def paired_standard_error(best: CandidateResult, other: CandidateResult, metric: str, independent: int) -> tuple[float, float] | None:
    """Mean and standard error of ``best``'s score minus ``other``'s (oriented so that positive means ``best``
    is better), fold by fold: both were scored on the same folds (a holdout: the same parts; repeated k-fold:
    the same repeat-folds), so what a hard fold does to both cancels out. None when the scores do not pair
    (a row without per-fold scores, or a different number of them).

    ``independent``: how many of the scores are independent (repeats of k-fold reuse the same rows, so the
    standard error counts the k folds of one repeat, not all of them; a holdout counts its parts).
    """
    a, b = best.fold_scores.get(metric), other.fold_scores.get(metric)
    if not a or not b or len(a) != len(b):
        return None
    sign = 1.0 if greater_is_better(metric) else -1.0
    d = sign * (np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return None
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(max(1, min(independent, len(d)))))


def _select(ok: list[CandidateResult], metric: str, folds: int) -> tuple[str, str]:
    """``ok`` is simplest first: the first within one standard error of the best wins.

    The standard error is that of the paired per-fold differences between the candidate and the best
    (:func:`paired_standard_error`): a spread shared by both, such as one fold that is hard for every model,
    says nothing about which is better, and an unpaired spread would let the constant baseline win a table
    that a model beats on every fold. Rows without per-fold scores fall back to the best's own standard
    error (sd / sqrt(``folds``)). The ensemble is the most complex row, so the same rule makes it win only
    when it beats the best single model by more than the standard error of their paired differences.
    """
    sign = 1.0 if greater_is_better(metric) else -1.0
    best = max(ok, key=lambda r: _finite(sign * r.mean(metric), 1.0))
    unpaired = best.std(metric) / math.sqrt(folds) if not math.isnan(best.std(metric)) else 0.0
    closest, margin = "", math.inf
    for r in ok:
        if r.name == best.name:
            return best.name, (f"best mean {metric} ({best.mean(metric):.4f}); no simpler model within one standard "
                               f"error of its paired per-fold differences{closest}")
        paired = paired_standard_error(best, r, metric, folds)
        gap, se = paired if paired is not None else (sign * (best.mean(metric) - r.mean(metric)), unpaired)
        kind = "" if paired is not None else ", unpaired: no per-fold scores"
        if gap <= se + 1e-12:  # a tie at exactly one SE counts as within (floating-point rounding aside)
            return r.name, (
                f"{RULE}: {r.name} {r.mean(metric):.4f} vs {best.name} {best.mean(metric):.4f}, "
                f"{'paired per-fold ' if paired is not None else ''}difference {gap:.4f} within SE {se:.4f}{kind}"
            )
        if gap - se < margin:
            closest, margin = f" (nearest: {r.name}, difference {gap:.4f} > SE {se:.4f}{kind})", gap - se
    return best.name, f"best mean {metric}"


def _sort_key(r: CandidateResult, metric: str) -> tuple[int, float]:
    if r.status != "ok":
        return (1, 0.0)
    sign = -1.0 if greater_is_better(metric) else 1.0
    return (0, sign * r.mean(metric))

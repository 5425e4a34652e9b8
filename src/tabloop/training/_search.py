"""Hyper-parameter search across model families: the one module that talks to Optuna.

One study holds every trial of every family. Which family a trial tries is decided
here (so that cheap and expensive families share the budget sensibly and the choice
is reproducible); the parameters within the family are sampled by Optuna's TPE,
seeded from the spec's seed. Each fold's running score is reported to Optuna's
MedianPruner, so a trial that is clearly worse than the others stops after a few
folds. The study lives in whatever storage the caller names (in memory, SQLite in
the workspace, or PostgreSQL shared by several workers); running the same search
again on the same data and spec continues the stored study.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import redact_url
from tabloop.errors import TrainingError
from tabloop.evaluation import greater_is_better
from tabloop.spec import PreparationSpec, Spec
from tabloop.training._candidates import FIRST_TRIAL_ORDER, Candidate, Options
from tabloop.training._cv import Split, cross_validate

log = logging.getLogger("tabloop")
Progress = Callable[[str], None]

FAMILY = "family"
#: trials before the pruner may stop anything, and folds every trial runs before it can be stopped
PRUNER_STARTUP_TRIALS = 5
PRUNER_WARMUP_FOLDS = 1
OPEN_ATTEMPTS = 4


@dataclass
class TrialRecord:
    """One trial of the search, as stored in the study (any worker's, any earlier run's)."""

    number: int
    family: str
    name: str
    params: dict[str, Any]
    state: str  # complete, pruned, failed, running
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    fold_scores: dict[str, list[float]] = field(default_factory=dict)
    value: float | None = None
    fit_seconds: float = 0.0
    predict_seconds_per_row: float = 0.0
    model_bytes: int = 0
    seconds: float = 0.0
    worker: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchOutcome:
    study_name: str
    records: list[TrialRecord]
    oof: dict[int, np.ndarray]  # out-of-fold predictions of the trials run by this process
    ran: int  # trials this process ran
    stopped_because: str


def study_name(data_hash: str, spec: Spec) -> str:
    """Same data and same search-relevant spec: same study, so a stopped search resumes.

    The budget, the number of trials, the threads and the storage are left out: running again with
    more time or more trials continues the search instead of starting over.
    """
    relevant = spec.model_dump(mode="json", include={"seed", "data", "metric", "split"})
    relevant["train"] = spec.train.model_dump(mode="json", exclude={"budget_seconds", "trials", "storage", "reference_rows", "threads"})
    if spec.preparation != PreparationSpec():  # left out at its defaults: studies of before keep their names
        relevant["preparation"] = spec.preparation.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]
    return f"tabloop-{data_hash[:12]}-{digest}"


class _TrialSpace:
    """A family's view of an Optuna trial: parameter names are prefixed with the family."""

    def __init__(self, trial: Any, prefix: str) -> None:
        self.trial = trial
        self.prefix = prefix

    def int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        return int(self.trial.suggest_int(f"{self.prefix}.{name}", low, high, log=log))

    def float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return float(self.trial.suggest_float(f"{self.prefix}.{name}", low, high, log=log))

    def cat(self, name: str, choices: list[Any]) -> Any:
        return self.trial.suggest_categorical(f"{self.prefix}.{name}", choices)


def _storage(url: str | None) -> Any:
    if url is None:
        return None
    import optuna

    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; tabloop ships psycopg (3)
        url = "postgresql+psycopg://" + url.split("://", 1)[1]

    # pool_pre_ping: a worker that waited long still finds its PostgreSQL connection alive
    kwargs: dict[str, Any] = {} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def open_study(name: str, *, storage: str | None, seed: int, maximize: bool) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return optuna.create_study(
                storage=_storage(storage),
                study_name=name,
                direction="maximize" if maximize else "minimize",
                sampler=optuna.samplers.TPESampler(seed=seed),
                pruner=optuna.pruners.MedianPruner(
                    n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_FOLDS
                ),
                load_if_exists=True,
            )
        except Exception as exc:  # storage unreachable, bad URL, schema trouble
            # workers starting together race to create the schema and the study: the loser tries again
            if attempt + 1 < OPEN_ATTEMPTS and storage is not None and not isinstance(exc, (ImportError, ValueError)):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise TrainingError(
                f"cannot open the search study {name!r} in {_shown(storage)}: {type(exc).__name__}: {exc}",
                hint="check train.storage (or --storage / TABLOOP_TRAIN__STORAGE); e.g. postgresql://user@host/db",
            ) from exc
    raise AssertionError("unreachable")


def _shown(storage: str | None) -> str:
    """How the study's storage is named in an error: no storage is Optuna's in-memory one."""
    return "memory" if storage is None else redact_url(storage)


def run_search(
    X: pd.DataFrame,
    y: np.ndarray,
    splits: list[Split],
    candidates: list[Candidate],
    *,
    task: str,
    n_classes: int,
    metrics: list[str],
    seed: int,
    options: Options,
    name: str,
    storage: str | None = None,
    deadline: float | None = None,
    trials: int | None = None,
    progress: Progress | None = None,
    keep: Callable[[list[Any]], float] | None = None,
    threads: int = 1,
) -> SearchOutcome:
    """Run trials until ``trials`` are finished in the study, or ``deadline`` (perf_counter) passes,
    or every family has had its share of trials. Returns every trial stored in the study.

    With ``keep`` the search keeps back, from ``deadline``, ``keep(trials in the study)`` seconds: the time
    that what follows the search will take (refitting its best trials on all rows, estimated from their
    fold fit times by :func:`refit_reserve`, logging the trials, export, registration), so that the whole
    of a training command ends by its deadline.
    """
    import optuna

    say = progress or (lambda _m: None)
    metric = metrics[0]
    maximize = greater_is_better(metric)
    study = open_study(name, storage=storage, seed=seed, maximize=maximize)
    base = study.sampler
    by_family = {c.family: c for c in candidates}
    order = [f for f in FIRST_TRIAL_ORDER if f in by_family] + [f for f in by_family if f not in FIRST_TRIAL_ORDER]
    choices = sorted(by_family)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    oof: dict[int, np.ndarray] = {}
    ran = 0
    stopped = "every family had its trials"
    while True:
        existing = study.get_trials(deepcopy=False)
        finished = [t for t in existing if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
        if trials is not None and len(finished) >= trials:
            stopped = f"{trials} trials finished"
            break
        now = time.perf_counter()
        until = deadline
        if deadline is not None and keep is not None:
            until = deadline - keep(existing)
        if until is not None and now >= until and (ran > 0 or any(t.state.name == "COMPLETE" for t in existing)):
            stopped = "time budget spent"
            break
        family = _next_family(existing, order, by_family, seed, until, now, maximize, folds=len(splits))
        if family is None:
            if deadline is not None:
                stopped = "no family's next trial fits in the time left"
            break
        cand = by_family[family]
        attempts = sum(1 for t in existing if t.params.get(FAMILY) == family)
        first = attempts == 0
        fixed: dict[str, Any] = {FAMILY: family}
        if attempts <= len(cand.portfolio):  # the defaults, then the family's portfolio, then the search's own points
            fixed.update({f"{family}.{k}": v for k, v in cand.preset(options, attempts).items()})
        # the fixed values go through this process's own sampler, not Optuna's shared queue of waiting
        # trials: with workers enqueueing at once, one worker's ask() could take another's queued trial
        # and leave its own waiting in the study for ever (seen as a 10th trial of 8 + 1 finished)
        with warnings.catch_warnings():  # "experimental" since Optuna 2.4; its behaviour is what we test
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.PartialFixedSampler(fixed, base)
        trial = study.ask()
        fam = trial.suggest_categorical(FAMILY, choices)
        cand = by_family[fam]
        params = cand.suggest(_TrialSpace(trial, fam), options)
        t_start = time.perf_counter()
        state, note = _run_trial(trial, cand, params, X, y, splits, task=task, n_classes=n_classes, metrics=metrics,
                                 deadline=until, may_prune=not first, may_time_out=ran > 0 or bool(finished), oof=oof,
                                 threads=threads)
        trial.set_user_attr("seconds", time.perf_counter() - t_start)
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("name", cand.name)
        if note:
            trial.set_user_attr("note", note)
        value = trial.user_attrs.get("value")
        if state == "complete" and value is not None and math.isfinite(value):
            study.tell(trial, value)
        elif state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        ran += 1
        shown = "" if value is None else f" {metric} {value:.4f}"
        say(f"trial {trial.number} {cand.name}: {state}{shown}{f' ({note})' if note else ''}")
    return SearchOutcome(name, records_of(study, choices), oof, ran, stopped)


#: a refit on all rows is estimated at this multiple of one fold's fit (more rows, some models superlinear)
REFIT_FACTOR = 1.5


def refit_reserve(existing: list[Any], maximize: bool, folds: int, members: int) -> float:
    """Seconds to keep for refitting the best complete trial of each of the ``members`` best families."""
    done = [(t.params.get(FAMILY), t.value, float(t.user_attrs.get("fit_seconds", 0.0)))
            for t in existing if t.state.name == "COMPLETE"]
    return refit_seconds(done, maximize, folds, members)


def refit_seconds(done: list[tuple[str | None, float | None, float]], maximize: bool, folds: int, members: int) -> float:
    """:func:`refit_reserve` for complete trials given as (family, value, seconds of fitting all folds)."""
    sign = 1.0 if maximize else -1.0
    best: dict[str, tuple[float, float]] = {}
    for fam, value, fit in done:
        if value is None or not math.isfinite(value) or fam is None:
            continue
        if fam not in best or sign * value > sign * best[fam][0]:
            best[fam] = (value, fit)
    top = sorted(best.values(), key=lambda vf: -sign * vf[0])[:members]
    return sum(fit / max(folds, 1) * REFIT_FACTOR for _, fit in top)


def _run_trial(
    trial: Any, cand: Candidate, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, splits: list[Split], *,
    task: str, n_classes: int, metrics: list[str], deadline: float | None, may_prune: bool, may_time_out: bool,
    oof: dict[int, np.ndarray], threads: int = 1,
) -> tuple[str, str]:
    stop_reason: list[str] = []
    started = time.perf_counter()

    def on_fold(i: int, running: float) -> bool:
        if not math.isfinite(running):
            return False
        trial.report(running, i)
        now = time.perf_counter()
        # each fold left takes about as long as the mean fold so far; a trial that cannot finish all of them is
        # never scored, so it stops as soon as that shows, not when the budget is gone (an extra-trees first trial
        # on diamonds' 32,000 rows spent 33 s of a 60 s budget on four folds and was dropped)
        folds_left = len(splits) - (i + 1)
        if may_time_out and deadline is not None and now + (now - started) / (i + 1) * folds_left > deadline:
            stop_reason.append(f"stopped after {i + 1} folds: the other {folds_left} would not end within the time budget")
            return True
        if may_prune and trial.should_prune():
            stop_reason.append(f"pruned after {i + 1} folds: below the median of earlier trials")
            return True
        return False

    def on_first_fold(share: float) -> bool:
        now = time.perf_counter()
        if may_time_out and deadline is not None and started + (now - started) / share * len(splits) > deadline:
            trial.set_user_attr("first_fold_share", share)
            stop_reason.append(f"stopped {share:.0%} into its first fold: its {len(splits)} folds would not end within "
                               "the time budget")
            return True
        return False

    try:
        run = cross_validate(cand.build(params, threads=threads), X, y, splits, task=task, n_classes=n_classes, metrics=metrics,
                             on_fold=on_fold, choose_rounds=True, on_first_fold=on_first_fold)
    except Exception as exc:  # a family that cannot fit this data is reported, not fatal
        return "failed", f"{type(exc).__name__}: {exc}"[:500]
    stats = run.stats()
    trial.set_user_attr("metrics", stats)
    trial.set_user_attr("fold_scores", run.fold_scores)
    trial.set_user_attr("fit_seconds", run.fit_seconds)
    trial.set_user_attr("predict_seconds_per_row", run.predict_seconds_per_row)
    trial.set_user_attr("model_bytes", run.model_bytes)
    trial.set_user_attr("value", stats[metrics[0]]["mean"])
    if run.rounds is not None:  # the rounds cross-validation kept are what the leaderboard shows and a refit uses
        trial.set_user_attr("chosen", {run.rounds_param: run.rounds})
    if not run.complete:
        return "pruned", stop_reason[0] if stop_reason else "pruned"
    assert run.oof is not None
    oof[trial.number] = run.oof
    most = params.get(run.rounds_param)
    if run.rounds is not None and most is not None and run.rounds < int(most):
        return "complete", f"kept {run.rounds} of at most {most} rounds (the best mean over the folds)"
    return "complete", ""


def _next_family(
    existing: list[Any], order: list[str], by_family: dict[str, Candidate], seed: int,
    deadline: float | None, now: float, maximize: bool, folds: int = 1,
) -> str | None:
    """The family the next trial tries.

    Every family first gets its defaults, in ``FIRST_TRIAL_ORDER`` (the run loop gives a family drawn
    again its portfolio's variants before points of the search's own). After that a family is
    drawn with weight exp(-gap / spread) / sqrt(cost): ``gap`` is how far its best score is
    behind the best of all (in units of the best trial's fold standard deviation) and
    ``cost`` the family's static relative cost, so near-best cheap families get most
    trials and a clearly worse family few. Under a time budget a family whose median
    trial takes longer than the time left is not started; nor is a family not tried yet
    whose first trial would, by its cost relative to the families timed so far
    (:func:`first_trial_estimate`). A family stops after its ``max_trials``. The draw is
    seeded by (seed, trials so far): reproducible.
    """
    attempts: dict[str, int] = {f: 0 for f in order}
    best: dict[str, float] = {}
    seconds: dict[str, list[float]] = {f: [] for f in order}
    spread = math.nan
    best_value = math.nan
    sign = 1.0 if maximize else -1.0
    for t in existing:
        fam = t.params.get(FAMILY)
        if fam not in attempts:
            continue
        attempts[fam] += 1
        if "seconds" in t.user_attrs and t.state.name in ("COMPLETE", "PRUNED"):
            seconds[fam].append(_full_trial_seconds(t, folds))
        if t.state.name == "COMPLETE" and t.value is not None:
            if fam not in best or sign * t.value > sign * best[fam]:
                best[fam] = t.value
            if math.isnan(best_value) or sign * t.value > sign * best_value:
                best_value = t.value
                spread = float(t.user_attrs.get("metrics", {}).get(_primary(t), {}).get("std", math.nan))
    left = None if deadline is None else deadline - now
    open_ = [f for f in order if attempts[f] < by_family[f].max_trials]
    if left is not None:
        timed = {f: float(np.median(s)) for f, s in seconds.items() if s}
        # nothing timed yet: the search's first trial always runs, whatever the budget
        open_ = [f for f in open_ if not timed
                 or (timed[f] if f in timed else first_trial_estimate(f, timed, by_family)) <= left]
    if not open_:
        return None
    for f in open_:
        if attempts[f] == 0:
            return f
    if not math.isfinite(spread) or spread <= 0:
        spread = max(abs(best_value) * 0.01, 1e-6) if math.isfinite(best_value) else 1.0
    weights = []
    for f in open_:
        gap = sign * (best_value - best[f]) / spread if f in best and math.isfinite(best_value) else 3.0
        weights.append(math.exp(-max(gap, 0.0)) / math.sqrt(by_family[f].cost))
    w = np.asarray(weights)
    rng = np.random.default_rng([seed, len(existing)])
    return str(open_[int(rng.choice(len(open_), p=w / w.sum()))])


def _full_trial_seconds(t: Any, folds: int) -> float:
    """A trial's seconds, scaled up to all folds when it stopped early (pruned or out of time)."""
    seconds = float(t.user_attrs["seconds"])
    done = len(next(iter(t.user_attrs.get("fold_scores", {}).values()), []))
    if done == 0 and "first_fold_share" in t.user_attrs:  # stopped part of the way into its first fold
        return seconds * folds / float(t.user_attrs["first_fold_share"])
    return seconds * folds / done if 0 < done < folds else seconds


def first_trial_estimate(family: str, timed: dict[str, float], by_family: dict[str, Candidate]) -> float:
    """Seconds the first trial of ``family`` should take: its static cost times the median seconds per
    unit of cost of the families already timed (0 when none is: the first family always starts)."""
    if not timed:
        return 0.0
    per_cost = float(np.median([s / by_family[f].cost for f, s in timed.items()]))
    return per_cost * by_family[family].cost


def _primary(t: Any) -> str:
    metrics = t.user_attrs.get("metrics", {})
    return next(iter(metrics), "")


def records_of(study: Any, families: list[str]) -> list[TrialRecord]:
    out = []
    for t in study.get_trials(deepcopy=False):
        fam = t.params.get(FAMILY)
        if fam not in families:
            continue
        prefix = f"{fam}."
        params = {k[len(prefix):]: v for k, v in t.params.items() if k.startswith(prefix)}
        ua = t.user_attrs
        params.update(ua.get("chosen", {}))
        state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(t.state.name, "running")
        out.append(TrialRecord(
            number=t.number, family=fam, name=str(ua.get("name", fam)), params=params, state=state,
            metrics=ua.get("metrics", {}), fold_scores=ua.get("fold_scores", {}), value=ua.get("value"),
            fit_seconds=float(ua.get("fit_seconds", 0.0)), predict_seconds_per_row=float(ua.get("predict_seconds_per_row", 0.0)),
            model_bytes=int(ua.get("model_bytes", 0)), seconds=float(ua.get("seconds", 0.0)),
            worker=str(ua.get("worker", "")), note=str(ua.get("note", "")),
        ))
    return out

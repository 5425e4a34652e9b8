"""``tabloop feedback`` and ``tabloop retrain``: labels come back, a challenger is trained and judged."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.api._evaluate import score_bundle
from tabloop.api._gate import judge
from tabloop.api._monitor import usable_logged_rows
from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.api._train import fit_and_register
from tabloop.data import check_frame, frame_fingerprint, read_table, source_name
from tabloop.loop import (
    join_labels,
    labelled_window,
    normalise_labels,
    realized_performance as per_version,
    retraining_frame,
    split_recent,
    too_few_labels,
    unjudgeable_holdout,
    uses_older_data,
)
from tabloop.predlog import utc_now
from tabloop.workspace import atomic_write_json


@dataclass
class FeedbackResult(Result):
    labels: int
    matched: int
    unmatched: int
    unmatched_file: Path | None
    total_labelled: int
    performance: list[dict[str, Any]]


def feedback(labels: str | Path | pd.DataFrame, *, project: str | Path | None = None) -> FeedbackResult:
    """Join true labels (a CSV or Parquet file, or a DataFrame) to logged predictions by request id; report
    realized performance."""
    proj = Project.open(project)
    spec = proj.spec
    classes = _classes(proj)
    raw = read_table(labels)
    norm = normalise_labels(raw, target=spec.data.target, classes=classes, source=source_name(labels))
    log = proj.predlog
    predictions = log.read_predictions()
    joined = join_labels(predictions, norm)
    unmatched_file = None
    if len(joined.unmatched):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        unmatched_file = proj.report_dir() / f"feedback-unmatched-{stamp}.csv"
        joined.unmatched.to_csv(unmatched_file, index=False)
    ts = utc_now()
    matched = joined.joined[["request_id", "row", "label"]].to_dict(orient="records")
    log.append_feedback({**r, "ts": ts} for r in matched)
    all_joined = join_labels(predictions, log.read_feedback()).joined
    return FeedbackResult(
        labels=len(norm), matched=len(matched), unmatched=len(joined.unmatched), unmatched_file=unmatched_file,
        total_labelled=len(all_joined), performance=realized_performance(all_joined, proj, classes),
    )


def _classes(proj: Project) -> list[Any]:
    if proj.spec.task == "regression":
        return []
    return proj.load_bundle(None).classes


def realized_performance(joined: pd.DataFrame, proj: Project, classes: list[Any]) -> list[dict[str, Any]]:
    """Metrics per model version on the rows whose labels came back (``tabloop.loop.realized_performance``)."""
    spec = proj.spec
    return per_version(joined, task=spec.task, target=spec.data.target, metric=spec.resolved_metric, classes=classes)


@dataclass
class RetrainResult(Result):
    status: str  # retrained, skipped
    champion_version: str
    challenger_version: str | None
    new_labels: int
    holdout_rows: int
    train_rows: int
    metric: str
    champion_score: float | None
    challenger_score: float | None
    promote: bool
    reasons: list[str] = field(default_factory=list)
    record: Path | None = None
    #: labelled logged rows left out because the contract refuses their inputs (see ``monitor``'s)
    skipped_rows: int = 0
    #: the promotion gate's verdict (``api/_gate.py``, the one ``tabloop promote`` applies): the paired test on the
    #: recent holdout, its numbers, and the model tests' counts when they ran
    gate: dict[str, Any] | None = None


def retrain(
    project: str | Path | None = None,
    *,
    budget: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> RetrainResult:
    """Train on the newer labelled data, judge against the champion on the same recent holdout.

    The judgement is ``tabloop promote``'s gate (``api/_gate.py``): the paired test on the holdout's
    rows, then the challenger's model tests when ``model_tests.gate`` is on.
    The new version gets the alias ``challenger``; the decision (and why) is recorded,
    and the champion alias is left for 'tabloop promote' to move. ``budget`` covers the
    whole command: reading the log and the labels before training counts against it, and
    the scoring of both versions after it comes out of the share kept for what follows training.
    When the metric is undefined on the holdout (its labels are of one class), nothing is
    trained or registered: the result is ``skipped`` and says why.
    """
    started = time.perf_counter()
    proj = Project.open(project)
    spec = proj.spec
    policy = spec.retraining
    target = spec.data.target
    champion = proj.load_bundle(None)
    log = proj.predlog
    joined = join_labels(log.read_predictions(), log.read_feedback()).joined
    # rows an older version logged in a form the contract refuses are left out and counted, as monitor does
    joined, refused = usable_logged_rows(proj, champion, joined)
    metric = spec.resolved_metric
    base = dict(champion_version=champion.version or "", new_labels=len(joined), metric=metric,
                skipped_rows=len(refused))
    skip = too_few_labels(len(joined), policy.min_new_labels)
    if skip:
        return _record(proj, RetrainResult(
            status="skipped", challenger_version=None, holdout_rows=0, train_rows=0, champion_score=None,
            challenger_score=None, promote=False, reasons=[skip], **base,
        ))
    joined = labelled_window(joined, policy.window_rows)
    recent = log.inputs_frame(joined)
    recent = check_frame(recent, champion.contract, source="logged inputs of the labelled rows")
    recent[target] = joined["label"].to_numpy()
    adapt, holdout = split_recent(recent, target=target, task=spec.task, holdout_fraction=policy.holdout_fraction,
                                  seed=spec.seed)
    champ_score = score_bundle(champion, holdout, proj).metrics.get(metric)
    unjudgeable = unjudgeable_holdout(metric=metric, champion=champ_score, labels=holdout[target].tolist())
    if unjudgeable:
        return _record(proj, RetrainResult(
            status="skipped", challenger_version=None, holdout_rows=len(holdout), train_rows=0, champion_score=None,
            challenger_score=None, promote=False, reasons=[unjudgeable], **base,
        ))
    original = None
    if uses_older_data(policy.older_data_fraction):
        original = proj.read_data()[champion.contract.feature_names + [target]]
    train_df = retraining_frame(adapt, original, older_data_fraction=policy.older_data_fraction, seed=spec.seed)
    summary = fit_and_register(
        proj, train_df, holdout, budget=budget, progress=progress, run_name="retrain",
        started=started,
        data_hash=frame_fingerprint(train_df), contract=champion.contract,
        tags={"tabloop.parent_version": champion.version or ""},
    )
    proj.tracker.set_alias(spec.model_name, "challenger", summary.version, why="registered by retrain")
    challenger = proj.load_bundle(summary.version)
    chall_score = score_bundle(challenger, holdout, proj).metrics.get(metric)
    verdict = judge(proj, challenger, champion, holdout,
                    source=f"the newest labelled rows' holdout ({len(holdout)} rows, labels joined by request id)")
    for key, value in {"tabloop.decision": "promote" if verdict.promote else "reject",
                       "tabloop.decision_reason": "; ".join(verdict.reasons)[:5000]}.items():
        proj.tracker.client.set_model_version_tag(spec.model_name, summary.version, key, value)
    return _record(proj, RetrainResult(
        status="retrained", challenger_version=summary.version, holdout_rows=len(holdout), train_rows=len(train_df),
        champion_score=champ_score, challenger_score=chall_score, promote=verdict.promote,
        reasons=list(verdict.reasons), gate=verdict.to_dict(), **base,
    ))


def _record(proj: Project, result: RetrainResult) -> RetrainResult:
    """Every decision, retrained or not, is a record a person can open."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    result.record = proj.report_dir() / f"retrain-{stamp}.json"
    # the file names itself relative to the project folder, so a moved or restored project's records stay true
    atomic_write_json(result.record, {**result.to_dict(), "record": proj.relative(result.record), "at": utc_now()})
    return result


__all__ = ["FeedbackResult", "RetrainResult", "feedback", "retrain"]

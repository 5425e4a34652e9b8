"""``tabloop loop run|watch`` and ``tabloop approve``: one pass of the drift-to-retraining loop.

Every pass, whatever it decides, appends a record with its numbers to
``.tabloop/loop/decisions.jsonl``; a person can read why anything happened.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tabloop.api._loop import RetrainResult, _classes, realized_performance, retrain
from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.errors import DataError, PromotionConflictError
from tabloop.evaluation import greater_is_better
from tabloop.loop import (
    after_gate,
    before_retraining,
    check_awaiting_approval,
    evaluate_triggers,
    holdout_labelled_rows,
    join_labels,
    label_bias_warning,
    labels_since,
    last_retrain,
    pending_decision,
    performance_of,
    settle,
    settles_pending,
    shadow_answers,
)
from tabloop.predlog import utc_now

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("tabloop.loop")
DECISIONS_FILE = "decisions.jsonl"


@dataclass
class LoopPassResult(Result):
    action: str  # none, waiting_for_labels, rejected, shadowing, awaiting_approval, promoted
    champion_version: str
    challenger_version: str | None
    triggers: list[dict[str, Any]]
    labelled_rows: int
    labels_since_last: int
    realized: dict[str, Any] | None
    retrain: dict[str, Any] | None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the champion's realized performance on feedback-holdout rows only (labels the model did not shape)
    holdout: dict[str, Any] | None = None
    record: Path | None = None
    #: the gate's verdict this pass: the retrained challenger's (paired test on the recent holdout, model tests)
    #: or, settling a shadowing challenger, the paired test on the live rows both versions answered
    gate: dict[str, Any] | None = None
    #: settling a shadowing challenger: the shadow comparison (agreement, differences, realized metrics)
    shadow: dict[str, Any] | None = None


def loop_run(
    project: str | Path | None = None,
    *,
    budget: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoopPassResult:
    """One pass: settle a pending challenger, else check the triggers and retrain when one fires."""
    proj = Project.open(project)
    spec = proj.spec
    policy = spec.retraining
    champion = proj.resolve(None)
    history = read_decisions(proj)
    predlog = proj.predlog
    logged = predlog.read_predictions()
    joined = join_labels(logged, predlog.read_feedback()).joined
    classes = _classes(proj)
    realized = performance_of(realized_performance(joined, proj, classes), champion.version)
    metric = spec.resolved_metric
    last = last_retrain(history)
    since = labels_since(len(joined), last)
    warnings = [w for w in [label_bias_warning(joined, classes, logged=logged)] if w]
    held = performance_of(realized_performance(holdout_labelled_rows(joined), proj, classes), champion.version)
    base = dict(champion_version=champion.version, labelled_rows=len(joined), labels_since_last=since,
                realized=realized, warnings=warnings, holdout=held)

    pending = pending_decision(history)
    challenger_now = proj.tracker.alias_version(spec.model_name, "challenger")
    if pending is not None and settles_pending(pending, challenger_now):
        return _record(proj, _settle(proj, pending, base, logged))

    drift_crossed, drifted = _drift(proj) if policy.triggers.drift else (None, [])
    triggers = evaluate_triggers(
        policy.triggers, drift_crossed=drift_crossed, drifted_features=drifted,
        realized_metric=None if realized is None else realized["metrics"].get(metric), metric=metric,
        greater_is_better=greater_is_better(metric), labels_since_last=since,
        last_retrain_at=None if last is None else last["at"],
    )
    trig = [t.to_dict() for t in triggers]
    stop = before_retraining(triggers, labelled_rows=len(joined), min_new_labels=policy.min_new_labels)
    if stop is not None:
        return _record(proj, LoopPassResult(action=stop.action, challenger_version=None, triggers=trig, retrain=None,
                                            reasons=stop.reasons, **base))
    result: RetrainResult = retrain(proj.workspace.root, budget=budget, progress=progress)
    if result.status == "skipped":  # the labels cannot judge a challenger yet: none was trained
        return _record(proj, LoopPassResult(action="waiting_for_labels", challenger_version=None, triggers=trig,
                                            retrain=result.to_dict(), reasons=list(result.reasons), **base))
    step = after_gate(result.promote, shadow_requests=policy.shadow_requests, approval=policy.approval)
    out = LoopPassResult(action=step.action, challenger_version=result.challenger_version, triggers=trig,
                         retrain=result.to_dict(), reasons=list(result.reasons), gate=result.gate, **base)
    if step.promote:
        _promote(proj, result.challenger_version or "", out)
    return _record(proj, out)


def _settle(proj: Project, pending: dict[str, Any], base: dict[str, Any], logged: pd.DataFrame) -> LoopPassResult:
    """A challenger that passed the gate earlier: count its shadow answers, judge it on the live rows it shadowed
    (the paired test, on their labels), then promote, refuse or keep waiting."""
    spec = proj.spec
    policy = spec.retraining
    version = pending["challenger_version"]
    shadowing = pending["action"] == "shadowing"
    shadowed = shadow_answers(logged, version) if shadowing else 0
    comparison = live = None
    if shadowing and shadowed >= policy.shadow_requests:
        comparison, live = _shadow_gate(proj, version, base["champion_version"], logged)
    step = settle(pending["action"], version, shadowed=shadowed, shadow_requests=policy.shadow_requests,
                  approval=policy.approval, live=live,
                  labelled_pairs=0 if comparison is None else comparison.labelled,
                  min_labels=spec.monitoring.shadow.min_labels)
    out = LoopPassResult(action=step.action, challenger_version=version, triggers=[], retrain=None,
                         reasons=step.reasons, gate=None if live is None else live.to_dict(),
                         shadow=None if comparison is None else comparison.to_dict(), **base)
    if live is not None and step.action != "shadowing":  # the version's own record of the decision, as retrain's
        for key, value in {"tabloop.decision": "promote" if live.promote else "reject",
                           "tabloop.decision_reason": "; ".join(step.reasons)[:5000]}.items():
            proj.tracker.client.set_model_version_tag(spec.model_name, version, key, value)
    if step.promote:
        _promote(proj, version, out)
    return out


def _shadow_gate(proj: Project, version: str, champion: str, logged: pd.DataFrame) -> tuple[Any, Any]:
    """The shadow comparison of ``version`` against ``champion`` over the log, and the paired gate on its labelled
    pairs (None below ``monitoring.shadow.min_labels``)."""
    from tabloop.api._monitor import _join_labels
    from tabloop.loop import paired_gate
    from tabloop.monitoring import shadow_comparison, shadow_pairs

    spec = proj.spec
    policy, task, metric = spec.retraining, spec.task, spec.resolved_metric
    labelled = _join_labels(logged, proj.predlog.read_feedback())
    pairs = shadow_pairs(labelled, task=task, classes=_classes(proj), challenger=version, champion=champion)
    comparison = shadow_comparison(pairs, metric=metric, spec=spec.monitoring.shadow, margin=policy.min_improvement,
                                   significance=policy.significance, seed=spec.seed)
    y, a, b = pairs.labelled()
    if y.size < spec.monitoring.shadow.min_labels:
        return comparison, None
    live = paired_gate(task, metric, y, a, b, margin=policy.min_improvement, significance=policy.significance,
                       seed=spec.seed, source=f"{y.size} labelled rows v{champion} answered and v{version} shadowed",
                       noise="noise on these live rows")
    return comparison, live


def _promote(proj: Project, version: str, out: LoopPassResult) -> None:
    """Move the champion only if it is still the one this pass judged against."""
    try:
        previous = proj.tracker.set_alias(proj.spec.model_name, "champion", version,
                                          expected_previous=out.champion_version, how="auto",
                                          why="; ".join(out.reasons) or "the loop's policy promoted it")
    except PromotionConflictError as exc:  # left pending: the next pass settles it against the new champion
        out.reasons.append(f"not promoted: {exc.message}")
        return
    out.action = "promoted"
    out.reasons.append(f"champion moved to v{version} (was v{previous})")


def _drift(proj: Project) -> tuple[bool | None, list[str]]:
    from tabloop.api._monitor import monitor

    try:
        res = monitor(proj.workspace.root)
    except DataError as exc:  # an empty log is "cannot judge", not a failure of the loop
        log.info("drift not judged: %s", exc)
        return None, []
    return bool(res.policy_crossed), list(res.drifted_features)


@dataclass
class ApproveResult(Result):
    model: str
    version: str
    previous: str | None
    record: Path | None = None


def approve(version: str, *, project: str | Path | None = None) -> ApproveResult:
    """Promote a challenger that the loop left waiting for approval."""
    proj = Project.open(project)
    history = read_decisions(proj)
    check_awaiting_approval(history, str(version))
    ref = proj.resolve(str(version))
    seen = proj.tracker.alias_version(ref.name, "champion")
    waiting = next(r for r in reversed(history) if r.get("challenger_version") == str(version))
    why = "; ".join(["approved after the loop's gate", *waiting.get("reasons", [])])
    previous = proj.tracker.set_alias(ref.name, "champion", ref.version, expected_previous=seen, how="approved",
                                      why=why)
    record = _append(proj, {"action": "approved", "challenger_version": ref.version, "previous_champion": previous,
                            "at": utc_now()})
    return ApproveResult(ref.name, ref.version, previous, record)


def loop_watch(
    project: str | Path | None = None,
    *,
    interval: float = 3600,
    max_passes: int | None = None,
    budget: float | None = None,
    on_pass: Callable[[LoopPassResult], None] | None = None,
) -> list[LoopPassResult]:
    """Repeat ``loop_run`` every ``interval`` seconds (``max_passes`` bounds it; Ctrl-C stops it)."""
    results: list[LoopPassResult] = []
    while max_passes is None or len(results) < max_passes:
        started = time.monotonic()
        res = loop_run(project, budget=budget)
        results.append(res)
        if on_pass:
            on_pass(res)
        if max_passes is not None and len(results) >= max_passes:
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return results


def read_decisions(proj: Project) -> list[dict[str, Any]]:
    path = _decisions_path(proj)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _decisions_path(proj: Project) -> Path:
    return proj.workspace.home / "loop" / DECISIONS_FILE


def _record(proj: Project, result: LoopPassResult) -> LoopPassResult:
    payload = {k: v for k, v in result.to_dict().items() if k != "record"}
    if payload.get("retrain") and payload["retrain"].get("record"):  # relative, so a moved project's log stays true
        payload["retrain"]["record"] = proj.relative(Path(payload["retrain"]["record"]))
    payload["at"] = utc_now()
    result.record = _append(proj, payload)
    return result


def _append(proj: Project, payload: dict[str, Any]) -> Path:
    import os

    path = _decisions_path(proj)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(orjson.dumps(payload, default=str) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return path


__all__ = ["ApproveResult", "LoopPassResult", "approve", "loop_run", "loop_watch", "read_decisions"]

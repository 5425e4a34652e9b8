"""``tabloop evaluate`` and ``tabloop promote``: score a version on its held-out test part; move aliases."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.api._model import download_test_part
from tabloop.data import encode_target
from tabloop.errors import DataError, ModelNotFoundError, PromotionRefused
from tabloop.evaluation import EvaluationResult, evaluate_predictions, evaluation_report
from tabloop.bundle import ModelBundle

if TYPE_CHECKING:
    from tabloop.loop import GateVerdict


@dataclass
class EvaluateResult(Result):
    model: str
    version: str
    rows: int
    metric: str
    metrics: dict[str, float | None]
    confusion_matrix: list[list[int]] | None
    cost: dict[str, Any] | None
    report_html: Path
    report_json: Path
    #: metric -> 95% bootstrap interval [low, high]
    intervals: dict[str, list[float] | None] = field(default_factory=dict)
    #: metric -> the dummy baseline's value (the training part's class shares or mean)
    baseline: dict[str, float | None] = field(default_factory=dict)
    #: binary: the decision threshold, its counts and rates, and the sentence
    decision: dict[str, Any] | None = None
    slices: list[dict[str, Any]] = field(default_factory=list)
    confident_errors: list[dict[str, Any]] = field(default_factory=list)
    importance: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    model_card_md: Path | None = None
    model_card_html: Path | None = None
    #: the whole evaluation, as the report's JSON holds it (curves included)
    _evaluation: EvaluationResult | None = None

    def summary(self) -> list[str]:
        """Key metrics with their intervals and baseline, one line each (the text output)."""
        return self._evaluation.summary() if self._evaluation is not None else [
            f"{k}: {'n/a' if v is None else f'{v:.4f}'}" for k, v in self.metrics.items()]


def evaluate(project: str | Path | None = None, *, version: str | None = None) -> EvaluateResult:
    """Score a version (default: the latest) on the test part kept aside when it was trained.

    Writes the evaluation report (HTML + JSON) and the model card (Markdown + HTML + JSON) under
    the project's reports; the spec's ``evaluation`` section sets the threshold's terms, the slices,
    the bootstrap and how many confidently wrong rows to show.
    """
    from tabloop.evaluation import evaluate_bundle, model_card_data
    from tabloop.report import model_card
    from tabloop.workspace import atomic_write_text

    proj = Project.open(project)
    ref = proj.resolve(version or "latest")
    if not ref.run_id:
        raise DataError(f"model {ref.name!r} version {ref.version} has no training run to take its test part from")
    bundle = proj.load_bundle(ref.version)
    test_df = download_test_part(proj, ref.run_id)
    result = evaluate_bundle(bundle, test_df, proj.spec, source=f"the held-out test part of version {ref.version}")
    proj.tracker.log_metrics({f"test_{k}": v for k, v in result.metrics.items()}, run_id=ref.run_id)
    report = evaluation_report(result, title=f"Evaluation: {ref.name} v{ref.version}", subtitle=f"held-out test part, {result.rows} rows")
    html_path, json_path = report.write(proj.report_dir(), f"evaluate-v{ref.version}")
    tags = dict(getattr(proj.tracker.get_version(ref.name, ref.version), "tags", None) or {})
    card = model_card_data(result, bundle, proj.spec, name=ref.name, version=ref.version, tags=tags,
                           source=tags.get("tabloop.data_source") or proj.data_name())
    markdown, card_report = model_card(card)
    card_html, _ = card_report.write(proj.report_dir(), f"model-card-v{ref.version}")
    card_md = atomic_write_text(proj.report_dir() / f"model-card-v{ref.version}.md", markdown)
    return EvaluateResult(ref.name, ref.version, result.rows, result.metric, result.metrics,
                          result.confusion_matrix, result.cost, html_path, json_path,
                          intervals=result.intervals, baseline=result.baseline, decision=result.decision,
                          slices=result.slices, confident_errors=result.confident_errors,
                          importance=result.importance, notes=result.notes, model_card_md=card_md,
                          model_card_html=card_html, _evaluation=result)


def score_bundle(bundle: ModelBundle, df: pd.DataFrame, proj: Project) -> EvaluationResult:
    """Metrics of ``bundle`` on labelled rows ``df`` (the spec's target column)."""
    spec = proj.spec
    target = spec.data.target
    if target not in df.columns:
        raise DataError(f"labelled rows have no target column {target!r}")
    y = encode_target(df[target], bundle.classes)
    preds = bundle.predict(df.drop(columns=[target]), source="labelled rows")
    if bundle.task == "regression":
        import numpy as np

        return evaluate_predictions("regression", y, metric=spec.resolved_metric, y_pred=np.asarray(preds.labels, float))
    lookup = {str(c): i for i, c in enumerate(bundle.classes)}
    import numpy as np

    y_pred = np.array([lookup[str(p)] for p in preds.labels])
    return evaluate_predictions(
        bundle.task, y, metric=spec.resolved_metric, classes=bundle.classes, proba=preds.proba, y_pred=y_pred,
        threshold=bundle.threshold, costs=(spec.costs.false_positive, spec.costs.false_negative),
    )


@dataclass
class PromoteResult(Result):
    model: str
    version: str
    alias: str
    previous: str | None
    #: gated (the paired gate passed), forced (--force), set (no gate applies: another alias, or no champion yet)
    how: str = "set"
    #: the paired gate's numbers (metric, rows, the test, its p-value, reasons) when it ran, and ``model_tests``:
    #: how many of the candidate's model tests passed, failed, errored and were skipped
    gate: dict[str, Any] | None = None


def promote(
    version: str,
    *,
    alias: str = "champion",
    project: str | Path | None = None,
    force: bool = False,
    reason: str | None = None,
    holdout: str | Path | None = None,
) -> PromoteResult:
    """Point ``alias`` (default ``champion``) at ``version`` in the registry, through the promotion gate.

    Replacing a champion, the candidate must beat it on the same labelled rows (``holdout``, a
    labelled table; default the candidate's held-out test part) by ``retraining.min_improvement``
    with a paired test's one-sided p-value below ``retraining.significance``, then pass its model
    tests (``tabloop test``, unless ``model_tests.gate`` is false); a refusal raises
    ``PromotionRefused`` with the numbers. ``force`` skips the gate. Every move is recorded in
    the audit log (``tabloop history``) with ``reason``. The move is a compare-and-set against
    the alias as read here: when another process moves it in between, this one raises
    ``PromotionConflictError`` and changes nothing.
    """
    proj = Project.open(project)
    ref = proj.resolve(version)
    seen = proj.tracker.alias_version(ref.name, alias)
    how, gate = "set", None
    if alias == "champion" and seen is not None and seen != ref.version:
        if force:
            how = "forced"
        else:
            verdict = _gate(proj, ref.version, seen, holdout)
            gate = verdict.to_dict()
            if not verdict.promote:
                tests = verdict.refused_by == "model_tests"
                raise PromotionRefused(
                    f"version {ref.version} does not replace champion version {seen}: "
                    + (verdict.reasons[-1] if tests else "; ".join(verdict.reasons)),
                    hint=(f"'tabloop test {ref.version}' shows the details; thresholds are under model_tests: in "
                          "tabloop.yaml (model_tests.gate: false turns this check off), or --force promotes it anyway"
                          if tests else "improve the candidate, pass --holdout with more labelled rows, or --force "
                          "to promote it anyway (recorded as forced in 'tabloop history')"),
                )
            how = "gated"
    why = reason or ("; ".join(gate["reasons"]) if gate else "")
    previous = proj.tracker.set_alias(ref.name, alias, ref.version, expected_previous=seen, how=how, why=why)
    return PromoteResult(ref.name, ref.version, alias, previous, how, gate)


def _gate(proj: Project, version: str, champion: str, holdout: str | Path | None) -> GateVerdict:
    """The gate (``api/_gate.py``) of ``version`` against ``champion`` on ``holdout`` (default: ``version``'s test
    part)."""
    from tabloop.api._gate import judge
    from tabloop.data import read_table

    if holdout is not None:
        rows, source = read_table(holdout), str(holdout)
    else:
        ref = proj.resolve(version)
        if not ref.run_id:
            raise DataError(f"version {version} has no training run to take its test part from",
                            hint="pass --holdout PATH, a labelled table, to compare it with the champion")
        rows = download_test_part(proj, ref.run_id)
        source = f"the held-out test part of version {version}"
    return judge(proj, proj.load_bundle(version), proj.load_bundle(champion), rows, source=source)


@dataclass
class RollbackResult(Result):
    model: str
    alias: str
    version: str
    previous: str
    #: the rollback alert (spec: alerts): sent, deduplicated, failed or off
    alert: dict[str, Any] | None = None


def rollback(alias: str = "champion", *, project: str | Path | None = None, reason: str | None = None) -> RollbackResult:
    """Move ``alias`` back to the version it pointed at before its last recorded move."""
    proj = Project.open(project)
    name = proj.spec.model_name
    current = proj.tracker.alias_version(name, alias)
    if current is None:
        raise ModelNotFoundError(f"model {name!r} has no alias {alias!r} to roll back")
    moves = [m for m in proj.tracker.alias_history(name, alias) if m.to_version == current]
    back = moves[-1].from_version if moves else None
    if back is None:
        raise PromotionRefused(
            f"{name}@{alias} is version {current} and no earlier version is recorded for it",
            hint="see 'tabloop history'; move it with 'tabloop promote VERSION --force'",
        )
    why = reason or f"rolled back from version {current}"
    proj.tracker.set_alias(name, alias, back, expected_previous=current, how="rollback", why=why)
    from tabloop.alerts import Alert, send_alert

    alert = Alert("rollback", f"{name}@{alias} rolled back from version {current} to {back}: {why}",
                  proj.spec.name, f"{alias}:{current}->{back}", {"alias": alias, "from": current, "to": back, "why": why})
    outcome = send_alert(alert, proj.spec.alerts, proj.workspace.home / "alerts")
    return RollbackResult(name, alias, back, current, outcome.to_dict())


@dataclass
class HistoryResult(Result):
    model: str
    alias: str | None
    moves: list[dict[str, Any]]
    current: dict[str, str | None]


def history(alias: str | None = None, *, project: str | Path | None = None) -> HistoryResult:
    """Every recorded alias move (of ``alias``, or all), oldest first, and where each alias points now."""
    proj = Project.open(project)
    name = proj.spec.model_name
    moves = proj.tracker.alias_history(name, alias)
    aliases = sorted({m.alias for m in moves} | ({alias} if alias else {"champion", "challenger"}))
    return HistoryResult(name, alias, [m.to_dict() for m in moves],
                         {a: proj.tracker.alias_version(name, a) for a in aliases})

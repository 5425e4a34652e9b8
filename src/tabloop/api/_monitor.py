"""``tabloop monitor``: the reference saved with the model against logged or given current data.

The facade reads (the bundle, the prediction log, the feedback labels) and hands
DataFrames to the pure functions of ``tabloop.monitoring``; the policy's verdict
(``policy_crossed``, with its ``reasons``) decides the CLI's exit code.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.data import encode_target, is_database_url, read_table, source_name
from tabloop.errors import DataError, TabloopError, WorkspaceError
from tabloop.spec import DriftSpec, setting
from tabloop.bundle import PREDICTION_COLUMN, proba_column
from tabloop.workspace import Workspace

if TYPE_CHECKING:
    # a standalone monitor loads no model: the bundle module's joblib and the log's reader stay out
    from tabloop.bundle import ModelBundle
    from tabloop.data import Contract
    from tabloop.predlog import SkippedLine

PREDICTION_SIGNAL = "__prediction__"

log = logging.getLogger(__name__)


@dataclass
class MonitorResult(Result):
    reference: str
    current: str
    reference_rows: int
    current_rows: int
    too_small: bool
    drifted_features: list[str]
    prediction_drifted: bool | None
    policy_crossed: bool
    features: list[dict[str, Any]]
    report_html: Path
    report_json: Path
    #: why the policy says act (empty when it does not)
    reasons: list[str] = field(default_factory=list)
    #: drifted features, most important to the model first
    ranked_drift: list[str] = field(default_factory=list)
    multivariate: dict[str, Any] | None = None
    #: the newest window's performance and how many rows are labelled (project mode with a log)
    performance: dict[str, Any] | None = None
    #: champion against challenger on the rows each answered, when more than one variant answered
    ab: dict[str, Any] | None = None
    #: the shadow challenger's answers beside the champion's on the same rows (rollout shadow): agreement,
    #: differences and, once labels arrive, each one's metric and the paired test
    shadow: dict[str, Any] | None = None
    #: lines of the prediction log and feedback files that were not whole records and were left out
    skipped_lines: int = 0
    #: logged rows whose inputs the contract refuses even with the monitor's clipping (text where a number
    #: belongs, written by an older version): left out of every figure, not a reason to refuse the window
    skipped_rows: int = 0
    #: the first few of those, each with its request, column and reason
    skipped_rows_why: list[str] = field(default_factory=list)
    #: what became of each alert the policy raised (spec: alerts): sent, deduplicated, failed or off
    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: standalone: columns left out of the comparison by their semantic type (identifier, text, datetime)
    not_compared: dict[str, str] = field(default_factory=dict)
    #: rows of the window answered out of contract (warn, clip, unknown), per column:rule:policy (log windows only)
    out_of_contract: dict[str, Any] | None = None
    #: the server's rollout as it last saved it (project mode): the guard's numbers, the bandit, rollbacks
    rollout: dict[str, Any] | None = None


def monitor(
    project: str | Path | None = None,
    *,
    reference: str | Path | pd.DataFrame | None = None,
    current: str | Path | pd.DataFrame | None = None,
    model: str | None = None,
    last: int | None = None,
    report_dir: str | Path | None = None,
    reference_query: str | None = None,
    current_query: str | None = None,
    reference_table: str | None = None,
    current_table: str | None = None,
) -> MonitorResult:
    """Drift per feature, on predictions and across features; performance over time; ``policy_crossed`` says act.

    ``reference`` and ``current`` are CSV or Parquet files, DataFrames, or database URLs read with
    ``reference_table`` / ``current_table`` (a whole table) or ``reference_query`` / ``current_query``.
    With both and no project, it runs standalone: no spec, no model, default policy.
    """

    _check_queries(reference, reference_query, reference_table, "reference")
    _check_queries(current, current_query, current_table, "current")
    reference = _source(reference)
    current = _source(current)
    proj = _maybe_project(project, standalone=reference is not None and current is not None)
    from tabloop.monitoring import drift_report, out_of_contract_summary, shadow_mask, start_domain_worker, start_drift

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    timeline = performance = ab = marked = shadow = None
    skipped: list[SkippedLine] = []
    refused: list[str] = []
    left_out: dict[str, str] = {}
    if proj is None:
        assert reference is not None and current is not None
        policy = DriftSpec()
        # the domain classifier's child process (where that is safe) is forked before anything else starts
        # a thread, and imports LightGBM while the tables are read; the columns are tested meanwhile
        worker = start_domain_worker() if policy.domain_classifier else None
        try:
            ref_df = read_table(reference, query=reference_query, table=reference_table)
            cur_df = read_table(current, query=current_query, table=current_table)
            left_out = _not_compared(ref_df)
            job = start_drift(ref_df, cur_df, policy=policy, worker=worker,
                              columns=[str(c) for c in ref_df.columns if str(c) not in left_out])
        finally:
            if worker is not None:
                worker.close()  # a no-op once start_drift handed it the work
        result = job.result()
        out_dir = Path(report_dir) if report_dir else Path.cwd() / "tabloop-reports"
        ref_name = source_name(reference, query=reference_query, table=reference_table)
        cur_name = source_name(current, query=current_query, table=current_table)
    else:
        spec = proj.spec
        bundle = proj.load_bundle(model)
        policy = spec.monitoring.drift
        ref_raw = (read_table(reference, query=reference_query, table=reference_table) if reference is not None
                   else bundle.reference)
        logged, errors = _read_log(proj, skipped)
        logged, refused = usable_logged_rows(proj, bundle, logged)
        if current is not None:
            cur_df = read_table(current, query=current_query, table=current_table)
            cur_name = source_name(current, query=current_query, table=current_table)
        else:
            if logged.empty:
                raise DataError(f"{proj.workspace.predlog}: the prediction log is empty",
                                hint="serve or predict first, or pass --current PATH")
            # a shadow copy repeats the inputs of the request it copies: the window counts each input once
            # --last 0 means the default window, as not giving it does
            newest = logged[~shadow_mask(logged)].iloc[-setting(spec, "monitoring.window_rows", last or None):]
            cur_df = proj.predlog.inputs_frame(newest).reset_index(drop=True)
            marked = out_of_contract_summary(newest)
            # with serving.log_url: the database, or the local files when it could not be reached
            where = getattr(proj.predlog, "read_from", None)
            cur_name = f"prediction log (newest {len(cur_df)} rows" + (f", read from {where})" if where else ")")
        importances = _importances(bundle, ref_raw, spec.seed)
        ref_df = _with_signal(bundle, ref_raw, "reference")
        cur_df = _with_signal(bundle, cur_df, cur_name)
        job = start_drift(ref_df, cur_df, policy=policy, contract=bundle.contract,
                          prediction_column=PREDICTION_SIGNAL, importances=importances, seed=spec.seed)
        result = job.result()
        if not logged.empty:
            timeline, performance = _over_time(proj, bundle, ref_df, ref_raw, logged, errors)
            ab = _ab(proj, bundle, logged)
            shadow = _shadow(proj, bundle, logged)
        out_dir = Path(report_dir) if report_dir else proj.report_dir()
        ref_name = ("reference sample" if reference is None
                    else source_name(reference, query=reference_query, table=reference_table))
        ref_name += f" of {bundle.name} v{bundle.version}"
    reasons = _reasons(result, performance)
    alerts = _alerts(proj, result, performance, report_name=f"monitor-{stamp}") if proj is not None else []
    decision = {"act": bool(reasons), "reasons": reasons}
    report = drift_report(result, ref_df, cur_df, title="Monitoring report", subtitle=f"{ref_name} vs {cur_name}",
                          timeline=timeline, performance=performance, decision=decision, ab=ab,
                          shadow=shadow)
    html_path, json_path = report.write(out_dir, f"monitor-{stamp}")
    data = result.to_dict()
    return MonitorResult(
        reference=ref_name, current=cur_name, reference_rows=result.reference_rows, current_rows=result.current_rows,
        too_small=result.too_small, drifted_features=list(result.drifted_features),
        prediction_drifted=None if result.prediction is None else bool(result.prediction.drifted),
        policy_crossed=bool(reasons), features=data["features"],
        report_html=html_path, report_json=json_path, reasons=reasons,
        ranked_drift=[f.column for f in result.ranked if f.drifted],
        multivariate=data["multivariate"],
        performance=None if performance is None else _performance_summary(performance),
        ab=None if ab is None else ab.to_dict(),
        shadow=None if shadow is None else shadow.to_dict(),
        skipped_lines=len(skipped),
        skipped_rows=len(refused),
        skipped_rows_why=refused[:SHOWN_REFUSED],
        not_compared=left_out,
        alerts=alerts,
        rollout=_rollout_state(proj),
        out_of_contract=marked,
    )


def _not_compared(reference: pd.DataFrame) -> dict[str, str]:
    """Standalone, with no contract to say which columns are features: the columns whose semantic type
    is no feature (a row number or key, free text, a timestamp), by name, with that type.

    A row number or a timestamp differs between any two windows by construction: compared, it is
    "drift" every time and buries the columns that did change.
    """
    from tabloop.data import infer_semantic_types

    return {name: kind for name, kind in infer_semantic_types(reference).items()
            if kind in ("identifier", "text", "datetime")}


def _alerts(proj: Project, result: Any, performance: Any, *, report_name: str) -> list[dict[str, Any]]:
    """Alerts for drift and performance past the policy (spec: alerts), de-duplicated across runs."""
    from tabloop.alerts import Alert, send_alert

    name = proj.spec.name
    raised = []
    drift = _reasons(result, None)
    if drift:
        subject = ",".join(sorted(result.drifted_features)) or "multivariate"
        raised.append(Alert("drift", f"{name}: drift past the monitoring policy: {'; '.join(drift)}", name, subject,
                            {"drifted_features": list(result.drifted_features), "reasons": drift,
                             "report": report_name}))
    if performance is not None and performance.below_threshold:
        raised.append(Alert("performance", f"{name}: {performance.below_threshold}", name, performance.metric,
                            {"reason": performance.below_threshold, "report": report_name}))
    return [send_alert(a, proj.spec.alerts, proj.workspace.home / "alerts").to_dict() for a in raised]


def _reasons(result: Any, performance: Any) -> list[str]:
    out = []
    limit = int(result.policy["max_drifted_features"])
    if not result.too_small and len(result.drifted_features) > limit:
        out.append(f"{len(result.drifted_features)} drifted feature(s) ({', '.join(result.drifted_features)}), "
                   f"more than the {limit} allowed")
    if result.policy.get("act_on_multivariate") and result.multivariate_drifted:
        out.append(f"multivariate drift (domain classifier AUC {result.multivariate.auc:.3f})")
    if performance is not None and performance.below_threshold:
        out.append(performance.below_threshold)
    return out


def _performance_summary(perf: Any) -> dict[str, Any]:
    latest = perf.latest
    return {"metric": perf.metric, "windows": len(perf.windows), "rows": perf.rows, "labelled": perf.labelled,
            "latest": None if latest is None else {"kind": latest[0], "value": latest[1]},
            "threshold": perf.threshold, "calibrated": perf.calibrated,
            "requests": perf.requests, "errors": perf.errors, "error_rate": perf.error_rate,
            "label_bias": perf.label_bias,
            "holdout": None if perf.holdout is None else perf.to_dict()["holdout"]}


def _ab(proj: Project, bundle: ModelBundle, logged: pd.DataFrame) -> Any:
    """The A/B summary, when rows were answered by more than one variant (rollout ab or canary)."""
    from tabloop.monitoring import ab_summary, answered_variants

    if len(answered_variants(logged)) < 2:
        return None
    metric = bundle.manifest.metric or proj.spec.resolved_metric
    return ab_summary(logged, task=bundle.task, classes=bundle.classes, metric=metric, spec=proj.spec.monitoring.ab)


def _shadow(proj: Project, bundle: ModelBundle, logged: pd.DataFrame) -> Any:
    """The shadow comparison of the newest shadow challenger, when the log holds shadow copies."""
    from tabloop.monitoring import shadow_comparison, shadow_mask, shadow_pairs

    if not shadow_mask(logged).any():
        return None
    spec = proj.spec
    pairs = shadow_pairs(logged, task=bundle.task, classes=bundle.classes)
    return shadow_comparison(pairs, metric=bundle.manifest.metric or spec.resolved_metric, spec=spec.monitoring.shadow,
                             margin=spec.retraining.min_improvement, significance=spec.retraining.significance,
                             seed=spec.seed)


def _maybe_project(project: str | Path | None, *, standalone: bool) -> Project | None:
    if standalone and project is None:
        try:
            Workspace.open(None)
        except WorkspaceError:
            return None
    return Project.open(project)


def _source(source: str | Path | pd.DataFrame | None) -> str | Path | pd.DataFrame | None:
    """A database URL stays text (a Path would fold its '//'), a DataFrame stays itself; anything else is a path."""
    if source is None or isinstance(source, pd.DataFrame) or is_database_url(str(source)):
        return source if source is None or isinstance(source, pd.DataFrame) else str(source)
    return Path(source)


def _check_queries(source: str | Path | pd.DataFrame | None, query: str | None, table: str | None,
                   which: str) -> None:
    if query is not None and table is not None:
        raise DataError(f"--{which}-query and --{which}-table are alternatives: give one",
                        hint=f"--{which}-table reads a whole table, --{which}-query runs SQL")
    flag, given = ("query", query) if query is not None else ("table", table)
    if given is not None and (source is None or isinstance(source, pd.DataFrame) or not is_database_url(str(source))):
        shown = "a DataFrame" if isinstance(source, pd.DataFrame) else repr(source)
        raise DataError(f"--{which}-{flag} {given[:60]!r} needs --{which} to be a database URL, got {shown}",
                        hint=f"pass --{which} postgresql+psycopg://user@host/db (or another SQLAlchemy URL)")


def _read_log(proj: Project, skipped: list[SkippedLine] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every logged prediction, oldest first, with its feedback label where one joined (else missing);
    and the log's error records (refused requests), which only the error rate reads.

    ``skipped`` receives the lines of the log and feedback files that were not whole records.
    """
    logged, errors = proj.predlog.read_log(skipped=skipped)
    return _with_labels(proj, logged, skipped), errors


def _with_labels(proj: Project, logged: pd.DataFrame, skipped: list[SkippedLine] | None = None) -> pd.DataFrame:
    if logged.empty:
        return logged
    return _join_labels(logged, proj.predlog.read_feedback(skipped=skipped))


def _join_labels(logged: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """``logged`` with the ``label`` of each row from ``feedback`` (``read_feedback``'s table), else missing."""
    if logged.empty:
        return logged
    if feedback.empty:
        return logged.assign(label=pd.Series([None] * len(logged), dtype=object))
    keys = feedback[["request_id", "row", "label"]].copy()
    # object, so that rows no label joined do not turn integer classes into floats ("1.0" is not class 1)
    keys["label"] = keys["label"].astype(object)
    keys["request_id"] = keys["request_id"].map(str)
    keys["row"] = pd.to_numeric(keys["row"], errors="coerce").fillna(0).astype("int64")
    left = logged.assign(request_id=logged["request_id"].map(str),
                         row=pd.to_numeric(logged["row"], errors="coerce").fillna(0).astype("int64"))
    merged = left.merge(keys, on=["request_id", "row"], how="left", validate="many_to_one")
    return merged.reset_index(drop=True)


def _importances(bundle: ModelBundle, reference: pd.DataFrame, seed: int) -> dict[str, float]:
    from tabloop.monitoring import permutation_importances

    target = bundle.target
    metric = bundle.manifest.metric
    if not target or not metric:
        return {}
    try:
        return permutation_importances(bundle.pipeline, reference, contract=bundle.contract, target=target,
                                       classes=bundle.classes, metric=metric, seed=seed)
    except (TabloopError, ValueError) as exc:  # importance only ranks: without it, drift is still judged
        log.warning("feature importance not computed: %s", exc)
        return {}


#: ``_over_time``'s default: fit the calibration here
_FIT: Any = object()


def _over_time(proj: Project, bundle: ModelBundle, ref_df: pd.DataFrame, ref_raw: pd.DataFrame,
               logged: pd.DataFrame, errors: pd.DataFrame, *, windows: list[Any] | None = None,
               calibration: Any = _FIT) -> tuple[Any, Any]:
    """Drift and performance per window of ``logged``; ``errors`` (the log's error records) give the error rate.

    ``windows`` (``split_windows`` over the same log and errors) and ``calibration`` (``_calibration``'s,
    or None) are computed here unless a caller that keeps them (the dashboard) passes them in.
    """
    from tabloop.monitoring import drift_over_time, performance_over_time, shadow_mask, split_windows

    spec = proj.spec
    if windows is None:
        windows = split_windows(logged, spec.monitoring.timeline, errors)
    inputs = proj.predlog.inputs_frame(logged).reset_index(drop=True)
    inputs[PREDICTION_SIGNAL] = _logged_signal(bundle, logged)
    features = [c for c in bundle.contract.feature_names if c in inputs.columns]
    timeline = drift_over_time(ref_df, inputs, windows, policy=spec.monitoring.drift, contract=bundle.contract,
                               columns=features, prediction_column=PREDICTION_SIGNAL, keep=~shadow_mask(logged))
    if calibration is _FIT:
        calibration = _calibration(bundle, ref_raw) if spec.monitoring.performance.calibrate else None
    performance = performance_over_time(
        logged, task=bundle.task, classes=bundle.classes, metric=bundle.manifest.metric or spec.resolved_metric,
        timeline=spec.monitoring.timeline, performance=spec.monitoring.performance, calibration=calibration,
        windows=windows, errors=errors,
    )
    return timeline, performance


def _calibration(bundle: ModelBundle, reference: pd.DataFrame) -> Any:
    """Isotonic calibration on the reference sample's own outputs and target, when it has both."""
    from tabloop.monitoring import fit_calibration

    target = bundle.target
    cols = [proba_column(c) for c in bundle.classes]
    if bundle.task == "regression" or not target or target not in reference.columns:
        return None
    if not all(c in reference.columns for c in cols):
        return None
    y = encode_target(reference[target], bundle.classes)
    if len(np.unique(y)) < 2:
        return None
    return fit_calibration(reference[cols].to_numpy(dtype="float64"), y)


def _logged_signal(bundle: ModelBundle, logged: pd.DataFrame) -> np.ndarray:
    """The logged output that prediction drift follows: positive-class probability, or the prediction."""
    if bundle.task == "binary":
        from tabloop.monitoring import positive_probability

        return positive_probability(logged, str(bundle.classes[-1]))
    if bundle.task == "regression":
        return pd.to_numeric(logged[PREDICTION_COLUMN], errors="coerce").to_numpy(dtype="float64")
    return logged[PREDICTION_COLUMN].astype(object).to_numpy()


#: how many of the refused logged rows the result names
SHOWN_REFUSED = 5


def _clipping(contract: Contract) -> Contract:
    """The contract with numbers outside the trained range clipped to it instead of refused: a current
    table that drifted far is what the monitor is for, not a reason to stop it."""
    policy = contract.policy
    clipping = {rule: "clip" for rule in ("range", "far_range") if policy.defaults[rule] == "reject"}
    columns = {c: {r: "clip" if p == "reject" and r in ("range", "far_range") else p for r, p in rules.items()}
               for c, rules in policy.columns.items()}
    return contract.with_policy(replace(policy, defaults={**policy.defaults, **clipping}, columns=columns))


def usable_logged_rows(proj: Project, bundle: ModelBundle, logged: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The logged rows whose inputs ``bundle``'s contract takes (clipping as :func:`_clipping`), and why each
    other row was left out (one entry per row).

    A log is a record of what was answered, some of it by older versions that logged their inputs otherwise
    (a batch run before 2026-12 logged a CSV's numbers as text): a few such rows must not stop the monitor,
    nor be guessed at, so they are left out and counted, as a torn line of the log is.
    """
    if logged.empty:
        return logged, []
    from tabloop.data import rows_to_reject, screen_frame
    from tabloop.errors import ContractViolation

    contract = _clipping(bundle.contract)
    inputs = proj.predlog.inputs_frame(logged).reset_index(drop=True)
    features = inputs[[c for c in bundle.contract.feature_names if c in inputs.columns]]
    positions = np.arange(len(logged))
    refused: list[str] = []
    source = f"{proj.workspace.predlog}"
    while len(positions):
        try:
            screen_frame(features.iloc[positions].reset_index(drop=True), contract, source=source,
                         max_violations=sys.maxsize, text=False)
            break
        except ContractViolation as exc:
            bad = rows_to_reject(exc, source)
            why: dict[int, list[str]] = {}
            for v in exc.violations:
                if v.row is not None:
                    why.setdefault(int(v.row), []).append(f"column {v.column!r}: {v.message}")
            for row, said in why.items():  # one entry per row left out, whatever it broke
                record = logged.iloc[positions[row]]
                refused.append(f"request {record.get('request_id')} row {record.get('row')}, {'; '.join(said)}")
            positions = np.delete(positions, bad)
    if not refused:
        return logged, []
    return logged.iloc[positions], refused


def _with_signal(bundle: ModelBundle, df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Add the model's output on these rows: the positive-class probability, or the prediction.

    Numbers outside the trained range that the contract refuses are clipped to it (:func:`_clipping`).
    """
    features = df[[c for c in bundle.contract.feature_names if c in df.columns]]
    scoring = replace(bundle, contract=_clipping(bundle.contract))
    preds = scoring.predict(features, source=source)
    frame = preds.to_frame()
    signal = frame[proba_column(bundle.classes[-1])] if bundle.task == "binary" else frame[PREDICTION_COLUMN]
    out = features.reset_index(drop=True).copy()
    out[PREDICTION_SIGNAL] = signal.to_numpy()
    return out


def _rollout_state(proj: Any) -> dict[str, Any] | None:
    """What the server saved of its rollout (``.tabloop/serving/rollout.json``): the guard, the bandit, rollbacks."""
    if proj is None:
        return None
    from tabloop.serving import read_rollout_state

    return read_rollout_state(proj.workspace.home / "serving")

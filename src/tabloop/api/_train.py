"""``tabloop train``: split once, cross-validate the candidates, register the winner."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.api._leakage import data_findings, findings_dicts, said
from tabloop.api._profile import ignored_columns, missing_target_said, said_as_findings
from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.data import (
    Contract,
    ContractPolicy,
    Finding,
    check_frame,
    class_labels,
    profile_findings,
    describe_validation,
    frame_fingerprint,
    infer_contract,
    redact_url,
    split_train_test,
)
from tabloop.errors import TrainingError
from tabloop.evaluation import cost_threshold
from tabloop.export import export_bundle
from tabloop.report import leaderboard_report
from tabloop.spec import setting, spec_hash, spec_to_yaml
from tabloop.training import MIN_BUDGET_SECONDS, AfterSearch, Budget, search_trials, train_candidates
from tabloop.bundle import Manifest, ModelBundle, library_versions, training_prior
from tabloop.workspace import atomic_write_json

Progress = Callable[[str], None]
TEST_ARTIFACT = "split"
TEST_FILE = "test.parquet"


@dataclass
class TrainSummary(Result):
    model: str
    version: str
    run_id: str
    winner: str
    rule: str
    metric: str
    cv_mean: float
    cv_std: float
    leaderboard: list[dict[str, Any]]
    train_rows: int
    test_rows: int
    seconds: float
    report_html: Path
    report_json: Path
    study: str = ""
    storage: str = ""
    trials: int = 0
    stopped_because: str = ""
    importance: dict[str, float] = field(default_factory=dict)
    validation: str = ""  # how candidates were scored, e.g. "5-fold (stratified); auto for 4,000 training rows"
    warnings: list[str] = field(default_factory=list)  # e.g. the winner is the constant baseline
    # what the data checks said before training (Finding.to_dict()), most important first
    findings: list[dict[str, Any]] = field(default_factory=list)
    # leaks in the training part and its shift from the test part (tabloop.data.Finding), most dangerous first
    leakage: list[dict[str, Any]] = field(default_factory=list)
    # under a time budget: budget_seconds, wall_seconds (start to registered model), spent per phase, notes
    time: dict[str, Any] = field(default_factory=dict)
    duplicates_dropped: int = 0  # preparation.dedupe: duplicate training rows left out before fitting
    unlabelled_dropped: int = 0  # data.missing_target: drop: rows without a target left out before the split
    engine: str = "local"  # train.engine: local or dask
    # engine dask: scheduler, workers, partitions, rows, sample_rows and notes on what it did differently
    dask: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchSummary(Result):
    """What a ``tabloop train --worker`` did: trials added to the shared study (nothing registered)."""

    study: str
    storage: str
    trials_run: int
    trials_in_study: int
    best_candidate: str | None
    best_score: float | None
    metric: str
    stopped_because: str
    seconds: float


OPTUNA_DB = "optuna.db"


def study_storage(proj: Project, storage: str | None = None) -> str:
    """CLI flag > TABLOOP_TRAIN__STORAGE / tabloop.yaml (train.storage) > .tabloop/optuna.db."""
    if storage:  # a flag's URL is used as given; the spec's may name a file relative to the project
        return storage
    spec_storage = setting(proj.spec, "train.storage")
    return proj.workspace.resolve_url(spec_storage) if spec_storage else f"sqlite:///{proj.workspace.home / OPTUNA_DB}"


def train(
    project: str | Path | None = None,
    *,
    budget: float | None = None,
    trials: int | None = None,
    storage: str | None = None,
    worker: bool = False,
    progress: Progress | None = None,
    started: float | None = None,
    data: str | Path | pd.DataFrame | None = None,
    on_findings: Callable[[list[Finding]], None] | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> TrainSummary | SearchSummary:
    """Split the spec's data, search the candidates on the training part, register the best.

    A time budget covers the whole call, from ``started`` (a ``time.perf_counter()`` reading; default:
    the call) to the registered model: see :class:`tabloop.training.Budget`. The CLI passes its process's
    start, so that the interpreter's start-up counts, and the process's exit is then kept back too.

    ``worker=True`` only adds trials to the (shared) study and registers nothing: run it on
    as many processes or machines as you like against one PostgreSQL ``storage``, then a
    plain ``train`` refits and registers the best of all their trials.

    ``data`` (a DataFrame, or a file path or URL) is trained on in place of the spec's ``data.source``;
    its content hash is the version's data lineage, as a file's is.

    What the data checks find (duplicates, imbalance, empty or constant columns, ...) is handed to
    ``on_findings`` before training starts, most important first, and returned with the summary; it is
    called again with the leak and shift checks' findings once the split is made, before the search.

    ``engine='dask'`` (or ``train.engine``) fits LightGBM and/or XGBoost on a Dask cluster (``scheduler``'s
    address, or a local cluster of ``workers`` processes; ``train.dask``) from a CSV or Parquet source, never
    holding the whole table, and registers the best as any version (:mod:`tabloop.api._train_dask`): no search,
    no time budget, no data checks on the whole table.
    """
    called = time.perf_counter()
    proj = Project.open(project)
    spec = proj.spec
    engine = setting(spec, "train.engine", engine)
    if engine not in ("local", "dask"):
        raise TrainingError(f"unknown engine {engine!r}", hint="use local or dask")
    if engine == "dask":
        if worker:
            raise TrainingError("--worker adds trials to a shared Optuna search, which the Dask engine does not run",
                                hint="drop --worker, or use --engine local")
        from tabloop.api._train_dask import train_dask

        return train_dask(proj, data=data, scheduler=scheduler, workers=workers, progress=progress)
    df = proj.read_data(data)
    findings: list[Finding] = []
    if not worker:  # said once, by the command that registers; workers only add trials
        findings = missing_target_said(spec, df, profile_findings(
            df, target=spec.data.target, ignored=ignored_columns(spec), types=spec.data.types,
            id_column=spec.data.id_column, task=spec.data.task))
        if on_findings is not None:
            on_findings(findings)
    train_df, test_df = split_train_test(df, spec)
    if worker:
        return _work(proj, train_df, df, budget=budget, trials=trials, storage=storage, progress=progress)
    with said_as_findings():  # the findings above said what the contract leaves out
        contract = _contract(proj, df)
    summary = fit_and_register(
        proj, train_df, test_df, budget=budget, progress=progress, run_name="train",
        data_hash=frame_fingerprint(df), contract=contract, trials=trials, storage=storage,
        tags={"tabloop.data_source": proj.data_name(data)},
        started=called if started is None else started, called=called, ends_process=started is not None,
        findings=findings,
        check_data=True,
        on_findings=on_findings,
    )
    target = spec.data.target
    if spec.data.missing_target == "drop" and target in df.columns:
        summary.unlabelled_dropped = int(df[target].isna().sum())
    return summary


TIMINGS = "timings.json"
#: what the phases after the search took on the bundled HMDA and HI tables in a fresh project
#: (benchmarks/budget, a quiet two-core machine, 0.017-0.018 s per logged run, export 0.2-0.4 s,
#: registration 0.9-1.1 s): the estimate for a project's first training run, scaled by how slow this
#: machine is now (see DEFAULT_STARTUP_SECONDS); later runs use their own last measurement
DEFAULT_AFTER_SEARCH = AfterSearch(log_per_run=0.025, export=0.5, register=1.3)
#: the CLI's start-up (interpreter and imports) on that quiet machine: a command whose own start-up took
#: k times longer expects the phases after its search to take k times longer too (at most MAX_SLOWDOWN).
#: A fixed default for all machines either left a third of a quiet machine's budget unused (the
#: defaults were first measured at a load average of 8) or overran a busy one
DEFAULT_STARTUP_SECONDS = 1.4
MAX_SLOWDOWN = 6.0
#: a process that ends after registering (the CLI) then prints its result and exits, tearing down the
#: interpreter and its libraries: at least EXIT_SECONDS, and in benchmarks/budget 0.3-0.45 times what its
#: start-up (the imports) took, busy machine or not
EXIT_SECONDS = 1.0
EXIT_PER_STARTUP = 0.4


def after_search_estimate(proj: Project, *, startup: float = 0.0) -> AfterSearch:
    """What the phases after the search took the last time this project trained (``.tabloop/timings.json``),
    else :data:`DEFAULT_AFTER_SEARCH` scaled by ``startup`` (this process's measured start-up, when known)
    against :data:`DEFAULT_STARTUP_SECONDS`."""
    import json

    path = proj.workspace.home / TIMINGS
    try:
        raw = json.loads(path.read_text())
        return AfterSearch(**{k: max(0.0, float(raw[k])) for k in ("log_per_run", "export", "register")})
    except (OSError, ValueError, KeyError, TypeError):
        slowdown = min(max(startup / DEFAULT_STARTUP_SECONDS, 1.0), MAX_SLOWDOWN)
        return AfterSearch(**{k: v * slowdown for k, v in vars(DEFAULT_AFTER_SEARCH).items()})


def make_budget(proj: Project, total: float, *, started: float, called: float | None = None,
                ends_process: bool = False, clock: Callable[[], float] = time.perf_counter) -> Budget:
    """The command's budget from ``started``; ``called`` (when later) ends its start-up phase."""
    if total < MIN_BUDGET_SECONDS:
        raise TrainingError(
            f"a time budget of {total:g}s is below the minimum of {MIN_BUDGET_SECONDS:g}s: start-up, reading the "
            "data, the baseline, one trial, the refit, export and registration take about that",
            hint=f"use --budget {MIN_BUDGET_SECONDS:g} or more (train.budget_seconds), or --trials N for a fixed "
                 "number of trials",
        )
    startup = max(0.0, called - started) if called is not None else 0.0
    after = after_search_estimate(proj, startup=startup)
    if ends_process:
        after.register += max(EXIT_SECONDS, EXIT_PER_STARTUP * startup)
    budget = Budget(total, started, clock=clock, after=after)
    if startup > 0:
        budget.lap("startup", at=called)
    return budget


def _record_timings(proj: Project, budget: Budget, runs: int) -> None:
    """Keep what the phases after the search took, for the next run's estimate (never fatal)."""
    spent = budget.spent
    measured = {"log_per_run": spent.get("log", 0.0) / max(runs, 1), "export": spent.get("export", 0.0),
                "register": spent.get("register", 0.0)}
    if "export" not in spent:  # skipped this time: keep the last measurement
        measured["export"] = budget.after.export
    try:
        atomic_write_json(proj.workspace.home / TIMINGS, {k: round(v, 3) for k, v in measured.items()})
    except OSError:
        pass


def _work(proj: Project, train_df: pd.DataFrame, df: pd.DataFrame, *, budget: float | None, trials: int | None,
          storage: str | None, progress: Progress | None) -> SearchSummary:
    from tabloop.evaluation import greater_is_better

    spec = proj.spec
    url = study_storage(proj, storage)
    start = time.perf_counter()
    classes = class_labels(train_df[spec.data.target], spec.task, spec.data.positive_class)
    out = search_trials(train_df, spec, _contract(proj, df), classes, budget_seconds=budget, trials=trials,
                        storage=url, data_hash=frame_fingerprint(df), progress=progress)
    sign = 1.0 if greater_is_better(spec.resolved_metric) else -1.0
    done = [t for t in out.records if t.state == "complete" and t.value is not None]
    best = max(done, key=lambda t: sign * t.value) if done else None  # type: ignore[operator]
    return SearchSummary(
        study=out.study_name, storage=redact_url(url), trials_run=out.ran,
        trials_in_study=sum(1 for t in out.records if t.state in ("complete", "pruned")),
        best_candidate=None if best is None else best.name, best_score=None if best is None else best.value,
        metric=spec.resolved_metric, stopped_because=out.stopped_because, seconds=time.perf_counter() - start,
    )


def saved_contract(proj: Project) -> Contract | None:
    """The contract profile saved for this target, acting by the spec's ``contract:`` policies as they are now
    (the version saves them with its contract); None when there is none for it."""
    path = proj.workspace.contract_path
    if path.exists():
        contract = Contract.load(path)
        if contract.target == proj.spec.data.target:
            return contract.with_policy(ContractPolicy.from_spec(proj.spec.contract))
    return None


def _contract(proj: Project, df: pd.DataFrame) -> Contract:
    """The saved contract when profile ran (:func:`saved_contract`), else one learned now from the same data."""
    saved = saved_contract(proj)
    if saved is not None:
        return saved
    return infer_contract(df, target=proj.spec.data.target, ignored=ignored_columns(proj.spec),
                          types=proj.spec.data.types).with_policy(ContractPolicy.from_spec(proj.spec.contract))


def fit_and_register(
    proj: Project,
    train_df: pd.DataFrame,
    test_df: pd.DataFrame | None,
    *,
    budget: float | None,
    progress: Progress | None,
    run_name: str,
    data_hash: str,
    contract: Contract,
    tags: dict[str, str] | None = None,
    trials: int | None = None,
    storage: str | None = None,
    started: float | None = None,
    called: float | None = None,
    ends_process: bool = False,
    findings: Sequence[Finding] = (),
    check_data: bool = False,
    on_findings: Callable[[list[Finding]], None] | None = None,
) -> TrainSummary:
    """Train, export, register. Under a time budget the whole of it, from ``started`` (a perf_counter
    reading, or now), ends with the registered model by the budget: see :func:`make_budget`.

    ``check_data`` looks for leaks in ``train_df`` and for its shift from ``test_df`` first, and says
    what it finds before the search starts (``train`` does; a retraining set is a window of the log,
    whose order and shift from its holdout are what it is)."""
    started = time.perf_counter() if started is None else started
    spec = proj.spec
    budget_seconds = setting(spec, "train.budget_seconds", budget)
    trials_setting = setting(spec, "train.trials", trials)
    clock = None  # first: a budget below the minimum is refused before anything slow starts
    if trials_setting is None:
        clock = make_budget(proj, budget_seconds, started=started, called=called, ends_process=ends_process)
    url = study_storage(proj, storage)
    say = progress or (lambda _m: None)
    target = spec.data.target
    classes = class_labels(train_df[target], spec.task, spec.data.positive_class)
    tracker = proj.tracker
    # before the search, so an unusable key (a symlink, a file others can read) stops training at once, not at the end
    key = proj.workspace.signing_key(create=True)
    leakage: list[Finding] = []
    if check_data:
        say("checking the training part for leaks and its shift from the test part")
        leakage = data_findings(spec, contract.feature_names, excluded=contract.ignored, table=train_df,
                                train=train_df, test=test_df)
        if on_findings is not None:
            on_findings(leakage)  # said as the data's findings were, before the search starts
        else:
            for finding in leakage:
                if finding.severity != "info":
                    say(said(finding))
    run_tags = {"tabloop.stage": run_name, "tabloop.data_hash": data_hash, "tabloop.spec_hash": spec_hash(spec),
                "tabloop.version": library_versions().get("tabloop", "?"), **(tags or {})}
    with tracker.run(run_name, tags=run_tags) as run_id:
        tracker.log_params({"seed": spec.seed, "task": spec.task, "metric": spec.resolved_metric,
                            "folds": spec.split.folds, "split": spec.split.strategy,
                            "validation": describe_validation(len(train_df), spec),
                            "budget_seconds": budget_seconds,
                            "trials": trials_setting or "budget",
                            "candidates": ",".join(spec.train.candidates), "study_storage": redact_url(url),
                            "train_rows": len(train_df), "test_rows": 0 if test_df is None else len(test_df)})
        result = train_candidates(train_df, spec, contract, classes, budget=clock, trials=trials, storage=url,
                                  data_hash=data_hash, progress=say)
        tracker.log_params({"study": result.study})
        if spec.preparation.dedupe:
            tracker.log_metrics({"duplicates_dropped": result.duplicates_dropped})
        _log_trials(tracker, result, run_tags)
        if clock is not None:
            clock.lap("log")
        best = result.winner_result()
        tracker.log_metrics({f"cv_{m}_mean": s["mean"] for m, s in best.metrics.items()})
        threshold = cost_threshold(spec.costs.false_positive, spec.costs.false_negative) if spec.task == "binary" else None
        bundle = ModelBundle(
            pipeline=result.pipeline,
            contract=contract,
            # keyword order is manifest.json's key order, which its signature covers
            manifest=Manifest(
                task=spec.task, classes=classes, threshold=threshold, target=target,
                metric=result.metric, winner=result.winner, rule=result.rule,
                cv=best.metrics, data_hash=data_hash, spec_hash=spec_hash(spec),
                train_rows=len(train_df), trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                # the fallback answer for serving.feedback_holdout rows: from all training rows, not the sample
                prior=training_prior(train_df[target], spec.task, classes),
                versions=library_versions(),
            ),
            reference=_reference(train_df, contract, target, spec.train.reference_rows, spec.seed),
            spec_yaml=spec_to_yaml(spec),
        )
        bundle.reference = _with_predictions(bundle)
        if clock is not None and clock.left() < clock.after.export + clock.after.register:
            # the pickled pipeline serves as well; an overrun would break the budget's promise
            clock.note(f"ONNX export skipped: {max(clock.left(), 0):.1f}s were left, export and registration take "
                       f"about {clock.after.export + clock.after.register:.1f}s; the model serves with scikit-learn")
            say(clock.notes[-1])
            bundle.manifest = bundle.manifest.replace(onnx={"used": False, "convertible": None, "reason": clock.notes[-1]})
        else:
            say("exporting to ONNX and checking parity")
            onnx = export_bundle(bundle, test_df)  # model.onnx + manifest.onnx; the reference when no test part
            tracker.log_metrics({"onnx_parity_max_abs_diff": onnx.report.get("parity_max_abs_diff"),
                                 "onnx_used": float(onnx.used)})
            if clock is not None:
                clock.lap("export")
        with tempfile.TemporaryDirectory(prefix="tabloop-train-") as tmp:
            if test_df is not None:
                test_path = Path(tmp) / TEST_FILE
                test_df.to_parquet(test_path, index=False)
                tracker.log_artifact(test_path, artifact_path=TEST_ARTIFACT)
        say("registering the winner")
        ref = tracker.register_bundle(bundle, spec.model_name, key=key,
                                      tags=_lineage(proj, bundle, run_id, run_tags, result.winner))
        data = result.to_dict()
        data["findings"] = [f.to_dict() for f in findings]
        data["leakage"] = findings_dicts(leakage)
        if clock is not None:  # as known when the report is written: registration is still under way
            data["time"] = clock.to_dict()
        report = leaderboard_report(data, title=f"Training leaderboard: {spec.model_name} v{ref.version}")
        html_path, json_path = report.write(proj.report_dir(), f"train-v{ref.version}")
        tracker.log_artifact(html_path, artifact_path="leaderboard")
        tracker.log_artifact(json_path, artifact_path="leaderboard")
    time_spent: dict[str, Any] = {}
    if clock is not None:
        clock.lap("register")
        _record_timings(proj, clock, len(result.trials) + sum(1 for c in result.leaderboard if c.trial is None))
        time_spent = clock.to_dict()
    return TrainSummary(
        model=ref.name, version=ref.version, run_id=run_id, winner=result.winner, rule=result.rule,
        metric=result.metric, cv_mean=best.mean(result.metric), cv_std=best.std(result.metric),
        leaderboard=[_row(c, result.metric, result.interval(c, result.metric)) for c in result.leaderboard],
        train_rows=len(train_df), test_rows=0 if test_df is None else len(test_df), seconds=result.seconds,
        report_html=html_path, report_json=json_path, study=result.study, storage=redact_url(url),
        trials=len(result.trials), stopped_because=result.stopped_because, importance=result.importance,
        validation=result.validation, warnings=list(result.warnings), leakage=findings_dicts(leakage),
        time=time_spent, duplicates_dropped=result.duplicates_dropped, findings=[f.to_dict() for f in findings],
    )


def _lineage(proj: Project, bundle: ModelBundle, run_id: str, run_tags: dict[str, str], winner: str) -> dict[str, str]:
    """The version's lineage as registry tags: what data, spec, code and run made it, and how it scored.

    The signed manifest holds the same facts for the bundle itself; the tags make them visible in
    the registry (``mlflow ui``, ``search_model_versions``) without downloading anything.
    """
    m = bundle.manifest
    tags = {
        "tabloop.winner": winner,
        "tabloop.data_hash": run_tags["tabloop.data_hash"],
        "tabloop.spec_hash": run_tags["tabloop.spec_hash"],
        "tabloop.code_version": f"tabloop {run_tags['tabloop.version']}" + _project_commit(proj.workspace.root),
        "tabloop.run_id": run_id,
        "tabloop.contract_sha256": hashlib.sha256(
            json.dumps(bundle.contract.to_dict(), sort_keys=True).encode()).hexdigest(),
        "tabloop.train_rows": str(m.train_rows),
    }
    for key in ("tabloop.parent_version", "tabloop.data_source"):
        if run_tags.get(key):
            tags[key] = run_tags[key]
    scores = (m.cv or {}).get(m.metric) if m.metric else None
    if isinstance(scores, dict) and scores.get("mean") is not None:
        tags[f"tabloop.cv_{m.metric}"] = f"{scores['mean']:.6g} ± {scores.get('std') or 0:.3g}"
    return tags


def _project_commit(root: Path) -> str:
    """`` (git abc1234)`` when the project folder is in a git work tree (``+dirty`` with changes), else ''."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f" (git {head.stdout.strip()}{'+dirty' if dirty.stdout.strip() else ''})"


def _log_trials(tracker: Any, result: Any, parent_tags: dict[str, str]) -> None:
    """One nested run per search trial, plus one for each leaderboard row no trial stands for (dummy, ensemble)."""
    lineage = {k: v for k, v in parent_tags.items() if k in ("tabloop.data_hash", "tabloop.spec_hash", "tabloop.version")}
    for t in result.trials:
        tags = {**lineage, "tabloop.status": t.state, "tabloop.family": t.family, "tabloop.trial": str(t.number),
                "tabloop.worker": t.worker, "tabloop.study": result.study}
        with tracker.run(f"trial-{t.number}-{t.name}", nested=True, tags=tags):
            tracker.log_params({**{k: v for k, v in t.params.items()}, "candidate": t.name, "trial": t.number})
            tracker.log_metrics(_run_metrics(t.metrics, t.fit_seconds, t.predict_seconds_per_row, t.model_bytes,
                                             trial_seconds=t.seconds))
    for c in result.leaderboard:
        if c.trial is not None:
            continue
        with tracker.run(c.name, nested=True, tags={**lineage, "tabloop.status": c.status, "tabloop.family": c.family}):
            params = {k: (v if not isinstance(v, dict) else str(v)) for k, v in c.params.items()}
            tracker.log_params({**params, "candidate": c.name})
            tracker.log_metrics(_run_metrics(c.metrics, c.fit_seconds, c.predict_seconds_per_row, c.model_bytes))


def _run_metrics(stats: dict[str, dict[str, float]], fit: float, latency: float, size: int,
                 trial_seconds: float | None = None) -> dict[str, float | None]:
    metrics: dict[str, float | None] = {"fit_seconds": fit, "predict_seconds_per_row": latency,
                                        "model_bytes": float(size)}
    if trial_seconds is not None:
        metrics["trial_seconds"] = trial_seconds
    for m, s in stats.items():
        metrics[f"cv_{m}_mean"] = s.get("mean")
        metrics[f"cv_{m}_std"] = s.get("std")
    return metrics


def _reference(train_df: pd.DataFrame, contract: Contract, target: str, rows: int, seed: int) -> pd.DataFrame:
    sample = train_df if len(train_df) <= rows else train_df.sample(n=rows, random_state=seed)
    cols = [c for c in contract.feature_names] + [target]
    return sample[cols].reset_index(drop=True)


def _with_predictions(bundle: ModelBundle) -> pd.DataFrame:
    """The reference sample plus the model's own outputs on it, for prediction drift."""
    ref = bundle.reference
    preds = bundle.predict(check_frame(ref, bundle.contract, source="reference sample"), checked=True).to_frame()
    preds.index = ref.index
    return pd.concat([ref, preds], axis=1)


def _row(c: Any, metric: str, interval: tuple[float, float]) -> dict[str, Any]:
    stats = c.metrics.get(metric, {})
    low, high = interval
    return {"candidate": c.name, "status": c.status, f"{metric}_mean": stats.get("mean"),
            f"{metric}_std": stats.get("std"),
            f"{metric}_ci95": None if math.isnan(low) else [low, high], "fit_seconds": round(c.fit_seconds, 3),
            "predict_ms_per_row": round(c.predict_seconds_per_row * 1000, 4), "model_bytes": c.model_bytes,
            "trials": c.trials, "note": c.note}


__all__ = ["SearchSummary", "TrainSummary", "fit_and_register", "study_storage", "train"]

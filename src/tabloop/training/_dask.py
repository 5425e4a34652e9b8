"""Training on a Dask cluster: LightGBM and XGBoost on a table split into partitions, never gathered whole.

The local engine cross-validates a search; this one does what a table larger than memory allows:

- the preparation pipeline (imputation, encodings, ...) is fitted on a bounded sample of the training
  part (``train.dask.sample_rows``), then applied to every partition on the workers;
- each boosted family in ``train.candidates`` is fitted once, with its defaults (the local search's first
  trial; no search), by ``lightgbm.dask`` / ``xgboost.dask`` on the training part less a validation part
  of ``split.validation_size``, and scored on that part as the local holdout scores (in
  ``HOLDOUT_PARTS`` parts, for a spread); only the validation part's targets and predictions come back;
- the best family (the constant baseline is scored too, as a warning) is refitted on the whole training
  part and converted to its local estimator (``to_local()``, the booster for XGBoost), so the registered
  pipeline is the local engine's shape: ``prepare`` then ``model``, one scikit-learn object that pickles,
  converts to ONNX and serves as any other.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import Contract, check_frame, encode_target
from tabloop.errors import TabloopError, TrainingError
from tabloop.evaluation import greater_is_better, metrics_for
from tabloop.spec import HOLDOUT_PARTS, Spec

Progress = Callable[[str], None]

#: the families with a Dask estimator, and the module that has it
DASK_FAMILIES = ("lightgbm", "xgboost")
VALIDATION_SALT = 1  # the validation part is drawn with another stream than the test part
#: the encoded target's column among the prepared features on the workers
TARGET = "__tabloop_target__"


@dataclass
class DaskFit:
    """One family fitted on the cluster: the Dask estimator and its local copy inside the pipeline."""

    family: str
    dask_model: Any
    pipeline: Any  # Pipeline([("prepare", fitted preprocessor), ("model", local estimator)])
    seconds: float
    meta: pd.DataFrame  # the prepared partitions' empty frame (columns and dtypes), for Dask's graph


@dataclass
class DaskTraining:
    """What :func:`train_on_dask` hands back: the leaderboard rows, the winner refitted on all training rows."""

    leaderboard: list[Any]  # tabloop.training.CandidateResult
    winner: str
    rule: str
    metric: str
    final: DaskFit
    validation: str
    seconds: float
    validation_rows: int
    sample_rows: int
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def dask_families(spec: Spec) -> list[str]:
    """The families ``train.candidates`` names that train on Dask (both when the list is the default one, as
    ``tabloop init`` writes it), or a :class:`TrainingError` naming the ones that cannot."""
    if by_default(spec):
        return list(DASK_FAMILIES)
    named: list[str] = [c for c in dict.fromkeys(spec.train.candidates) if c != "dummy"]
    other = [c for c in named if c not in DASK_FAMILIES]
    if other:
        raise TrainingError(
            f"train.candidates names {', '.join(other)}, which {'does' if len(other) == 1 else 'do'} not train on "
            f"Dask: only {' and '.join(DASK_FAMILIES)} have Dask estimators (xgboost.dask, lightgbm.dask)",
            hint="set train.candidates to [lightgbm], [xgboost] or [lightgbm, xgboost] for --engine dask, or train "
                 f"{', '.join(other)} with the local engine on data that fits in memory")
    if not named:
        raise TrainingError("train.candidates names no family that trains on Dask",
                            hint="set train.candidates to [lightgbm, xgboost] for --engine dask")
    return named


def by_default(spec: Spec) -> bool:
    """``train.candidates`` is absent or the default list: not a choice of families the Dask engine must refuse."""
    from tabloop.spec import DEFAULT_CANDIDATES

    return "candidates" not in spec.train.model_fields_set or list(spec.train.candidates) == list(DEFAULT_CANDIDATES)


def train_on_dask(
    train_ddf: Any,
    spec: Spec,
    contract: Contract,
    classes: list[Any],
    client: Any,
    *,
    sample: pd.DataFrame,
    progress: Progress | None = None,
) -> DaskTraining:
    """Fit the boosted families of ``spec`` on ``train_ddf`` (a Dask DataFrame of the training part) with
    ``client``'s workers; ``sample`` (a bounded sample of the training part, in memory) fits the preparation."""
    from tabloop.data import dask_split
    from tabloop.training._candidates import make_candidates, serving_threads
    from tabloop.training._train import CandidateResult, _select, baseline_warning

    say = progress or (lambda _m: None)
    start = time.perf_counter()
    families = dask_families(spec)
    task, target = spec.task, spec.data.target
    metrics = metrics_for(task, spec.resolved_metric)
    metric = metrics[0]
    fit_ddf, val_ddf = dask_split(train_ddf, spec, share=spec.split.validation_size, salt=VALIDATION_SALT)
    candidates = {c.family: c for c in make_candidates(families, task, contract, spec.seed, spec.preparation)}
    n_classes = 0 if task == "regression" else len(classes)
    validation = (f"holdout of {spec.split.validation_size:.0%} scored in {HOLDOUT_PARTS} parts "
                  f"({'random' if spec.split.strategy == 'stratified' else spec.split.strategy}, drawn per row on "
                  f"the cluster); the preparation fitted on a sample of {len(sample):,} training rows")
    rows: list[Any] = []
    fitted: dict[str, DaskFit] = {}
    y_val: np.ndarray | None = None
    for family in families:
        cand = candidates[family]
        say(f"fitting {cand.name} on the cluster (its defaults; no search on Dask)")
        t0 = time.perf_counter()
        try:
            fit = fit_family(cand, fit_ddf, sample, spec, contract, classes, client)
            pred, y_val = dask_predictions(fit, val_ddf, contract, target, classes, task)
        except TabloopError:  # the data's or the spec's fault (a contract violation on a worker): said as it is
            raise
        except Exception as exc:  # one family failing is reported, as the local search reports a failed trial
            # the boosters' Dask code wraps what failed on a worker (xgboost: "AssertionError: error"); a row the
            # contract refuses is the usual cause and the person's to fix, so look for one and say it as it is
            check_rows(train_ddf, contract, target, classes)
            rows.append(CandidateResult(cand.name, dict(cand.params), "failed", note=f"{type(exc).__name__}: {exc}",
                                        family=family, complexity=cand.complexity))
            continue
        fitted[family] = fit
        rows.append(_scored_row(cand.name, family, cand.complexity, dict(cand.params), y_val, pred, task, metrics,
                                time.perf_counter() - t0, note="its defaults (no search)"))
    if not fitted or y_val is None:
        why = "; ".join(f"{r.name}: {r.note}" for r in rows)
        raise TrainingError(f"no family could be trained on the cluster ({why})",
                            hint="see the Dask workers' logs for the cause")
    dummy = _dummy_predictions(fit_ddf, target, task, classes, len(y_val))
    rows.insert(0, _scored_row("dummy", "dummy", 0, {"strategy": "mean" if task == "regression" else "prior"},
                               y_val, dummy, task, metrics, 0.0, note="class shares or mean"))
    ok = [r for r in rows if r.status == "ok" and r.family != "dummy"]
    sign = 1.0 if greater_is_better(metric) else -1.0
    ok.sort(key=lambda r: (r.complexity, -sign * r.mean(metric)))
    winner, rule = _select(ok, metric, HOLDOUT_PARTS)
    alerts: list[str] = []
    base = rows[0]
    best = next(r for r in ok if r.name == winner)
    if sign * (base.mean(metric) - best.mean(metric)) >= 0:
        alerts.append(baseline_warning(task, rule).replace("the registered model is the constant baseline",
                                                           f"the registered model ({winner}) does no better"))
        for alert in alerts:
            say(f"WARNING: {alert}")
    notes = [f"preparation fitted on a sample of {len(sample):,} training rows (train.dask.sample_rows)",
             "one configuration per family: its defaults (no Optuna search on Dask)"]
    if by_default(spec):
        notes.append("train.candidates is the default list: of its families, " + " and ".join(DASK_FAMILIES)
                     + " train on Dask")
    winner_family = best.family
    if spec.train.dask.refit:
        say(f"refitting {winner} on the whole training part")
        final = fit_family(candidates[winner_family], train_ddf, sample, spec, contract, classes, client)
        notes.append(f"{winner} refitted on the whole training part, as the local engine refits its winner")
    else:
        final = fitted[winner_family]
        notes.append(f"{winner} kept as fitted without its validation part (train.dask.refit: false)")
    serving_threads(final.pipeline)
    order = sorted(rows, key=lambda r: (r.status != "ok", -sign * r.mean(metric) if r.status == "ok" else 0.0))
    return DaskTraining(order, winner, rule, metric, final, validation, time.perf_counter() - start,
                        validation_rows=len(y_val), sample_rows=len(sample), warnings=alerts,
                        notes=notes)


def fit_family(cand: Any, ddf: Any, sample: pd.DataFrame, spec: Spec, contract: Contract, classes: list[Any],
               client: Any) -> DaskFit:
    """``cand`` (lightgbm or xgboost) with its default parameters: the preparation fitted on ``sample``, the
    model on every row of ``ddf`` by the family's Dask estimator, then converted to its local estimator."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    start = time.perf_counter()
    target = spec.data.target
    template = cand.build(cand.params)  # the local engine's pipeline for the same parameters
    steps = dict(template.steps)
    if set(steps) != {"prepare", "model"}:
        raise TrainingError(f"{cand.name}: its default pipeline has steps {list(steps)}; the Dask engine fits "
                            "preparation and model only", hint="train locally")
    prepare = clone(steps["prepare"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare.fit(check_frame(sample, contract, source="training sample"), encode_target(sample[target], classes))
    meta = _prepared(sample.head(2), prepare, contract, target, classes, "training data").iloc[:0]
    Xy = ddf.map_partitions(_prepared, prepare, contract, target, classes, "training data", meta=meta)
    X, y = _inputs(Xy, cand.family)
    model = _dask_estimator(cand.family, steps["model"], client, spec.train.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    local = _local_copy(cand.family, model, steps["model"])
    return DaskFit(cand.family, model, Pipeline([("prepare", prepare), ("model", local)]), time.perf_counter() - start,
                   meta)


def prepared_partitions(fit: DaskFit, ddf: Any, contract: Contract, target: str, classes: list[Any]) -> Any:
    """``ddf``'s feature columns through ``fit``'s preparation, partition by partition (what its Dask model takes),
    with the encoded target as column :data:`TARGET`."""
    return ddf.map_partitions(_prepared, fit.pipeline.steps[0][1], contract, target, classes, "rows", meta=fit.meta)


def _prepared(part: pd.DataFrame, prepare: Any, contract: Contract, target: str, classes: list[Any],
              source: str, partition_info: Any = None) -> pd.DataFrame:
    """One partition's features, checked by the contract as the local engine checks its training rows, then
    prepared, as a dense float frame (the Dask estimators take partitions of frames, not sparse matrices), and
    the encoded target beside them: features and target come out of one step, so their partitions match."""
    part = part.reset_index(drop=True)
    if partition_info is not None:  # a violation's row is counted from its partition's first row
        source = f"{source}, partition {partition_info.get('number')}"
    X = check_frame(part, contract, source=source)
    out = prepare.transform(X)
    if hasattr(out, "toarray"):
        out = out.toarray()
    names = [str(n) for n in prepare.get_feature_names_out()]
    frame = pd.DataFrame(np.asarray(out, dtype="float64"), columns=names)
    frame[TARGET] = encode_target(part[target], classes)
    return frame


def check_rows(ddf: Any, contract: Contract, target: str, classes: list[Any]) -> int:
    """Check every partition of ``ddf`` against the contract and the target's classes, as the training rows are
    checked, raising what the first refused row raises (a pass over the data); the number of rows."""
    counts = ddf.map_partitions(_checked, contract, target, classes, meta=pd.Series(dtype="int64"))
    return int(counts.sum().compute())


def _checked(part: pd.DataFrame, contract: Contract, target: str, classes: list[Any],
             partition_info: Any = None) -> pd.Series:
    source = f"training data, partition {(partition_info or {}).get('number')}"
    part = part.reset_index(drop=True)
    check_frame(part, contract, source=source)
    encode_target(part[target], classes)
    return pd.Series([len(part)], dtype="int64")


def _inputs(Xy: Any, family: str) -> tuple[Any, Any]:
    """Features and target as the family's Dask estimator takes them. The local engine's models are fitted on
    the preparation's arrays, without column names: XGBoost takes Dask arrays of unknown chunk lengths (nothing
    computed to count them); LightGBM needs known lengths (a pass over the data) or frames, so it gets frames
    with the column names it gives an array's columns, and its local copy is told it saw no names."""
    X, y = Xy.drop(columns=[TARGET]), Xy[TARGET]
    if family == "lightgbm":
        return X.rename(columns={c: f"Column_{i}" for i, c in enumerate(X.columns)}), y
    return X.to_dask_array(), y.to_dask_array()


def _dask_estimator(family: str, local: Any, client: Any, threads: int) -> Any:
    """The Dask twin of ``local`` (its parameters), its threads per worker left to the worker's own count."""
    params = {k: v for k, v in local.get_params().items() if k != "n_jobs"}
    classifier = hasattr(local, "predict_proba")
    if family == "lightgbm":
        import lightgbm.dask as dlgb

        cls = dlgb.DaskLGBMClassifier if classifier else dlgb.DaskLGBMRegressor
        return cls(client=client, **params)
    import xgboost.dask as dxgb

    cls = dxgb.DaskXGBClassifier if classifier else dxgb.DaskXGBRegressor
    model = cls(**params)
    model.client = client
    return model


def _local_copy(family: str, dask_model: Any, template: Any) -> Any:
    """The fitted local estimator: LightGBM's ``to_local()``; for XGBoost the booster loaded into a local
    estimator with the same parameters (``load_model`` also restores the classes)."""
    if family == "lightgbm":
        local = dask_model.to_local()
        local.set_params(n_jobs=1)
        if getattr(local, "_fitted_with_feature_names", False):  # fitted on frames named as arrays are (_inputs)
            local._fitted_with_feature_names = False
        return local
    from sklearn.base import clone

    local = clone(template)
    local.load_model(bytearray(dask_model.get_booster().save_raw("json")))
    local.set_params(n_jobs=1)
    return local


def dask_predictions(fit: DaskFit, ddf: Any, contract: Contract, target: str, classes: list[Any],
                     task: str) -> tuple[np.ndarray, np.ndarray]:
    """The Dask model's predictions on ``ddf``'s rows (class probabilities, or values) and their encoded targets,
    computed on the cluster: the only columns gathered here."""
    import dask

    Xy = prepared_partitions(fit, ddf, contract, target, classes)
    X, y = _inputs(Xy, fit.family)
    pred = fit.dask_model.predict(X) if task == "regression" else fit.dask_model.predict_proba(X)
    with warnings.catch_warnings():
        # the boosters' predictions are a dask array, the target a dataframe expression: computed together, the
        # validation part is read once, at the price of a warning about mixing the two
        warnings.filterwarnings("ignore", message="Computing mixed collections")
        p, yy = dask.compute(pred, y)
    p = np.asarray(p, dtype=float)
    if task != "regression" and p.ndim == 1:
        p = np.column_stack([1 - p, p])
    return p, np.asarray(yy)


def _dummy_predictions(fit_ddf: Any, target: str, task: str, classes: list[Any], rows: int) -> np.ndarray:
    from tabloop.data import partition_counts, summed_counts

    if task == "regression":
        y = fit_ddf[target].astype("float64")
        return np.full(rows, float(y.mean().compute()))
    counts = summed_counts(partition_counts(fit_ddf[target]).compute())
    by_label = {str(k): v for k, v in counts.items()}
    shares = np.array([by_label.get(str(c), 0) for c in classes], dtype=float)
    return np.tile(shares / max(shares.sum(), 1.0), (rows, 1))


def _scored_row(name: str, family: str, complexity: int, params: dict[str, Any], y: np.ndarray, pred: np.ndarray,
                task: str, metrics: list[str], seconds: float, *, note: str) -> Any:
    """A leaderboard row scored as the local holdout scores: the validation part in HOLDOUT_PARTS parts."""
    from tabloop.training._cv import holdout_parts, score_predictions
    from tabloop.training._train import CandidateResult

    scores: dict[str, list[float]] = {m: [] for m in metrics}
    for part in holdout_parts(y, task):
        for m, v in score_predictions(task, y[part], pred[part], metrics).items():
            scores[m].append(v)
    stats = {m: {"mean": float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"),
                 "std": float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan")}
             for m, v in scores.items()}
    return CandidateResult(name, params, "ok", metrics=stats, fold_scores=scores, fit_seconds=seconds,
                           family=family, complexity=complexity, note=note)

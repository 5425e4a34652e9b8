"""``tabloop train --engine dask``: the boosted families fitted on a Dask cluster, registered as any version.

The table is read as a Dask DataFrame from the spec's CSV or Parquet source and split on the
workers (``tabloop.data.dask_split``); this process only ever holds bounded samples, the validation
part's targets and predictions, and one partition of the test part at a time while it writes
``split/test.parquet`` for ``tabloop evaluate``. The version is the local engine's: the same bundle
(pipeline, contract, reference sample, signed manifest), ONNX export with its parity check, lineage
tags, leaderboard report.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.api._profile import ignored_columns
from tabloop.api._project import Project
from tabloop.api._train import (
    TEST_ARTIFACT,
    TEST_FILE,
    Progress,
    TrainSummary,
    _lineage,
    _reference,
    _row,
    _with_predictions,
    saved_contract,
)
from tabloop.bundle import Manifest, ModelBundle, library_versions
from tabloop.data import Contract, ContractPolicy, class_labels, infer_contract, redact_url
from tabloop.errors import DataError
from tabloop.evaluation import cost_threshold
from tabloop.export import export_bundle
from tabloop.report import leaderboard_report
from tabloop.spec import setting, spec_hash, spec_to_yaml


#: what the local engine does before it trains and this one does not (each reads the whole table in memory)
NOT_CHECKED = ("the data checks of the local engine (profile findings, leaks, train/test shift) did not run: "
               "run 'tabloop profile' on a sample of the table")


def train_dask(
    proj: Project,
    *,
    data: str | Path | pd.DataFrame | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> TrainSummary:
    """Fit ``train.candidates``' boosted families on the cluster at ``scheduler`` (or a local one of ``workers``
    processes), score them on a validation part, register the best. See :mod:`tabloop.api._train_dask`."""
    import dask

    from tabloop.data import (
        bounded_sample,
        dask_client,
        dask_fingerprint,
        dask_split,
        joined_fingerprint,
        partition_counts,
        read_dask_table,
        summed_counts,
        widen_contract,
        write_parquet_parts,
    )
    from tabloop.training import dask_families, train_on_dask

    start = time.perf_counter()
    spec = proj.spec
    say = progress or (lambda _m: None)
    dask_families(spec)  # an unsupported family is refused before a cluster starts
    if isinstance(data, pd.DataFrame):
        raise DataError("--engine dask trains on a CSV or Parquet file, not a DataFrame",
                        hint="write the frame to Parquet and pass its path, or train locally")
    if spec.features.entity_timestamp is not None:
        raise DataError("features.entity_timestamp joins the feature store's features in memory, which the Dask "
                        "engine does not do", hint="materialise the training set to Parquet and train on it")
    source: Any = data if data is not None else proj.workspace.resolve(spec.data.source)
    target = spec.data.target
    scheduler = setting(spec, "train.dask.scheduler", scheduler)
    workers = setting(spec, "train.dask.workers", workers)
    ddf = read_dask_table(source)
    if target not in ddf.columns:
        raise DataError(f"{source}: target column {target!r} is not in the data (columns: {list(ddf.columns)})",
                        hint="check data.target in tabloop.yaml")
    key = proj.workspace.signing_key(create=True)
    with dask.config.set({"dataframe.convert-string": False}), dask_client(scheduler, workers=workers) as client:
        info = client.scheduler_info()
        address = redact_url(str(info.get("address", scheduler)))
        say(f"Dask: {len(info.get('workers', {}))} workers at {address}, {ddf.npartitions} partitions of "
            f"{proj.data_name(data)}")
        # a regression target's values are not counted: every row may hold its own
        labels = partition_counts(ddf[target]) if spec.task != "regression" else ddf[target].count()
        rows, parts, counts, unlabelled = dask.compute(ddf.shape[0], dask_fingerprint(ddf), labels,
                                                       ddf[target].isna().sum())
        data_hash = joined_fingerprint(parts)
        unlabelled = int(unlabelled)
        if unlabelled and spec.data.missing_target != "drop":
            raise DataError(f"{source}: column {target!r}: the target is missing in {unlabelled} row(s)",
                            hint="drop or label those rows before training, or set data.missing_target: drop in "
                                 "tabloop.yaml to train on the labelled rows")
        if unlabelled:  # as the local engine does, before the split: the test part is labelled rows only
            say(f"data.missing_target: {unlabelled:,} rows without a target left out")
            ddf = ddf[ddf[target].notnull()]
            rows -= unlabelled
        labels = list(summed_counts(counts).index) if spec.task != "regression" else []
        classes = class_labels(pd.Series(labels, name=target), spec.task, spec.data.positive_class)
        train_ddf, test_ddf = dask_split(ddf, spec, share=spec.split.test_size)
        sample_rows = spec.train.dask.sample_rows
        say(f"drawing a sample of about {min(sample_rows, rows):,} of {rows:,} rows for the preparation")
        sample = bounded_sample(train_ddf, sample_rows, int(rows * (1 - spec.split.test_size)), seed=spec.seed)
        contract = _contract(proj, sample, ddf)
        result = train_on_dask(train_ddf, spec, contract, classes, client, sample=sample, progress=say)
        with tempfile.TemporaryDirectory(prefix="tabloop-train-") as tmp:
            test_path = Path(tmp) / TEST_FILE
            say("writing the test part for 'tabloop evaluate'")
            test_rows, parity_rows = write_parquet_parts(test_ddf, test_path, keep=spec.train.reference_rows)
            summary = _register(proj, spec, result, contract, classes, sample, parity_rows, test_path,
                                data_hash=str(data_hash), key=key, source=proj.data_name(data), say=say,
                                test_rows=test_rows, started=start,
                                dask_info={"scheduler": address if scheduler else "(local cluster)",
                                           "workers": len(info.get("workers", {})),
                                           "partitions": int(ddf.npartitions), "rows": int(rows)})
    summary.unlabelled_dropped = unlabelled
    return summary


def _contract(proj: Project, sample: pd.DataFrame, ddf: Any) -> Contract:
    """The saved contract when profile ran; else one inferred from the sample, its ranges, gaps and categories
    then taken from every row (``widen_contract``)."""
    from tabloop.data import widen_contract

    saved = saved_contract(proj)
    if saved is not None:
        return saved
    inferred = infer_contract(sample, target=proj.spec.data.target, ignored=ignored_columns(proj.spec),
                              types=proj.spec.data.types)
    return widen_contract(inferred, ddf).with_policy(ContractPolicy.from_spec(proj.spec.contract))


def _register(proj: Project, spec: Any, result: Any, contract: Contract, classes: list[Any], sample: pd.DataFrame,
              parity_rows: pd.DataFrame, test_path: Path, *, data_hash: str, key: Any, source: str, say: Progress,
              test_rows: int, started: float, dask_info: dict[str, Any]) -> TrainSummary:
    from tabloop.bundle import training_prior
    from tabloop.training import TrainResult

    target = spec.data.target
    tracker = proj.tracker
    train_rows = dask_info["rows"] - test_rows
    run_tags = {"tabloop.stage": "train", "tabloop.data_hash": data_hash, "tabloop.spec_hash": spec_hash(spec),
                "tabloop.version": library_versions().get("tabloop", "?"), "tabloop.data_source": source,
                "tabloop.engine": "dask"}
    best = next(r for r in result.leaderboard if r.name == result.winner)
    with tracker.run("train", tags=run_tags) as run_id:
        tracker.log_params({"seed": spec.seed, "task": spec.task, "metric": result.metric, "engine": "dask",
                            "validation": result.validation, "candidates": ",".join(r.name for r in result.leaderboard),
                            "train_rows": train_rows, "test_rows": test_rows, "sample_rows": result.sample_rows,
                            "dask_workers": dask_info["workers"], "dask_partitions": dask_info["partitions"]})
        for r in result.leaderboard:
            with tracker.run(r.name, nested=True, tags={"tabloop.status": r.status, "tabloop.family": r.family,
                                                        "tabloop.data_hash": data_hash}):
                tracker.log_params({**{k: str(v) for k, v in r.params.items()}, "candidate": r.name})
                tracker.log_metrics({"fit_seconds": r.fit_seconds,
                                     **{f"cv_{m}_mean": s.get("mean") for m, s in r.metrics.items()},
                                     **{f"cv_{m}_std": s.get("std") for m, s in r.metrics.items()}})
        tracker.log_metrics({f"cv_{m}_mean": s["mean"] for m, s in best.metrics.items()})
        threshold = cost_threshold(spec.costs.false_positive, spec.costs.false_negative) if spec.task == "binary" else None
        bundle = ModelBundle(
            pipeline=result.final.pipeline,
            contract=contract,
            # keyword order is manifest.json's key order, which its signature covers
            manifest=Manifest(
                task=spec.task, classes=classes, threshold=threshold, target=target,
                metric=result.metric, winner=result.winner, rule=result.rule,
                cv=best.metrics, data_hash=data_hash, spec_hash=spec_hash(spec),
                train_rows=train_rows, trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                # from the sample: the class shares of a bounded draw of the training part
                prior=training_prior(sample[target], spec.task, classes),
                versions=library_versions(),
            ),
            reference=_reference(sample, contract, target, spec.train.reference_rows, spec.seed),
            spec_yaml=spec_to_yaml(spec),
        )
        bundle.reference = _with_predictions(bundle)
        say("exporting to ONNX and checking parity")
        onnx = export_bundle(bundle, parity_rows)  # the test part's first rows
        tracker.log_metrics({"onnx_parity_max_abs_diff": onnx.report.get("parity_max_abs_diff"),
                             "onnx_used": float(onnx.used)})
        tracker.log_artifact(test_path, artifact_path=TEST_ARTIFACT)
        say("registering the winner")
        ref = tracker.register_bundle(bundle, spec.model_name, key=key,
                                      tags={**_lineage(proj, bundle, run_id, run_tags, result.winner),
                                            "tabloop.engine": "dask"})
        report_result = TrainResult(result.leaderboard, result.winner, result.rule, result.metric,
                                    result.final.pipeline, result.seconds, folds=1, validation=result.validation,
                                    warnings=list(result.warnings))
        data = report_result.to_dict()
        data["engine"] = "dask"
        data["dask"] = {**dask_info, "notes": [*result.notes, NOT_CHECKED]}
        report = leaderboard_report(data, title=f"Training leaderboard: {spec.model_name} v{ref.version} (Dask)")
        html_path, json_path = report.write(proj.report_dir(), f"train-v{ref.version}")
        tracker.log_artifact(html_path, artifact_path="leaderboard")
        tracker.log_artifact(json_path, artifact_path="leaderboard")
    return TrainSummary(
        model=ref.name, version=ref.version, run_id=run_id, winner=result.winner, rule=result.rule,
        metric=result.metric, cv_mean=best.mean(result.metric), cv_std=best.std(result.metric),
        leaderboard=[_row(c, result.metric, report_result.interval(c, result.metric)) for c in result.leaderboard],
        train_rows=train_rows, test_rows=test_rows, seconds=time.perf_counter() - started,
        report_html=html_path, report_json=json_path, validation=result.validation, warnings=list(result.warnings),
        engine="dask", dask={**dask_info, "sample_rows": result.sample_rows, "notes": [*result.notes, NOT_CHECKED]},
    )

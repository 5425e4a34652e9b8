"""A small student fitted on a model's own answers (``tabloop export --distill``), for devices where it is too big.

The student learns the teacher's probabilities (values), not the labels: for a classifier each row is
repeated once per class, weighted by the teacher's probability of that class, so the student minimises the
cross-entropy to the teacher's soft answers with an ordinary classifier (and one ONNX converter). It needs no
labels and sees only training rows; the held-out part stays out, so the caller can score both on it.

Students: ``trees`` (LightGBM, :data:`TREES` shallow trees of at most :data:`LEAVES` leaves) or ``linear``
(logistic regression, or ridge for values), each behind tabloop's default preparation fitted on the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabloop.bundle import ModelBundle
from tabloop.data import check_frame
from tabloop.errors import ExportError

STUDENTS = ("trees", "linear")
TREES = 60
LEAVES = 8
DEPTH = 3
#: training rows the student sees at most (each repeated once per class for a classifier)
MAX_ROWS = 20_000


def distill(teacher: ModelBundle, rows: pd.DataFrame, *, student: str = "trees", seed: int = 0) -> ModelBundle:
    """A bundle like ``teacher`` (contract, classes, threshold) whose pipeline is a small student fitted on
    ``teacher``'s answers for ``rows`` (training rows with the contract's columns)."""
    from sklearn.pipeline import Pipeline

    from tabloop.preparation import make_preprocessor

    if student not in STUDENTS:
        raise ExportError(f"unknown student {student!r}", hint=f"use one of {list(STUDENTS)}")
    contract = teacher.contract
    names = [c for c in contract.feature_names if c in rows.columns]
    if len(names) != len(contract.feature_names) or len(rows) == 0:
        raise ExportError("no training rows with the model's columns to distil from",
                          hint="the version's reference sample is missing or lacks columns")
    X = check_frame(rows[names].head(MAX_ROWS).reset_index(drop=True), contract, source="distillation rows",
                    allow_target=False)
    task = teacher.task
    linear = student == "linear"
    prepare = make_preprocessor(contract, scale=linear, task=None, seed=seed)
    if task == "regression":
        y = np.asarray(teacher.pipeline.predict(X), dtype=float).reshape(-1)
        model = _model(task, linear, seed)
        pipe = Pipeline([("prepare", prepare), ("model", model)])
        pipe.fit(X, y)
    else:
        proba = np.asarray(teacher.pipeline.predict_proba(X), dtype=float)
        k = proba.shape[1]
        soft = pd.concat([X] * k, ignore_index=True)
        labels = np.repeat(np.arange(k), len(X))
        weights = proba.T.reshape(-1)  # class 0's weight for every row, then class 1's, ...
        pipe = Pipeline([("prepare", prepare), ("model", _model(task, linear, seed))])
        pipe.fit(soft, labels, model__sample_weight=weights)
    manifest: Any = {"task": task, "classes": teacher.classes, "threshold": teacher.threshold,
                "target": teacher.target}
    return ModelBundle(pipe, contract, manifest=manifest, reference=teacher.reference, spec_yaml=teacher.spec_yaml,
                       name=teacher.name, version=teacher.version)


def describe(student: str) -> str:
    if student == "linear":
        return "logistic regression (ridge for values) behind the default preparation"
    return f"LightGBM, {TREES} trees of depth {DEPTH} and at most {LEAVES} leaves, behind the default preparation"


def _model(task: str, linear: bool, seed: int) -> Any:
    if linear:
        from sklearn.linear_model import LogisticRegression, Ridge

        return Ridge(alpha=1.0) if task == "regression" else LogisticRegression(max_iter=2000, C=1.0)
    import lightgbm as lgb

    params: dict[str, Any] = {"n_estimators": TREES, "num_leaves": LEAVES, "max_depth": DEPTH, "learning_rate": 0.1,
              "min_child_samples": 10, "random_state": seed, "n_jobs": 1, "verbose": -1}
    return lgb.LGBMRegressor(**params) if task == "regression" else lgb.LGBMClassifier(**params)

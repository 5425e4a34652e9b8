"""Fitted pipelines on the bundled HMDA table (logistic, LightGBM, ridge), split into train and held-out rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from tabloop.data import Contract, check_frame, encode_target, infer_contract
from tabloop.preparation import make_preprocessor
from tabloop.bundle import ModelBundle

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")
pytest.importorskip("onnxruntime")

CLASSES = ["no", "yes"]


@pytest.fixture(scope="session")
def table(hmda: pd.DataFrame) -> pd.DataFrame:
    """The real table with a few gaps added in a numeric and a categorical column, so both are nullable."""
    df = hmda.copy()
    df.loc[df.index[::97], "dir"] = np.nan
    df.loc[df.index[5::89], "single"] = np.nan
    return df


@pytest.fixture(scope="session")
def contract(table: pd.DataFrame) -> Contract:
    return infer_contract(table, target="deny", ignored=["black"])


@pytest.fixture(scope="session")
def split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = table.sample(frac=1.0, random_state=7).reset_index(drop=True)
    cut = int(len(shuffled) * 0.8)
    return shuffled.iloc[:cut].reset_index(drop=True), shuffled.iloc[cut:].reset_index(drop=True)


def _bundle(pipeline: Any, contract: Contract, train: pd.DataFrame, task: str, **manifest: Any) -> ModelBundle:
    X = check_frame(train, contract)
    if task == "regression":
        pipeline.fit(X, train["hir"].to_numpy(dtype=float) * 100.0)  # percent, so values reach ~100
    else:
        pipeline.fit(X, encode_target(train["deny"], CLASSES))
    base = {"task": task, "classes": [] if task == "regression" else CLASSES, "threshold": 0.5 if task == "binary" else None}
    return ModelBundle(pipeline, contract, manifest={**base, **manifest}, reference=train.head(200), spec_yaml="x: 1",
                       name="hmda", version="1")


@pytest.fixture(scope="session")
def logistic(contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame]) -> ModelBundle:
    model = LogisticRegression(max_iter=2000)
    return _bundle(Pipeline([("prepare", make_preprocessor(contract)), ("model", model)]), contract, split[0], "binary")


@pytest.fixture(scope="session")
def lightgbm(contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame]) -> ModelBundle:
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, subsample=0.8, subsample_freq=1,
                               colsample_bytree=0.8, random_state=0, n_jobs=1, verbose=-1)
    pipeline = Pipeline([("prepare", make_preprocessor(contract, scale=False)), ("model", model)])
    return _bundle(pipeline, contract, split[0], "binary")


@pytest.fixture(scope="session")
def ridge(split: tuple[pd.DataFrame, pd.DataFrame], table: pd.DataFrame) -> ModelBundle:
    reg_contract = infer_contract(table, target="hir", ignored=["black", "deny"])
    model = Ridge(alpha=1.0)
    bundle = _bundle(Pipeline([("prepare", make_preprocessor(reg_contract)), ("model", model)]),
                     reg_contract, split[0], "regression")
    return bundle


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@pytest.fixture(scope="session")
def make_rows(split: tuple[pd.DataFrame, pd.DataFrame]) -> Callable[..., list[dict[str, Any]]]:
    """``make_rows(n, start=0)``: held-out rows as a client sends them (JSON values, no target)."""
    features = split[1].drop(columns=["deny"])

    def make(n: int, start: int = 0) -> list[dict[str, Any]]:
        part = features.iloc[start : start + n]
        return [{str(k): _jsonable(v) for k, v in rec.items()} for rec in part.to_dict("records")]

    return make


def gappy(rows: list[dict[str, Any]], contract: Contract) -> list[dict[str, Any]]:
    """Copies of ``rows`` with null in the nullable columns, in turn and all at once."""
    nullable = [c.name for c in contract.columns if c.nullable]
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        if i % (len(nullable) + 1) < len(nullable):
            row[nullable[i % (len(nullable) + 1)]] = None
        else:
            for name in nullable:
                row[name] = None
        out.append(row)
    return out


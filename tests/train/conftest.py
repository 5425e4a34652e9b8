"""A small fitted bundle and spec factory for the training tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tabloop.data import Contract, check_frame, encode_target, infer_contract
from tabloop.features import make_preprocessor
from tabloop.spec import Spec, validate_spec
from tabloop.train import ModelBundle


@pytest.fixture(scope="session")
def contract(hmda: pd.DataFrame) -> Contract:
    return infer_contract(hmda, target="deny", ignored=["black"])


@pytest.fixture(scope="session")
def bundle(hmda: pd.DataFrame, contract: Contract) -> ModelBundle:
    pipeline = Pipeline([("prepare", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(check_frame(hmda, contract), encode_target(hmda["deny"], ["no", "yes"]))
    return ModelBundle(
        pipeline,
        contract,
        manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
        reference=hmda.head(100),
        spec_yaml="x: 1",
    )


@pytest.fixture(scope="session")
def make_spec() -> Callable[..., Spec]:
    def make(candidates: list[str], *, task: str = "binary", target: str = "deny", **over: Any) -> Spec:
        raw: dict[str, Any] = {
            "name": "t",
            "data": {"source": "x.csv", "target": target, "task": task, "exclude": ["black"]},
            # k-fold pinned: these tests are about the search, and auto would repeat the folds on their small samples
            "split": {"folds": 3, "validation": "kfold"},
            "train": {"candidates": candidates},
        }
        raw.update(over)
        return validate_spec(raw)

    return make

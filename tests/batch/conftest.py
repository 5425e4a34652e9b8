"""A small fitted bundle for the batch tests."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tabloop.data import check_frame, encode_target, infer_contract
from tabloop.preparation import make_preprocessor
from tabloop.bundle import ModelBundle


@pytest.fixture(scope="session")
def bundle(hmda: pd.DataFrame) -> ModelBundle:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipeline = Pipeline([("prepare", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(check_frame(hmda, contract), encode_target(hmda["deny"], ["no", "yes"]))
    return ModelBundle(
        pipeline,
        contract,
        manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
        reference=hmda.head(100),
        spec_yaml="x: 1",
        name="hmda",
        version="4",
    )

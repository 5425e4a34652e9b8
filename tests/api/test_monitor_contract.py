"""The monitor scores a current table that drifted far outside the trained range instead of refusing it."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tabloop.api._monitor import PREDICTION_SIGNAL, _with_signal
from tabloop.bundle import ModelBundle
from tabloop.data import check_frame, infer_contract
from tabloop.errors import ContractViolation
from tabloop.preparation import make_preprocessor


@pytest.fixture(scope="module")
def bundle(hmda: pd.DataFrame) -> ModelBundle:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipeline = Pipeline([("prep", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=500))])
    pipeline.fit(check_frame(hmda, contract), (hmda["deny"] == "yes").astype(int))
    return ModelBundle(pipeline, contract, {"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
                       hmda.head(50), "")


def test_far_values_are_scored_at_the_end_of_the_trained_range(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    drifted = hmda.head(4).assign(dir=[1000.0, 1.8e19, -50.0, 0.3])
    with pytest.raises(ContractViolation):  # what serving and batch do with these rows
        bundle.predict(drifted)
    got = _with_signal(bundle, drifted, "current")
    dir_ = bundle.contract.column("dir")
    at_ends = drifted.assign(dir=[dir_.max, dir_.max, dir_.min, 0.3])
    want = bundle.predict(at_ends).proba[:, 1]
    assert got[PREDICTION_SIGNAL].tolist() == pytest.approx(want.tolist())
    assert got["dir"].tolist() == drifted["dir"].tolist()  # the drift tests see the values as they came

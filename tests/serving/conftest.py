"""A real, small model bundle trained on the bundled HMDA table, for the serving tests."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import tabloop
from tabloop.data import check_frame, infer_contract
from tabloop.export import export_bundle
from tabloop.preparation import make_preprocessor
from tabloop.bundle import ModelBundle

HMDA = Path(tabloop.__file__).parent / "datasets" / "hmda.csv"


@pytest.fixture(scope="session")
def hmda() -> pd.DataFrame:
    return pd.read_csv(HMDA)


@pytest.fixture(scope="session")
def bundle(hmda: pd.DataFrame) -> ModelBundle:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    X = check_frame(hmda, contract)
    pipeline = Pipeline([("prep", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(X, (hmda["deny"] == "yes").astype(int))
    bundle = ModelBundle(
        pipeline=pipeline,
        contract=contract,
        manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
        reference=hmda.head(200),
        spec_yaml="",
        name="hmda",
        version="1",
    )
    # as registration does: the graph the default FastPredictor serves from, its parity checked
    export = export_bundle(bundle, hmda.tail(300))
    assert export.used, export.report
    return bundle


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@pytest.fixture(scope="session")
def make_rows(hmda: pd.DataFrame) -> Callable[..., list[dict[str, Any]]]:
    """``make_rows(n, start=0)``: n request rows as a client would send them (no target)."""

    features = hmda.drop(columns=["deny"])

    def make(n: int, start: int = 0) -> list[dict[str, Any]]:
        part = features.iloc[start : start + n]
        return [{str(k): _jsonable(v) for k, v in rec.items()} for rec in part.to_dict("records")]

    return make

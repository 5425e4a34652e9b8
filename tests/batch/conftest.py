"""A small fitted bundle for the batch tests."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="session")
def onnx_bundle(bundle: ModelBundle) -> ModelBundle:
    """The same model with its ONNX graph (parity checked): the runtime batch scoring prefers, as the server does."""
    from tabloop.export import export_bundle

    copy = ModelBundle(bundle.pipeline, bundle.contract, manifest=bundle.manifest.to_dict(), reference=bundle.reference,
                       spec_yaml="x: 1", name="hmda", version="4")
    assert export_bundle(copy, None).used
    return copy


@pytest.fixture()
def bad_csv(tmp_path_factory: pytest.TempPathFactory, hmda: pd.DataFrame) -> Path:
    """30 rows: a text cell in a number column at row 9 (the 2nd chunk of 7), a far value at row 20 and an unseen
    category at row 21 (let through and marked: the policy is 'unknown')."""
    df = hmda.head(30).copy()
    df["lvr"] = df["lvr"].astype(object)
    df.loc[9, "lvr"] = "high"
    df.loc[20, "dir"] = 1000.0
    df.loc[21, "dmi"] = "maybe"
    path = tmp_path_factory.mktemp("bad") / "bad.csv"
    df.to_csv(path, index=False)
    return path

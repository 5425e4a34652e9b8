"""schemathesis against the app's own OpenAPI document: no input it can generate gets a 5xx."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import tabloop
from tabloop.data import check_frame, infer_contract
from tabloop.preparation import make_preprocessor
from tabloop.predlog import PredictionLog
from tabloop.bundle import ModelBundle

from ._apps import app_for

HMDA = Path(tabloop.__file__).parent / "datasets" / "hmda.csv"


def _app():  # type: ignore[no-untyped-def]
    hmda = pd.read_csv(HMDA)
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipe = Pipeline([("prep", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=200))])
    pipe.fit(check_frame(hmda, contract), (hmda["deny"] == "yes").astype(int))
    bundle = ModelBundle(
        pipeline=pipe, contract=contract, manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
        reference=hmda.head(50), spec_yaml="", name="hmda", version="1",
    )
    import tempfile

    return app_for(bundle, predlog=PredictionLog(Path(tempfile.mkdtemp(prefix="tabloop-fuzz-"))), max_rows=20)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])


def test_openapi_lists_every_dialect() -> None:
    paths = set(schema.raw_schema["paths"])
    assert {"/predict", "/invocations", "/ping", "/version", "/metrics", "/feedback", "/control/rollout",
            "/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}/infer",
            "/v2/models/{name}/versions/{version}/infer"} <= paths


pytestmark = pytest.mark.filterwarnings("ignore")

"""MLflow's scoring protocol and the Open Inference Protocol on the same app as /predict."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.models import convert_input_example_to_serving_input
from mlflow.utils.proto_json_utils import dump_input_data

from tabloop.bundle import ModelBundle

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="module")
def client(bundle: ModelBundle) -> Iterator[TestClient]:
    with TestClient(app_for(bundle, max_rows=50)) as c:
        yield c


def _want(bundle: ModelBundle, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return bundle.predict(pd.DataFrame.from_records(rows)).records()


def _assert_mlflow(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["prediction"] == w["prediction"]
        for label, p in w["probabilities"].items():
            assert g[f"proba_{label}"] == pytest.approx(p, abs=1e-5)  # the ONNX graph computes in float32


# -- MLflow: /invocations ----------------------------------------------------------------


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows)


@pytest.mark.parametrize(
    "build",
    [
        lambda df: dump_input_data(df),  # what ScoringServerClient.invoke sends for a DataFrame
        lambda df: convert_input_example_to_serving_input(df),
        lambda df: json.dumps({"dataframe_records": json.loads(df.to_json(orient="records"))}),
        lambda df: json.dumps({"instances": json.loads(df.to_json(orient="records"))}),
        lambda df: json.dumps({"inputs": json.loads(df.to_json(orient="records"))}),
        lambda df: json.dumps({"inputs": {k: list(v.values()) for k, v in json.loads(df.to_json()).items()}}),
        lambda df: dump_input_data(json.loads(df.to_json(orient="records"))),
    ],
    ids=["client-dataframe", "serving-input-example", "records", "instances", "inputs-rows", "inputs-columns",
         "client-records"],
)
def test_invocations_accepts_mlflow_payloads(client: TestClient, bundle: ModelBundle, make_rows: Rows, build: Any) -> None:
    rows = make_rows(4, start=30)
    body = build(_frame(rows))
    r = client.post("/invocations", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    _assert_mlflow(r.json()["predictions"], _want(bundle, rows))


def test_invocations_accepts_csv(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    rows = make_rows(5, start=100)
    r = client.post("/invocations", content=_frame(rows).to_csv(index=False), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    _assert_mlflow(r.json()["predictions"], _want(bundle, rows))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"foo": []}', "application/json"),
        (b'{"instances": [], "inputs": []}', "application/json"),
        (b'{"dataframe_split": {"columns": ["dir"], "data": [[1, 2]]}}', "application/json"),
        (b'{"inputs": [[0.1, 0.2]]}', "application/json"),
        (b'{"inputs": {"dir": [1, 2], "hir": [1]}}', "application/json"),
        (b"1e400", "application/json"),
        (b"dir,dir\n1,2\n", "text/csv"),
        (b"<xml/>", "application/xml"),
    ],
)
def test_invocations_errors_are_mlflow_shaped_4xx(client: TestClient, body: bytes, content_type: str) -> None:
    r = client.post("/invocations", content=body, headers={"content-type": content_type})
    assert 400 <= r.status_code < 500, r.text
    err = r.json()
    assert err["error_code"] == "BAD_REQUEST"
    assert isinstance(err["message"], str) and err["message"]


def test_invocations_contract_violation_is_400_naming_column(client: TestClient, make_rows: Rows) -> None:
    rows = make_rows(2)
    rows[1]["dir"] = 1000.0
    r = client.post("/invocations", json={"dataframe_records": rows})
    assert r.status_code == 400
    body = r.json()
    assert body["error_code"] == "BAD_REQUEST"
    assert "dir" in body["message"] and "far_range" in body["message"]
    assert [(v["column"], v["row"], v["rule"]) for v in body["violations"]] == [("dir", 1, "far_range")]


def test_invocations_too_many_rows(client: TestClient, make_rows: Rows) -> None:
    r = client.post("/invocations", json={"dataframe_records": make_rows(51)})
    assert r.status_code == 413
    assert r.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"


def test_ping_health_version(client: TestClient) -> None:
    assert client.get("/ping").status_code == 200
    assert client.get("/health").json()["status"] == "ok"
    r = client.get("/version")
    assert r.status_code == 200 and r.text


# -- Open Inference Protocol (KServe V2) --------------------------------------------------


def _v2_request(bundle: ModelBundle, rows: list[dict[str, Any]]) -> dict[str, Any]:
    inputs = []
    for col in bundle.contract.columns:
        values = [r[col.name] for r in rows]
        inputs.append({
            "name": col.name, "shape": [len(rows)], "datatype": "FP64" if col.kind == "numeric" else "BYTES",
            "data": values,
        })
    return {"id": "req-7", "inputs": inputs}


def test_v2_server_and_model_routes(client: TestClient, bundle: ModelBundle) -> None:
    assert client.get("/v2").json()["name"] == "tabloop"
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2/models/hmda").json()
    assert meta["name"] == "hmda" and meta["versions"] == ["1"]
    assert [t["name"] for t in meta["inputs"]] == bundle.contract.feature_names
    assert {t["name"] for t in meta["outputs"]} == {"prediction", "probabilities"}
    assert client.get("/v2/models/hmda/versions/1").status_code == 200
    assert client.get("/v2/models/hmda/ready").json()["ready"] is True
    assert client.get("/v2/models/hmda/versions/1/ready").status_code == 200
    for path in ("/v2/models/other", "/v2/models/hmda/versions/9", "/v2/models/hmda/versions/9/ready"):
        r = client.get(path)
        assert r.status_code == 404
        assert isinstance(r.json()["error"], str)


def test_v2_infer_json(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    rows = make_rows(3, start=40)
    for path in ("/v2/models/hmda/infer", "/v2/models/hmda/versions/1/infer"):
        r = client.post(path, json=_v2_request(bundle, rows))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == "req-7" and body["model_name"] == "hmda" and body["model_version"] == "1"
        outs = {o["name"]: o for o in body["outputs"]}
        want = _want(bundle, rows)
        assert outs["prediction"]["datatype"] == "BYTES"
        assert outs["prediction"]["data"] == [w["prediction"] for w in want]
        assert outs["probabilities"]["shape"] == [3, 2]
        proba = np.array(outs["probabilities"]["data"]).reshape(3, 2)
        assert np.allclose(proba[:, 1], [w["probabilities"]["yes"] for w in want], atol=1e-5)  # ONNX: float32


def test_v2_infer_binary_tensor_data(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    rows = make_rows(2, start=10)
    header: dict[str, Any] = {"inputs": [], "outputs": [{"name": "prediction"}]}
    blobs = []
    for col in bundle.contract.columns:
        values = [r[col.name] for r in rows]
        if col.kind == "numeric":
            raw = np.array([np.nan if v is None else v for v in values], dtype="<f8").tobytes()
            dtype = "FP64"
        else:
            raw = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in values)
            dtype = "BYTES"
        header["inputs"].append({"name": col.name, "shape": [2, 1], "datatype": dtype,
                                 "parameters": {"binary_data_size": len(raw)}})
        blobs.append(raw)
    head = orjson.dumps(header)
    r = client.post("/v2/models/hmda/infer", content=head + b"".join(blobs),
                    headers={"Inference-Header-Content-Length": str(len(head)),
                             "content-type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    [out] = r.json()["outputs"]
    assert out["data"] == [w["prediction"] for w in _want(bundle, rows)]


@pytest.mark.parametrize(
    "change",
    [
        lambda req: req.update(inputs=[]),
        lambda req: req["inputs"][0].update(shape=[7]),
        lambda req: req["inputs"][0].update(datatype="COMPLEX"),
        lambda req: req["inputs"][0].update(data=[[[1.0]]]),
        lambda req: req["inputs"].append(dict(req["inputs"][0])),
        lambda req: req["inputs"][0].update(parameters={"binary_data_size": 8}),
        lambda req: req.update(outputs=[{"name": "nope"}]),
    ],
    ids=["no-inputs", "bad-shape", "bad-datatype", "too-deep", "duplicate", "binary-missing", "unknown-output"],
)
def test_v2_malformed_is_400_error_string(client: TestClient, bundle: ModelBundle, make_rows: Rows, change: Any) -> None:
    req = _v2_request(bundle, make_rows(1))
    change(req)
    r = client.post("/v2/models/hmda/infer", json=req)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str)


def test_v2_contract_violation_names_column(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    req = _v2_request(bundle, make_rows(2))
    req["inputs"] = [t for t in req["inputs"] if t["name"] != "uria"]
    r = client.post("/v2/models/hmda/infer", json=req)
    assert r.status_code == 422
    assert "uria" in r.json()["error"] and "missing_column" in r.json()["error"]
    assert r.json()["violations"][0]["column"] == "uria"


def test_finite_but_enormous_number_is_422_far_range(client: TestClient, make_rows: Rows) -> None:
    rows = make_rows(2)
    rows[1]["dir"] = 1.7e308  # finite, but far outside the trained range (and scaling would overflow it)
    r = client.post("/predict", json=rows)
    assert r.status_code == 422, r.text
    assert [(v["column"], v["row"], v["rule"]) for v in r.json()["error"]["violations"]] == [("dir", 1, "far_range")]

"""The contract acts on every dialect: far-out numbers refused (422 naming column, row, rule), rows let
through out of contract answered and marked (in the body, a header, the prediction log and the metrics)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tabloop.bundle import ModelBundle
from tabloop.data import ContractPolicy
from tabloop.predlog import PredictionLog
from tabloop.serving._predictor import BundlePredictor

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]
HEADER = "x-out-of-contract-rows"


@pytest.fixture(scope="module")
def client(bundle: ModelBundle) -> Iterator[TestClient]:
    with TestClient(app_for(bundle, max_rows=50)) as c:
        yield c


def _violations(r: Any) -> list[tuple[str, int, str]]:
    return [(v["column"], v.get("row"), v["rule"]) for v in r.json()["error"]["violations"]]


@pytest.mark.parametrize("value", [1000.0, 1.8e19, -1.8e19, 1000], ids=["1000", "1.8e19", "-1.8e19", "int"])
def test_a_number_far_outside_the_trained_range_is_refused_naming_column_row_and_rule(
    client: TestClient, bundle: ModelBundle, make_rows: Rows, value: float
) -> None:
    dir_ = bundle.contract.column("dir")
    assert dir_.max is not None and dir_.max < 10  # trained around 0.04-3
    rows = make_rows(3)
    rows[1]["dir"] = value
    r = client.post("/predict", json=rows)
    assert r.status_code == 422, r.text
    assert _violations(r) == [("dir", 1, "far_range")]
    assert "far outside the trained range" in r.json()["error"]["message"]


def test_every_far_value_is_listed_at_once(client: TestClient, make_rows: Rows) -> None:
    rows = make_rows(4)
    rows[0]["dir"] = 1000.0
    rows[2]["lvr"] = -500.0
    rows[3]["hir"] = 1.8e19
    r = client.post("/predict", json=rows)
    assert r.status_code == 422
    assert sorted(_violations(r)) == [("dir", 0, "far_range"), ("hir", 3, "far_range"), ("lvr", 2, "far_range")]


def test_rows_let_through_are_answered_and_say_so(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    rows = make_rows(4, start=20)
    above = bundle.contract.column("dir").max + 0.5  # a little outside: warned
    rows[1]["dir"] = above
    rows[3]["dmi"] = "maybe"  # unseen: answered as unknown
    r = client.post("/predict", json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["out_of_contract"] == [1, 3]
    assert r.headers[HEADER] == "1,3" and r.headers["x-out-of-contract-count"] == "2"
    preds = body["predictions"]
    assert "contract" not in preds[0] and "contract" not in preds[2]
    assert preds[1]["contract"] == [{"column": "dir", "rule": "range", "policy": "warn"}]
    assert preds[3]["contract"] == [{"column": "dmi", "rule": "unseen_category", "policy": "unknown"}]


def test_rows_within_the_contract_carry_no_marks(client: TestClient, make_rows: Rows) -> None:
    r = client.post("/predict", json=make_rows(3, start=30))
    assert r.status_code == 200
    assert "out_of_contract" not in r.json() and HEADER not in r.headers
    assert all("contract" not in p for p in r.json()["predictions"])


def test_mlflow_and_v2_say_it_without_leaving_their_protocols(
    client: TestClient, bundle: ModelBundle, make_rows: Rows
) -> None:
    rows = make_rows(3, start=40)
    rows[2]["dmi"] = "maybe"
    r = client.post("/invocations", json={"dataframe_records": rows})
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["predictions"] and r.headers[HEADER] == "2"
    inputs = [{"name": c.name, "shape": [3], "datatype": "FP64" if c.kind == "numeric" else "BYTES",
               "data": [row[c.name] for row in rows]} for c in bundle.contract.columns]
    r = client.post("/v2/models/hmda/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    assert r.json()["parameters"]["out_of_contract"] == "2" and r.headers[HEADER] == "2"
    rows[0]["dir"] = 1000.0
    assert client.post("/invocations", json={"dataframe_records": rows}).status_code == 400  # MLflow's status


def test_clip_answers_as_the_nearest_end_of_the_range(bundle: ModelBundle, make_rows: Rows) -> None:
    clipping = dataclasses.replace(bundle, contract=bundle.contract.with_policy(
        ContractPolicy(columns={"dir": {"range": "clip", "far_range": "clip"}})))
    rows = make_rows(1, start=5)
    at_max = [{**rows[0], "dir": bundle.contract.column("dir").max}]
    for predictor in (None, BundlePredictor):
        settings = {} if predictor is None else {"predictor": predictor}
        with TestClient(app_for(clipping, **settings)) as c:
            want = c.post("/predict", json=at_max).json()["predictions"][0]
            got = c.post("/predict", json=[{**rows[0], "dir": 1.8e19}]).json()["predictions"][0]
        assert got["contract"] == [{"column": "dir", "rule": "far_range", "policy": "clip"}]
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-6)


def test_the_log_and_the_metrics_count_the_marks(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predlog")
    rows = make_rows(3, start=50)
    rows[0]["pbcr"] = "maybe"
    with TestClient(app_for(bundle, predlog=log)) as c:
        assert c.post("/predict", json=rows).status_code == 200
        metrics = c.get("/metrics").text
    logged = log.read_predictions()
    assert logged["contract"].tolist()[0] == [{"column": "pbcr", "rule": "unseen_category", "policy": "unknown"}]
    assert all(not isinstance(v, list) for v in logged["contract"].tolist()[1:])
    assert 'tabloop_out_of_contract_total{column="pbcr",model_version="1",policy="unknown",rule="unseen_category"' \
        in metrics


def test_the_out_of_contract_header_stays_short_however_many_rows_it_marks() -> None:
    from tabloop.serving._http import OUT_OF_CONTRACT_HEADER_BYTES, out_of_contract_header

    assert out_of_contract_header([1, 3]) == "1,3"
    assert out_of_contract_header(list(range(1000))) == "0-999"  # 3,889 bytes as a plain list
    scattered = list(range(0, 20000, 2))
    cut = out_of_contract_header(scattered)
    assert len(cut) <= OUT_OF_CONTRACT_HEADER_BYTES and cut.endswith(",...")
    assert [int(x) for x in cut[:-4].split(",")] == scattered[: cut.count(",")]  # whole numbers, in order
    mixed = out_of_contract_header([*range(0, 300), *range(301, 1200, 3)])
    assert mixed.startswith("0-299,301,304,") and len(mixed) <= OUT_OF_CONTRACT_HEADER_BYTES

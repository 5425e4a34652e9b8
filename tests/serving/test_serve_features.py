"""Requests that send entity keys: the online store's features fill them, then the contract; gaps by policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tabloop.bundle import ModelBundle
from tabloop.errors import FeatureStoreError
from tabloop.features import OnlineRows
from tabloop.features._online import EXPIRED, MISSING_ENTITY, Gap
from tabloop.serving import FastPredictor, with_online_features

from ._apps import app_for

FETCHED = ["dir", "lvr"]


class StoreFiller:
    """An online store in a dict: key -> the fetched features (keys 7 and 8: missing and expired)."""

    features = FETCHED

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.store = {i: {f: r[f] for f in FETCHED} for i, r in enumerate(rows)}
        self.calls = 0

    def fill(self, rows: list[dict[str, Any]]) -> OnlineRows:
        self.calls += 1
        out = OnlineRows([{k: v for k, v in r.items() if k != "customer_id"} for r in rows])
        for i, row in enumerate(rows):
            key = row["customer_id"]
            if key == 7 or key not in self.store:
                out.gaps[i] = [Gap("stats", MISSING_ENTITY, f"customer_id={key}", tuple(FETCHED))]
            elif key == 8:
                out.gaps[i] = [Gap("stats", EXPIRED, f"customer_id={key}", tuple(FETCHED), 99.0)]
            else:
                out.rows[i].update(self.store[key])
        return out


@pytest.fixture()
def rows(make_rows: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return make_rows(10)


def _keyed(rows: list[dict[str, Any]], keys: list[int]) -> list[dict[str, Any]]:
    """Rows as a caller sends them: the entity key instead of the stored features."""
    return [{"customer_id": k, **{c: v for c, v in rows[k].items() if c not in FETCHED}} for k in keys]


def _client(bundle: ModelBundle, filler: StoreFiller, on_missing: str) -> TestClient:
    return TestClient(app_for(bundle, predictor=with_online_features(FastPredictor, filler, on_missing)))


def test_a_row_with_keys_only_is_answered_as_the_same_row_with_its_features(bundle, rows) -> None:
    filler = StoreFiller(rows)
    with _client(bundle, filler, "reject") as client:
        keyed = client.post("/predict", json={"rows": _keyed(rows, [0, 1, 2])})
    with TestClient(app_for(bundle)) as direct_client:
        direct = direct_client.post("/predict", json={"rows": rows[:3]})
    assert keyed.status_code == 200, keyed.text
    assert keyed.json()["predictions"] == direct.json()["predictions"]
    assert filler.calls == 1


def test_reject_answers_422_naming_the_entity_and_the_rule(bundle, rows) -> None:
    with _client(bundle, StoreFiller(rows), "reject") as client:
        r = client.post("/predict", json={"rows": _keyed(rows, [0, 7, 8])})
    assert r.status_code == 422
    found = [(v["column"], v["rule"], v["row"]) for v in r.json()["error"]["violations"]]
    assert found == [("customer_id", "missing_entity", 1), ("customer_id", "expired", 2)]
    assert "customer_id=7" in r.json()["error"]["message"]


def test_impute_answers_and_marks_each_imputed_feature_with_its_reason(bundle, rows) -> None:
    with _client(bundle, StoreFiller(rows), "impute") as client:
        r = client.post("/predict", json={"rows": _keyed(rows, [0, 7, 8])})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["out_of_contract"] == [1, 2]
    preds = body["predictions"]
    assert "contract" not in preds[0]
    assert preds[1]["contract"] == [{"column": "dir", "rule": "missing_entity", "policy": "impute"},
                                    {"column": "lvr", "rule": "missing_entity", "policy": "impute"}]
    assert {m["rule"] for m in preds[2]["contract"]} == {"expired"}
    assert r.headers["X-Out-Of-Contract-Count"] == "2"


def test_impute_leaves_the_contract_strict_for_features_the_store_does_not_give(bundle, rows) -> None:
    keyed = _keyed(rows, [7])
    keyed[0]["hir"] = None  # a gap the caller sent, in a column that never had one: still the contract's not_null
    with _client(bundle, StoreFiller(rows), "impute") as client:
        r = client.post("/predict", json={"rows": keyed})
    assert r.status_code == 422
    assert [(v["column"], v["rule"]) for v in r.json()["error"]["violations"]] == [("hir", "not_null")]


class DownFiller:
    features = FETCHED

    def fill(self, rows: list[dict[str, Any]]) -> OnlineRows:
        raise FeatureStoreError("the online store redis://127.0.0.1:1/0 could not be read: connection refused")


def test_an_online_store_that_is_down_answers_503_not_500(bundle, rows) -> None:
    with _client(bundle, DownFiller(), "reject") as client:  # type: ignore[arg-type]
        r = client.post("/predict", json={"rows": _keyed(rows, [0])})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "feature_store_error"


def test_an_online_store_that_is_down_is_imputed_and_marked_under_impute(bundle, rows) -> None:
    # Redis away while the server runs: predictions continue by the contract's policy, every looked-up
    # feature marked store_unavailable; a row that sent its features is answered as it was
    keyed = [{k: v for k, v in r.items() if k != "customer_id"} for r in _keyed(rows, [0, 1])]
    with _client(bundle, DownFiller(), "impute") as client:  # type: ignore[arg-type]
        r = client.post("/predict", json={"rows": [*keyed, rows[2]]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["out_of_contract"] == [0, 1]
    assert body["predictions"][0]["contract"] == [{"column": "dir", "rule": "store_unavailable", "policy": "impute"},
                                                  {"column": "lvr", "rule": "store_unavailable", "policy": "impute"}]
    assert "contract" not in body["predictions"][2]


def test_the_prediction_log_holds_the_looked_up_features_the_model_used(bundle, rows, tmp_path) -> None:
    from tabloop.predlog import PredictionLog

    log = PredictionLog(tmp_path / "predlog")
    filler = StoreFiller(rows)
    app = app_for(bundle, predlog=log, predictor=with_online_features(FastPredictor, filler, "impute"))
    with TestClient(app) as client:
        assert client.post("/predict", json={"rows": _keyed(rows, [0, 7])}).status_code == 200
    inputs = log.read_predictions()["inputs"].tolist()
    assert inputs[0]["dir"] == pytest.approx(rows[0]["dir"]) and inputs[0]["customer_id"] == 0
    assert inputs[1]["dir"] is None

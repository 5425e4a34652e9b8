"""Auth, limits, metrics, feedback, rollout and hot swap on the in-process app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tabloop.predlog import PredictionLog
from tabloop.serving import ApiKeys, BundlePredictor, Limits, Rollout, hash_key
from tabloop.bundle import ModelBundle, Predictions

from ._apps import app_for

from .._faults import wait_for

Rows = Callable[..., list[dict[str, Any]]]


def _copy(bundle: ModelBundle, version: str, pipeline: Any = None) -> ModelBundle:
    return ModelBundle(
        pipeline=pipeline or bundle.pipeline, contract=bundle.contract, manifest=bundle.manifest,
        reference=bundle.reference, spec_yaml="", name=bundle.name, version=version,
    )


# -- API keys -----------------------------------------------------------------------------

PREDICT_KEY, CONTROL_KEY = "p-secret-1", "c-secret-2"


def _routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            path = route.path.replace("{name}", "hmda").replace("{version}", "1")
            out.append((method, path))
    return out


def test_auth_sweep_over_every_route(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    keys = ApiKeys.of([(hash_key(PREDICT_KEY), ["predict"]), (hash_key(CONTROL_KEY), ["control"])])
    assert PREDICT_KEY not in repr(keys)  # only hashes are kept
    app = app_for(bundle, api_keys=keys, predlog=PredictionLog(tmp_path), dashboard=lambda b: {"windows": []})
    # the dashboard page is static (a browser cannot send a key on navigation); its data needs control
    open_paths = {"/ping", "/health", "/v2/health/live", "/v2/health/ready", "/dashboard"}
    control = {"/metrics", "/control/rollout", "/control/reload", "/dashboard/data"}
    routes = _routes(app)
    assert len(routes) >= 20
    assert {("GET", "/dashboard"), ("GET", "/dashboard/data")} <= set(routes)
    with TestClient(app) as client:
        for method, path in routes:
            no_key = client.request(method, path)
            wrong = client.request(method, path, headers={"Authorization": "Bearer nope"})
            if path in open_paths:
                assert no_key.status_code == 200, (method, path)
                continue
            assert no_key.status_code == 401, (method, path, no_key.text)
            assert wrong.status_code == 401, (method, path)
            needed, other = (CONTROL_KEY, PREDICT_KEY) if path in control else (PREDICT_KEY, CONTROL_KEY)
            assert client.request(method, path, headers={"X-API-Key": other}).status_code == 403, (method, path)
            ok = client.request(method, path, headers={"Authorization": f"Bearer {needed}"})
            assert ok.status_code not in (401, 403), (method, path, ok.text)
        # each dialect answers auth errors in its own shape
        assert client.post("/invocations", json={}).json()["error_code"] == "UNAUTHENTICATED"
        assert isinstance(client.post("/v2/models/hmda/infer", json={}).json()["error"], str)
        assert client.post("/predict", json=[]).json()["error"]["code"] == "unauthenticated"
        good = client.post("/predict", json=make_rows(1), headers={"X-API-Key": PREDICT_KEY})
        assert good.status_code == 200


def test_api_keys_refuse_plain_secrets_and_unknown_scopes() -> None:
    from tabloop.errors import ServingError

    with pytest.raises(ServingError):
        ApiKeys.of([("not-a-hash", ["predict"])])
    with pytest.raises(ServingError):
        ApiKeys.of([(hash_key("x"), ["admin"])])


# -- limits ---------------------------------------------------------------------------------


class _Gate:
    """A predictor that waits for ``release`` before answering."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.inner = BundlePredictor(bundle)
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict_rows(self, rows: list[dict[str, Any]]) -> Predictions:
        self.entered.set()
        self.release.wait(10)
        return self.inner.predict_rows(rows)


def test_concurrency_limit_is_429_and_timeout_is_504(bundle: ModelBundle, make_rows: Rows) -> None:
    gate = _Gate(bundle)
    app = app_for(bundle, predictor=gate, limits=Limits(max_concurrency=1, timeout_s=0.5))
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/predict", json=make_rows(1))
        assert gate.entered.wait(10)
        busy = client.post("/predict", json=make_rows(1))
        assert busy.status_code == 429
        assert busy.json()["error"]["code"] == "too_many_requests"
        slow = first.result(20)
        assert slow.status_code == 504
        assert slow.json()["error"]["code"] == "timeout"
        gate.release.set()
        assert client.post("/predict", json=make_rows(1)).status_code == 200


@pytest.mark.parametrize("path", ["/predict", "/invocations", "/v2/models/hmda/infer", "/feedback"])
def test_deep_json_and_huge_numbers_are_4xx(bundle: ModelBundle, path: str, tmp_path: Path) -> None:
    with TestClient(app_for(bundle, predlog=PredictionLog(tmp_path))) as client:
        for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"[1e400]",
                     b'{"inputs": [{"name": "dir", "shape": [1], "datatype": "FP64", "data": [1e400]}]}'):
            r = client.post(path, content=body, headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (path, body[:30], r.status_code, r.text[:200])
        assert client.get("/health").status_code == 200


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_count_requests_rows_errors_and_predictions(bundle: ModelBundle, make_rows: Rows) -> None:
    with TestClient(app_for(bundle)) as client:
        client.post("/predict", json=make_rows(3))
        client.post("/invocations", json={"dataframe_records": make_rows(2)})
        client.post("/predict", json=[{"dir": "x"}])
        text = client.get("/metrics").text
    assert 'tabloop_requests_total{dialect="tabloop",model_version="1",variant="champion"} 1.0' in text
    assert 'tabloop_requests_total{dialect="mlflow",model_version="1",variant="champion"} 1.0' in text
    assert 'tabloop_rows_total{model_version="1",variant="champion"} 5.0' in text
    assert 'tabloop_request_errors_total{code="contract_violation",dialect="tabloop",status="422"} 1.0' in text
    assert "tabloop_request_latency_seconds_bucket" in text
    assert 'tabloop_predictions_total{label="no",model_version="1",variant="champion"}' in text
    assert 'tabloop_model_info{model="hmda",model_version="1",variant="champion"} 1.0' in text


# -- feedback ---------------------------------------------------------------------------------


def test_feedback_appends_labels_by_request_id(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    with TestClient(app_for(bundle, predlog=log)) as client:
        rid = client.post("/predict", json=make_rows(2)).json()["request_id"]
        r = client.post("/feedback", json=[{"request_id": rid, "row": 0, "label": "yes"}, {"request_id": rid, "row": 1, "label": "no"}])
        assert r.status_code == 200 and r.json() == {"accepted": 2}
        assert client.post("/feedback", json={"request_id": rid, "label": "no"}).status_code == 200
        bad = client.post("/feedback", json={"request_id": rid, "label": None, "extra": 1})
        assert bad.status_code == 422
        assert {v["rule"] for v in bad.json()["error"]["violations"]} == {"not_null", "unexpected_column"}
        # a label the model cannot have would stop every later join of realized metrics: refused, nothing written
        stray = client.post("/feedback", json=[{"request_id": rid, "row": 0, "label": "yes"}, {"request_id": rid, "label": "maybe"}])
        assert stray.status_code == 422
        (violation,) = stray.json()["error"]["violations"]
        assert (violation["column"], violation["rule"], violation["row"]) == ("label", "allowed_values", 1)
        assert "'maybe'" in violation["message"] and "['no', 'yes']" in violation["message"]
    fb = log.read_feedback()
    assert sorted(zip(fb["row"], fb["label"])) == [(0, "no"), (1, "no")]
    assert set(fb["request_id"]) == {rid}


# -- rollout ----------------------------------------------------------------------------------


def test_shadow_logs_challenger_and_never_returns_it(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    app = app_for(bundle, predlog=log, challenger=_copy(bundle, "2"), rollout=Rollout("shadow"))
    with TestClient(app) as client:
        answers = [client.post("/predict", json=make_rows(2, start=i)).json() for i in range(5)]
    # shutdown waited for the shadow work; read the metrics after it
    metrics = app.state.tabloop.metrics.exposition().decode()
    assert {a["variant"] for a in answers} == {"champion"}
    assert {a["model"]["version"] for a in answers} == {"1"}
    logged = log.read_predictions()
    assert len(logged) == 20
    assert logged.groupby("variant").size().to_dict() == {"champion": 10, "challenger": 10}
    shadow = logged[logged["variant"] == "challenger"]
    assert set(shadow["version"]) == {"2"} and set(shadow["source"]) == {"shadow"}
    assert set(shadow["request_id"]) == {a["request_id"] for a in answers}
    assert 'tabloop_rows_total{model_version="2",variant="challenger"} 10.0' in metrics


def test_ab_is_sticky_by_key_and_canary_takes_its_share(bundle: ModelBundle, make_rows: Rows) -> None:
    app = app_for(bundle, challenger=_copy(bundle, "2"), rollout=Rollout("ab", share=0.5, key="dmi"))
    rows = make_rows(200)
    with TestClient(app) as client:
        by_key: dict[str, set[str]] = {}
        for row in rows[:40]:
            got = client.post("/predict", json=[row]).json()
            by_key.setdefault(row["dmi"], set()).add(got["variant"])
        assert all(len(v) == 1 for v in by_key.values())
        # the control route switches to a canary without a restart
        r = client.post("/control/rollout", json={"mode": "canary", "share": 0.25, "key": None})
        assert r.status_code == 200 and r.json()["mode"] == "canary"
        variants = [client.post("/predict", json=[row]).json()["variant"] for row in rows[:160]]
        share = variants.count("challenger") / len(variants)
        assert 0.1 < share < 0.4
        assert client.post("/control/rollout", json={"mode": "sideways"}).status_code == 400
        assert client.post("/control/rollout", json={"share": 2}).status_code == 400
        assert client.get("/control/rollout").json()["share"] == 0.25
        assert 'variant="challenger"' in client.get("/metrics").text


# -- hot swap -----------------------------------------------------------------------------------


class _Source:
    def __init__(self, bundles: dict[str, ModelBundle]) -> None:
        self.bundles = bundles
        self.alias = {"champion": "1"}
        self.loads: list[str] = []

    def version(self, alias: str) -> str | None:
        return self.alias.get(alias)

    def load(self, alias: str, version: str) -> ModelBundle:
        self.loads.append(version)
        return self.bundles[version]


class _BrokenPipeline:
    def predict_proba(self, X: Any) -> Any:
        raise RuntimeError("cannot predict")


def test_alias_moves_under_load_with_no_failed_request(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    bundles = {v: _copy(bundle, v) for v in ("1", "2", "3")}
    bundles["4"] = _copy(bundle, "4", _BrokenPipeline())
    source = _Source(bundles)
    log = PredictionLog(tmp_path)
    app = app_for(bundles["1"], predlog=log, source=source, aliases={"champion": "champion"}, poll_interval_s=0.05)
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()
    with TestClient(app) as client:

        def load() -> None:
            deadline = time.monotonic() + 60
            n = 0
            while not stop.is_set() and n < 2000 and time.monotonic() < deadline:
                r = client.post("/predict", json=make_rows(2, start=n % 50))
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["model"]["version"])
                n += 1

        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(load) for _ in range(3)]
            for target in ("2", "3", "4", "1", "2"):
                source.alias["champion"] = target
                if target == "4":
                    assert wait_for(lambda: "champion" in client.get("/health").json()["models"]["failures"])
                else:
                    assert wait_for(lambda t=target: client.get("/health").json()["model"]["version"] == t)
                    time.sleep(0.1)
            stop.set()
            for f in futures:
                f.result(90)
        health = client.get("/health").json()
    assert statuses and set(statuses) == {200}
    assert versions == {"1", "2", "3"}
    assert health["model"]["version"] == "2"
    assert health["status"] == "ok"  # the failure of v4 was cleared by the later swaps
    logged = log.read_predictions()
    assert len(logged) == 2 * len(statuses)
    assert set(logged["version"]) == {"1", "2", "3"}


def test_failed_swap_is_reported_and_old_version_keeps_serving(bundle: ModelBundle, make_rows: Rows) -> None:
    source = _Source({"1": bundle, "9": _copy(bundle, "9", _BrokenPipeline())})
    app = app_for(bundle, source=source, aliases={"champion": "champion"})
    with TestClient(app) as client:
        source.alias["champion"] = "9"
        assert client.post("/control/reload").json()["outcome"] == {"champion": "failed"}
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert health["models"]["failures"]["champion"]["version"] == "9"
        assert client.post("/predict", json=make_rows(1)).json()["model"]["version"] == "1"
        # not retried until the alias moves again
        assert client.post("/control/reload").json()["outcome"] == {"champion": "failed"}
        assert source.loads == ["9"]
        assert 'tabloop_model_swaps_total{outcome="failed",variant="champion"} 1.0' in client.get("/metrics").text

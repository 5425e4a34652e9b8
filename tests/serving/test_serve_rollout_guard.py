"""The rollout guard and the bandit in the app: a challenger that errors is rolled back, the rollback is kept for a
restart, a new challenger resumes the rollout, and labels fed back move the bandit's share."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tabloop.bundle import ModelBundle
from tabloop.predlog import PredictionLog
from tabloop.serving import FastPredictor, GuardLimits, Rollout

from ._apps import app_for

ERRORS_ONLY = GuardLimits(max_latency_ratio=None, max_metric_drop=None, min_requests=20, interval_s=3600)


def _copy(bundle: ModelBundle, version: str) -> ModelBundle:
    return ModelBundle(pipeline=bundle.pipeline, contract=bundle.contract, manifest=bundle.manifest,
                       reference=bundle.reference, spec_yaml="", name=bundle.name, version=version, onnx=bundle.onnx)


class _Broken:
    """Passes the warm-up a new version gets before it serves, then fails every request."""

    engine = "sklearn"

    def __init__(self, bundle: ModelBundle) -> None:
        self.inner = FastPredictor(bundle)
        self.calls = 0

    def predict_rows(self, rows: Any) -> Any:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("the challenger's pipeline is broken")
        return self.inner.predict_rows(rows)


def _factory(broken: set[str]) -> Any:
    def make(bundle: ModelBundle) -> Any:
        return _Broken(bundle) if bundle.version in broken else FastPredictor(bundle)
    return make


def _app(bundle: ModelBundle, tmp_path: Path, challenger: str = "2", **settings: Any) -> Any:
    settings.setdefault("rollout", Rollout("canary", share=0.5))
    settings.setdefault("guard", ERRORS_ONLY)
    return app_for(bundle, challenger=_copy(bundle, challenger), predictor=_factory({"2"}),
                   state_dir=tmp_path / "serving", **settings)


def test_a_challenger_that_errors_is_rolled_back_kept_off_after_a_restart_and_a_new_one_resumes(
    bundle: ModelBundle, make_rows: Any, tmp_path: Path,
) -> None:
    told: list[dict[str, Any]] = []
    done = threading.Event()

    def hook(event: dict[str, Any]) -> None:
        told.append(event)
        done.set()

    app = _app(bundle, tmp_path, on_rollback=hook)
    service = app.state.tabloop
    with TestClient(app, raise_server_exceptions=False) as client:
        statuses = [client.post("/predict", json=make_rows(1, start=i)).status_code for i in range(80)]
        assert statuses.count(500) > 20 and statuses.count(200) > 20  # the canary sent half to the challenger
        assert service.check_rollout() is not None
        state = client.get("/control/rollout").json()
        assert state["mode"] == "off"
        event = state["guard"]["rolled_back"]
        assert (event["candidate"], event["baseline"], event["by"]) == ("2", "1", "tabloop")
        (errors,) = [c for c in event["verdict"]["checks"] if c["name"] == "error_rate"]
        assert errors["challenger"] == 1.0 and errors["champion"] == 0.0 and errors["fired"]
        assert event["why"].startswith("error_rate: challenger 1 vs champion 0")
        assert done.wait(10) and told[0]["candidate"] == "2"
        # every request goes to the champion now, and nothing is judged again
        assert {client.post("/predict", json=make_rows(1, start=i)).json()["variant"] for i in range(40)} == {
            "champion"}
        assert service.check_rollout() is None
    saved = json.loads((tmp_path / "serving" / "rollout.json").read_text())
    assert saved["rolled_back"]["candidate"] == "2" and len(saved["history"]) == 1

    # a restart with the same challenger: the spec's canary is not resumed
    again = _app(bundle, tmp_path)
    with TestClient(again, raise_server_exceptions=False) as client:
        assert client.get("/control/rollout").json()["mode"] == "off"
        assert all(client.post("/predict", json=make_rows(1, start=i)).status_code == 200 for i in range(30))
    # a new challenger version is judged afresh: the rollout runs as configured
    fresh = _app(bundle, tmp_path, challenger="3")
    with TestClient(fresh) as client:
        state = client.get("/control/rollout").json()
        assert state["mode"] == "canary" and state["guard"]["rolled_back"] is None
        assert state["guard"]["rollbacks"] == 1  # the history is kept
        variants = {client.post("/predict", json=make_rows(1, start=i)).json()["variant"] for i in range(40)}
        assert variants == {"champion", "challenger"}


def test_the_background_guard_rolls_back_by_itself(bundle: ModelBundle, make_rows: Any, tmp_path: Path) -> None:
    limits = GuardLimits(max_latency_ratio=None, max_metric_drop=None, min_requests=20, interval_s=0.05)
    app = _app(bundle, tmp_path, guard=limits)
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(80):
            client.post("/predict", json=make_rows(1, start=i))
        deadline = time.monotonic() + 10
        while client.get("/control/rollout").json()["mode"] != "off" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/control/rollout").json()["guard"]["rolled_back"]["candidate"] == "2"


def test_an_operator_setting_the_rollout_lifts_the_rollback(bundle: ModelBundle, make_rows: Any,
                                                             tmp_path: Path) -> None:
    app = _app(bundle, tmp_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(80):
            client.post("/predict", json=make_rows(1, start=i))
        assert app.state.tabloop.check_rollout() is not None
        r = client.post("/control/rollout", json={"mode": "canary", "share": 0.5})
        assert r.status_code == 200 and r.json()["guard"]["rolled_back"] is None
        assert 500 in {client.post("/predict", json=make_rows(1, start=i)).status_code for i in range(40)}
        assert client.post("/control/rollout", json={"floor": 2}).status_code == 400
        assert client.post("/control/rollout", json={"seed": "x"}).status_code == 400


def test_without_a_guard_nothing_is_rolled_back(bundle: ModelBundle, make_rows: Any, tmp_path: Path) -> None:
    app = _app(bundle, tmp_path, guard=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(80):
            client.post("/predict", json=make_rows(1, start=i))
        assert app.state.tabloop.check_rollout() is None
        state = client.get("/control/rollout").json()
        assert state["mode"] == "canary" and not state["guard"]["enabled"] and state["guard"]["arms"] == {}


def test_labels_move_the_bandit_share_and_it_survives_a_restart(bundle: ModelBundle, make_rows: Any,
                                                                tmp_path: Path) -> None:
    def app() -> Any:
        return app_for(bundle, challenger=_copy(bundle, "2"), predlog=PredictionLog(tmp_path / "log"),
                       rollout=Rollout("bandit", floor=0.2, seed=3), state_dir=tmp_path / "serving")

    first = app()
    with TestClient(first) as client:
        start = client.get("/control/rollout").json()["bandit"]
        assert start["share"] == 0.5 and start["floor"] == 0.2
        labels = []
        for i in range(120):
            body = client.post("/predict", json=make_rows(1, start=i)).json()
            answer = body["predictions"][0]["prediction"]
            # the challenger is always right, the champion always wrong
            right = answer if body["variant"] == "challenger" else ("no" if answer == "yes" else "yes")
            labels.append({"request_id": body["request_id"], "label": right})
        assert client.post("/feedback", json=labels).json()["accepted"] == 120
        # the same labels again (a retry): logged, but each answered row is rewarded once
        assert client.post("/feedback", json=labels[:60]).json()["accepted"] == 60
        bandit = client.get("/control/rollout").json()["bandit"]
        assert bandit["arms"]["challenger"]["n"] + bandit["arms"]["champion"]["n"] == 120
        assert bandit["share"] == pytest.approx(0.8)  # capped: the champion keeps its floor
        assert bandit["arms"]["challenger"]["mean"] == 1.0 and bandit["arms"]["champion"]["mean"] == 0.0
        late = [client.post("/predict", json=make_rows(1, start=i)).json()["variant"] for i in range(200, 400)]
        assert 0.65 < late.count("challenger") / len(late) < 0.92
    with TestClient(app()) as client:
        restored = client.get("/control/rollout").json()["bandit"]
        assert restored["arms"] == bandit["arms"] and restored["share"] == pytest.approx(0.8)


def test_a_worker_follows_the_rollback_another_worker_saved(bundle: ModelBundle, make_rows: Any,
                                                            tmp_path: Path) -> None:
    told: list[dict[str, Any]] = []
    first, second = _app(bundle, tmp_path), _app(bundle, tmp_path, on_rollback=told.append)
    with TestClient(first, raise_server_exceptions=False) as a, TestClient(second) as b:
        for i in range(80):
            a.post("/predict", json=make_rows(1, start=i))
        assert b.get("/control/rollout").json()["mode"] == "canary"
        assert first.state.tabloop.check_rollout() is not None
        assert second.state.tabloop.check_rollout() is None  # adopted, not decided again: no second alert
        state = b.get("/control/rollout").json()
        assert state["mode"] == "off" and state["guard"]["rolled_back"]["candidate"] == "2"
        assert {b.post("/predict", json=make_rows(1, start=i)).json()["variant"] for i in range(30)} == {"champion"}
    assert told == []


@pytest.mark.parametrize("text", ["not json", "[]", '{"history": 5, "rolled_back": "x", "pair": ["1", "2"], '
                                  '"bandit": {"kind": "binary", "arms": {"champion": {"n": "many"}}}}'])
def test_an_unreadable_state_file_starts_the_rollout_as_configured(bundle: ModelBundle, make_rows: Any,
                                                                   tmp_path: Path, text: str) -> None:
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "rollout.json").write_text(text)
    app = app_for(bundle, challenger=_copy(bundle, "2"), rollout=Rollout("bandit", seed=1), guard=ERRORS_ONLY,
                  state_dir=tmp_path / "serving")
    with TestClient(app) as client:
        state = client.get("/control/rollout").json()
        assert state["mode"] == "bandit" and state["guard"]["rolled_back"] is None
        assert state["bandit"]["arms"]["champion"]["n"] == 0
        assert client.post("/predict", json=make_rows(1)).status_code == 200

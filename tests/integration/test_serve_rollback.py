"""The rollout guard on the real server: ``tabloop serve`` in its own process on loopback, a challenger that answers
badly, labels fed back over HTTP, and the automatic rollback: the alias moved back (audit log), the alert at a local
receiver, the champion answering after, and the rollback kept in the workspace for a restart."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

import tabloop

from .._spec_edit import set_spec
from ._server import wait_until_answering

pytestmark = pytest.mark.integration

PER_REQUEST = 5
REQUESTS = 80


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}


class _Serve:
    def __init__(self, root: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tabloop", "serve", "--project", str(root), "--port", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=err, env=_env(),
            )
        wait_until_answering(self.proc, self.url, log, probe="/ping", timeout_s=180, poll_s=0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _bad_challenger(root: Path) -> str:
    """Register version 2: the champion's preparation, then a constant "yes" (right on about one row in eight)."""
    from tabloop.api._project import Project

    proj = Project.open(root)
    good = proj.load_bundle("1")
    prep = Pipeline(good.pipeline.steps[:-1])
    always_yes = DummyClassifier(strategy="constant", constant=1).fit(np.zeros((2, 1)), [0, 1])
    bad = dataclasses.replace(
        good, pipeline=Pipeline([*prep.steps, ("model", always_yes)]), onnx=None,
        manifest=good.manifest.replace(onnx=None), version=None,
    )
    ref = proj.tracker.register_bundle(bad, proj.spec.model_name, key=proj.workspace.signing_key())
    proj.tracker.set_alias(proj.spec.model_name, "challenger", ref.version)
    return ref.version


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


def _wait(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_a_promoted_challenger_that_answers_badly_is_rolled_back_and_the_rollback_kept(
    trained_project: Path, hmda: pd.DataFrame, tmp_path: Path, receiver: tuple[str, type[_Receiver]],
) -> None:
    url, received = receiver
    root = tmp_path / "proj"
    shutil.copytree(trained_project, root, symlinks=True)
    set_spec(root, **{
        "alerts.webhook": url,
        "serving.poll_interval_s": 0.3,
        "serving.rollout.mode": "canary", "serving.rollout.share": 0.5,
        "serving.rollout.guard": {"enabled": True, "min_requests": 20, "min_labels": 30, "interval_s": 0.3,
                                  "max_latency_ratio": None},
    })
    bad = _bad_challenger(root)
    stderr = tmp_path / "server.stderr"
    server = _Serve(root, stderr)
    features, truth = hmda.drop(columns=["deny"]), hmda["deny"].astype(str)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            labels: list[dict[str, Any]] = []
            variants = []
            for i in range(REQUESTS):
                start = i * PER_REQUEST
                answer = client.post("/predict", json=_rows(features.iloc[start:start + PER_REQUEST]))
                assert answer.status_code == 200, answer.text
                body = answer.json()
                variants.append(body["variant"])
                labels += [{"request_id": body["request_id"], "row": r, "label": truth.iloc[start + r]}
                           for r in range(PER_REQUEST)]
            assert 10 < variants.count("challenger") < REQUESTS - 10  # the canary shared the traffic
            # the loop promotes the challenger meanwhile; the server follows the alias
            tabloop.promote(bad, project=root, force=True, reason="the loop's promotion, for the test")
            _wait("the promoted challenger to answer as champion",
                  lambda: client.get("/control/rollout").json()["guard"]["promoted"])
            # the labels arrive: the challenger was right on about one row in eight
            assert client.post("/feedback", json=labels).json()["accepted"] == len(labels)
            state = _wait("the rollback", lambda: (s := client.get("/control/rollout").json())["guard"]["rolled_back"]
                          and s)
            assert state["mode"] == "off"
            event = state["guard"]["rolled_back"]
            assert (event["candidate"], event["baseline"], event["by"], event["promoted"]) == (bad, "1", "tabloop", True)
            accuracy = next(c for c in event["verdict"]["checks"] if c["name"] == "accuracy_drop")
            assert accuracy["fired"] and accuracy["challenger"] < 0.3 and accuracy["p_value"] < 0.01
            # the champion alias went back, recorded in the audit log by tabloop with the numbers
            _wait("the alias move", lambda: tabloop.history("champion", project=root).current["champion"] == "1")
            last = tabloop.history("champion", project=root).moves[-1]
            assert (last["from_version"], last["to_version"], last["how"], last["by"]) == (bad, "1", "rollback",
                                                                                            "tabloop")
            assert "accuracy_drop" in last["why"]
            alert = _wait("the rollback alert", lambda: [a for a in received.received if a["kind"] == "rollback"])[0]
            assert alert["subject"] == f"rollout:{bad}" and alert["details"]["alias_moved"]["to"] == "1"
            # the server follows the alias back: version 1 answers every request
            _wait("version 1 to answer", lambda: client.post("/predict", json=_rows(features.iloc[:1])).json()
                  ["model"]["version"] == "1")
            answers = [client.post("/predict", json=_rows(features.iloc[i:i + 1])).json() for i in range(20)]
            assert {(a["variant"], a["model"]["version"]) for a in answers} == {("champion", "1")}
    finally:
        server.stop()
    saved = json.loads((root / ".tabloop" / "serving" / "rollout.json").read_text())
    assert saved["rolled_back"]["candidate"] == bad and len(saved["history"]) == 1
    assert "Traceback" not in stderr.read_text(errors="replace"), stderr.read_text(errors="replace")
    from fastapi.testclient import TestClient

    from tabloop.api._monitor import _rollout_state
    from tabloop.api._project import Project
    from tabloop.api._serve import _build

    # a restart: the app 'tabloop serve' builds (in this process: a second server would cost most of a minute); the
    # spec still says canary and the challenger alias still names the bad version, yet the champion answers alone
    app, _, challenger, _ = _build(Project.open(root), None)
    assert challenger is not None and challenger.version == bad
    with TestClient(app, base_url="http://127.0.0.1") as client:
        state = client.get("/control/rollout").json()
        assert state["mode"] == "off" and state["guard"]["rolled_back"]["candidate"] == bad
        answers = [client.post("/predict", json=_rows(features.iloc[i:i + 1])).json() for i in range(30)]
        assert {a["variant"] for a in answers} == {"champion"}
    # what 'tabloop monitor --json' reports as its rollout (the whole monitor is not run here: it costs most of a minute)

    shown = _rollout_state(Project.open(root))
    assert shown is not None and shown["rolled_back"]["candidate"] == bad and shown["guard"]["enabled"]

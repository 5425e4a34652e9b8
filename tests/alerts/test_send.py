"""Alerts reach a real local webhook and a command, once per repeat window, and never fail the caller."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tabloop
from tabloop.alerts import Alert, send_alert
from tabloop.spec import AlertSpec

from .._spec_edit import set_spec


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"content_type": self.headers["Content-Type"], "body": json.loads(body)})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/secret-token?x=1", handler
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_alert_is_posted_and_run_once_per_repeat_window(receiver, tmp_path: Path) -> None:
    url, handler = receiver
    out = tmp_path / "command-got.json"
    spec = AlertSpec(webhook=url, command=[sys.executable, "-c", f"import sys; open({str(out)!r}, 'ab').write(sys.stdin.buffer.read() + b'\\n')"])
    alert = Alert("drift", "proj: 2 drifted features", "proj", "a,b", {"drifted_features": ["a", "b"]})
    first = send_alert(alert, spec, tmp_path / "state")
    assert first.status == "sent" and first.errors == []
    assert len(handler.received) == 1
    posted = handler.received[0]
    assert posted["content_type"] == "application/json"
    assert posted["body"]["kind"] == "drift" and posted["body"]["details"]["drifted_features"] == ["a", "b"]
    assert json.loads(out.read_text().splitlines()[0])["title"] == "proj: 2 drifted features"

    again = send_alert(alert, spec, tmp_path / "state")
    assert again.status == "deduplicated" and again.last_sent_s is not None
    other = send_alert(Alert("drift", "proj: 1 drifted feature", "proj", "c"), spec, tmp_path / "state")
    assert other.status == "sent"  # another subject is another alert
    assert len(handler.received) == 2 and len(out.read_text().splitlines()) == 2

    no_wait = AlertSpec(webhook=url, repeat_minutes=0)
    assert send_alert(alert, no_wait, tmp_path / "state").status == "sent"


def test_a_failed_delivery_is_reported_not_raised_and_tried_again(receiver, tmp_path: Path) -> None:
    url, handler = receiver
    dead = AlertSpec(webhook=f"http://127.0.0.1:{_closed_port()}/hook?token=s3cret")
    alert = Alert("rollback", "rolled back", "proj", "champion:2->1")
    out = send_alert(alert, dead, tmp_path / "state")
    assert out.status == "failed" and len(out.errors) == 1
    assert "s3cret" not in out.errors[0]  # a webhook's token never lands in a log or an answer
    handler.status = 500
    assert send_alert(alert, AlertSpec(webhook=url), tmp_path / "state").status == "failed"
    handler.status = 200
    assert send_alert(alert, AlertSpec(webhook=url), tmp_path / "state").status == "sent"  # not deduplicated


def test_no_target_or_a_kind_not_listed_sends_nothing(receiver, tmp_path: Path) -> None:
    url, handler = receiver
    assert send_alert(Alert("drift", "t", "p"), AlertSpec(), tmp_path).status == "off"
    assert send_alert(Alert("drift", "t", "p"), AlertSpec(webhook=url, on=["rollback"]), tmp_path).status == "off"
    assert handler.received == []


def test_monitor_alerts_on_drift_once_across_runs(receiver, tmp_path: Path, trained_project: Path,
                                                  hmda: pd.DataFrame) -> None:
    url, handler = receiver
    root = tmp_path / "proj"
    shutil.copytree(trained_project, root, symlinks=True)  # the shared project stays as it is
    set_spec(root, **{"alerts.webhook": url})
    drifted = hmda.sample(2000, random_state=0).drop(columns=["deny"])
    drifted["dir"] = drifted["dir"] * 3 + np.random.default_rng(0).normal(0, 0.1, len(drifted))
    drifted.to_csv(tmp_path / "drifted.csv", index=False)
    first = tabloop.monitor(root, current=tmp_path / "drifted.csv")
    assert first.policy_crossed and "dir" in first.drifted_features
    assert [a["status"] for a in first.alerts] == ["sent"]
    assert handler.received[0]["body"]["kind"] == "drift" and "dir" in handler.received[0]["body"]["subject"]
    second = tabloop.monitor(root, current=tmp_path / "drifted.csv")
    assert [a["status"] for a in second.alerts] == ["deduplicated"]
    assert len(handler.received) == 1


def test_server_errors_alert_once_off_the_request_thread(receiver, tmp_path: Path, trained_project: Path) -> None:
    from tabloop.api._project import Project
    from tabloop.api._serve import ServerErrorAlerts

    url, handler = receiver
    root = tmp_path / "proj"
    shutil.copytree(trained_project, root, symlinks=True)
    set_spec(root, **{"alerts.webhook": url})
    alerts = ServerErrorAlerts(Project.open(root))
    for _ in range(50):  # a failing disk: every request answers 503
        alerts(503, "prediction_log_unavailable")
    deadline = time.monotonic() + 10
    while not handler.received and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(handler.received) == 1
    body = handler.received[0]["body"]
    assert body["kind"] == "errors" and body["subject"] == "503:prediction_log_unavailable"

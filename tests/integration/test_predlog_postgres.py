"""The server with its log shipped to a PostgreSQL of the test's own, which goes away and comes back.

Predictions keep being answered while the database is down (the local files are the
buffer); once it is back the shipper catches up, and the table then holds exactly the
rows the local log holds: every answered one, none twice. The same after the server is
killed with SIGKILL mid-load while the database is cut off mid-transaction.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tabloop.predlog import LogShipper, PostgresLog, PredictionLog

from ._private_pg import PrivatePostgres, private_pg  # noqa: F401 - the fixture
from .test_serve_durability import _Load, _serving, bundle_dir, one_row, stop_later  # noqa: F401 - fixtures
from .._postgres import scratch_database

pytestmark = pytest.mark.integration

SERVER = """
import logging, sys
from tabloop.predlog import LogShipper, PredictionLog
from tabloop.serving import LogConfig, ServeConfig, create_app, run_server
from tabloop.bundle import ModelBundle
from tabloop.workspace import SigningKey

logging.basicConfig(level=logging.WARNING)
key = SigningKey.from_text("integration tests: the bundle key", source="test")
bundle = ModelBundle.load(sys.argv[1], key=key, name="hmda", version="1")
log_dir, url = sys.argv[2], sys.argv[4]
shipper = LogShipper(log_dir, url, "hmda", interval_s=0.05, batch_bytes=16384)
app = create_app(ServeConfig(bundle, log=LogConfig(PredictionLog(log_dir, segment="w1"), shipper=shipper)))
run_server(app, port=int(sys.argv[3]))
"""


def _ids(frame: Any) -> list[str]:
    return frame["request_id"].map(str).tolist()


def _wait_for_rows(url: str, n: int, timeout_s: float = 60.0) -> int:
    """Poll the table until it holds ``n`` prediction rows; what it holds at the end."""
    deadline = time.monotonic() + timeout_s
    held = 0
    while time.monotonic() < deadline:
        try:
            held = PostgresLog(url, "hmda").count().get("prediction", 0)
        except Exception:
            held = -1
        if held >= n:
            return held
        time.sleep(0.1)
    return held


def _predict(client: httpx.Client, row: list[dict[str, Any]], ids: list[str]) -> list[int]:
    return [client.post("/predict", json=row, headers={"X-Request-ID": rid}).status_code for rid in ids]


def test_predictions_go_on_while_postgres_is_down_and_the_table_catches_up_exactly(
    bundle_dir: Path, one_row: list[dict[str, Any]], tmp_path: Path,  # noqa: F811
    stop_later: list[subprocess.Popen[bytes]], private_pg: PrivatePostgres,  # noqa: F811
) -> None:
    log_dir = tmp_path / "predlog"
    proc, url, stderr = _serving(
        lambda port: [SERVER, str(bundle_dir), str(log_dir), str(port), private_pg.url], tmp_path, stop_later)
    with httpx.Client(base_url=url, timeout=30.0) as client:
        assert _predict(client, one_row, [f"up-{i}" for i in range(40)]) == [200] * 40
        assert _wait_for_rows(private_pg.url, 40) == 40

        private_pg.stop()
        assert _predict(client, one_row, [f"down-{i}" for i in range(60)]) == [200] * 60
        assert client.get("/health").status_code == 200  # the database is no part of readiness
        deadline = time.monotonic() + 30
        while client.get("/health").json()["log"]["shipping"]["ok"] and time.monotonic() < deadline:
            time.sleep(0.05)
        shipping = client.get("/health").json()["log"]["shipping"]
        assert not shipping["ok"] and shipping["last_error"], shipping
        assert "postgres@" not in str(shipping)  # no user (or password) in what the server shows
        local = _ids(PredictionLog(log_dir).read_predictions())
        assert len(local) == 100 and {f"down-{i}" for i in range(60)} <= set(local)  # answered: on local disk

        private_pg.start()
        assert _wait_for_rows(private_pg.url, 100) == 100, stderr.read_text(errors="replace")
        assert client.get("/health").json()["log"]["shipping"]["ok"]
        metrics = client.get("/metrics").text
        assert "tabloop_prediction_log_rows_shipped_total 100.0" in metrics
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, stderr.read_text(errors="replace")
    remote = _ids(PostgresLog(private_pg.url, "hmda").read_predictions())
    assert remote == local  # the same rows in the same order: nothing lost, nothing twice


def test_a_server_killed_mid_load_while_postgres_is_cut_off_loses_and_repeats_nothing(
    bundle_dir: Path, one_row: list[dict[str, Any]], tmp_path: Path,  # noqa: F811
    stop_later: list[subprocess.Popen[bytes]], private_pg: PrivatePostgres,  # noqa: F811
) -> None:
    log_dir = tmp_path / "predlog"
    proc, url, stderr = _serving(
        lambda port: [SERVER, str(bundle_dir), str(log_dir), str(port), private_pg.url], tmp_path, stop_later)
    with _Load(url, one_row) as load:
        assert load.enough.wait(120), f"only {len(load.acked)} answers:\n{stderr.read_text(errors='replace')}"
        # the shipper ships every 50 ms in small batches: the cut lands in or between its transactions
        private_pg.stop()
        acked_while_down = len(load.acked)
        deadline = time.monotonic() + 30
        while len(load.acked) < acked_while_down + 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(load.acked) >= acked_while_down + 50, "the server stopped answering when PostgreSQL went away"
        private_pg.start()
        time.sleep(0.3)  # let the shipper get into its catch-up, then kill it there
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    local = _ids(PredictionLog(log_dir).read_predictions())
    assert set(load.acked) <= set(local)
    # whoever ships next (a restarted server, tabloop monitor's catch-up) starts where the table stops
    LogShipper(log_dir, private_pg.url, "hmda").ship()
    remote = _ids(PostgresLog(private_pg.url, "hmda").read_predictions())
    assert len(remote) == len(set(remote)), "a row was shipped twice"
    assert remote == local


@pytest.fixture()
def pg_database() -> Iterator[str]:
    """A database of the test's own on the shared server (never stopped), dropped afterwards."""
    with scratch_database("tabloop_test") as url:
        yield url


def test_the_commands_log_to_and_read_from_the_database_when_the_url_is_set(
    pg_database: str, trained_project: Path, hmda_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """predict ships its rows; feedback and monitor read the database (another machine's rows included)."""
    import pandas as pd

    import tabloop

    root = tmp_path / "proj"
    shutil.copytree(trained_project, root)  # the shared project's own log stays as it is
    # and the copy starts with none: earlier tests in the session logged into the shared project, and the
    # shipper rightly ships every row of the folder (2,420 against the 2,381 this test predicted)
    shutil.rmtree(root / ".tabloop" / "predlog", ignore_errors=True)
    monkeypatch.setenv("TABLOOP_PREDLOG_URL", pg_database)
    scored = tabloop.predict(hmda_csv, tmp_path / "out.csv", project=root)
    project = tabloop.api._project.Project.open(root).spec.model_name
    assert PostgresLog(pg_database, project).count() == {"prediction": scored.logged}
    # another machine's server logged (and shipped) rows of the same project
    other = tmp_path / "other-machine"
    logged = PredictionLog(root / ".tabloop" / "predlog").read_predictions().iloc[0].to_dict()
    PredictionLog(other, segment="1").append([{**logged, "request_id": "elsewhere", "row": 0}])
    LogShipper(other, pg_database, project).ship()
    labels = pd.DataFrame({"request_id": [scored.request_id, "elsewhere"], "row": [0, 0], "label": ["no", "yes"]})
    result = tabloop.feedback(labels, project=root)
    assert result.matched == 2 and result.unmatched == 0  # the other machine's row was found in the database
    assert PostgresLog(pg_database, project).count()["feedback"] == 2
    drift = tabloop.monitor(root)
    assert "read from postgresql+psycopg://***@127.0.0.1:5432/" in drift.current, drift.current

    # tabloop serve starts a shipper over the project's log folder, under the model's name
    from tabloop.api._serve import _build

    service = _build(tabloop.api._project.Project.open(root), None)[0].state.tabloop
    assert isinstance(service.shipper, LogShipper) and service.shipper.project == project
    assert service.shipper.directory == root / ".tabloop" / "predlog"

    monkeypatch.setenv("TABLOOP_PREDLOG_URL", "postgresql://postgres@127.0.0.1:1/gone")
    drift = tabloop.monitor(root)
    assert "read from the local files" in drift.current and "cannot be reached" in drift.current

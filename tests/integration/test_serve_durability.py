"""Acknowledged means on disk: the real server under concurrent load, killed or stopped.

Every request id that got a 200 must be in the prediction log afterwards, whether the
server was killed with SIGKILL mid-load (nothing can be flushed then: only rows
fsynced, or under log_sync=write written to the operating system, before the answer
survive) or stopped with SIGTERM (which must also exit 0).
The same holds with several worker processes, each writing its own log segment.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import tabloop
from tabloop.data import check_frame, infer_contract
from tabloop.preparation import make_preprocessor
from tabloop.predlog import PredictionLog
from tabloop.bundle import ModelBundle
from tabloop.workspace import SigningKey

from ._server import wait_until_answering

pytestmark = pytest.mark.integration

#: the key the bundle is signed with here and verified with in the server processes
KEY = SigningKey.from_text("integration tests: the bundle key", source="test")

HMDA = Path(tabloop.__file__).parent / "datasets" / "hmda.csv"
ACKED_BEFORE_STOP = 150  # answers to collect before the server is stopped, so the stop lands mid-load

ONE_PROCESS = """
import logging, sys
from tabloop.predlog import PredictionLog
from tabloop.serving import LogConfig, ServeConfig, create_app, run_server
from tabloop.bundle import ModelBundle
from tabloop.workspace import SigningKey

logging.basicConfig(level=logging.WARNING)
key = SigningKey.from_text("integration tests: the bundle key", source="test")
bundle = ModelBundle.load(sys.argv[1], key=key, name="hmda", version="1")
app = create_app(ServeConfig(bundle, log=LogConfig(PredictionLog(sys.argv[2]), sync=sys.argv[4])))
run_server(app, port=int(sys.argv[3]))
"""

# a module uvicorn's worker processes import by name: each builds its own app and log segment
FACTORY_MODULE = """
import os
from tabloop.predlog import PredictionLog
from tabloop.serving import LogConfig, ServeConfig, create_app
from tabloop.bundle import ModelBundle
from tabloop.workspace import SigningKey


def app():
    key = SigningKey.from_text("integration tests: the bundle key", source="test")
    bundle = ModelBundle.load(os.environ["IT_BUNDLE"], key=key, name="hmda", version="1")
    return create_app(ServeConfig(bundle, log=LogConfig(PredictionLog(os.environ["IT_LOG"], segment=str(os.getpid())))))
"""

WORKERS = """
import logging, sys
sys.path.insert(0, sys.argv[1])
from tabloop.serving import run_server

logging.basicConfig(level=logging.WARNING)
run_server("it_factory:app", port=int(sys.argv[2]), workers=2)
"""


@pytest.fixture(scope="module")
def hmda() -> pd.DataFrame:
    return pd.read_csv(HMDA)


@pytest.fixture(scope="module")
def bundle_dir(hmda: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipeline = Pipeline([("prep", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(check_frame(hmda, contract), (hmda["deny"] == "yes").astype(int))
    bundle = ModelBundle(
        pipeline=pipeline, contract=contract, manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
        reference=hmda.head(200), spec_yaml="", name="hmda", version="1",
    )
    directory = tmp_path_factory.mktemp("bundle")
    bundle.save(directory, key=KEY)
    return directory


@pytest.fixture(scope="module")
def one_row(hmda: pd.DataFrame) -> list[dict[str, Any]]:
    rec = hmda.drop(columns=["deny"]).iloc[0].to_dict()
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    stderr = tmp_path / "server.stderr"
    with open(stderr, "wb") as err:
        # own session: a SIGKILL of the group reaches the worker processes too
        proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    return proc, stderr


class _Load:
    """Clients posting single rows with unique request ids until the server goes away."""

    def __init__(self, url: str, row: list[dict[str, Any]], clients: int = 8) -> None:
        self.url, self.row = url, row
        self.acked: list[str] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        self.enough = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(clients)]

    def __enter__(self) -> _Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _client(self, k: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            i = 0
            while not self._stop.is_set():
                rid = f"c{k}-{i}"
                i += 1
                try:
                    r = client.post("/predict", json=self.row, headers={"X-Request-ID": rid})
                except httpx.TransportError:
                    if self.enough.is_set():
                        return  # the server is gone: this client is done
                    time.sleep(0.01)
                    continue
                with self._lock:
                    self.statuses.append(r.status_code)
                    if r.status_code == 200:
                        self.acked.append(rid)
                        if len(self.acked) >= ACKED_BEFORE_STOP:
                            self.enough.set()


def _logged_ids(log_dir: Path) -> list[str]:
    return PredictionLog(log_dir).read_predictions()["request_id"].tolist()


@pytest.fixture
def stop_later() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _serving(
    args: Callable[[int], list[str]], tmp_path: Path, stop_later: list[subprocess.Popen[bytes]],
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start a server script (``args(port)``) on a free port, stop it after the test, wait until it answers."""
    port = _free_port()
    proc, stderr = _start(args(port), tmp_path, env)
    stop_later.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(proc, url, stderr)
    return proc, url, stderr


@pytest.mark.parametrize("sync", ["ack", "write"])
def test_sigkill_mid_load_loses_no_acknowledged_prediction(
    bundle_dir: Path, one_row: list[dict[str, Any]], tmp_path: Path, stop_later: list[subprocess.Popen[bytes]],
    sync: str,
) -> None:
    log_dir = tmp_path / "predlog"
    proc, url, stderr = _serving(lambda port: [ONE_PROCESS, str(bundle_dir), str(log_dir), str(port), sync],
                                 tmp_path, stop_later)
    with _Load(url, one_row) as load:
        assert load.enough.wait(120), f"only {len(load.acked)} answers:\n{stderr.read_text(errors='replace')}"
        # no shutdown, no flush: only what was fsynced (ack) or written to the OS (write) before an answer survives
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    acked = set(load.acked)
    logged = _logged_ids(log_dir)
    assert acked - set(logged) == set(), f"{len(acked - set(logged))} acknowledged predictions missing from the log"
    assert len(logged) == len(set(logged))  # each request logged once (single-row requests)


def test_sigterm_under_load_drains_flushes_and_exits_0(
    bundle_dir: Path, one_row: list[dict[str, Any]], tmp_path: Path, stop_later: list[subprocess.Popen[bytes]]
) -> None:
    log_dir = tmp_path / "predlog"
    proc, url, stderr = _serving(lambda port: [ONE_PROCESS, str(bundle_dir), str(log_dir), str(port), "ack"],
                                 tmp_path, stop_later)
    with _Load(url, one_row) as load:
        assert load.enough.wait(120), f"only {len(load.acked)} answers:\n{stderr.read_text(errors='replace')}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, stderr.read_text(errors="replace")
    assert "Traceback" not in stderr.read_text(errors="replace")
    # while draining a request is either answered (and logged) or refused: nothing in between
    assert set(load.statuses) <= {200, 503}
    assert set(load.acked) - set(_logged_ids(log_dir)) == set()


def test_background_mode_answers_and_sigterm_still_flushes(
    bundle_dir: Path, one_row: list[dict[str, Any]], tmp_path: Path, stop_later: list[subprocess.Popen[bytes]]
) -> None:
    log_dir = tmp_path / "predlog"
    proc, url, stderr = _serving(lambda port: [ONE_PROCESS, str(bundle_dir), str(log_dir), str(port), "background"],
                                 tmp_path, stop_later)
    with _Load(url, one_row, clients=4) as load:
        assert load.enough.wait(120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, stderr.read_text(errors="replace")
    assert set(load.acked) - set(_logged_ids(log_dir)) == set()


def test_two_workers_write_their_own_segments_and_lose_nothing_on_sigterm(
    bundle_dir: Path, one_row: list[dict[str, Any]], tmp_path: Path, stop_later: list[subprocess.Popen[bytes]]
) -> None:
    log_dir = tmp_path / "predlog"
    (tmp_path / "it_factory.py").write_text(FACTORY_MODULE)
    proc, url, stderr = _serving(lambda port: [WORKERS, str(tmp_path), str(port)], tmp_path, stop_later,
                                 env={"IT_BUNDLE": str(bundle_dir), "IT_LOG": str(log_dir)})
    with _Load(url, one_row) as load:
        assert load.enough.wait(120), f"only {len(load.acked)} answers:\n{stderr.read_text(errors='replace')}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, stderr.read_text(errors="replace")
    segments = sorted(log_dir.glob("predictions-*-*.jsonl"))
    assert segments, sorted(p.name for p in log_dir.iterdir())
    assert not list(log_dir.glob("predictions-????????.jsonl"))  # no shared file between processes
    logged = _logged_ids(log_dir)
    assert set(load.acked) - set(logged) == set()
    assert len(logged) == len(set(logged))

"""The real server: uvicorn in its own process on a free loopback port, spoken to with httpx.

Stopping it with a signal must finish gracefully and leave every predicted row in
the prediction log.
"""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import tabloop
from tabloop.data import check_frame, infer_contract
from tabloop.errors import ServingError
from tabloop.preparation import make_preprocessor
from tabloop.predlog import PredictionLog
from tabloop.serving import ServeConfig, create_app, run_server
from tabloop.bundle import ModelBundle
from tabloop.workspace import SigningKey

from ._server import wait_until_answering

pytestmark = pytest.mark.integration

#: the key the bundle is signed with here and verified with in the server processes
KEY = SigningKey.from_text("integration tests: the bundle key", source="test")

HMDA = Path(tabloop.__file__).parent / "datasets" / "hmda.csv"

SERVER_SCRIPT = """
import logging, sys
from tabloop.predlog import PredictionLog
from tabloop.serving import Limits, LogConfig, ServeConfig, create_app, run_server
from tabloop.bundle import ModelBundle
from tabloop.workspace import SigningKey

logging.basicConfig(level=logging.WARNING)
key = SigningKey.from_text("integration tests: the bundle key", source="test")
bundle = ModelBundle.load(sys.argv[1], key=key, name="hmda", version="1")
app = create_app(ServeConfig(bundle, log=LogConfig(PredictionLog(sys.argv[2])), limits=Limits(max_rows=100)))
run_server(app, port=int(sys.argv[3]))
"""


@pytest.fixture(scope="module")
def hmda() -> pd.DataFrame:
    return pd.read_csv(HMDA)


@pytest.fixture(scope="module")
def bundle(hmda: pd.DataFrame) -> ModelBundle:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipeline = Pipeline([("prep", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(check_frame(hmda, contract), (hmda["deny"] == "yes").astype(int))
    return ModelBundle(
        pipeline=pipeline,
        contract=contract,
        manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
        reference=hmda.head(200),
        spec_yaml="",
        name="hmda",
        version="1",
    )


@pytest.fixture(scope="module")
def bundle_dir(bundle: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bundle")
    bundle.save(directory, key=KEY)
    return directory


def rows(hmda: pd.DataFrame, n: int, start: int = 0) -> list[dict[str, Any]]:
    part = hmda.drop(columns=["deny"]).iloc[start : start + n]
    out = []
    for rec in part.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    log_dir: Path
    proc: subprocess.Popen[bytes]
    stderr_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@pytest.fixture
def server(bundle_dir: Path, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    log_dir = tmp_path / "predlog"
    stderr_path = tmp_path / "server.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, str(bundle_dir), str(log_dir), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    srv = Server(f"http://127.0.0.1:{port}", log_dir, proc, stderr_path)
    try:
        wait_until_answering(proc, srv.url, stderr_path)
        yield srv
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _close(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    return len(got) == len(want) and all(
        g["prediction"] == w["prediction"]
        and all(math.isclose(g["probabilities"][k], p, abs_tol=1e-12) for k, p in w["probabilities"].items())
        for g, w in zip(got, want, strict=True)
    )


def test_real_server_predicts_rejects_and_flushes_log_on_sigterm(
    server: Server, bundle: ModelBundle, hmda: pd.DataFrame
) -> None:
    predicted: dict[str, int] = {}
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        one = rows(hmda, 1)
        r = client.post("/predict", json=one, headers={"X-Request-ID": "it-single"})
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == "it-single"
        assert r.json()["model"] == {"name": "hmda", "version": "1"}
        assert _close(r.json()["predictions"], bundle.predict(pd.DataFrame.from_records(one)).records())
        predicted["it-single"] = 1

        many = rows(hmda, 40, start=500)
        r = client.post("/predict", json={"rows": many})
        assert r.status_code == 200
        assert _close(r.json()["predictions"], bundle.predict(pd.DataFrame.from_records(many)).records())
        predicted[r.json()["request_id"]] = 40

        bad = rows(hmda, 2)
        bad[1]["dir"] = "abc"
        r = client.post("/predict", json=bad)
        assert r.status_code == 422
        assert {(v["column"], v["row"], v["rule"]) for v in r.json()["error"]["violations"]} == {("dir", 1, "type")}
        missing = [{k: v for k, v in row.items() if k != "uria"} for row in rows(hmda, 1)]
        r = client.post("/predict", json=missing)
        assert r.status_code == 422
        assert r.json()["error"]["violations"][0]["column"] == "uria"
        assert client.post("/predict", content=b"[{", headers={"content-type": "application/json"}).status_code == 400
        assert client.post("/predict", content=b"1e400", headers={"content-type": "application/json"}).status_code == 400
        assert client.post("/predict", json=rows(hmda, 101)).status_code == 413
        assert client.post("/predict", content=b"[" + b" " * (10 * 1024 * 1024) + b"]",
                           headers={"content-type": "application/json"}).status_code == 413

        # still healthy after the rejections, and answering concurrent clients
        def post(i: int) -> httpx.Response:
            return client.post("/predict", json=rows(hmda, 3, start=i * 3), headers={"X-Request-ID": f"it-par-{i}"})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(16)))
        assert [a.status_code for a in answers] == [200] * 16
        for i, a in enumerate(answers):
            assert a.json()["request_id"] == f"it-par-{i}"
            predicted[f"it-par-{i}"] = 3

        health = client.get("/health").json()
        assert health["status"] == "ok"
        assert health["requests"]["rows"] == sum(predicted.values())
        meta = client.get("/metadata").json()
        assert meta["contract"]["columns"][0]["name"] == "dir"
        assert client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]

    code = server.stop(signal.SIGTERM)
    # a graceful stop asked for by the orchestrator is a success: exit status 0, not "killed by SIGTERM"
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr, server.stderr

    logged = PredictionLog(server.log_dir).read_predictions()
    assert len(logged) == sum(predicted.values())
    assert logged.groupby("request_id").size().to_dict() == predicted
    single = logged[logged["request_id"] == "it-single"].iloc[0]
    assert single["inputs"] == one[0]
    assert single["source"] == "http" and single["model"] == "hmda" and single["version"] == "1"


def test_sigint_also_stops_gracefully_and_flushes(server: Server, hmda: pd.DataFrame) -> None:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        for i in range(5):
            assert client.post("/predict", json=rows(hmda, 2, start=i), headers={"X-Request-ID": f"int-{i}"}).status_code == 200
    server.stop(signal.SIGINT)
    logged = PredictionLog(server.log_dir).read_predictions()
    assert sorted(logged["request_id"]) == sorted(f"int-{i}" for i in range(5) for _ in range(2))


def test_run_server_on_a_taken_port_raises_serving_error(bundle: ModelBundle) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ServingError, match=str(port)):
            run_server(create_app(ServeConfig(bundle)), port=port)

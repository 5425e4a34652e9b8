"""The real server with real clients: tritonclient.http, MLflow's ScoringServerClient, SIGTERM under load."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tabloop.predlog import PredictionLog
from tabloop.bundle import ModelBundle

from .test_serve_http import SERVER_SCRIPT, Server, bundle, bundle_dir, free_port, hmda, rows  # noqa: F401
from ._server import wait_until_answering

pytestmark = pytest.mark.integration


@pytest.fixture
def server(bundle_dir: Path, tmp_path: Path) -> Iterator[Server]:  # noqa: F811
    port = free_port()
    log_dir = tmp_path / "predlog"
    stderr_path = tmp_path / "server.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(bundle_dir), str(log_dir), str(port)],
                                stdout=subprocess.DEVNULL, stderr=err)
    srv = Server(f"http://127.0.0.1:{port}", log_dir, proc, stderr_path)
    try:
        wait_until_answering(proc, srv.url, stderr_path, probe="/ping")
        yield srv
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_tritonclient_http_unchanged(server: Server, bundle: ModelBundle, hmda: pd.DataFrame) -> None:  # noqa: F811
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("hmda")
    meta = client.get_model_metadata("hmda")
    assert [t["name"] for t in meta["inputs"]] == bundle.contract.feature_names
    sample = rows(hmda, 5, start=200)
    want = bundle.predict(pd.DataFrame.from_records(sample)).records()
    for binary in (False, True):
        inputs = []
        for col in bundle.contract.columns:
            values = [r[col.name] for r in sample]
            if col.kind == "numeric":
                arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1, 1)
                inp = triton.InferInput(col.name, list(arr.shape), "FP64")
            else:
                arr = np.array(values, dtype=np.object_).reshape(-1, 1)
                inp = triton.InferInput(col.name, list(arr.shape), "BYTES")
            inp.set_data_from_numpy(arr, binary_data=binary)
            inputs.append(inp)
        outputs = [triton.InferRequestedOutput("prediction", binary_data=binary),
                   triton.InferRequestedOutput("probabilities", binary_data=binary)]
        result = client.infer("hmda", inputs, outputs=outputs, request_id="triton-1")
        labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("prediction").tolist()]
        assert labels == [w["prediction"] for w in want]
        proba = result.as_numpy("probabilities")
        assert np.allclose(proba[:, 1], [w["probabilities"]["yes"] for w in want], atol=1e-12)
    # a client mistake surfaces as the client's own exception, and the server keeps serving
    bad = triton.InferInput("dir", [1], "FP64")
    bad.set_data_from_numpy(np.array([0.3]))
    with pytest.raises(triton.InferenceServerException, match="missing_column"):
        client.infer("hmda", [bad])
    assert client.is_server_ready()
    client.close()


def test_mlflow_scoring_server_client(server: Server, bundle: ModelBundle, hmda: pd.DataFrame) -> None:  # noqa: F811
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    host, port = server.url.removeprefix("http://").split(":")
    client = ScoringServerClient(host, int(port))
    client.wait_server_ready(timeout=30)
    assert client.get_version()
    df = pd.DataFrame.from_records(rows(hmda, 6, start=300))
    got = client.invoke(df).get_predictions()
    want = bundle.predict(df)
    assert list(got["prediction"]) == want.labels
    assert np.allclose(got["proba_yes"], want.proba[:, 1], atol=1e-12)
    unseen = df.assign(dmi="maybe")  # answered as an unknown category, and marked (a header: the body is MLflow's)
    assert len(client.invoke(unseen).get_predictions()) == len(df)
    bad = df.assign(dir=1000.0)  # far outside the trained range: refused
    with pytest.raises(Exception, match="BAD_REQUEST"):
        client.invoke(bad)


def test_sigterm_under_load_exits_0_and_logs_every_acknowledged_row(
    server: Server, hmda: pd.DataFrame  # noqa: F811
) -> None:
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            for i in range(2000):
                if stop.is_set():
                    return
                rid = f"w{worker}-{i}"
                try:
                    r = client.post("/predict", json=rows(hmda, 2, start=i % 100), headers={"X-Request-ID": rid})
                except httpx.TransportError:
                    return  # the server stopped taking connections
                if r.status_code == 200:
                    with lock:
                        acknowledged[rid] = 2

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load, w) for w in range(4)]
        deadline = time.monotonic() + 60
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        code = server.stop(signal.SIGTERM)
        stop.set()
        for f in futures:
            f.result(60)
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr, server.stderr
    assert len(acknowledged) >= 40
    logged = PredictionLog(server.log_dir).read_predictions()
    counts = logged.groupby("request_id").size().to_dict()
    missing = [rid for rid in acknowledged if counts.get(rid) != 2]
    assert not missing, missing[:10]

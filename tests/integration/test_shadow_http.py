"""The real server in shadow mode: the champion answers, the challenger's copy is logged under the same request id
and row, labels come back through POST /feedback, and tabloop monitor compares the two on those rows."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

import tabloop
from tabloop.predlog import PredictionLog

from .._spec_edit import set_spec
from ._server import wait_until_answering
from .test_serve_http import free_port

pytestmark = pytest.mark.integration

SRC = str(Path(tabloop.__file__).resolve().parents[1])


def _rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
            for rec in frame.to_dict("records")]


def test_shadow_answers_pair_with_the_champions_and_monitor_compares_them_once_labels_arrive(
    tmp_path: Path, two_versions_template: Path, hmda: pd.DataFrame
) -> None:
    root = tmp_path / "proj"
    shutil.copytree(two_versions_template, root, symlinks=True)  # v1, the prior: champion; v2 logistic
    challenger = "2"
    tabloop.promote(challenger, alias="challenger", project=root)
    set_spec(root, **{"serving.rollout.mode": "shadow", "serving.poll_interval_s": None,
                      "monitoring.shadow.min_labels": 20})

    port = free_port()
    stderr = tmp_path / "server.stderr"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tabloop", "serve", "-p", str(root), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, url, stderr)
        live = hmda.sample(60, random_state=7).reset_index(drop=True)
        features = live.drop(columns=["deny", "black"])
        labels = []
        with httpx.Client(base_url=url, timeout=30.0) as client:
            for i in range(0, 60, 2):  # 30 requests of two rows
                r = client.post("/predict", json=_rows(features.iloc[i:i + 2]))
                assert r.status_code == 200, r.text
                body = r.json()
                labels += [{"request_id": body["request_id"], "row": j, "label": str(live["deny"][i + j])}
                           for j in range(2)]
            done = client.post("/feedback", json=labels)
            assert done.status_code == 200 and done.json() == {"accepted": 60}, done.text
        log = PredictionLog(root / ".tabloop" / "predlog")
        deadline = time.monotonic() + 60
        while True:  # the shadow copies are scored after the answers went out
            logged = log.read_predictions()
            if int((logged["source"] == "shadow").sum()) >= 60 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        shadow = logged[logged["source"] == "shadow"]
        answered = logged[logged["source"] != "shadow"]
        assert len(shadow) == 60 and set(shadow["version"]) == {challenger} and set(answered["version"]) == {"1"}
        # both answers of every request row are in the log under the same keys
        assert set(zip(shadow["request_id"], shadow["row"])) == set(zip(answered["request_id"], answered["row"]))

        res = tabloop.monitor(root)
        sh = res.shadow
        assert sh is not None and (sh["rows"], sh["requests"], sh["labelled"]) == (60, 30, 60)
        assert sh["challenger_version"] == challenger and sh["champion_versions"] == ["1"]
        assert 0.0 <= sh["agreement"] <= 1.0 and sh["differences"]["rows"] == 60
        assert sh["realized"] is not None and sh["realized"]["test"]["test"] == "delong"
        assert sh["realized"]["champion"] == pytest.approx(0.5)  # the prior ranks nobody
        assert sh["verdict"] in ("challenger_better", "challenger_not_better")
        assert "Shadow comparison" in res.report_html.read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

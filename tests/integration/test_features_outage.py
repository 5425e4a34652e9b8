"""Redis, the online store, goes away while the server runs: answers continue by features.on_missing, then recover.

A private Redis (never the shared one) holds the materialized features; two real tabloop servers
on loopback serve one model, one under ``on_missing: impute`` and one under ``reject``. The Redis
is killed (a crash), brought back on the same port from its snapshot, then frozen (SIGSTOP: a
server that accepts connections and never answers) and thawed. Each request must be answered
within the client's timeout: imputed and marked ``store_unavailable``, or 503, never a 500 and
never a hang; rows that send their features are answered as before; and once Redis is back the
lookups give the stored values again, without restarting tabloop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import tabloop

from ._private_redis import PrivateRedis, private_redis  # noqa: F401 - the fixture
from ._server import wait_until_answering
from .test_features_http import _project
from .test_serve_http import free_port

pytestmark = pytest.mark.integration

#: well above the lookup's own timeouts (1 s connect, 2 s reply): a request not answered by then hangs
ANSWER_WITHIN_S = 20.0
KEYED = [{"customer_id": 3, "channel": "web"}, {"customer_id": 4, "channel": "shop"}]


@contextmanager
def _server(root: Path, version: str, log: Path, **env: str) -> Iterator[httpx.Client]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tabloop", "serve", "--project", str(root), "--model", version,
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, **env})
    try:
        wait_until_answering(proc, url, log)
        with httpx.Client(base_url=url, timeout=ANSWER_WITHIN_S) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(30)


def _predict(client: httpx.Client, rows: list[dict]) -> httpx.Response:
    # a ReadTimeout here is the failure this test exists for: a request held while the store is away
    return client.post("/predict", json={"rows": rows})


def test_requests_are_answered_by_policy_while_redis_is_down_or_hung_and_lookups_recover_after(
    tmp_path: Path, private_redis: PrivateRedis,  # noqa: F811 - the fixture
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    _project(root)
    spec = root / "tabloop.yaml"
    spec.write_text(spec.read_text() + f"  online_store: {private_redis.url}\n")
    from tabloop.api import features_apply, features_materialize

    features_apply(root)
    assert set(features_materialize(root).views) == {"stats"}
    private_redis.save()  # the snapshot the restarted server loads, as a Redis that persists would
    version = tabloop.train(root, trials=2).version
    # the features as a row that sends them all: answered without a lookup whatever Redis does
    full = [{"customer_id": 3, "channel": "web", "spend": 20.0, "visits": 2.0}]

    with _server(root, version, tmp_path / "impute.log", TABLOOP_FEATURES__ON_MISSING="impute") as impute, \
            _server(root, version, tmp_path / "reject.log") as reject:
        before = _predict(reject, KEYED)
        assert before.status_code == 200, before.text
        assert "out_of_contract" not in before.json() or not before.json()["out_of_contract"]
        assert _predict(impute, KEYED).json()["predictions"] == before.json()["predictions"]
        direct = _predict(reject, full).json()["predictions"]

        def while_away(what: str) -> None:
            for _ in range(3):  # not only the first request after the store went: each one
                imputed = _predict(impute, KEYED)
                assert imputed.status_code == 200, f"{what}: {imputed.text}"
                body = imputed.json()
                assert body["out_of_contract"] == [0, 1], what
                for row in body["predictions"]:
                    assert {(m["column"], m["rule"], m["policy"]) for m in row["contract"]} == {
                        ("spend", "store_unavailable", "impute"), ("visits", "store_unavailable", "impute")}, what
                refused = _predict(reject, KEYED)
                assert refused.status_code == 503, f"{what}: {refused.text}"
                error = refused.json()["error"]
                assert error["code"] == "feature_store_error", what
                assert f"127.0.0.1:{private_redis.port}" in error["message"], what
                for client in (impute, reject):
                    sent = _predict(client, full)
                    assert sent.status_code == 200, f"{what}: {sent.text}"
                    assert sent.json()["predictions"] == direct, what

        def recovered(what: str) -> None:
            for client in (impute, reject):
                again = _predict(client, KEYED)
                assert again.status_code == 200, f"{what}: {again.text}"
                assert again.json()["predictions"] == before.json()["predictions"], what
                assert not again.json().get("out_of_contract"), what

        private_redis.kill()
        while_away("killed")
        private_redis.start()  # the same port, the snapshot loaded
        recovered("restarted")

        private_redis.freeze()
        try:
            while_away("frozen")
        finally:
            private_redis.thaw()
        recovered("thawed")
        health = impute.get("/health")
        assert health.status_code == 200
    assert "Traceback" not in (tmp_path / "impute.log").read_text()


def test_a_redis_that_comes_back_empty_is_loaded_again_by_the_next_materialize(
    tmp_path: Path, private_redis: PrivateRedis,  # noqa: F811 - the fixture
) -> None:
    from tabloop.features import Lookup

    from ..features._store import T, make_repo

    repo = make_repo(tmp_path, online_store=private_redis.url)
    repo.materialize(T.to_pydatetime())
    lookup = Lookup(repo)
    assert lookup.fill([{"customer_id": 1}], now=T.timestamp()).rows[0]["spend"] == 1001.0
    private_redis.kill()
    private_redis.start()  # no snapshot: empty, at the same address
    (gap,) = lookup.fill([{"customer_id": 1}], now=T.timestamp()).gaps[0]  # reconnected, nothing there
    assert gap.rule == "missing_entity"
    again = repo.materialize(T.to_pydatetime())
    assert "skipped" not in again["stats"] and again["stats"]["reloaded"]
    assert lookup.fill([{"customer_id": 1}], now=T.timestamp()).rows[0]["spend"] == 1001.0

"""A web page cannot drive the server: Host, Origin and Content-Type checks (issue #14).

A page on another site can make a browser POST ``text/plain`` or a form to any address
it reaches, loopback included, without asking the server first; before these checks
such a request moved all traffic to the challenger.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tabloop.predlog import PredictionLog
from tabloop.serving import allowed_hosts, check_allowed_hosts
from tabloop.bundle import ModelBundle

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]

#: every route that changes something, with a valid JSON body for it
ROUTES = ("/control/rollout", "/control/reload", "/feedback", "/predict")


def _body(path: str, make_rows: Rows) -> bytes:
    if path == "/control/rollout":
        return orjson.dumps({"mode": "ab", "share": 1.0})
    if path == "/feedback":
        return orjson.dumps({"request_id": "r-1", "label": "yes"})
    if path == "/predict":
        return orjson.dumps(make_rows(1))
    return b""


@pytest.fixture
def app(bundle: ModelBundle, tmp_path: Path) -> Any:
    return app_for(bundle, challenger=bundle, predlog=PredictionLog(tmp_path),
                      allowed_hosts=allowed_hosts("127.0.0.1"), dashboard=lambda b: {"windows": []})


def _client(app: Any) -> TestClient:
    # as a browser or curl calling http://127.0.0.1:8000 sends it
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize("path", ROUTES)
def test_a_cross_site_text_plain_post_is_refused_and_changes_nothing(
    app: Any, path: str, make_rows: Rows, tmp_path: Path,
) -> None:
    with _client(app) as client:
        r = client.post(path, content=_body(path, make_rows) or b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415, r.text
        err = r.json()["error"]
        assert err["code"] == "unsupported_media_type"
        assert "application/json" in err["hint"]
        # form posts too, and a body without any type
        form = client.post(path, content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415
        if path != "/control/reload":  # reload reads no body, so it takes a request without one
            assert client.post(path, content=_body(path, make_rows)).status_code == 415
        assert client.get("/control/rollout").json()["mode"] == "off"
    assert not (tmp_path / "feedback.jsonl").exists()


@pytest.mark.parametrize("path", ROUTES)
def test_a_foreign_origin_is_refused_403_and_the_own_origin_is_not(app: Any, path: str, make_rows: Rows) -> None:
    json_ = {"Content-Type": "application/json"}
    with _client(app) as client:
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:3000"},
                        {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
            r = client.post(path, content=_body(path, make_rows), headers={**json_, **headers})
            assert r.status_code == 403, (headers, r.text)
            err = r.json()["error"]
            assert err["code"] == "cross_origin"
            assert "another" in err["message"] and err["hint"]
        assert client.get("/control/rollout").json()["mode"] == "off"
        # the server's own pages (the dashboard) post with their own origin
        own = client.post(path, content=_body(path, make_rows),
                          headers={**json_, "Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 200, own.text


@pytest.mark.parametrize("path", ROUTES)
def test_a_host_the_server_does_not_answer_to_is_421(app: Any, path: str, make_rows: Rows) -> None:
    with _client(app) as client:
        # a page that points its own name at 127.0.0.1 (DNS rebinding) is same-origin with itself
        r = client.post(path, content=_body(path, make_rows),
                        headers={"Content-Type": "application/json", "Host": "evil.example:8000",
                                 "Origin": "http://evil.example:8000"})
        assert r.status_code == 421, r.text
        err = r.json()["error"]
        assert err["code"] == "host_not_allowed"
        assert "evil.example" in err["message"] and "serving.allowed_hosts" in err["hint"]
        assert client.get("/health", headers={"Host": "evil.example"}).status_code == 421
        assert client.get("/control/rollout").json()["mode"] == "off"
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert client.get("/health", headers={"Host": host}).status_code == 200, host


def test_dialects_keep_their_content_types(app: Any, make_rows: Rows) -> None:
    rows = make_rows(2)
    csv = ",".join(rows[0]) + "\n" + "\n".join(",".join("" if v is None else str(v) for v in r.values()) for r in rows)
    with _client(app) as client:
        ok = client.post("/invocations", content=csv.encode(), headers={"Content-Type": "text/csv"})
        assert ok.status_code == 200, ok.text
        assert client.post("/invocations", json={"dataframe_records": rows}).status_code == 200
        assert client.post("/invocations", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
        infer = {"inputs": [{"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64",
                             "data": [v]} for k, v in rows[0].items()]}
        # tritonclient sends no Content-Type
        assert client.post("/v2/models/hmda/infer", content=orjson.dumps(infer)).status_code == 200
        assert client.post("/v2/models/hmda/infer", json=infer).status_code == 200
        plain = client.post("/v2/models/hmda/infer", content=orjson.dumps(infer), headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415
        assert client.post("/predict", json=rows, headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 200


def test_allowed_hosts_defaults_and_configuration() -> None:
    loop = allowed_hosts("127.0.0.1")
    assert loop is not None and {"127.0.0.1", "localhost", "::1"} <= loop
    assert allowed_hosts("10.0.0.5") == frozenset({"10.0.0.5"})
    assert allowed_hosts("10.0.0.5", ["Model.Example.com"]) == frozenset({"10.0.0.5", "model.example.com"})
    assert allowed_hosts("0.0.0.0", ["*"]) is None
    every = allowed_hosts("0.0.0.0")
    assert every is not None and "localhost" in every and len(every) > 3  # and this machine's own names
    assert check_allowed_hosts(["a.example", "::1", "*"]) == ["a.example", "::1", "*"]
    for bad in ("http://a.example", "a.example:8000", ""):
        with pytest.raises(Exception, match="allowed_hosts"):
            check_allowed_hosts([bad])


def test_the_server_built_from_the_spec_checks_host(tmp_path: Path, bundle: ModelBundle) -> None:
    from tabloop.spec import ServingSpec

    spec = ServingSpec(allowed_hosts=["model.internal"])
    assert spec.allowed_hosts == ["model.internal"]
    hosts = allowed_hosts(spec.host, spec.allowed_hosts)
    app = app_for(bundle, allowed_hosts=hosts)
    with TestClient(app, base_url="http://model.internal") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health", headers={"Host": "other.internal"}).status_code == 421

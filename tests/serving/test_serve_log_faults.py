"""A prediction log that cannot be written: every route answers 503, and no answer shows a file path (issue #14)."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tabloop
from tabloop.predlog import PredictionLog
from tabloop.bundle import ModelBundle

from ._apps import app_for

from .._faults import broken_log_disk, wait_for

Rows = Callable[..., list[dict[str, Any]]]

#: an absolute file path: two or more components from the root (a route such as /predict is one)
_ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+[\w.@+-]+")
_PROJECT = str(Path(tabloop.__file__).resolve().parents[2])


def _no_path(text: str, *paths: Path | str) -> None:
    for p in (*paths, _PROJECT):
        assert str(p) not in text, text
    assert not _ABSOLUTE.search(text), text


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_every_route_answers_503_with_retry_after_when_the_log_cannot_be_written(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int,
) -> None:
    log_dir = tmp_path / "predlog"
    with TestClient(app_for(bundle, predlog=PredictionLog(log_dir))) as client:
        ok = client.post("/predict", json=make_rows(1))
        assert ok.status_code == 200
        rid = ok.headers["X-Request-ID"]
        broken = broken_log_disk(monkeypatch, code)
        answers = {
            "/predict": client.post("/predict", json=make_rows(1)),
            "/invocations": client.post("/invocations", json={"dataframe_records": make_rows(1)}),
            "/feedback": client.post("/feedback", json={"request_id": rid, "label": "yes"}),
        }
        for route, r in answers.items():
            assert r.status_code == 503, (route, r.status_code, r.text)
            assert r.headers.get("Retry-After"), route
            _no_path(r.text, tmp_path)
        assert answers["/feedback"].json()["error"]["code"] == "prediction_log_unavailable"
        assert answers["/feedback"].json()["error"]["hint"]
        health = client.get("/health")
        assert health.json()["log"]["last_error"]  # says what failed...
        for path in ("/health", "/metadata", "/ping", "/v2/health/ready", "/v2/models/hmda", "/version"):
            _no_path(client.get(path).text, tmp_path)  # ...without saying where
        broken.clear()
        assert wait_for(lambda: client.get("/health").json()["log"]["ok"])
        assert client.post("/feedback", json={"request_id": rid, "label": "yes"}).status_code == 200


def test_a_version_that_fails_to_load_is_reported_without_its_path(
    bundle: ModelBundle, tmp_path: Path,
) -> None:
    cache = tmp_path / "cache" / "models" / "hmda" / "2" / "bundle.pkl"

    class Source:
        def version(self, alias: str) -> str | None:
            return "2"

        def load(self, alias: str, version: str) -> ModelBundle:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(cache))

    app = app_for(bundle, source=Source(), aliases={"champion": "champion"})
    with TestClient(app) as client:
        reload = client.post("/control/reload")
        assert reload.status_code == 200
        _no_path(reload.text, tmp_path)
        health = client.get("/health")
        failure = health.json()["models"]["failures"]["champion"]
        assert "bundle.pkl" in failure["error"]  # the file's name says enough; the server log has the path
        _no_path(health.text, tmp_path)


def test_the_servers_own_failures_are_told_to_on_server_error_and_client_mistakes_are_not(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    told: list[tuple[int, str]] = []
    app = app_for(bundle, predlog=PredictionLog(tmp_path / "predlog"), on_server_error=lambda s, c: told.append((s, c)))
    with TestClient(app) as client:
        assert client.post("/predict", json={"rows": [{"nope": 1}]}).status_code == 422
        assert told == []
        broken_log_disk(monkeypatch, errno.ENOSPC)
        assert client.post("/predict", json=make_rows(1)).status_code == 503
    assert told == [(503, "prediction_log_unavailable")]

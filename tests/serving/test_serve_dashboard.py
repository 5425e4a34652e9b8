"""``/dashboard`` and ``/dashboard/data`` on the in-process app, with a provider standing in for the monitor."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tabloop.serving import ApiKeys, hash_key
from tabloop.serving._dashboard import DashboardCache, dashboard_html, server_counters
from tabloop.bundle import ModelBundle

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]


class Provider:
    """Counts its calls and says which bundle it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str | None]] = []

    def __call__(self, bundle: ModelBundle) -> dict[str, Any]:
        self.calls.append((bundle.name, bundle.version))
        return {"timeline": None, "performance": {"rows": 3, "windows": []}, "top_features": ["dir"], "n": len(self.calls)}


def _copy(bundle: ModelBundle, version: str) -> ModelBundle:
    return ModelBundle(pipeline=bundle.pipeline, contract=bundle.contract, manifest=bundle.manifest,
                       reference=bundle.reference, spec_yaml="", name=bundle.name, version=version)


def test_page_is_self_contained_and_its_policy_allows_only_its_own_script(bundle: ModelBundle) -> None:
    with TestClient(app_for(bundle, dashboard=Provider())) as client:
        page = client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    # nothing is fetched from anywhere but this server: no external script, style, font or image
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    assert len(scripts) == 1 and len(styles) == 1
    csp = page.headers["content-security-policy"]

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"script-src {digest(scripts[0])};" in csp
    assert f"style-src {digest(styles[0])};" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # the page reads its numbers from its own data route, relative to where it is mounted
    assert '"/data"' in scripts[0] and "fetch(" in scripts[0]


def test_data_is_the_providers_json_for_the_champion_plus_live_counters(bundle: ModelBundle, make_rows: Rows) -> None:
    provider = Provider()
    with TestClient(app_for(bundle, dashboard=provider)) as client:
        assert client.post("/predict", json=make_rows(2)).status_code == 200
        assert client.post("/predict", json=[{"dir": "a lot"}]).status_code == 422
        data = client.get("/dashboard/data")
    assert data.status_code == 200
    assert data.headers["cache-control"] == "no-store"
    body = data.json()
    assert provider.calls == [("hmda", "1")]
    assert body["top_features"] == ["dir"] and body["performance"] == {"rows": 3, "windows": []}
    assert body["model"] == {"name": "hmda", "version": "1", "task": "binary"}
    assert body["server"]["requests"] == 1 and body["server"]["rows"] == 2
    assert body["server"]["errors"] == 1 and body["server"]["error_rate"] == 0.5
    assert body["generated_at"] and body["refresh_s"] == 5.0


def test_repeated_hits_within_the_ttl_compute_once(bundle: ModelBundle) -> None:
    provider = Provider()
    with TestClient(app_for(bundle, dashboard=provider)) as client:
        first = client.get("/dashboard/data").json()
        second = client.get("/dashboard/data").json()
    assert len(provider.calls) == 1
    assert first["n"] == second["n"] == 1 and first["generated_at"] == second["generated_at"]


def test_cache_recomputes_after_the_ttl_and_when_the_champion_changes(bundle: ModelBundle) -> None:
    now = [100.0]
    provider = Provider()
    cache = DashboardCache(provider, ttl_s=5.0, clock=lambda: now[0])
    assert cache.get(bundle)["n"] == 1
    now[0] += 4.9
    assert cache.get(bundle)["n"] == 1
    now[0] += 0.2
    assert cache.get(bundle)["n"] == 2
    assert cache.get(_copy(bundle, "2"))["n"] == 3  # a hot swap shows the new version at once
    assert provider.calls == [("hmda", "1"), ("hmda", "1"), ("hmda", "2")]
    assert cache.computed == 3


def test_a_failed_computation_is_not_kept(bundle: ModelBundle) -> None:
    answers: list[Any] = [RuntimeError("log unreadable"), {"ok": True}]

    def flaky(b: ModelBundle) -> dict[str, Any]:
        got = answers.pop(0)
        if isinstance(got, Exception):
            raise got
        return got

    with TestClient(app_for(bundle, dashboard=flaky), raise_server_exceptions=False) as client:
        failed = client.get("/dashboard/data")
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "internal_error"  # the cause goes to the server log only
        assert client.get("/dashboard/data").json()["ok"] is True


def test_with_keys_the_page_is_open_and_the_data_needs_control(bundle: ModelBundle) -> None:
    keys = ApiKeys.of([(hash_key("p-key"), ["predict"]), (hash_key("c-key"), ["control"])])
    with TestClient(app_for(bundle, api_keys=keys, dashboard=Provider())) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200 and "tabloop live dashboard" in page.text
        assert client.get("/dashboard/data").status_code == 401
        assert client.get("/dashboard/data", headers={"X-API-Key": "p-key"}).status_code == 403
        assert client.get("/dashboard/data", headers={"X-API-Key": "c-key"}).status_code == 200
        assert client.get("/dashboard/data", headers={"Authorization": "Bearer c-key"}).status_code == 200


def test_without_a_provider_there_is_no_dashboard(bundle: ModelBundle) -> None:
    with TestClient(app_for(bundle)) as client:
        assert client.get("/dashboard").status_code == 404
        assert client.get("/dashboard/data").status_code == 404


@pytest.mark.parametrize(("requests", "errors", "rate"), [(0, {}, None), (3, {"contract_violation": 1}, 0.25)])
def test_server_counters(requests: int, errors: dict[str, int], rate: float | None) -> None:
    got = server_counters(requests, 7, errors)
    assert got["requests"] == requests and got["rows"] == 7 and got["errors"] == sum(errors.values())
    assert got["error_rate"] == rate and got["errors_by_code"] == errors


def test_page_refresh_follows_the_ttl() -> None:
    page, csp = dashboard_html(refresh_s=2.5)
    assert "var REFRESH_MS = 2500;" in page
    assert dashboard_html(refresh_s=2.5)[1] == csp != dashboard_html(refresh_s=5.0)[1]

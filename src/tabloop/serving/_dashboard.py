"""``GET /dashboard``: a live page drawing the monitoring figures from the prediction log.

The serving layer cannot import ``tabloop.monitoring`` (they are siblings), so the
numbers come from a provider the caller hands to ``ServeConfig(dashboard=...)``: a function of the
champion's bundle returning the dashboard JSON (``tabloop.api`` builds it from the
monitor's own functions). ``/dashboard/data`` answers that JSON, recomputed at most
every ``ttl_s`` seconds so that a page refreshing in several tabs does not re-run
the drift tests on every hit; ``/dashboard`` is one self-contained HTML page (inline
script and SVG, no CDN, no fetch but its own data) that draws it and refreshes; the
page and its Content-Security-Policy come from the report layer
(``tabloop.report.dashboard_html``, assets shipped as package data).

Keys: the page itself holds no data and is served to anyone, because a browser
cannot put a header on a plain navigation; ``/dashboard/data`` needs the ``control``
scope once keys are configured. When the data answers 401 or 403 the page asks for
the key, keeps it in ``sessionStorage`` (this tab only, gone when it closes) and
sends it as ``X-API-Key``; the key never travels in a URL, so no access log,
history or Referer holds it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tabloop.bundle import ModelBundle
from tabloop.errors import InternalError, TabloopError
from tabloop.report import dashboard_html

__all__ = [
    "DASHBOARD_TTL_S",
    "DashboardCache",
    "DashboardProvider",
    "dashboard_html",
    "install_dashboard",
    "server_counters",
]

#: what the caller provides: the champion's bundle -> the dashboard JSON (plain, JSON-safe types)
DashboardProvider = Callable[[ModelBundle], dict[str, Any]]
#: seconds a computed dashboard is reused; the page refreshes at the same pace
DASHBOARD_TTL_S = 5.0


class DashboardCache:
    """Calls ``provider`` at most once per ``ttl_s`` seconds for the same model version.

    Callers that arrive while it computes wait for that result instead of starting
    their own: the drift tests over every window are the expensive part. A failed
    computation is not kept, so the next hit tries again.
    """

    def __init__(
        self, provider: DashboardProvider, ttl_s: float = DASHBOARD_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not ttl_s >= 0:
            raise ValueError(f"ttl_s must be zero or more, got {ttl_s}")
        self.provider = provider
        self.ttl_s = ttl_s
        self.clock = clock
        self.computed = 0
        self._lock = threading.Lock()
        self._key: tuple[str | None, str | None] | None = None
        self._at = 0.0
        self._value: dict[str, Any] | None = None

    def get(self, bundle: ModelBundle) -> dict[str, Any]:
        key = (bundle.name, bundle.version)
        with self._lock:
            now = self.clock()
            if self._value is not None and self._key == key and now - self._at < self.ttl_s:
                return self._value
            value = dict(self.provider(bundle))
            value["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            value["model"] = {"name": bundle.name, "version": bundle.version, "task": bundle.task}
            value["refresh_s"] = self.ttl_s
            self._key, self._at, self._value = key, now, value
            self.computed += 1
            return value


def server_counters(requests: int, rows: int, errors: Mapping[str, int]) -> dict[str, Any]:
    """This process's own figures since it started: requests answered, refused (any 4xx/5xx) and their share.

    The error rate over time comes from the prediction log's error records (every worker,
    every restart, predicting routes only); these counters are this process's alone and
    also count what the log leaves out: refusals on other routes, auth rejections and
    answers lost to an unwritable log.
    """
    refused = int(sum(errors.values()))
    total = requests + refused
    return {"requests": int(requests), "rows": int(rows), "errors": refused,
            "errors_by_code": {str(k): int(v) for k, v in sorted(errors.items())},
            "error_rate": refused / total if total else None}


def install_dashboard(
    app: FastAPI,
    provider: DashboardProvider,
    *,
    champion: Callable[[], ModelBundle],
    live: Callable[[], dict[str, Any]],
    ttl_s: float = DASHBOARD_TTL_S,
) -> DashboardCache:
    """Add ``GET /dashboard`` and ``GET /dashboard/data`` to ``app``.

    ``champion`` gives the bundle served now (so the page follows hot swaps) and
    ``live`` this process's own counters, which are read on every hit, never cached.
    """
    cache = DashboardCache(provider, ttl_s)
    page, csp = dashboard_html(refresh_s=max(ttl_s, 1.0))
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }

    @app.get("/dashboard", summary="Live monitoring dashboard (HTML; draws /dashboard/data)", response_class=Response)
    async def dashboard_page() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    @app.get("/dashboard/data", summary="The live dashboard's numbers: monitoring timelines over the prediction log")
    async def dashboard_data() -> Response:
        bundle = champion()
        try:
            data = await run_in_threadpool(cache.get, bundle)
        except TabloopError:
            raise
        except Exception as exc:
            raise InternalError("the dashboard could not be computed from the prediction log") from exc
        body = orjson.dumps({**data, "server": live()}, option=orjson.OPT_SERIALIZE_NUMPY)
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    app.state.dashboard = cache
    return cache

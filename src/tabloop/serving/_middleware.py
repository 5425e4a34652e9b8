"""The ASGI layers in front of the routes: Host and origin checks, API keys, and the ``POST /predict`` fast path.

From the outside in: ``RequestGuard`` (``_guard``: a foreign ``Host`` or a cross-origin page
is refused before keys are even looked at), ``AuthMiddleware`` (the API key), then
``PredictFastPath``. Content types and body sizes are checked by the routes themselves
(``_guard.require_json``, ``_http.read_body``), where the limit of each route is known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tabloop.serving._auth import ApiKeys, scope_for
from tabloop.errors import RequestRejected
from tabloop.serving._errors import error_response, status_for
from tabloop.serving._guard import RequestGuard

#: (request, status, error code) of a request refused before any route
OnReject = Callable[[Request, int, str], None]


def install_middleware(
    app: FastAPI, *, predict: Callable[[Request], Any], keys: ApiKeys, hosts: frozenset[str] | None, on_reject: OnReject
) -> None:
    """Add the layers to ``app``; ``predict`` is the ``POST /predict`` endpoint the fast path calls."""
    # POST /predict skips FastAPI's routing and middleware stack (the route stays, for OpenAPI and as
    # the reference); added before the auth middleware, so auth still runs first
    app.add_middleware(PredictFastPath, endpoint=predict, fastapi=app)
    if keys:
        app.add_middleware(AuthMiddleware, keys=keys, on_reject=on_reject)
    # outermost: a foreign Host or a cross-origin page is refused before keys are even looked at
    app.add_middleware(RequestGuard, hosts=hosts, on_reject=on_reject)


class AuthMiddleware:
    """Checks the API key for every HTTP route except the open probes."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, on_reject: OnReject) -> None:
        self.app = app
        self.keys = keys
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = scope_for(scope["path"])
        if needed is not None:
            request = Request(scope)
            try:
                self.keys.check(request.headers.get("authorization"), request.headers.get("x-api-key"), needed)
            except RequestRejected as exc:
                status = status_for(exc)
                self.on_reject(request, status, exc.code)
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                response = error_response(request, status, {"error": exc.to_dict()}, headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class PredictFastPath:
    """``POST /predict`` straight to its endpoint, past FastAPI's router and per-route machinery.

    The same endpoint function answers (so limits, rollout, log, metrics and shadow are the
    shared core's), and errors go through the app's own exception handlers, so the answers
    are byte for byte those of the routed path. As there, an unexpected error (one only the
    ``Exception`` handler would take) is left to Starlette's ``ServerErrorMiddleware``
    outside: it answers 500 through that same handler and re-raises, so the server logs it.
    Everything else falls through to FastAPI.
    """

    def __init__(self, app: ASGIApp, endpoint: Callable[[Request], Any], fastapi: FastAPI) -> None:
        self.app = app
        self.endpoint = endpoint
        self.fastapi = fastapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Any:
        handlers = self.fastapi.exception_handlers
        for kind in type(exc).__mro__:
            if kind is Exception:  # as Starlette's ExceptionMiddleware: that one belongs to ServerErrorMiddleware
                return None
            if kind in handlers:
                return handlers[kind]
        return None

"""Running the app under uvicorn, and stopping it cleanly on SIGTERM."""

from __future__ import annotations

import ipaddress
import logging
import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from tabloop.errors import ServingError

logger = logging.getLogger("tabloop.serve")


class _Server(uvicorn.Server):
    """uvicorn, but a SIGTERM first turns readiness off and ends in a normal return (exit 0)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        service = getattr(self._app.state, "tabloop", None)
        if service is not None:
            service.ready = False
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            # a graceful stop asked for by the orchestrator is a success, not a death by signal
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_server(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "warning",
    workers_graceful_timeout_s: float = 30.0,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then stop gracefully.

    On SIGTERM readiness turns false, uvicorn stops accepting connections and
    finishes the requests in flight (at most ``workers_graceful_timeout_s``), then
    the app's shutdown drains the prediction log to disk, and this returns normally.
    SIGINT does the same and then surfaces as ``KeyboardInterrupt`` to the caller.
    Raises ``ServingError`` when the server cannot start (e.g. the port is taken).
    """
    service = getattr(app.state, "tabloop", None)
    if not is_loopback(host) and not (service is not None and getattr(service, "authenticated", False)):
        logger.warning(
            "!!! serving on %s without API keys: anyone who can reach this address can call every route. "
            "Configure serving.auth keys (or TABLOOP_API_KEY) or bind 127.0.0.1 !!!",
            host,
        )
    # lifespan "on": without startup the prediction log writer would never exist
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on",
        timeout_graceful_shutdown=int(workers_graceful_timeout_s),
    )
    server = _Server(config, app)
    try:
        server.run()
    except SystemExit as exc:
        # uvicorn logs the cause and exits; a library caller needs an exception instead
        if exc.code == STARTUP_FAILURE:
            raise ServingError(
                f"cannot serve on {host}:{port}; see the log above for the cause",
                hint="is the port already in use? choose another port",
            ) from None
        raise

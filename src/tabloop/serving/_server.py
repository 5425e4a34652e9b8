"""Running the app under uvicorn, and stopping it cleanly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from tabloop.errors import ServingError
from tabloop.serving._guard import is_loopback

logger = logging.getLogger("tabloop.serving")


class _Server(uvicorn.Server):
    """uvicorn, but a SIGTERM first turns readiness off and ends in a normal return (exit 0)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI | None) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        service = getattr(self._app.state, "tabloop", None) if self._app is not None else None
        if service is not None:
            service.ready = False
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            # a graceful stop asked for by the orchestrator is a success, not a death by signal
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def tcp_nodelay_listener(sock: socket.socket) -> socket.socket:
    """The same listening socket, with its protocol read back from the kernel (IPPROTO_TCP for TCP).

    uvicorn's ``Config.bind_socket`` leaves ``proto`` at 0; accepted connections inherit it,
    and asyncio sets TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP. Without it
    every keep-alive answer after the first waits ~40 ms for the client's delayed ACK
    (uvicorn issue #3149), which is what several workers would otherwise cost.
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    return socket.socket(fileno=sock.detach())  # family, type and proto auto-detected from the descriptor


def run_server(
    app: FastAPI | str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "warning",
    workers_graceful_timeout_s: float = 30.0,
    workers: int = 1,
    authenticated: bool | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then stop gracefully.

    On SIGTERM readiness turns false, uvicorn stops accepting connections and
    finishes the requests in flight (at most ``workers_graceful_timeout_s``), then
    the app's shutdown drains the prediction log to disk, and this returns normally
    (exit status 0). SIGINT does the same and then surfaces as ``KeyboardInterrupt``.

    ``app`` may be an import string naming an app factory ("module:function"); that is
    how ``workers`` > 1 works: uvicorn's supervisor binds the port once and starts that
    many processes, each calling the factory to build its own app. A SIGTERM to the
    supervisor is passed to every worker, each drains as above, then this returns.
    Raises ``ServingError`` when the server cannot start (e.g. the port is taken).
    """
    if workers < 1:
        raise ServingError(f"workers must be at least 1, got {workers}")
    if workers > 1 and not isinstance(app, str):
        raise ServingError("several workers need the app as an import string of a factory ('module:function')")
    service = None if isinstance(app, str) else getattr(app.state, "tabloop", None)
    if authenticated is None:
        authenticated = service is not None and getattr(service, "authenticated", False)
    if not is_loopback(host) and not authenticated:
        logger.warning(
            "!!! serving on %s without API keys: anyone who can reach this address can call every route. "
            "Configure serving.auth keys (or TABLOOP_API_KEY) or bind 127.0.0.1 !!!",
            host,
        )
    # lifespan "on": without startup the prediction log writer would never exist
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on", factory=isinstance(app, str),
        timeout_graceful_shutdown=int(workers_graceful_timeout_s), workers=workers,
    )
    try:
        if workers > 1:
            sock = tcp_nodelay_listener(config.bind_socket())  # exits 1 when the port is taken
            Multiprocess(config, sockets=[sock]).run()
        else:
            _Server(config, None if isinstance(app, str) else app).run()
    except SystemExit as exc:
        # uvicorn logs the cause and exits; a library caller needs an exception instead
        if exc.code in (STARTUP_FAILURE, 1):
            raise ServingError(
                f"cannot serve on {host}:{port}; see the log above for the cause",
                hint="is the port already in use? choose another port",
            ) from None
        raise

"""The listening socket that several workers share keeps TCP_NODELAY on every connection."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
import uvicorn

from tabloop.serving._server import tcp_nodelay_listener
from tabloop.bundle import ModelBundle


async def _nodelay_of_an_accepted_connection(listener: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    port = listener.getsockname()[1]
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(seen, 5)
        writer.close()
    return value


def test_connections_accepted_on_the_workers_listener_have_nagle_off() -> None:
    # the socket uvicorn's supervisor binds for --workers N, as run_server takes it
    listener = tcp_nodelay_listener(uvicorn.Config("unused:app", host="127.0.0.1", port=0).bind_socket())
    assert listener.proto == socket.IPPROTO_TCP
    assert asyncio.run(_nodelay_of_an_accepted_connection(listener)) != 0


def test_a_listener_that_is_already_tcp_is_returned_as_is() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        assert tcp_nodelay_listener(sock) is sock
    finally:
        sock.close()


def test_the_start_up_line_is_info_and_reaches_the_log_under_the_cli_setup(
    bundle: ModelBundle, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It used to be logged at WARNING, because the CLI keeps ``tabloop`` at WARNING (issue #14)."""
    from tabloop.api._serve import _announce, server_logging
    from tabloop.cli._output import Output
    from tabloop.spec import ServingSpec

    for name in ("tabloop", "tabloop.serving"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    Output(as_json=True, verbose=False)  # what `tabloop serve` sets up before serving
    server_logging()
    assert logging.getLogger("tabloop.serving").isEnabledFor(logging.INFO)
    assert not logging.getLogger("tabloop.training").isEnabledFor(logging.INFO)  # other commands stay quiet
    with caplog.at_level(logging.INFO, logger="tabloop.serving"):
        _announce(bundle, None, ServingSpec(), "127.0.0.1", 8000, False, 1)
    [record] = [r for r in caplog.records if r.getMessage().startswith("serving hmda v1")]
    assert record.levelno == logging.INFO

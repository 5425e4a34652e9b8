"""A Redis server of the test's own, on a free port, that the test may kill, freeze and start again.

The machine's shared Redis (6379) is never touched. The server keeps no snapshot by itself
(``--save ""``, no append-only file); ``save()`` writes one into its folder on request, which a
restart on the same port loads: a Redis that persists, killed and brought back.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """``start()`` / ``kill()`` (SIGKILL: a crash) / ``freeze()`` and ``thaw()`` (SIGSTOP/SIGCONT: a hung server)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tabloop-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.root)],
            stdout=open(self.root / "log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        import redis

        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {(self.root / 'log').read_text()}")
            try:
                # answers PING only once a snapshot it found is loaded
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except redis.exceptions.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {self.port} did not answer within 30 s")
            time.sleep(0.05)

    def client(self):  # noqa: ANN201 (redis is imported lazily)
        import redis

        return redis.Redis(port=self.port, socket_timeout=5)

    def save(self) -> None:
        with self.client() as c:
            c.save()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture()
def private_redis() -> Iterator[PrivateRedis]:
    """A started private Redis, killed and removed after the test; skipped where redis-server is not installed."""
    pytest.importorskip("redis")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: no private Redis to stop")
    server = PrivateRedis(binary)
    try:
        server.start()
        yield server
    finally:
        server.close()

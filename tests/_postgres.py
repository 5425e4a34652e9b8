"""A database of a test's own on the machine's PostgreSQL (127.0.0.1:5432, trust), dropped afterwards.

The server is shared (other tests, other sessions): tests create a uniquely named database and
never stop or reconfigure the server. A test that needs the server to go away starts its own
(``tests/integration/_private_pg.py``). CI starts the shared one (``.ci/run``), so its absence fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HOST = "postgres@127.0.0.1:5432"
ADMIN = f"postgresql://{HOST}/postgres"


@contextmanager
def scratch_database(prefix: str = "tabloop_test", *, driver: str = "postgresql+psycopg") -> Iterator[str]:
    """Yield the URL (``driver``://...) of a new empty database named ``prefix_<random>``; drop it after."""
    psycopg = pytest.importorskip("psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc}); .ci/run starts it")
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{driver}://{HOST}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

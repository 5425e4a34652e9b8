"""One alias move at a time, across processes: the lock a compare-and-set of an alias needs.

MLflow's registry has no conditional alias update, so tabloop serialises its own moves:

- a SQLite store: an exclusive ``flock`` on a file beside the database. A separate file, because
  opening and closing the database file itself would drop the POSIX locks SQLite holds on it.
- a PostgreSQL store: ``pg_advisory_xact_lock`` on a connection of its own, held until the move is
  done; the server releases it if the process dies.
- anything else (an MLflow tracking server over http, another database): no lock. The caller then
  re-reads the alias after moving it and reports a lost race it can see; that is best effort only.

Writers that are not tabloop (the MLflow UI, another MLflow client) do not take these locks.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from tabloop.errors import TrackingError
from tabloop.tracking._relocate import sqlite_file
from tabloop.workspace import file_lock

#: how long a move waits for another one to finish before giving up
LOCK_TIMEOUT_S = 60.0


@contextlib.contextmanager
def alias_lock(uri: str, model: str, alias: str) -> Iterator[bool]:
    """Hold the store's alias lock; yields False where the store offers none (see the module doc)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    db = sqlite_file(uri) if scheme == "sqlite" else None
    if db is not None:
        with file_lock(db.with_name(db.name + ".alias-lock"), timeout_s=LOCK_TIMEOUT_S, busy="another alias move",
                       error=TrackingError):
            yield True
    elif scheme in ("postgresql", "postgres"):
        with _pg_lock(uri, f"tabloop.alias\0{model}\0{alias}"):
            yield True
    else:
        yield False


@contextlib.contextmanager
def _pg_lock(uri: str, name: str) -> Iterator[None]:
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    engine = sa.create_engine(uri, poolclass=NullPool)
    try:
        conn = engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise TrackingError(f"tracking store {engine.url!r}: cannot connect to take the alias lock: {exc}") from exc
    try:
        with conn.begin():  # nothing is written on this connection; ending its transaction frees the lock
            try:
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_S * 1000)}ms'"))
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            except sa.exc.SQLAlchemyError as exc:
                raise TrackingError(
                    f"tracking store {engine.url!r}: cannot take the alias lock: {exc}",
                    hint="another alias move may be stuck; try again",
                ) from exc
            yield
    finally:
        conn.close()
        engine.dispose()

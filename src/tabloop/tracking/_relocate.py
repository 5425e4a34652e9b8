"""A project folder copied, restored or renamed: its embedded store follows it.

MLflow keeps absolute locations in its store (the experiment's artifact location, each run's
artifact URI, each logged model's and model version's storage location), so a project restored
from a backup or renamed would read the old folder's artifacts and write new runs into it. The
embedded SQLite store is tabloop's own and travels inside the project folder, so when the store is
opened from a folder other than the one it was written in (its experiment's artifact location is
not this project's artifacts folder), every stored path under the old project folder is rewritten
to the same place under this one, in one transaction, before anything else reads it. The rewrite
is idempotent, so two processes opening a moved project at once both end in the same state.

A store outside the project folder (PostgreSQL, a server, a shared SQLite file) may be shared by
several projects and is never rewritten.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

log = logging.getLogger(__name__)

#: MLflow's columns that hold paths: locations, and params such as the study storage URL
PATH_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
    ("params", "value"),
    ("logged_model_params", "param_value"),
)


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI (absolute with four slashes), or None (another scheme,
    or in memory). Parsed by hand, as SQLAlchemy does, so that ``tabloop predict``'s look-up through the
    registry file imports neither SQLAlchemy nor MLflow."""
    scheme, _, rest = uri.partition(":")
    if scheme.lower() != "sqlite" or not rest.startswith("///"):
        return None
    database = unquote(rest[3:].split("?", 1)[0])
    return None if not database or database == ":memory:" else Path(database)


def owned_store(uri: str, project_root: Path) -> Path | None:
    """The SQLite file of ``uri`` when it lies inside the project folder (and so moves with it)."""
    db = sqlite_file(uri)
    if db is None:
        return None
    try:
        db.resolve().relative_to(project_root.resolve())
    except ValueError:
        return None
    return db


def relocate_store(db: Path, stored_artifacts: str, artifacts: Path, project_root: Path) -> int:
    """Rewrite paths under the project folder that wrote ``stored_artifacts`` to ``project_root``.

    Returns how many values changed. ``stored_artifacts`` is the experiment's artifact location
    as found in the store; ``artifacts`` the folder it should be now, inside ``project_root``.
    """
    old_artifacts = Path(url2pathname(unquote(urlparse(stored_artifacts).path)))
    inner = artifacts.relative_to(project_root).parts
    if not stored_artifacts.startswith("file:") or old_artifacts.parts[-len(inner):] != inner:
        log.warning("%s: artifact location %s is not a project's artifacts folder; left as is", db, stored_artifacts)
        return 0
    old_root = Path(*old_artifacts.parts[: -len(inner)])
    prefixes = [  # longest first: the file URI and the SQLite URL also contain the bare path
        (old_root.as_uri() + "/", project_root.as_uri() + "/"),
        (f"sqlite:///{old_root}/", f"sqlite:///{project_root}/"),
        (f"{old_root}/", f"{project_root}/"),
    ]
    changed = 0
    with sqlite3.connect(db, timeout=60, isolation_level=None) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, column in PATH_COLUMNS:
                if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                    continue  # a table this MLflow version does not have
                for old, new in prefixes:
                    changed += conn.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?) WHERE substr({column}, 1, ?) = ?",
                        (new, len(old) + 1, len(old), old),
                    ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.close()
    log.info("%s: the project moved from %s to %s; %d stored paths now point here", db, old_root, project_root, changed)
    return changed

"""A cached model version found through the SQLite registry without importing MLflow.

Importing MLflow and opening its store costs a command like ``tabloop predict`` more than
its own work. When the registry is the embedded SQLite file and the version's bundle is
already in the cache, reading three tables answers what ``Tracker.resolve`` and
``Tracker.load_bundle`` would: which version the reference names, and the bundle hash the
registry holds for it. Anything else (another store, a version not cached yet, a hash that
differs, a schema this code does not know) returns None, and the caller goes through
MLflow, which raises the proper errors. The bundle is then loaded and checked by
``ModelBundle.load`` exactly as on the MLflow path.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from tabloop.tracking._mlflow import BUNDLE_SHA_TAG, VersionRef, _safe
from tabloop.bundle import MANIFEST_FILE
from tabloop.tracking._relocate import sqlite_file
from tabloop.workspace import file_sha256

log = logging.getLogger(__name__)

#: MLflow marks a deleted version with this stage instead of removing its row at once
_DELETED = "Deleted_Internal"


def cached_version(uri: str, model_name: str, ref: str | None, *, cache: Path) -> tuple[VersionRef, Path] | None:
    """``(version, bundle folder)`` when ``ref`` resolves in the SQLite registry at ``uri`` to a version whose
    cached bundle has the manifest hash the registry holds; None whenever MLflow should be asked instead."""
    # a URI with options (read-only, a URI filename) is MLflow's to open
    path = None if "?" in uri else sqlite_file(uri)
    if path is None or not path.is_file():
        return None
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
            found = _resolve(db, model_name, ref)
            if found is None:
                return None
            version, run_id = found
            row = db.execute(
                "SELECT value FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
                (model_name, version, BUNDLE_SHA_TAG),
            ).fetchone()
    except sqlite3.Error as exc:  # a schema MLflow changed, a locked file: MLflow knows better
        log.debug("registry %s not read directly (%s); asking MLflow", uri, exc)
        return None
    if row is None or not row[0]:
        return None
    bundle_dir = cache / _safe(model_name) / str(version) / "artifacts" / "bundle"
    manifest = bundle_dir / MANIFEST_FILE
    if not manifest.is_file() or file_sha256(manifest) != row[0]:
        return None
    return VersionRef(model_name, str(version), run_id), bundle_dir


def _resolve(db: sqlite3.Connection, model_name: str, ref: str | None) -> tuple[int, str | None] | None:
    """The version a reference names and its run, as ``Tracker.resolve`` reads it; None when it names none."""
    alive = "status = 'READY' AND (current_stage IS NULL OR current_stage != ?)"
    if ref is None or not str(ref).isdigit():
        if ref == "latest":
            row = db.execute(f"SELECT max(version) FROM model_versions WHERE name = ? AND {alive}",
                             (model_name, _DELETED)).fetchone()
        else:
            row = db.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                             (model_name, ref or "champion")).fetchone()
        if row is None or row[0] is None:
            return None
        ref = str(row[0])
    row = db.execute(f"SELECT version, run_id FROM model_versions WHERE name = ? AND version = ? AND {alive}",
                     (model_name, int(ref), _DELETED)).fetchone()
    return None if row is None else (int(row[0]), row[1])

"""A registry of one version keeps the version's number and its bundle's bytes, and serves without MLflow."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tabloop.api import Project
from tabloop.errors import TrackingError
from tabloop.tracking import BUNDLE_SHA_TAG, VersionRef, cached_bundle_dir, cached_version, write_single_version_store
from tabloop.workspace import Workspace, file_sha256


def test_the_version_keeps_its_number_and_bytes(trained_project: Path, tmp_path: Path) -> None:
    proj = Project.open(trained_project)
    ref = proj.resolve("champion")
    bundle = proj.load_bundle(ref.version)
    source = cached_bundle_dir(proj.workspace.home / "cache", ref)
    target = Workspace(tmp_path / "model")
    target.root.mkdir()
    as_three = VersionRef(ref.name, "3", ref.run_id)
    made, baked = write_single_version_store(source, bundle, as_three, target, experiment="packaged",
                                             key=proj.workspace.signing_key(), serve_root=Path("/app/model"))
    assert made.version == "3"
    for name in ("manifest.json", "manifest.sig", "pipeline.joblib"):
        assert file_sha256(baked / name) == file_sha256(source / name)
    # found the way the server finds it: the registry file read directly, the cache checked against its tag
    found = cached_version(f"sqlite:///{target.mlflow_db}", ref.name, "3", cache=target.home / "cache")
    assert found is not None and found[1] == baked
    with sqlite3.connect(target.mlflow_db) as db:
        live = db.execute("SELECT version FROM model_versions WHERE current_stage != 'Deleted_Internal'").fetchall()
        tag = db.execute("SELECT value FROM model_version_tags WHERE key = ?", (BUNDLE_SHA_TAG,)).fetchone()[0]
        experiments = [r[0] for r in db.execute("SELECT artifact_location FROM experiments")]
    assert live == [(3,)] and tag == file_sha256(baked / "manifest.json")
    # paths already say where the folder will be served from, so a read-only copy there is never rewritten
    assert any(loc == "file:///app/model/.tabloop/artifacts" for loc in experiments)
    with pytest.raises(TrackingError, match="exists already"):
        write_single_version_store(source, bundle, as_three, target, experiment="packaged",
                                   key=proj.workspace.signing_key())

"""A cached version found through the SQLite registry answers as MLflow does, and spares the MLflow import."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tabloop.api import Project
from tabloop.tracking import cached_version


@pytest.fixture(scope="module")
def project(trained_project: Path) -> Project:
    proj = Project.open(trained_project)
    proj.load_bundle(None)  # fills the cache
    return proj


def _cached(proj: Project, ref: str | None) -> tuple[str, Path] | None:
    found = cached_version(proj.workspace.tracking_uri(proj.spec), proj.spec.model_name, ref,
                           cache=proj.workspace.home / "cache")
    return None if found is None else (found[0].version, found[1])


@pytest.mark.parametrize("ref", [None, "champion", "1", "latest"])
def test_a_cached_version_resolves_as_mlflow_resolves_it(project: Project, ref: str | None) -> None:
    found = _cached(project, ref)
    assert found is not None
    expected = project.resolve(ref)
    assert found[0] == expected.version
    assert (found[1] / "manifest.json").is_file()


@pytest.mark.parametrize("ref", ["no-such-alias", "99"])
def test_a_reference_the_registry_does_not_know_goes_to_mlflow(project: Project, ref: str) -> None:
    assert _cached(project, ref) is None


def test_a_version_not_in_the_cache_goes_to_mlflow(project: Project, tmp_path: Path) -> None:
    found = cached_version(project.workspace.tracking_uri(project.spec), project.spec.model_name, None,
                           cache=tmp_path / "empty-cache")
    assert found is None


def test_a_cached_bundle_whose_manifest_differs_from_the_registry_goes_to_mlflow(project: Project,
                                                                              tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(project.workspace.home / "cache", cache)
    manifest = next(cache.rglob("manifest.json"))
    manifest.write_text(manifest.read_text() + " ")
    found = cached_version(project.workspace.tracking_uri(project.spec), project.spec.model_name, None, cache=cache)
    assert found is None


def test_a_store_that_is_not_sqlite_or_not_readable_goes_to_mlflow(project: Project, tmp_path: Path) -> None:
    cache = project.workspace.home / "cache"
    assert cached_version("http://127.0.0.1:1", "m", None, cache=cache) is None
    assert cached_version(f"sqlite:///{tmp_path / 'missing.db'}", "m", None, cache=cache) is None
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (a)").connection.close()
    assert cached_version(f"sqlite:///{tmp_path / 'other.db'}", "m", None, cache=cache) is None


def test_predict_with_a_cached_champion_does_not_import_mlflow(project: Project, hmda_csv: Path,
                                                               tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from tabloop.api import predict\n"
        f"res = predict({str(hmda_csv)!r}, {str(tmp_path / 'out.csv')!r}, project={str(project.workspace.root)!r},"
        " log_predictions=False)\n"
        "print(json.dumps({'rows': res.rows, 'version': res.version, 'mlflow': 'mlflow' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc == {"rows": doc["rows"], "version": project.resolve(None).version, "mlflow": False}
    assert doc["rows"] > 0


def test_a_damaged_cached_file_goes_to_mlflow_which_fetches_it_again(project: Project) -> None:
    """The registry tag only covers manifest.json: a cached pipeline that fails its hash is not loaded from the cache."""
    found = _cached(project, None)
    assert found is not None
    pipeline = found[1] / "pipeline.joblib"
    good = pipeline.read_bytes()
    try:
        pipeline.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
        calls: list[str] = []
        real = project.tracker.load_bundle

        def spy(ref, **kw):  # type: ignore[no-untyped-def]
            calls.append(ref.version)
            pipeline.write_bytes(good)  # what fetching again gives back
            return real(ref, **kw)

        project.tracker.load_bundle = spy  # type: ignore[method-assign]
        try:
            bundle = project.load_bundle(None)
        finally:
            del project.tracker.load_bundle
        assert calls == [found[0]] and bundle.version == found[0]
    finally:
        pipeline.write_bytes(good)

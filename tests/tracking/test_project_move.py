"""A project folder copied or restored elsewhere works on its own and never touches the old folder.

Before: the embedded store kept absolute file:// locations, so the copy read (and trained into) the
original's artifacts folder.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pandas as pd

import tabloop
from tabloop.api._project import Project

from .._spec_edit import set_spec


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def _stored_text(db: Path) -> list[tuple[str, str, str]]:
    """Every text value in every table of a SQLite store: (table, column, value)."""
    out = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for _, column, *_ in conn.execute(f"PRAGMA table_info({table})"):
                for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}" WHERE typeof("{column}") = \'text\''):
                    out.append((table, column, value))
    conn.close()
    return out


def test_a_copied_project_works_after_the_original_moved_away(tmp_path: Path, hmda_csv: Path) -> None:
    original = tmp_path / "original"
    tabloop.init(original, data=str(hmda_csv), target="deny", exclude=["black"])
    # a few trials: the test is about where the files are, not how good the model is
    set_spec(original, **{"train.candidates": ["dummy", "linear"], "split.folds": 3, "train.trials": 3})
    tabloop.promote(tabloop.train(original).version, project=original)
    tabloop.predict(hmda_csv, tmp_path / "before.csv", project=original)

    copy = tmp_path / "restored"
    shutil.copytree(original, copy, symlinks=True)  # like cp -a, or a restore from a backup
    elsewhere = tmp_path / "moved-away"
    original.rename(elsewhere)  # the old path is gone; the old files still exist, somewhere else
    untouched = _snapshot(elsewhere)
    shutil.rmtree(copy / ".tabloop" / "cache")  # so the bundle must come from the copy's registry

    scored = tabloop.predict(hmda_csv, tmp_path / "after.csv", project=copy)
    assert scored.version == "1"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "before.csv").drop(columns=["request_id"]),
                                  pd.read_csv(tmp_path / "after.csv").drop(columns=["request_id"]))
    second = tabloop.train(copy)
    tabloop.promote(second.version, project=copy, force=True)  # the same model again: the gate would refuse it
    shutil.rmtree(copy / ".tabloop" / "cache")
    assert Project.open(copy).load_bundle(second.version).version == "2"

    assert not original.exists(), "something wrote under the old project path"
    assert _snapshot(elsewhere) == untouched, "the moved-away original was changed"
    stale = [(t, c, v) for t, c, v in _stored_text(copy / ".tabloop" / "mlflow.db") if str(original) in v]
    assert stale == [], stale
    proj = Project.open(copy)
    here = (copy / ".tabloop" / "artifacts").as_uri() + "/"
    runs = proj.tracker.client.search_runs([proj.tracker.experiment_id])
    assert runs and all(r.info.artifact_uri.startswith(here) for r in runs)
    versions = proj.tracker.list_versions(proj.spec.model_name)
    assert [str(v.version) for v in versions] == ["1", "2"]
    for v in versions:
        assert proj.tracker.client.get_model_version_download_uri(proj.spec.model_name, v.version).startswith(here)


def test_a_relative_tracking_uri_is_relative_to_the_project(tmp_path: Path, hmda_csv: Path, monkeypatch) -> None:
    root = tmp_path / "proj"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    set_spec(root, **{"tracking.uri": "sqlite:///registry/mlflow.db"})
    (root / "registry").mkdir()
    monkeypatch.chdir(tmp_path)  # not the project folder
    proj = Project.open(root)
    assert proj.tracker.uri == f"sqlite:///{root}/registry/mlflow.db"
    assert (root / "registry" / "mlflow.db").is_file() and not (tmp_path / "registry").exists()
    set_spec(root, **{"tracking.uri": "sqlite:////somewhere/absolute.db"})
    assert proj.workspace.tracking_uri(Project.open(root).spec) == "sqlite:////somewhere/absolute.db"

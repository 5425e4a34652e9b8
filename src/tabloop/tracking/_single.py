"""A registry of one version: what ``tabloop package --mode baked`` puts into an image.

``tabloop serve`` finds its model through a project's registry, so an image that carries its
model carries a project folder whose embedded SQLite store holds that one version, under the
version number it has in the source registry, with its bundle in the cache where
``cached_version`` finds it without importing MLflow. Nothing else of the source store comes
along: no runs, no other versions, no tracking URL.

The version number is kept because every answer, log record and metric names it. MLflow
numbers a model's versions from the highest one ever created, deleted ones included, so the
numbers below it are taken by placeholder versions that are deleted at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tabloop.bundle import ModelBundle
from tabloop.errors import TrackingError
from tabloop.tracking._mlflow import Tracker, VersionRef, cached_bundle_dir
from tabloop.tracking._relocate import relocate_store
from tabloop.workspace import SigningKey, Workspace

log = logging.getLogger(__name__)


def write_single_version_store(
    bundle_dir: Path, bundle: ModelBundle, ref: VersionRef, project: Workspace, *, experiment: str, key: SigningKey,
    serve_root: Path | None = None,
) -> tuple[VersionRef, Path]:
    """Register the bundle saved in ``bundle_dir`` (``bundle``, loaded from it) as ``ref.version`` in a fresh
    store inside ``project``, and cache it there; returns the version and its cached bundle folder.

    The files are copied as they are, signature included (re-saving would pickle the pipeline
    again, and other bytes would need signing again). ``project`` must have no store yet. ``key``
    checks the cached copy as the server will. ``serve_root``: where the folder will live when
    served (``/app/model`` in an image); the store's paths are rewritten to it now, so that a
    read-only copy there is never rewritten on start.
    """
    import mlflow

    db = project.mlflow_db
    if db.exists():
        raise TrackingError(f"{db}: a store exists already; a single-version store starts empty")
    if not ref.version.isdigit():
        raise TrackingError(f"version {ref.version!r} is not a number")
    project.ensure()
    uri = f"sqlite:///{db}"
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        tracker = Tracker(uri, experiment, artifact_root=project.artifacts, project_root=project.root)
        client = tracker.client
        client.create_registered_model(ref.name)
        for _ in range(int(ref.version) - 1):
            placeholder = client.create_model_version(ref.name, source=project.artifacts.as_uri(), run_id=None)
            client.delete_model_version(ref.name, placeholder.version)
        with tracker.run(f"package v{ref.version}", tags={"tabloop.packaged_from": f"{ref.name}/{ref.version}"}):
            made = tracker.register_bundle_dir(bundle_dir, bundle, ref.name)
        if made.version != ref.version:
            raise TrackingError(f"the packaged store numbered the version {made.version}, not {ref.version}",
                                hint="MLflow changed how it numbers versions; report this as a bug")
        tracker.set_alias(ref.name, "champion", made.version, how="set", why="packaged")
        # fills .tabloop/cache and checks the copy against the signature, as the server will
        tracker.load_bundle(made, cache=project.home / "cache", key=key)
        baked = cached_bundle_dir(project.home / "cache", made)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    if serve_root is not None:
        relocate_store(db, project.artifacts.as_uri(), serve_root / project.artifacts.relative_to(project.root),
                       serve_root)
    return made, baked

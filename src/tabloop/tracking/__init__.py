"""Tracking (layer 12): MLflow runs, the registry, aliases, lineage; the only module reaching MLflow."""

from tabloop.tracking._audit import AliasMove, mover
from tabloop.tracking._mlflow import BUNDLE_SHA_TAG, Tracker, VersionRef, cached_bundle_dir
from tabloop.tracking._single import write_single_version_store
from tabloop.tracking._sqlite_registry import cached_version

__all__ = ["BUNDLE_SHA_TAG", "AliasMove", "Tracker", "VersionRef", "cached_bundle_dir", "cached_version", "mover", "write_single_version_store"]

"""Tracking (layer 5): MLflow runs, the registry, aliases, lineage; the only module reaching MLflow."""

from tabloop.tracking._mlflow import BUNDLE_SHA_TAG, Tracker, VersionRef

__all__ = ["BUNDLE_SHA_TAG", "Tracker", "VersionRef"]

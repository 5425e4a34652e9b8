"""``tabloop features apply|materialize``, the point-in-time training set and the serving lookup.

The spec's ``features:`` section names the store; this module builds the project's
``FeatureRepo`` (``.tabloop/feast``, the online store from ``features.online_store`` or
``TABLOOP_FEATURES__ONLINE_STORE``) and hands it to the commands that need it: ``train`` and
``profile`` read their rows through ``training_frame`` when ``features.entity_timestamp`` is
set; ``serve`` completes requests that carry only entity keys through ``online_lookup`` (the online
store), and ``predict`` completes key-only input through ``batch_completion`` (the offline store, point
in time, as Feast scores in batch).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.errors import FeatureStoreError

if TYPE_CHECKING:
    import pandas as pd

    from tabloop.bundle import ModelBundle
    from tabloop.features import FeatureRepo, FilledFrame, Lookup

log = logging.getLogger("tabloop.features")


def feature_repo(proj: Project) -> FeatureRepo:
    """The project's feature repository as its spec describes it."""
    from tabloop.features import FeatureRepo

    return FeatureRepo(proj.spec.features, proj.spec.features_project, proj.workspace.root,
                       proj.workspace.home / "feast", online_store=proj.spec.features.online_store)


@dataclass
class FeaturesApplyResult(Result):
    project: str
    repo: Path
    online_store: str
    entities: list[str]
    views: dict[str, list[str]]
    #: rows in each view's offline source
    source_rows: dict[str, int]


@dataclass
class FeaturesMaterializeResult(Result):
    project: str
    online_store: str
    #: view -> the window loaded ({start, end}; "skipped" when it was up to date)
    views: dict[str, dict[str, str]]


def features_apply(project: str | Path | None = None) -> FeaturesApplyResult:
    """Write ``.tabloop/feast/feature_store.yaml`` and register the spec's entities and feature views in Feast."""
    proj = Project.open(project)
    repo = feature_repo(proj)
    rows = repo.apply()
    return FeaturesApplyResult(repo.project, repo.root, repo.online_name, [e.name for e in repo.spec.entities],
                               {v.name: list(v.features) for v in repo.spec.views}, rows)


def features_materialize(project: str | Path | None = None, *, end: datetime | None = None) -> FeaturesMaterializeResult:
    """Load the online store with each view's values up to ``end`` (default now), incrementally."""
    proj = Project.open(project)
    repo = feature_repo(proj)
    done = repo.materialize(end)
    return FeaturesMaterializeResult(repo.project, repo.online_name, done)


def training_frame(proj: Project, entity_df: pd.DataFrame, source: str) -> pd.DataFrame:
    """The entity table joined point in time with the features the model uses (features.entity_timestamp)."""
    spec = proj.spec.features
    assert spec.entity_timestamp is not None
    joined = feature_repo(proj).historical(entity_df, spec.entity_timestamp, source=source)
    if joined.missing:
        log.warning("%s: %d of %d rows have no value for some feature at their time (no history yet, or older "
                    "than the view's ttl); the model imputes them", source, joined.missing, len(joined.frame))
    return joined.frame


def _lookup(proj: Project, bundle: ModelBundle) -> Lookup | None:
    """The store's lookup of ``bundle``'s stored features; None without a feature store or when the model
    uses none of its features."""
    if not proj.spec.features.views:
        return None
    from tabloop.features import Lookup

    lookup = Lookup(feature_repo(proj), wanted=bundle.contract.feature_names)
    return lookup if lookup else None


def online_lookup(proj: Project, bundle: ModelBundle) -> Lookup | None:
    """The lookup that completes served rows, when the spec has a feature store and the model uses its features."""
    lookup = _lookup(proj, bundle)
    if lookup is None:
        return None
    try:
        lookup.repo.store.get_feature_view(next(iter(lookup.views)))
    except Exception as exc:
        raise FeatureStoreError(f"the feature store in {lookup.repo.root} is not applied: {exc}",
                                hint="run 'tabloop features apply' and 'tabloop features materialize'") from exc
    lookup.warm()
    return lookup


def batch_completion(proj: Project, bundle: ModelBundle, source: str) -> tuple[Callable[[pd.DataFrame], FilledFrame],
                                                                             ModelBundle] | None:
    """For ``tabloop predict``: the function that completes key-only chunks from the offline store point in time
    (as of each row's ``features.entity_timestamp``, else of now), and the bundle to score them with (under
    ``features.on_missing: impute`` its contract lets the gaps through); None without stored features."""
    lookup = _lookup(proj, bundle)
    if lookup is None:
        return None
    from tabloop.features import fill_frame, gaps_allowed

    spec = proj.spec.features
    at = datetime.now(timezone.utc)  # one time for the whole run: every chunk is scored as of it
    checked: list[bool] = []  # the sources and the registry are checked with the first chunk that needs the store

    def complete(chunk: pd.DataFrame) -> FilledFrame:
        filled = fill_frame(lookup, chunk, at=at, timestamp=spec.entity_timestamp, source=source,
                            refresh=not checked)
        if filled.frame is not chunk:
            checked.append(True)
        return filled

    if spec.on_missing == "impute":
        bundle = dataclasses.replace(bundle, contract=gaps_allowed(bundle.contract, lookup.features))
    return complete, bundle

"""A project opened for work: its workspace, its spec, its tracker (created on first use)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tabloop.data import read_table
from tabloop.errors import TabloopError
from tabloop.spec import Spec
from tabloop.workspace import Workspace

if TYPE_CHECKING:
    # imported where used: a standalone 'tabloop monitor' opens no registry, no log and no bundle
    from tabloop.bundle import ModelBundle
    from tabloop.predlog import PredictionLog
    from tabloop.tracking import Tracker, VersionRef

log = logging.getLogger("tabloop")


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "databricks"))


@dataclass
class Project:
    workspace: Workspace
    spec: Spec
    _tracker: Tracker | None = field(default=None, repr=False)

    @classmethod
    def open(cls, project: str | Path | None = None) -> Project:
        ws = Workspace.open(project)
        return cls(ws.ensure(), ws.load_spec())

    @property
    def tracker(self) -> Tracker:
        if self._tracker is None:
            from tabloop.tracking import Tracker

            uri = self.workspace.tracking_uri(self.spec)
            local = not _is_server(uri)
            self._tracker = Tracker(
                uri,
                self.spec.experiment_name,
                # a tracking server keeps its own artifacts; a bare database needs a place for them
                artifact_root=self.workspace.artifacts if local else None,
                project_root=self.workspace.root if local else None,
            )
        return self._tracker

    @property
    def predlog(self) -> PredictionLog:
        from tabloop.predlog import PredictionLog

        return PredictionLog(self.workspace.predlog)

    def read_data(self, data: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
        """The training table: ``data`` when given (a DataFrame, or a path or URL used as given), else the spec's
        ``data.source`` (a path relative to the project, or a database URL with ``data.table`` or ``data.query``).

        Columns ``data.types`` calls numeric but that are stored as text come back as numbers, once
        every value is checked to be one.
        """
        from tabloop.data import apply_types, check_overrides, is_database_url

        if data is not None:
            df = read_table(data)
        else:
            source = self.spec.data.source
            # a SQLite file named in the spec is relative to the project folder, as a CSV path is
            path: Any = self.workspace.resolve_url(source) if is_database_url(source) else self.workspace.resolve(source)
            df = read_table(path, query=self.spec.data.query, table=self.spec.data.table)
        types = self.spec.data.types
        df = apply_types(df, check_overrides(df, types)) if types else df
        self._settle_task(df)
        return df

    def _settle_task(self, df: pd.DataFrame) -> None:
        """A spec without ``data.task`` gets the task inferred from the target, as its description promises."""
        from tabloop.data import infer_task

        data = self.spec.data
        if data.task is None and data.target in df.columns:
            data.task = infer_task(df[data.target])
            from tabloop.errors import SpecError
            from tabloop.spec import METRICS

            if self.spec.metric is not None and self.spec.metric not in METRICS[data.task]:
                raise SpecError(f"{self.workspace.spec_path}: metric {self.spec.metric!r} does not apply to the "
                                f"{data.task} task inferred from the target {data.target!r}",
                                hint=f"use one of {list(METRICS[data.task])}, or set data.task")
            log.info("data.task is empty in %s: inferred %r from the target %r", self.workspace.spec_path,
                     data.task, data.target)

    def data_name(self, data: str | Path | pd.DataFrame | None = None) -> str:
        """How the training table is named in reports and results (a URL without its password)."""
        from tabloop.data import source_name

        spec = self.spec.data
        return source_name(data) if data is not None else source_name(spec.source, query=spec.query, table=spec.table)

    def resolve(self, ref: str | None) -> VersionRef:
        return self.tracker.resolve(self.spec.model_name, ref)

    def load_bundle(self, ref: str | None) -> ModelBundle:
        from tabloop.bundle import ModelBundle
        from tabloop.tracking import cached_version

        # a version already cached, found through the SQLite registry without importing MLflow (seconds saved)
        found = cached_version(self.workspace.tracking_uri(self.spec), self.spec.model_name, ref,
                               cache=self.workspace.home / "cache")
        if found is not None:
            try:
                return ModelBundle.load(found[1], key=self.workspace.signing_key(), name=found[0].name,
                                        version=found[0].version)
            except TabloopError as exc:  # a damaged cached copy: the MLflow path below fetches it again, or says why not
                log.debug("cached %s v%s not loaded (%s); asking the registry", found[0].name, found[0].version, exc)
        return self.tracker.load_bundle(self.resolve(ref), cache=self.workspace.home / "cache",
                                        key=self.workspace.signing_key())

    def report_dir(self) -> Path:
        return self.workspace.reports

    def relative(self, path: Path) -> str:
        """A path inside the project as stored in its records: relative, so they stay true when the folder moves."""
        return str(path.relative_to(self.workspace.root))

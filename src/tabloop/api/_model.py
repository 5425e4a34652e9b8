"""``tabloop.load_model``: a registered version in this Python process, without a server or MLflow's pyfunc."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabloop.api._project import Project

if TYPE_CHECKING:
    import pandas as pd

    from tabloop.bundle import ModelBundle
    from tabloop.data import Contract


@dataclass
class LoadedModel:
    """A model version loaded from the project's registry; ``predict`` answers as ``tabloop predict`` does."""

    bundle: ModelBundle

    @property
    def name(self) -> str | None:
        return self.bundle.name

    @property
    def version(self) -> str | None:
        return self.bundle.version

    @property
    def classes(self) -> list[Any]:
        return self.bundle.classes

    @property
    def task(self) -> str:
        return self.bundle.task

    @property
    def target(self) -> str | None:
        return self.bundle.target

    @property
    def contract(self) -> Contract:
        """The data contract every input is checked against (its columns, and the policies of its rules)."""
        return self.bundle.contract

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows checked against the model's data contract, then a ``prediction`` column and, for classifiers,
        one ``proba_<class>`` column per class, in the input's order (``ContractViolation`` names bad cells)."""
        return self.bundle.predict(df, source="model input").to_frame()


def load_model(model: str | None = None, *, project: str | Path | None = None) -> LoadedModel:
    """Load ``model`` (a version number or alias; default: the champion) from ``project``'s registry."""
    proj = Project.open(project)
    return LoadedModel(proj.load_bundle(model))


def held_out_rows(model: str | None = None, *, project: str | Path | None = None) -> pd.DataFrame:
    """The test part kept aside when ``model`` (a version or alias; default: the champion) was trained, target
    included: the rows ``tabloop evaluate`` scores, which no step of its training saw."""
    from tabloop.errors import DataError

    proj = Project.open(project)
    ref = proj.resolve(model or "champion")
    if not ref.run_id:
        raise DataError(f"model {ref.name!r} version {ref.version} has no training run to take its test part from",
                        hint="test a version trained by 'tabloop train' or 'tabloop retrain'")
    return download_test_part(proj, ref.run_id)


def download_test_part(proj: Project, run_id: str) -> pd.DataFrame:
    """The test part the training run ``run_id`` kept aside (its ``test`` artifact), as a DataFrame."""
    import tempfile

    import pandas as pd

    from tabloop.api._train import TEST_ARTIFACT, TEST_FILE

    with tempfile.TemporaryDirectory(prefix="tabloop-test-part-") as tmp:
        return pd.read_parquet(proj.tracker.download_run_artifact(run_id, f"{TEST_ARTIFACT}/{TEST_FILE}", Path(tmp)))


@dataclass
class MetricScore:
    """The spec's metric of one model on labelled rows, and which way is better."""

    metric: str
    value: float | None
    rows: int
    greater_is_better: bool

    def at_least_as_good(self, bound: float, *, tolerance: float = 1e-9) -> bool:
        """Whether ``value`` is at or above ``bound`` (at or below it for a loss), within ``tolerance``."""
        if self.value is None:
            return False
        return self.value >= bound - tolerance if self.greater_is_better else self.value <= bound + tolerance


def metric_on(model: LoadedModel, rows: pd.DataFrame, *, project: str | Path | None = None) -> MetricScore:
    """The spec's metric (``metric:``, or the task's default) of ``model`` on ``rows``, which carry the target."""
    from tabloop.api._evaluate import score_bundle
    from tabloop.evaluation import greater_is_better

    proj = Project.open(project)
    result = score_bundle(model.bundle, rows, proj)
    value = result.metrics.get(result.metric)
    return MetricScore(result.metric, None if value is None else float(value), result.rows,
                       greater_is_better(result.metric))

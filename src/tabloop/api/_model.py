"""``tabloop.load_model``: a registered version in this Python process, without a server or MLflow's pyfunc."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabloop.api._project import Project

if TYPE_CHECKING:
    import pandas as pd

    from tabloop.bundle import ModelBundle


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

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows checked against the model's data contract, then a ``prediction`` column and, for classifiers,
        one ``proba_<class>`` column per class, in the input's order (``ContractViolation`` names bad cells)."""
        return self.bundle.predict(df, source="model input").to_frame()


def load_model(model: str | None = None, *, project: str | Path | None = None) -> LoadedModel:
    """Load ``model`` (a version number or alias; default: the champion) from ``project``'s registry."""
    proj = Project.open(project)
    return LoadedModel(proj.load_bundle(model))

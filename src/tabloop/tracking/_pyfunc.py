"""The MLflow pyfunc face of a tabloop bundle, so ``mlflow.pyfunc.load_model`` works too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

BUNDLE_ARTIFACT = "bundle"


class TabloopPyfunc(mlflow.pyfunc.PythonModel):
    """Checks rows against the contract, then predicts: a ``prediction`` column and ``proba_<class>`` columns."""

    def load_context(self, context: Any) -> None:
        from tabloop.bundle import ModelBundle
        from tabloop.workspace import find_signing_key

        # outside a project the key can only come from TABLOOP_SIGNING_KEY; never a fresh key (docs/trust.md)
        self.bundle = ModelBundle.load(Path(context.artifacts[BUNDLE_ARTIFACT]), key=find_signing_key())

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.bundle.predict(model_input, source="model input").to_frame()

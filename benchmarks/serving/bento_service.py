"""BentoML's way to serve the same scikit-learn pipeline: a service class with one typed JSON API.

What a BentoML user writes for a tabular model: load the pipeline once, build a DataFrame
from the JSON rows of each request, answer the classes' probabilities. Run by
`bentoml serve bento_service:Model` in the benchmark's own virtual environment
(`run.py --bentoml-python`), with the pipeline saved by joblib at $TABLOOP_BENCH_PIPELINE
and $TABLOOP_BENCH_WORKERS processes.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import joblib
import pandas as pd


@bentoml.service(workers=int(os.environ.get("TABLOOP_BENCH_WORKERS", "1")), traffic={"timeout": 30})
class Model:
    def __init__(self) -> None:
        self.pipeline = joblib.load(os.environ["TABLOOP_BENCH_PIPELINE"])
        self.classes = [str(c) for c in self.pipeline.classes_]

    @bentoml.api
    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        proba = self.pipeline.predict_proba(pd.DataFrame.from_records(rows))
        return [
            {"prediction": self.classes[int(p.argmax())], "probabilities": dict(zip(self.classes, map(float, p), strict=True))}
            for p in proba
        ]

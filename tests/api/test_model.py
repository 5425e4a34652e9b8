"""tabloop.load_model and the helpers the generated model tests use: the held-out rows and the spec's metric on them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import tabloop
from tabloop.api import held_out_rows, metric_on


def test_held_out_rows_and_the_specs_metric_on_them(trained_project: Path, hmda: pd.DataFrame) -> None:
    from sklearn.metrics import roc_auc_score

    rows = held_out_rows(project=trained_project)
    assert "deny" in rows.columns and 0 < len(rows) < len(hmda)
    model = tabloop.load_model("1", project=trained_project)
    score = metric_on(model, rows, project=trained_project)
    assert (score.metric, score.rows, score.greater_is_better) == ("roc_auc", len(rows), True)
    positive = model.classes[1]
    expected = roc_auc_score(rows["deny"].astype(str) == str(positive), model.predict(rows)[f"proba_{positive}"])
    assert abs(score.value - expected) < 1e-12
    assert score.at_least_as_good(score.value) and score.at_least_as_good(score.value + 1e-10)
    assert not score.at_least_as_good(score.value + 1e-6)


def test_a_loaded_model_shows_its_contract(trained_project: Path) -> None:
    model = tabloop.load_model(project=trained_project)
    assert model.task == "binary" and model.target == "deny"
    assert "dir" in model.contract.feature_names and "black" not in model.contract.feature_names

"""Permutation importance for any model, SHAP values for tree models, summed back to the input columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tabloop.data import check_frame, infer_contract
from tabloop.evaluation import permutation_ranking, shap_ranking
from tabloop.preparation import make_preprocessor

RNG = np.random.default_rng(0)
N = 400
FRAME = pd.DataFrame({
    "signal": RNG.normal(size=N),
    "noise": RNG.normal(size=N),
    "colour": RNG.choice(["red", "green", "blue"], N),
})
Y = ((FRAME["signal"] + 1.5 * (FRAME["colour"] == "red") + RNG.normal(0, 0.3, N)) > 0.8).astype(int).to_numpy()
CONTRACT = infer_contract(FRAME.assign(y=Y), target="y")
X = check_frame(FRAME, CONTRACT)


def _fit(model: object, *, scale: bool = True) -> Pipeline:
    return Pipeline([("prepare", make_preprocessor(CONTRACT, scale=scale)), ("model", model)]).fit(X, Y)


def test_permutation_ranks_the_signal_first_and_noise_near_zero() -> None:
    ranking = permutation_ranking(_fit(LogisticRegression()), X, Y, metric="roc_auc", seed=1)
    assert [r["feature"] for r in ranking][0] == "signal"
    assert {r["feature"] for r in ranking} == {"signal", "noise", "colour"}
    noise = next(r for r in ranking if r["feature"] == "noise")
    assert abs(noise["mean"]) < 0.02 and noise["std"] >= 0


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "random_forest"])
def test_shap_for_trees_is_per_input_column(family: str) -> None:
    if family == "lightgbm":
        import lightgbm

        model: object = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1, random_state=0)
    elif family == "xgboost":
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=30, random_state=0)
    else:
        pytest.importorskip("shap")
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=20, random_state=0)
    out = shap_ranking(_fit(model, scale=False), X, max_rows=200)
    assert out["method"] and out["rows"] == 200
    names = [f["feature"] for f in out["features"]]
    assert set(names) == {"signal", "noise", "colour"}  # colour's one-hot columns summed into it
    assert names[-1] == "noise"
    assert all(f["mean_abs"] >= 0 for f in out["features"])


def test_lightgbm_contributions_add_up_to_its_margin() -> None:
    import lightgbm

    pipe = _fit(lightgbm.LGBMClassifier(n_estimators=20, verbose=-1, random_state=0), scale=False)
    Xt = pipe[:-1].transform(X)
    raw = pipe[-1].predict(Xt, pred_contrib=True)
    assert np.allclose(raw.sum(axis=1), pipe[-1].predict(Xt, raw_score=True))


def test_other_models_get_a_note_not_values() -> None:
    out = shap_ranking(_fit(LogisticRegression()), X)
    assert out["features"] == [] and "not a tree model" in out["note"]

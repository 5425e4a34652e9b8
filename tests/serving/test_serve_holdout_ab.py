"""The feedback holdout on the in-process app (answer, log flag, stickiness), and an A/B summary from a real log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tabloop.errors import DataError, ServingError
from tabloop.monitoring import ab_summary, answered_variants, label_selection_warning
from tabloop.predlog import PredictionLog
from tabloop.serving import Holdout, Rollout
from tabloop.spec import ABTestSpec
from tabloop.bundle import ModelBundle, training_prior

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]


def _copy(bundle: ModelBundle, version: str, **changes: Any) -> ModelBundle:
    fields = dict(pipeline=bundle.pipeline, contract=bundle.contract, manifest=bundle.manifest,
                  reference=bundle.reference, spec_yaml="", name=bundle.name, version=version)
    return ModelBundle(**{**fields, **changes})


def _logged(log: PredictionLog) -> pd.DataFrame:
    preds, labels = log.read_predictions(), log.read_feedback()
    if labels.empty:
        return preds.assign(label=None)
    return preds.merge(labels[["request_id", "row", "label"]], on=["request_id", "row"], how="left")


def test_training_prior_is_the_majority_class_or_the_mean() -> None:
    y = pd.Series(["no"] * 7 + ["yes"] * 3, name="deny")
    assert training_prior(y, "binary", ["no", "yes"]) == {"prediction": "no", "probabilities": [0.7, 0.3], "rows": 10}
    assert training_prior(pd.Series([1.0, 2.0, 6.0, None]), "regression", [])["prediction"] == pytest.approx(3.0)
    with pytest.raises(DataError, match="'deny'.*none of its values"):
        training_prior(y, "binary", ["a", "b"])


def test_the_prior_comes_from_the_manifest_else_the_reference_target(bundle: ModelBundle) -> None:
    # the serving fixture's manifest predates 'prior': the reference sample's target gives it
    assert bundle.prior is not None and bundle.prior["prediction"] == "no"
    assert bundle.prior["probabilities"] == pytest.approx([173 / 200, 27 / 200])
    stored = _copy(bundle, "9", manifest=bundle.manifest.replace(prior={"prediction": "yes", "probabilities": [0.4, 0.6]}))
    assert stored.prior_predictions(2).labels == ["yes", "yes"]
    bare = _copy(bundle, "8", reference=bundle.reference.drop(columns=["deny"]))
    assert bare.prior is None
    with pytest.raises(ServingError, match=r"serving.feedback_holdout: hmda v8 has no training prior"):
        app_for(bare, holdout=Holdout(share=0.1))
    app_for(bare)  # without a holdout nothing needs the prior


def test_holdout_rows_get_the_prior_and_the_log_keeps_the_models_answer(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    rows = make_rows(20, start=100)
    own = bundle.predict(pd.DataFrame(rows)).records()
    assert {r["prediction"] for r in own} == {"no", "yes"}  # the model does decide some rows 'yes'
    log = PredictionLog(tmp_path)
    with TestClient(app_for(bundle, predlog=log, holdout=Holdout(share=1.0))) as client:
        body = client.post("/predict", json=rows, headers={"X-Request-Id": "held-1"}).json()
        mlflow = client.post("/invocations", json={"dataframe_records": rows[:3]}).json()
        assert client.get("/metadata").json()["feedback_holdout"] == {"share": 1.0, "key": None}
    for answer in body["predictions"]:
        assert answer["holdout"] is True and answer["prediction"] == "no"
        assert answer["probabilities"] == pytest.approx({"no": 173 / 200, "yes": 27 / 200})
    # every dialect answers held-out rows with the prior; only tabloop's own JSON has room for the flag
    assert [p["prediction"] for p in mlflow["predictions"]] == ["no"] * 3
    assert mlflow["predictions"][0]["proba_yes"] == pytest.approx(27 / 200)
    logged = log.read_predictions()
    first = logged[logged["request_id"] == "held-1"].sort_values("row")
    assert first["holdout"].tolist() == [True] * 20
    assert first["prediction"].tolist() == [r["prediction"] for r in own]  # the model's own, not the prior
    assert first["probabilities"].iloc[0] == pytest.approx(own[0]["probabilities"])


def test_without_a_holdout_nothing_changes(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    with TestClient(app_for(bundle, predlog=log)) as client:
        body = client.post("/predict", json=make_rows(5)).json()
    assert all("holdout" not in p for p in body["predictions"])
    assert "holdout" not in log.read_predictions().columns


def test_holdout_by_key_is_sticky_per_row_and_by_request_otherwise(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path)
    rows = make_rows(200)
    with TestClient(app_for(bundle, predlog=log, holdout=Holdout(share=0.5, key="ccs"))) as client:
        for i in range(0, 200, 10):
            assert client.post("/predict", json=rows[i : i + 10], headers={"X-Request-Id": f"k{i}"}).status_code == 200
    logged = log.read_predictions()
    flags = logged.assign(ccs=[r["ccs"] for r in logged["inputs"]], held=logged.get("holdout", False).fillna(False))
    per_value = flags.groupby("ccs")["held"].nunique()
    assert (per_value == 1).all()  # one entity, one side
    assert set(flags["held"]) == {True, False}
    by_request = Holdout(share=0.5)
    assert len(set(by_request.rows("one-request", rows[:10]))) == 1
    shares = [by_request.rows(f"r{i}", rows[:1])[0] for i in range(2000)]
    assert 0.45 < sum(shares) / 2000 < 0.55
    # the holdout is not the A/B split: they hash the same request ids apart
    ab = Rollout(mode="ab", share=0.5)
    agree = sum(ab.route(f"r{i}", rows[:1]) == "challenger" and shares[i] for i in range(2000))
    assert 400 < agree < 600


@pytest.mark.parametrize(("share", "key", "message"), [
    (0.1, "no_such_column", r"serving.feedback_holdout.key: column 'no_such_column' is not in the contract"),
    (1.5, None, r"serving.feedback_holdout.share must be between 0 and 1, got 1.5"),
])
def test_a_bad_holdout_is_refused_naming_the_field(bundle: ModelBundle, share: float, key: str | None,
                                                   message: str) -> None:
    with pytest.raises(ServingError, match=message):
        app_for(bundle, holdout=Holdout(share=share, key=key))


def test_labels_only_where_the_model_said_yes_warn_unless_holdout(
    bundle: ModelBundle, make_rows: Rows, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path)
    rows = make_rows(300)
    with TestClient(app_for(bundle, predlog=log)) as client:
        for i, row in enumerate(rows):
            answer = client.post("/predict", json=[row], headers={"X-Request-Id": f"q{i}"}).json()["predictions"][0]
            if answer["prediction"] == "yes":  # only approved cases come back with an outcome
                client.post("/feedback", json={"request_id": f"q{i}", "label": "no"})
    warning = label_selection_warning(_logged(log), "binary")
    assert warning is not None and "predicted 'yes' are labelled" in warning


def test_ab_summary_from_the_apps_own_log(bundle: ModelBundle, make_rows: Rows, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    app = app_for(bundle, predlog=log, challenger=_copy(bundle, "2"), rollout=Rollout(mode="ab", share=0.5))
    rows = make_rows(120)
    with TestClient(app) as client:
        for i, row in enumerate(rows):
            answer = client.post("/predict", json=[row], headers={"X-Request-Id": f"ab{i}"}).json()
            pred = answer["predictions"][0]["prediction"]
            # the truth: what the model said on even requests, the other class on odd ones, whichever variant answered
            label = pred if i % 2 == 0 else ("no" if pred == "yes" else "yes")
            assert client.post("/feedback", json={"request_id": f"ab{i}", "label": label}).status_code == 200
    logged = _logged(log)
    assert answered_variants(logged) == ["champion", "challenger"]
    ab = ab_summary(logged, task="binary", classes=["no", "yes"], metric="roc_auc", spec=ABTestSpec(min_labels=20))
    counts = {v.variant: v.labelled for v in ab.variants}
    assert sum(counts.values()) == 120 and min(counts.values()) >= 20
    assert {v.variant: v.versions for v in ab.variants} == {"champion": ["1"], "challenger": ["2"]}
    (c,) = ab.comparisons
    assert c.verdict == "no_significant_difference"  # the same model on both sides

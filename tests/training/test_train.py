"""train_candidates: honest CV, the one-standard-error rule, budgets, failures, determinism."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from tabloop.data import Contract, check_frame, split_train_test
from tabloop.errors import TrainingError
from tabloop.spec import HOLDOUT_PARTS, Spec
from tabloop.training import CandidateResult, TrainResult, train_candidates
from tabloop.training._train import _select

MakeSpec = Callable[..., Spec]
CLASSES = ["no", "yes"]


@pytest.fixture(scope="module")
def train_part(hmda: pd.DataFrame, make_spec: MakeSpec) -> pd.DataFrame:
    train, _ = split_train_test(hmda, make_spec(["linear"]))
    return train


def _spec(make_spec: MakeSpec, candidates: list[str], trials: int | None = 3, **over: object) -> Spec:
    train: dict[str, object] = {"candidates": candidates, "trials": trials, "selection": [], "imbalance": []}
    train.update(over.pop("train", {}))  # type: ignore[arg-type]
    return make_spec(candidates, train=train, **over)


@pytest.fixture(scope="module")
def result(train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec) -> TrainResult:
    return train_candidates(train_part, _spec(make_spec, ["dummy", "linear"]), contract, CLASSES)


def _ok(name: str, metric: str, mean: float, std: float) -> CandidateResult:
    return CandidateResult(name, {}, "ok", metrics={metric: {"mean": mean, "std": std}})


# -- the selection rule -----------------------------------------------------------
def test_simplest_within_one_standard_error_wins() -> None:
    # best 0.80, SE = 0.04 / sqrt(4) = 0.02: 0.785 is within, 0.77 is not
    ok = [_ok("dummy", "roc_auc", 0.5, 0.0), _ok("logistic", "roc_auc", 0.785, 0.01), _ok("lightgbm", "roc_auc", 0.80, 0.04)]
    winner, rule = _select(ok, "roc_auc", folds=4)
    assert winner == "logistic"
    assert "simplest within one standard error" in rule and "SE 0.0200" in rule
    ok[1] = _ok("logistic", "roc_auc", 0.77, 0.01)
    winner, rule = _select(ok, "roc_auc", folds=4)
    assert winner == "lightgbm"
    assert rule.startswith("best mean roc_auc (0.8000)")
    # more folds, smaller standard error: 0.785 is no longer close enough
    ok[1] = _ok("logistic", "roc_auc", 0.785, 0.01)
    assert _select(ok, "roc_auc", folds=16)[0] == "lightgbm"


def test_one_standard_error_rule_when_lower_is_better() -> None:
    # best (lowest) 0.30 with SE 0.05: 0.34 is within, 0.36 is not, and the dummy's 0.69 never is
    ok = [_ok("dummy", "log_loss", 0.69, 0.0), _ok("logistic", "log_loss", 0.34, 0.02), _ok("lightgbm", "log_loss", 0.30, 0.10)]
    assert _select(ok, "log_loss", folds=4)[0] == "logistic"
    ok[1] = _ok("logistic", "log_loss", 0.36, 0.02)
    assert _select(ok, "log_loss", folds=4)[0] == "lightgbm"


def test_real_training_follows_the_rule(result: TrainResult) -> None:
    metric = result.metric
    assert metric == "roc_auc"
    ok = [c for c in result.leaderboard if c.status == "ok"]
    best = max(ok, key=lambda c: c.mean(metric))

    def within(c: CandidateResult) -> bool:  # one standard error of the paired per-fold differences (3 folds)
        d = np.asarray(best.fold_scores[metric]) - np.asarray(c.fold_scores[metric])
        return c is best or d.mean() <= d.std(ddof=1) / math.sqrt(3)

    simplest_first = sorted(ok, key=lambda c: ["dummy", "logistic"].index(c.name))
    simplest_within = next(c.name for c in simplest_first if within(c))
    assert result.winner == simplest_within == "logistic"
    assert result.winner_result().mean(metric) > 0.75  # the real table is learnable
    dummy = next(c for c in ok if c.name == "dummy")
    assert dummy.mean("roc_auc") == pytest.approx(0.5)


# -- what the leaderboard holds --------------------------------------------------
def test_leaderboard_holds_every_metric_per_fold_best_first(result: TrainResult) -> None:
    assert [c.name for c in result.leaderboard] == ["logistic", "dummy"]
    for c in result.leaderboard:
        assert set(c.metrics) == {"roc_auc", "average_precision", "log_loss", "accuracy", "balanced_accuracy", "f1"}
        for m, scores in c.fold_scores.items():
            assert len(scores) == 3
            assert c.mean(m) == pytest.approx(np.mean(scores))
            assert c.std(m) == pytest.approx(np.std(scores, ddof=1))
        assert c.metrics["log_loss"]["mean"] > 0  # reported in natural units, not sklearn's negated score
    assert result.to_dict()["leaderboard"][0]["name"] == "logistic"


def test_winner_is_refitted_on_all_training_rows(result: TrainResult, train_part: pd.DataFrame, contract: Contract) -> None:
    from tabloop.data import check_frame

    model = result.pipeline.named_steps["model"]
    assert type(model).__name__ == "LogisticRegression"
    assert result.pipeline.named_steps["prepare"].n_features_in_ == len(contract.feature_names)
    proba = result.pipeline.predict_proba(check_frame(train_part, contract))
    assert proba.shape == (len(train_part), 2)


def test_same_seed_gives_the_same_leaderboard(
    result: TrainResult, train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    again = train_candidates(train_part, _spec(make_spec, ["dummy", "linear"]), contract, CLASSES)
    assert [(c.name, c.metrics, c.fold_scores) for c in again.leaderboard] == [
        (c.name, c.metrics, c.fold_scores) for c in result.leaderboard
    ]
    other = train_candidates(train_part, _spec(make_spec, ["dummy", "linear"], seed=1), contract, CLASSES)
    assert other.leaderboard[0].fold_scores != result.leaderboard[0].fold_scores


def test_lower_is_better_metric_ranks_ascending(train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec) -> None:
    res = train_candidates(train_part, _spec(make_spec, ["linear"], metric="log_loss"), contract, CLASSES)
    assert res.metric == "log_loss"
    assert [c.name for c in res.leaderboard] == ["logistic", "dummy"]
    assert res.leaderboard[0].mean("log_loss") < res.leaderboard[1].mean("log_loss")
    assert res.winner == "logistic"


def test_regression(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    from tabloop.data import infer_contract

    df = hmda.drop(columns=["deny"])
    contract = infer_contract(df, target="lvr", ignored=["black"])
    spec = _spec(make_spec, ["linear"], task="regression", target="lvr")
    res = train_candidates(df, spec, contract, [])
    assert res.metric == "rmse"
    assert [c.name for c in res.leaderboard] == ["ridge", "dummy"]
    assert 0 < res.leaderboard[0].mean("rmse") < res.leaderboard[1].mean("rmse")
    assert res.leaderboard[0].metrics["r2"]["mean"] > 0


# -- budget and failures -----------------------------------------------------------
def test_spent_budget_skips_later_candidates_but_trains_one_real_model(
    train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    messages: list[str] = []
    res = train_candidates(
        train_part.head(400), _spec(make_spec, ["linear", "lightgbm"], trials=None), contract, CLASSES,
        budget_seconds=1e-9, progress=messages.append,
    )
    status = {c.name: c.status for c in res.leaderboard}
    assert status == {"dummy": "ok", "logistic": "ok", "lightgbm": "skipped"}
    skipped = res.leaderboard[-1]
    assert skipped.name == "lightgbm" and skipped.note == "budget of 0s spent" and skipped.metrics == {}
    assert "skipped lightgbm: budget of 0s spent" in messages
    assert res.winner == "logistic"


def _broken_fit(self: object, X: object, y: object, **kw: object) -> None:
    raise ValueError("cannot fit this")


def test_a_failing_candidate_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch, train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    monkeypatch.setattr(LogisticRegression, "fit", _broken_fit)
    res = train_candidates(train_part.head(300), _spec(make_spec, ["linear"]), contract, CLASSES)
    failed = next(c for c in res.leaderboard if c.name == "logistic")
    assert failed.status == "failed" and "ValueError: cannot fit this" in failed.note
    assert res.leaderboard[-1] is failed  # failures sort last
    assert res.winner == "dummy"


def test_nothing_trainable_raises_naming_each_candidate(
    monkeypatch: pytest.MonkeyPatch, train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    monkeypatch.setattr(DummyClassifier, "fit", _broken_fit)
    with pytest.raises(TrainingError, match=r"no candidate could be trained \(dummy: ValueError: cannot fit this"):
        train_candidates(train_part.head(300), _spec(make_spec, []), contract, CLASSES)


def test_training_data_is_checked_against_the_contract(
    train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    from tabloop.errors import ContractViolation

    bad = train_part.head(100).assign(dir=1000.0)  # far outside the trained range: refused by default
    with pytest.raises(ContractViolation, match="^training data breaks the data contract.*far_range"):
        train_candidates(bad, _spec(make_spec, []), contract, CLASSES)


def test_the_validation_scheme_scores_every_candidate_and_is_reported(
    train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    small = train_part.head(300)
    res = train_candidates(small, _spec(make_spec, ["linear"], split={"folds": 3}), contract, CLASSES)  # auto
    assert res.validation == "3-fold repeated 3 times (stratified); auto for 300 training rows"
    assert res.folds == 9 and res.to_dict()["validation"] == res.validation
    assert all(len(c.fold_scores["roc_auc"]) == 9 for c in res.leaderboard if c.status == "ok")
    held = train_candidates(train_part, _spec(make_spec, ["linear", "tree"], split={"validation": "holdout"}),
                            contract, CLASSES)
    assert held.folds == 1 and held.validation == "holdout of 20% scored in 5 parts (stratified)"
    ok = [c for c in held.leaderboard if c.status == "ok"]
    assert {c.name for c in ok} >= {"dummy", "logistic", "tree"}
    # one fit per candidate, its validation rows scored in parts: a spread for the one-standard-error rule
    assert all(len(c.fold_scores["roc_auc"]) == HOLDOUT_PARTS for c in ok)
    assert all(c.std("roc_auc") > 0 for c in ok if c.name != "dummy")
    assert "SE 0.0000" not in held.rule and "error (0.0000)" not in held.rule
    assert held.winner in {c.name for c in ok}


def test_a_non_default_preparation_is_searched_deduped_and_refitted(
    train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    from tabloop.training import study_name

    small = train_part.head(300)
    doubled = pd.concat([small, small.head(20)], ignore_index=True)
    prep = {"impute": "mean", "outliers": "clip", "log_transform": "auto", "encoding": "target", "dedupe": True,
            "search": ["encoding", "scaling", "outliers"]}
    spec = _spec(make_spec, ["linear", "tree"], trials=8, preparation=prep, train={"ensemble": False})
    res = train_candidates(doubled, spec, contract, CLASSES)
    natural = int(small.duplicated(subset=[*contract.feature_names, "deny"]).sum())
    assert res.duplicates_dropped == 20 + natural and res.to_dict()["duplicates_dropped"] == 20 + natural
    linear = [t for t in res.trials if t.family == "linear"]
    # the first trial of a family is the spec's own preparation; later ones may try others
    assert linear[0].params["prep.encoding"] == "target" and linear[0].params["prep.outliers"] == "clip"
    assert linear[0].params["prep.scaling"] == "standard"
    tried = {(t.params["prep.encoding"], t.params["prep.scaling"], t.params["prep.outliers"]) for t in linear}
    assert len(tried) > 1
    assert all("prep.scaling" not in t.params for t in res.trials if t.family == "tree")  # trees are never scaled
    # the refitted winner prepares its features as its trial did
    best = res.winner_result()
    branches = {name: t for name, t, _ in res.pipeline.named_steps["prepare"].transformers_}
    if best.family != "dummy":
        assert best.params["prep.encoding"] in branches["categorical"].named_steps
    X = check_frame(small, contract)
    assert res.pipeline.predict_proba(X).shape == (len(small), 2)
    # another preparation is another study; the defaults keep the name studies had before
    default = _spec(make_spec, ["linear", "tree"], trials=8)
    assert study_name("h", spec) != study_name("h", default)
    assert study_name("h", default) == study_name("h", _spec(make_spec, ["linear", "tree"], trials=8, preparation={}))


def test_preparation_naming_a_column_that_is_not_numeric_stops_training(
    train_part: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    from tabloop.errors import SpecError

    spec = _spec(make_spec, ["linear"], trials=1, preparation={"bins": {"dmi": 3}})
    with pytest.raises(SpecError, match=r"preparation\.bins names 'dmi', a categorical column"):
        train_candidates(train_part.head(100), spec, contract, CLASSES)

"""make_candidates: the dummy baseline always, simplest first, one pipeline each."""

from __future__ import annotations

import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tabloop.data import Contract
from tabloop.training import make_candidates


def _has_scaler(pipe: Pipeline) -> bool:
    numeric = dict((name, t) for name, t, _ in pipe.named_steps["prepare"].transformers)["numeric"]
    return any(isinstance(step, StandardScaler) for _, step in numeric.steps)


def test_classifier_candidates_are_ordered_and_include_the_baseline(contract: Contract) -> None:
    cands = make_candidates(["lightgbm", "linear"], "binary", contract, seed=5)
    assert [c.name for c in cands] == ["dummy", "logistic", "lightgbm"]
    assert [c.complexity for c in cands] == sorted(c.complexity for c in cands)
    models = [c.build().named_steps["model"] for c in cands]
    assert isinstance(models[0], DummyClassifier) and models[0].strategy == "prior"
    assert isinstance(models[1], LogisticRegression)
    assert isinstance(models[2], LGBMClassifier) and models[2].random_state == 5 and models[2].n_jobs == 1


def test_regression_candidates(contract: Contract) -> None:
    cands = make_candidates(["dummy", "linear", "lightgbm"], "regression", contract, seed=1)
    assert [c.name for c in cands] == ["dummy", "ridge", "lightgbm"]
    models = [c.build().named_steps["model"] for c in cands]
    assert isinstance(models[0], DummyRegressor) and isinstance(models[1], Ridge) and isinstance(models[2], LGBMRegressor)


def test_only_linear_models_scale_and_every_build_is_fresh(contract: Contract, hmda: pd.DataFrame) -> None:
    dummy, logistic, lgbm = make_candidates(["linear", "lightgbm"], "binary", contract, seed=0)
    assert _has_scaler(logistic.build())
    assert not _has_scaler(dummy.build()) and not _has_scaler(lgbm.build())
    assert logistic.build() is not logistic.build()
    assert [c.name for c in make_candidates([], "binary", contract, seed=0)] == ["dummy"]


class _FirstChoice:
    """A Space that answers the lowest value and records what it was asked."""

    def __init__(self) -> None:
        self.asked: dict[str, object] = {}

    def int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        self.asked[name] = (low, high)
        return low

    def float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        self.asked[name] = (low, high)
        return low

    def cat(self, name: str, choices: list[object]) -> object:
        self.asked[name] = choices
        return choices[-1]


def test_lightgbm_may_search_extra_trees_and_its_defaults_do_not(contract: Contract) -> None:
    (lgbm,) = [c for c in make_candidates(["lightgbm"], "binary", contract, seed=0) if c.family == "lightgbm"]
    space = _FirstChoice()
    params = lgbm.space(space)
    assert space.asked["extra_trees"] == [False, True]
    assert lgbm.build(params).named_steps["model"].get_params()["extra_trees"] is True
    assert lgbm.build().named_steps["model"].get_params()["extra_trees"] is False


def test_the_search_varies_only_the_preparation_choices_the_spec_names_where_they_matter(contract: Contract) -> None:
    from dataclasses import replace

    from sklearn.preprocessing import OrdinalEncoder, RobustScaler

    from tabloop.spec import PreparationSpec
    from tabloop.training import Options

    prep = PreparationSpec(search=["impute", "encoding", "scaling"], encoding="ordinal", scaling="robust")
    _, logistic, lgbm = make_candidates(["linear", "lightgbm"], "binary", contract, seed=0, preparation=prep)
    # no numeric column of this contract has gaps: imputation cannot matter; trees are never scaled
    assert logistic.prep_space() == {"scaling": ("robust", "standard", "minmax"),
                                     "encoding": ("ordinal", "onehot", "target")}
    assert lgbm.prep_space() == {"encoding": ("ordinal", "onehot", "target")}
    # the first trial is the spec's own preparation
    first = logistic.preset(Options())
    assert first["prep.encoding"] == "ordinal" and first["prep.scaling"] == "robust"
    branches = {name: t for name, t, _ in logistic.build(first).named_steps["prepare"].transformers}
    assert isinstance(branches["categorical"].named_steps["ordinal"], OrdinalEncoder)
    assert isinstance(branches["numeric"].named_steps["scale"], RobustScaler)
    space = _FirstChoice()
    params = logistic.suggest(space, Options())
    assert space.asked["prep.encoding"] == ["ordinal", "onehot", "target"]
    assert params["prep.encoding"] == "target" and params["prep.scaling"] == "minmax"
    built = {name: t for name, t, _ in logistic.build(params).named_steps["prepare"].transformers}
    assert "target" in built["categorical"].named_steps
    assert "prep.encoding" not in logistic.build(params).named_steps["model"].get_params()
    # on large data the search does not try k-NN imputation (the spec may still ask for it)
    gappy = Contract([replace(contract.column(c), nullable=True) if c == "lvr" else contract.column(c)
                      for c in contract.feature_names], target=contract.target)
    (_, imputed) = make_candidates(["linear"], "binary", gappy, seed=0, preparation=PreparationSpec(search=["impute"]))
    assert imputed.prep_space(Options())["impute"] == ("median", "mean", "most_frequent", "knn")
    assert imputed.prep_space(Options(knn_impute=False))["impute"] == ("median", "mean", "most_frequent")
    # without preparation.search nothing is offered, and the defaults are the preprocessing of before
    (_, plain) = make_candidates(["linear"], "binary", contract, seed=0)
    assert plain.prep_space() == {} and "prep.encoding" not in plain.preset(Options())


def test_the_spec_says_the_knn_imputation_limit_the_search_keeps() -> None:
    from tabloop.spec import PreparationSpec
    from tabloop.training._candidates import KNN_MAX_ROWS

    assert f"k-NN imputation up to {KNN_MAX_ROWS:,} training rows" in PreparationSpec.model_fields["search"].description

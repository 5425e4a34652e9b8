"""Training on Dask: each boosted family fitted on a table in several Parquet partitions, its local copy (what
the version registers) predicting what the Dask model predicts on the cluster, and other families refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tabloop.data import Contract, bounded_sample, class_labels, dask_split, read_dask_table
from tabloop.errors import TrainingError
from tabloop.spec import Spec
from tabloop.training import dask_families, dask_predictions, train_on_dask

pytest.importorskip("distributed")

from .._dask import client, parts  # noqa: E402,F401  (fixtures)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_the_registered_pipeline_predicts_what_the_dask_model_predicts(
    family: str, parts: Path, client: Any, contract: Contract, make_spec: Callable[..., Spec], hmda: pd.DataFrame,
) -> None:
    spec = make_spec([family])
    ddf = read_dask_table(parts)
    train, test = dask_split(ddf, spec, share=0.2)
    classes = class_labels(hmda["deny"], "binary")
    sample = bounded_sample(train, 1000, 1900, seed=0)  # a bounded sample fits the preparation
    assert 700 < len(sample) < 1300
    result = train_on_dask(train, spec, contract, classes, client, sample=sample)

    assert result.winner == family and result.final.family == family
    board = {r.name: r for r in result.leaderboard}
    assert set(board) == {family, "dummy"}
    # scored as the local holdout scores: five parts of the validation part
    assert len(board[family].fold_scores["roc_auc"]) == 5
    assert board["dummy"].mean("roc_auc") == 0.5
    assert board[family].mean("roc_auc") > 0.75
    assert 250 < result.validation_rows < 500
    assert "sample of" in result.validation and any("no Optuna search" in n for n in result.notes)

    remote, y = dask_predictions(result.final, test, contract, "deny", classes, "binary")
    rows = test.compute()
    local = result.final.pipeline.predict_proba(rows.drop(columns=["deny"]))
    assert remote.shape == local.shape == (len(rows), 2)
    np.testing.assert_allclose(local, remote, rtol=0, atol=1e-6)
    assert list(result.final.pipeline.named_steps) == ["prepare", "model"]
    assert not hasattr(result.final.pipeline.named_steps["model"], "feature_names_in_")  # as the local engine's
    assert (y == (rows["deny"] == "yes").to_numpy()).all()


def test_without_refit_the_winner_is_the_model_scored(parts: Path, client: Any, contract: Contract,
                                                      make_spec: Callable[..., Spec], hmda: pd.DataFrame) -> None:
    from tabloop.training._cv import holdout_parts, score_predictions
    from tabloop.training._dask import VALIDATION_SALT

    spec = make_spec(["xgboost"], train={"candidates": ["xgboost"], "dask": {"refit": False}})
    train, _ = dask_split(read_dask_table(parts), spec, share=0.2)
    classes = class_labels(hmda["deny"], "binary")
    result = train_on_dask(train, spec, contract, classes, client, sample=train.compute())
    assert any("train.dask.refit: false" in n for n in result.notes)
    # the registered model scores on the validation part exactly what the leaderboard says (a refit would not)
    validation = dask_split(train, spec, share=spec.split.validation_size, salt=VALIDATION_SALT)[1]
    pred, y = dask_predictions(result.final, validation, contract, "deny", classes, "binary")
    scores = [score_predictions("binary", y[p], pred[p], ["roc_auc"])["roc_auc"] for p in holdout_parts(y, "binary")]
    assert np.mean(scores) == pytest.approx(next(r for r in result.leaderboard if r.name == "xgboost").mean("roc_auc"))


def test_other_families_are_refused_by_name(make_spec: Callable[..., Spec]) -> None:
    with pytest.raises(TrainingError, match="train.candidates names random_forest, linear, which do not train on "
                                            "Dask") as err:
        dask_families(make_spec(["lightgbm", "random_forest", "linear"]))
    assert "[lightgbm, xgboost]" in (err.value.hint or "")
    assert dask_families(make_spec(["dummy", "xgboost"])) == ["xgboost"]


def test_the_default_candidates_mean_both_boosted_families() -> None:
    from tabloop.spec import validate_spec

    from tabloop.spec import DEFAULT_CANDIDATES

    raw = {"name": "t", "data": {"source": "x.csv", "target": "deny", "task": "binary"}}
    assert dask_families(validate_spec(raw)) == ["lightgbm", "xgboost"]
    # as tabloop init writes it: the default list, spelled out
    assert dask_families(validate_spec({**raw, "train": {"candidates": list(DEFAULT_CANDIDATES)}})) == \
        ["lightgbm", "xgboost"]


def test_a_row_the_contract_refuses_on_a_worker_stops_training_naming_column_and_partition(
    tmp_path: Path, client: Any, contract: Contract, make_spec: Callable[..., Spec], hmda: pd.DataFrame,
) -> None:
    from tabloop.errors import ContractViolation

    assert not contract.column("dir").nullable
    for i in range(4):
        part = hmda.iloc[i::4].copy()
        if i == 2:
            part.iloc[5, part.columns.get_loc("dir")] = np.nan  # a gap where training saw none: not_null rejects
        part.to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    spec = make_spec(["xgboost"])
    ddf = read_dask_table(tmp_path)
    with pytest.raises(ContractViolation, match=r"training data, partition 2.*'dir'|'dir'.*partition 2"):
        train_on_dask(ddf, spec, contract, class_labels(hmda["deny"], "binary"), client, sample=hmda.head(500))

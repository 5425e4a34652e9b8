"""``tabloop train --engine dask``: a version trained on a cluster is a normal version (bundle, contract, ONNX
with parity, test part), so evaluate and predict use it unchanged; what it cannot do is refused by name."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import tabloop
from tabloop.errors import DataError, SpecError, TrainingError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A cluster reached by its address, as a user's own is (threads in this process: quick to start)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _project(root: Path, hmda: pd.DataFrame, hmda_csv: Path, candidates: list[str], *,
             missing_target: str = "refuse", **train: Any) -> Path:
    parts = root / "data"
    parts.mkdir(parents=True)
    for i in range(4):  # a table in several Parquet part files, as larger-than-memory data comes
        hmda.iloc[i::4].to_parquet(parts / f"part-{i}.parquet", index=False)
    tabloop.init(root / "p", data=str(hmda_csv), target="deny", exclude=["black"])
    raw = yaml.safe_load((root / "p" / "tabloop.yaml").read_text())
    raw["data"].update(source=str(parts), missing_target=missing_target)
    raw["train"].update(candidates=candidates, **train)
    (root / "p" / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    return root / "p"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, hmda: pd.DataFrame, hmda_csv: Path,
            scheduler: str) -> tuple[Path, Any]:
    # five rows without a label, left out as the local engine leaves them out
    root = _project(tmp_path_factory.mktemp("dask"), hmda.assign(deny=hmda["deny"].mask(hmda.index < 5)), hmda_csv,
                    ["xgboost"], missing_target="drop")
    said: list[str] = []
    result = tabloop.api.train(root, engine="dask", scheduler=scheduler, progress=said.append)
    assert any(m.startswith("Dask: 2 workers") for m in said)
    return root, result


def test_the_dask_version_registers_as_any_version(trained: tuple[Path, Any], hmda: pd.DataFrame) -> None:
    root, result = trained
    assert (result.engine, result.winner, result.version) == ("dask", "xgboost", "1")
    assert result.train_rows + result.test_rows == len(hmda) - 5 and result.unlabelled_dropped == 5
    assert result.dask["partitions"] == 4 and result.dask["workers"] == 2
    assert [r["candidate"] for r in result.leaderboard] == ["xgboost", "dummy"]
    assert result.leaderboard[0]["roc_auc_mean"] > 0.7 and result.validation.startswith("holdout of 20%")
    report = json.loads(result.report_json.read_text())
    assert report["engine"] == "dask" and report["winner"] == "xgboost"

    model = tabloop.load_model("1", project=root)
    bundle = model.bundle
    assert bundle.manifest.onnx["used"] is True  # exported, parity held on the test part's rows
    assert bundle.manifest.onnx["parity_rows_from"] == "held-out rows"
    held_out = tabloop.api.held_out_rows("1", project=root)
    assert len(held_out) == result.test_rows
    # the bundle answers as its pipeline (the Dask model's local copy) does
    proba = bundle.predict(held_out.drop(columns=["deny"])).to_frame()
    local = bundle.pipeline.predict_proba(held_out.drop(columns=["deny"]))
    np.testing.assert_allclose(proba["proba_yes"].to_numpy(), local[:, 1], atol=1e-6)


def test_evaluate_and_batch_predict_use_the_dask_version_unchanged(trained: tuple[Path, Any], tmp_path: Path,
                                                                   hmda: pd.DataFrame) -> None:
    root, result = trained
    ev = tabloop.api.evaluate(root, version="1")
    assert ev.rows == result.test_rows and ev.metrics["roc_auc"] > 0.7
    source = tmp_path / "in.parquet"
    hmda.drop(columns=["deny"]).head(200).to_parquet(source, index=False)
    out = tabloop.api.predict(str(source), str(tmp_path / "out.parquet"), model="1", project=root, log_predictions=False)
    assert out.rows_scored == 200


def test_an_unsupported_family_is_refused_before_a_cluster_starts(tmp_path: Path, hmda: pd.DataFrame,
                                                                  hmda_csv: Path) -> None:
    root = _project(tmp_path, hmda, hmda_csv, ["lightgbm", "catboost"])
    with pytest.raises(TrainingError, match="train.candidates names catboost, which does not train on Dask") as err:
        tabloop.api.train(root, engine="dask", scheduler="tcp://192.0.2.1:8786")  # never dialled
    assert "train catboost with the local engine" in (err.value.hint or "")


def test_rows_without_a_target_are_refused_unless_the_spec_says_drop(tmp_path: Path, hmda: pd.DataFrame,
                                                                   hmda_csv: Path, scheduler: str) -> None:
    root = _project(tmp_path, hmda.assign(deny=hmda["deny"].mask(hmda.index % 100 == 0)), hmda_csv, ["lightgbm"])
    with pytest.raises(DataError, match=r"the target is missing in 24 row\(s\)") as err:
        tabloop.api.train(root, engine="dask", scheduler=scheduler)
    assert "data.missing_target: drop" in (err.value.hint or "")


def test_a_scheduler_that_does_not_answer_fails_naming_it(tmp_path: Path, hmda: pd.DataFrame, hmda_csv: Path) -> None:
    import dask

    root = _project(tmp_path, hmda, hmda_csv, ["lightgbm"])
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(DataError, match=f"cannot reach the Dask scheduler {address}"):
            tabloop.api.train(root, engine="dask", scheduler=address)
    assert not list((root / ".tabloop").glob("reports/train-*"))  # nothing trained, nothing registered


def test_the_spec_and_environment_choose_the_engine(tmp_path: Path, hmda: pd.DataFrame, hmda_csv: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # random_forest does not train on Dask: the refusal shows which engine was chosen, before anything runs
    root = _project(tmp_path, hmda, hmda_csv, ["random_forest"], engine="dask")
    with pytest.raises(TrainingError, match="random_forest"):  # train.engine: dask in the spec
        tabloop.api.train(root)
    with pytest.raises(TrainingError, match="unknown engine 'spark'"):
        tabloop.api.train(root, engine="spark")  # the flag over the spec
    monkeypatch.setenv("TABLOOP_TRAIN__ENGINE", "spark")
    with pytest.raises(SpecError, match="train.engine"):
        tabloop.api.train(root)  # the environment over the spec, checked as the file is
    monkeypatch.setenv("TABLOOP_TRAIN__DASK__SCHEDULER", "tcp://127.0.0.1:1")
    monkeypatch.setenv("TABLOOP_TRAIN__ENGINE", "dask")
    monkeypatch.setenv("TABLOOP_TRAIN__CANDIDATES", "[xgboost]")
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(DataError, match="cannot reach the Dask scheduler tcp://127.0.0.1:1"):
            tabloop.api.train(root)  # train.dask.scheduler from the environment


def test_the_worker_flag_is_refused_on_dask(tmp_path: Path, hmda: pd.DataFrame, hmda_csv: Path) -> None:
    root = _project(tmp_path, hmda, hmda_csv, ["xgboost"])
    with pytest.raises(TrainingError, match="--worker adds trials to a shared Optuna search"):
        tabloop.api.train(root, engine="dask", worker=True)

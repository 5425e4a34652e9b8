"""ModelBundle: predictions, and files that refuse to load once changed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.data import Contract, check_frame, encode_target
from tabloop.errors import ContractViolation, DataError
from tabloop.train import ModelBundle, Predictions, make_candidates
from tabloop.workspace import file_sha256

FILES = ["pipeline.joblib", "contract.json", "spec.yaml", "reference.parquet"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, bundle: ModelBundle) -> Path:
    directory = tmp_path_factory.mktemp("bundle")
    ModelBundle(bundle.pipeline, bundle.contract, dict(bundle.manifest), bundle.reference, bundle.spec_yaml).save(directory)
    return directory


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


# -- predict ---------------------------------------------------------------------
def test_predict_gives_labels_and_probabilities_in_class_order(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    preds = bundle.predict(hmda.head(200))
    expected = bundle.pipeline.predict_proba(check_frame(hmda.head(200), bundle.contract))
    np.testing.assert_array_equal(preds.proba, expected)
    assert preds.classes == ["no", "yes"]
    assert preds.labels == ["yes" if p >= 0.5 else "no" for p in expected[:, 1]]
    assert {"no", "yes"} == set(bundle.predict(hmda).labels)  # the real table yields both answers
    frame = preds.to_frame()
    assert list(frame.columns) == ["prediction", "proba_no", "proba_yes"]
    np.testing.assert_allclose(frame[["proba_no", "proba_yes"]].sum(axis=1), 1.0)
    rec = preds.records()[0]
    assert rec == {"prediction": preds.labels[0], "probabilities": {"no": expected[0, 0], "yes": expected[0, 1]}}
    assert all(type(p) is float for p in rec["probabilities"].values())


def test_single_row_and_batch_predictions_agree(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    rows = hmda.iloc[::60]  # 40 rows across the table, the one with a gap in pbcr included below
    rows = pd.concat([rows, hmda[hmda["pbcr"].isna()]])
    batch = bundle.predict(rows)
    for i in range(len(rows)):
        one = bundle.predict(rows.iloc[[i]])
        np.testing.assert_allclose(one.proba[0], batch.proba[i], rtol=0, atol=1e-12)
        assert one.labels[0] == batch.labels[i]


def test_single_row_and_batch_agree_for_trees(contract: Contract, hmda: pd.DataFrame) -> None:
    lgbm = next(c for c in make_candidates(["lightgbm"], "binary", contract, seed=0) if c.name == "lightgbm")
    pipe = lgbm.build().set_params(model__n_estimators=40)
    pipe.fit(check_frame(hmda, contract), encode_target(hmda["deny"], ["no", "yes"]))
    b = ModelBundle(pipe, contract, {"task": "binary", "classes": ["no", "yes"], "threshold": 0.5}, hmda.head(5), "")
    rows = hmda.iloc[::100]
    batch = b.predict(rows)
    for i in range(len(rows)):
        np.testing.assert_allclose(b.predict(rows.iloc[[i]]).proba[0], batch.proba[i], rtol=0, atol=1e-12)


def test_threshold_decides_binary_labels(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    rows = hmda.head(100)
    p_yes = bundle.predict(rows).proba[:, 1]
    for threshold in (0.05, 0.2, 0.9):
        b = ModelBundle(bundle.pipeline, bundle.contract, {**bundle.manifest, "threshold": threshold}, bundle.reference, "")
        assert b.predict(rows).labels == ["yes" if p >= threshold else "no" for p in p_yes]
    argmax = ModelBundle(bundle.pipeline, bundle.contract, {**bundle.manifest, "threshold": None}, bundle.reference, "")
    assert argmax.predict(rows).labels == ["yes" if p > 0.5 else "no" for p in p_yes]


def test_rows_are_checked_against_the_contract(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    with pytest.raises(ContractViolation, match=r"^upload\.csv breaks the data contract.*column 'dmi', row 0"):
        bundle.predict(hmda.head(1).assign(dmi="maybe"), source="upload.csv")


def test_regression_bundle_has_values_and_no_probabilities(contract: Contract, hmda: pd.DataFrame) -> None:
    class Mean:
        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return X["lvr"].to_numpy() * 2

    b = ModelBundle(Mean(), contract, {"task": "regression"}, hmda.head(5), "")
    preds = b.predict(hmda.head(3))
    assert preds.proba is None and preds.classes == []
    assert preds.labels == [float(v) * 2 for v in hmda["lvr"].head(3)]
    assert list(preds.to_frame().columns) == ["prediction"]
    assert preds.records()[0] == {"prediction": preds.labels[0]}
    assert Predictions(labels=[], proba=None, classes=[]).to_frame().empty


# -- files -----------------------------------------------------------------------
def test_save_writes_a_manifest_with_hashes_and_versions(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["format"] == 1
    assert manifest["task"] == "binary" and manifest["classes"] == ["no", "yes"]
    names = {"pipeline": "pipeline.joblib", "contract": "contract.json", "spec": "spec.yaml", "reference": "reference.parquet"}
    assert manifest["files"] == {k: file_sha256(saved / f) for k, f in names.items()}
    assert {"python", "scikit-learn", "pandas", "numpy"} <= set(manifest["versions"])
    assert sorted(p.name for p in saved.iterdir()) == sorted([*FILES, "manifest.json"])  # no temp files left


def test_load_round_trips(saved: Path, bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    loaded = ModelBundle.load(saved, name="m", version="3")
    assert (loaded.name, loaded.version) == ("m", "3")
    assert loaded.contract == bundle.contract
    assert loaded.spec_yaml == "x: 1"
    pd.testing.assert_frame_equal(loaded.reference, bundle.reference.reset_index(drop=True))
    np.testing.assert_array_equal(loaded.predict(hmda).proba, bundle.predict(hmda).proba)


@pytest.mark.parametrize("name", FILES)
def test_a_changed_file_is_refused(tmp_path: Path, saved: Path, name: str) -> None:
    copy = _copy(saved, tmp_path / "b")
    with open(copy / name, "ab") as fh:
        fh.write(b"\n")
    with pytest.raises(DataError) as err:
        ModelBundle.load(copy)
    assert f"{copy / name}: hash does not match the manifest; refusing to load" in str(err.value)
    assert "register the model again" in (err.value.hint or "")


def test_a_missing_file_is_refused_naming_it(tmp_path: Path, saved: Path) -> None:
    copy = _copy(saved, tmp_path / "b")
    (copy / "pipeline.joblib").unlink()
    with pytest.raises(DataError, match=r"pipeline\.joblib: file of the model bundle is missing"):
        ModelBundle.load(copy)


def test_a_manifest_that_drops_a_hash_is_refused(tmp_path: Path, saved: Path) -> None:
    copy = _copy(saved, tmp_path / "b")
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"]["spec"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"spec\.yaml: hash does not match the manifest"):
        ModelBundle.load(copy)


def test_not_a_bundle_or_a_future_format(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(DataError, match="not a tabloop model bundle"):
        ModelBundle.load(tmp_path)
    copy = _copy(saved, tmp_path / "b")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    with pytest.raises(DataError, match=r"bundle format 2 is not supported"):
        ModelBundle.load(copy)

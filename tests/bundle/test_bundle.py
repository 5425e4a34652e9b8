"""ModelBundle: predictions, and files that refuse to load once changed or not signed with the project key."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tabloop.data import Contract, check_frame, encode_target
from tabloop.errors import ContractViolation, DataError, SignatureError
from tabloop.training import make_candidates
from tabloop.bundle import ModelBundle, Predictions
from tabloop.workspace import SigningKey, file_sha256

FILES = ["pipeline.joblib", "contract.json", "spec.yaml", "reference.parquet"]
KEY = SigningKey.from_text("bundle tests: the project key", source="test")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, bundle: ModelBundle) -> Path:
    directory = tmp_path_factory.mktemp("bundle")
    copy = ModelBundle(bundle.pipeline, bundle.contract, bundle.manifest, bundle.reference, bundle.spec_yaml)
    copy.save(directory, key=KEY)
    return directory


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _write_manifest(directory: Path, manifest: dict[str, object], *, sign_with: SigningKey | None) -> None:
    """Rewrite the manifest as an attacker would; ``sign_with`` re-signs it (only the key's holder can)."""
    data = json.dumps(manifest).encode()
    (directory / "manifest.json").write_bytes(data)
    if sign_with is not None:
        sig = {"algorithm": "hmac-sha256", "key_id": sign_with.key_id, "hmac": sign_with.sign(data)}
        (directory / "manifest.sig").write_text(json.dumps(sig))


class Armed:
    """A pickle that, when loaded, creates ``marker``: stands for code an attacker runs through unpickling."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


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
        b = ModelBundle(bundle.pipeline, bundle.contract, bundle.manifest.replace(threshold=threshold), bundle.reference, "")
        assert b.predict(rows).labels == ["yes" if p >= threshold else "no" for p in p_yes]
    argmax = ModelBundle(bundle.pipeline, bundle.contract, bundle.manifest.replace(threshold=None), bundle.reference, "")
    assert argmax.predict(rows).labels == ["yes" if p > 0.5 else "no" for p in p_yes]


def test_rows_are_checked_against_the_contract(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    with pytest.raises(ContractViolation, match=r"^upload\.csv breaks the data contract.*column 'lvr', row 0.*far_range"):
        bundle.predict(hmda.head(1).assign(lvr=1000.0), source="upload.csv")


def test_rows_let_through_out_of_contract_carry_their_marks(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    rows = hmda.head(3).assign(dmi=["no", "maybe", "yes"])
    preds = bundle.predict(rows)
    assert preds.out_of_contract == [1]
    assert [m.to_dict() for m in preds.marks[1]] == [{"column": "dmi", "rule": "unseen_category", "policy": "unknown"}]
    records = preds.records()
    assert "contract" not in records[0] and records[1]["contract"] == [m.to_dict() for m in preds.marks[1]]


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
    assert sorted(p.name for p in saved.iterdir()) == sorted([*FILES, "manifest.json", "manifest.sig"])  # no temp files


def test_load_round_trips(saved: Path, bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    loaded = ModelBundle.load(saved, key=KEY, name="m", version="3")
    assert (loaded.name, loaded.version) == ("m", "3")
    assert loaded.contract == bundle.contract
    assert loaded.spec_yaml == "x: 1"
    pd.testing.assert_frame_equal(loaded.reference, bundle.reference.reset_index(drop=True))
    np.testing.assert_array_equal(loaded.predict(hmda).proba, bundle.predict(hmda).proba)


def test_the_pipeline_is_unpickled_on_first_use(saved: Path, bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    loaded = ModelBundle.load(saved, key=KEY)
    assert not loaded.pipeline_loaded  # an ONNX caller never pays for scikit-learn
    assert type(loaded.pipeline) is type(bundle.pipeline)
    assert loaded.pipeline_loaded
    assert loaded.pipeline is loaded.pipeline  # unpickled once
    np.testing.assert_array_equal(loaded.pipeline.predict_proba(check_frame(hmda, bundle.contract)),
                                  bundle.pipeline.predict_proba(check_frame(hmda, bundle.contract)))


def test_a_loaded_bundle_saved_again_unused_keeps_its_pipeline_bytes(tmp_path: Path, saved: Path,
                                                                     hmda: pd.DataFrame) -> None:
    loaded = ModelBundle.load(saved, key=KEY)
    loaded.save(tmp_path / "again", key=KEY)
    assert not loaded.pipeline_loaded
    assert (tmp_path / "again" / "pipeline.joblib").read_bytes() == (saved / "pipeline.joblib").read_bytes()
    again = ModelBundle.load(tmp_path / "again", key=KEY)
    np.testing.assert_array_equal(again.predict(hmda).proba, loaded.predict(hmda).proba)


def test_a_pickled_pipeline_is_set_like_any_other(saved: Path, bundle: ModelBundle) -> None:
    loaded = ModelBundle.load(saved, key=KEY)
    loaded.pipeline = bundle.pipeline
    assert loaded.pipeline_loaded and loaded.pipeline is bundle.pipeline


@pytest.mark.parametrize("name", FILES)
def test_a_changed_file_is_refused(tmp_path: Path, saved: Path, name: str) -> None:
    copy = _copy(saved, tmp_path / "b")
    with open(copy / name, "ab") as fh:
        fh.write(b"\n")
    with pytest.raises(DataError) as err:
        ModelBundle.load(copy, key=KEY)
    assert f"{copy / name}: hash does not match the manifest; refusing to load" in str(err.value)
    assert "register the model again" in (err.value.hint or "")


def test_a_missing_file_is_refused_naming_it(tmp_path: Path, saved: Path) -> None:
    copy = _copy(saved, tmp_path / "b")
    (copy / "pipeline.joblib").unlink()
    with pytest.raises(DataError, match=r"pipeline\.joblib: file of the model bundle is missing"):
        ModelBundle.load(copy, key=KEY)


def test_a_manifest_that_drops_a_hash_is_refused(tmp_path: Path, saved: Path) -> None:
    copy = _copy(saved, tmp_path / "b")
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"]["spec"]
    _write_manifest(copy, manifest, sign_with=KEY)  # signed, so the hash check itself is what refuses
    with pytest.raises(DataError, match=r"spec\.yaml: hash does not match the manifest"):
        ModelBundle.load(copy, key=KEY)


def test_not_a_bundle_or_a_future_format(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(DataError, match="not a tabloop model bundle"):
        ModelBundle.load(tmp_path, key=KEY)
    copy = _copy(saved, tmp_path / "b")
    manifest = json.loads((copy / "manifest.json").read_text())
    _write_manifest(copy, {**manifest, "format": 2}, sign_with=KEY)
    with pytest.raises(DataError, match=r"bundle format 2 is not supported"):
        ModelBundle.load(copy, key=KEY)


# -- signatures --------------------------------------------------------------------
def test_a_tampered_pipeline_with_a_recomputed_hash_is_refused_before_unpickling(tmp_path: Path, saved: Path) -> None:
    # the attacker can write every file of the bundle: a pickle of their own, and the manifest's hash of it
    copy = _copy(saved, tmp_path / "b")
    marker = tmp_path / "attacker-code-ran"
    joblib.dump(Armed(marker), copy / "pipeline.joblib")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["pipeline"] = file_sha256(copy / "pipeline.joblib")
    _write_manifest(copy, manifest, sign_with=None)  # the old signature stays: they do not have the key
    with pytest.raises(SignatureError) as err:
        ModelBundle.load(copy, key=KEY, name="m", version="3")
    assert not marker.exists()  # refused before anything was unpickled
    assert f"model 'm' version 3 ({copy}): manifest.json does not match its signature" in err.value.message
    assert "retrain" in (err.value.hint or "")
    # signing with a key of their own does not help either
    _write_manifest(copy, manifest, sign_with=SigningKey.from_text("the attacker's own key", source="x"))
    with pytest.raises(SignatureError, match="signed with a different key"):
        ModelBundle.load(copy, key=KEY)
    assert not marker.exists()
    # the pickle really is armed: loading it directly runs the attacker's code
    joblib.load(copy / "pipeline.joblib")
    assert marker.exists()


def test_a_bundle_signed_with_another_key_is_refused(saved: Path) -> None:
    other = SigningKey.from_text("another project's key", source="TABLOOP_SIGNING_KEY")
    with pytest.raises(SignatureError) as err:
        ModelBundle.load(saved, key=other, name="m", version="3")
    assert f"model 'm' version 3 ({saved}): signed with a different key (key id {KEY.key_id!r}" in err.value.message
    assert f"the key from TABLOOP_SIGNING_KEY has id {other.key_id!r}" in err.value.message
    assert "set TABLOOP_SIGNING_KEY to the key of the project that trained it" in (err.value.hint or "")


def test_an_unsigned_bundle_is_refused(tmp_path: Path, saved: Path) -> None:
    copy = _copy(saved, tmp_path / "b")
    (copy / "manifest.sig").unlink()
    with pytest.raises(SignatureError) as err:
        ModelBundle.load(copy, key=KEY)
    assert f"{copy}: the model is unsigned (manifest.sig is missing); refusing to load it" == err.value.message
    assert "registered before tabloop signed model versions" in (err.value.hint or "")
    assert "tabloop train" in (err.value.hint or "")


@pytest.mark.parametrize("content", [b"", b"not json", b'{"algorithm": "md5", "hmac": "00"}', b'["x"]',
                                     b'{"algorithm": "hmac-sha256", "hmac": "00"}',
                                     b'{"algorithm": "hmac-sha256", "key_id": "x", "hmac": "\\u00e9"}'])
def test_a_malformed_signature_is_refused(tmp_path: Path, saved: Path, content: bytes) -> None:
    copy = _copy(saved, tmp_path / "b")
    (copy / "manifest.sig").write_bytes(content)
    with pytest.raises(SignatureError, match="refusing to load it"):
        ModelBundle.load(copy, key=KEY)


def test_the_signature_covers_the_manifest_bytes(saved: Path) -> None:
    sig = json.loads((saved / "manifest.sig").read_text())
    assert sig == {"algorithm": "hmac-sha256", "key_id": KEY.key_id, "hmac": KEY.sign((saved / "manifest.json").read_bytes())}
    assert len(sig["hmac"]) == 64
    assert ModelBundle.load(saved, key=SigningKey.from_text(" bundle tests: the project key\n", source="x")).task == "binary"


def test_threads_asking_for_the_pipeline_at_once_get_one_object(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    unpickle = joblib.load

    def slow(*args: object, **kwargs: object) -> object:  # every thread arrives while the first unpickles
        time.sleep(0.2)
        return unpickle(*args, **kwargs)

    monkeypatch.setattr(joblib, "load", slow)
    loaded = ModelBundle.load(saved, key=KEY)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: loaded.pipeline, range(16)))
    assert all(p is got[0] for p in got)

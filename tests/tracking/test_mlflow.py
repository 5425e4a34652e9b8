"""Tracker against a real SQLite MLflow store: registry, aliases, signed bundles in and out, pyfunc parity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tabloop.data import check_frame, encode_target, infer_contract
from tabloop.errors import ModelNotFoundError, SignatureError, TrackingError
from tabloop.preparation import make_preprocessor
from tabloop.tracking import BUNDLE_SHA_TAG, Tracker, VersionRef
from tabloop.bundle import ModelBundle
from tabloop.workspace import SIGNING_KEY_ENV, SigningKey, file_sha256

MODEL = "m"
KEY_TEXT = "tracking tests: the project key"
KEY = SigningKey.from_text(KEY_TEXT, source="test")


def _bundle(hmda: pd.DataFrame, C: float) -> ModelBundle:
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipeline = Pipeline([("prepare", make_preprocessor(contract)), ("model", LogisticRegression(C=C, max_iter=1000))])
    pipeline.fit(check_frame(hmda, contract), encode_target(hmda["deny"], ["no", "yes"]))
    return ModelBundle(pipeline, contract, {"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
                       reference=hmda.head(100), spec_yaml="x: 1")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="module")
def bundles(hmda: pd.DataFrame) -> dict[str, ModelBundle]:
    return {"1": _bundle(hmda, C=1.0), "2": _bundle(hmda, C=0.01)}


@pytest.fixture(scope="module")
def tracker(store: Path, bundles: dict[str, ModelBundle]) -> Iterator[Tracker]:
    import mlflow

    t = Tracker(f"sqlite:///{store}/mlflow.db", "exp", artifact_root=store / "artifacts")
    refs = []
    with t.run("t") as run_id:
        for v in ("1", "2"):
            refs.append(t.register_bundle(bundles[v], MODEL, key=KEY, tags={"tabloop.winner": "logistic"}))
    assert refs == [VersionRef(MODEL, "1", run_id), VersionRef(MODEL, "2", run_id)]
    yield t
    mlflow.set_tracking_uri(None)


def test_versions_aliases_and_resolution(tracker: Tracker) -> None:
    assert [str(v.version) for v in tracker.list_versions(MODEL)] == ["1", "2"]
    assert tracker.get_version(MODEL, "2").tags["tabloop.winner"] == "logistic"
    with pytest.raises(ModelNotFoundError, match="model 'm' has no champion yet") as err:
        tracker.resolve(MODEL, None)
    assert "tabloop promote" in (err.value.hint or "")
    assert tracker.resolve(MODEL, "latest").version == "2"
    assert tracker.resolve(MODEL, "1").version == "1"

    assert tracker.set_alias(MODEL, "champion", "1") is None
    assert tracker.resolve(MODEL, None).version == "1"
    assert tracker.set_alias(MODEL, "champion", "2") == "1"  # the previous holder, for rollback
    assert tracker.alias_version(MODEL, "champion") == "2"
    assert tracker.resolve(MODEL, "champion") == tracker.resolve(MODEL, None)
    assert tracker.resolve(MODEL, None).version == "2"

    with pytest.raises(ModelNotFoundError, match=r"model 'm' has no version '9' \(versions: \[.?1.?, .?2.?\]\)") as err:
        tracker.set_alias(MODEL, "champion", "9")
    assert "tabloop train" in (err.value.hint or "")
    assert tracker.alias_version(MODEL, "champion") == "2"  # unchanged by the refused move
    with pytest.raises(ModelNotFoundError, match="model 'm' has no alias 'challenger'"):
        tracker.resolve(MODEL, "challenger")
    with pytest.raises(ModelNotFoundError, match="model 'other' has no versions"):
        tracker.resolve("other", "latest")


def test_load_bundle_round_trips(tracker: Tracker, bundles: dict[str, ModelBundle], hmda: pd.DataFrame, tmp_path: Path) -> None:
    for v in ("1", "2"):
        loaded = tracker.load_bundle(tracker.resolve(MODEL, v), cache=tmp_path, key=KEY)
        assert (loaded.name, loaded.version) == (MODEL, v)
        assert loaded.contract == bundles[v].contract
        np.testing.assert_array_equal(loaded.predict(hmda).proba, bundles[v].predict(hmda).proba)
        manifest = next(tmp_path.rglob(f"{v}/artifacts/bundle/manifest.json"))
        assert file_sha256(manifest) == tracker.get_version(MODEL, v).tags[BUNDLE_SHA_TAG]
    # the two versions really are different models
    assert not np.allclose(bundles["1"].predict(hmda).proba, bundles["2"].predict(hmda).proba)
    again = tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=KEY)  # from the cache
    np.testing.assert_array_equal(again.predict(hmda.head(5)).proba, bundles["1"].predict(hmda.head(5)).proba)


def test_pyfunc_and_bundle_predict_the_same(tracker: Tracker, bundles: dict[str, ModelBundle], hmda: pd.DataFrame,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv(SIGNING_KEY_ENV, KEY_TEXT)  # outside a project, MLflow's loader finds the key only there
    rows = hmda.drop(columns=["deny", "black"]).iloc[::25].reset_index(drop=True)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/1")
    got = model.predict(rows)
    expected = bundles["1"].predict(rows).to_frame()
    assert list(got.columns) == ["prediction", "proba_no", "proba_yes"]
    assert got["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(got[["proba_no", "proba_yes"]].to_numpy(float),
                               expected[["proba_no", "proba_yes"]].to_numpy(float), rtol=0, atol=1e-12)


def test_a_registry_hash_mismatch_is_refused(tracker: Tracker, tmp_path: Path) -> None:
    original = tracker.get_version(MODEL, "1").tags[BUNDLE_SHA_TAG]
    try:
        tracker.client.set_model_version_tag(MODEL, "1", BUNDLE_SHA_TAG, "0" * 64)
        with pytest.raises(TrackingError, match="model 'm' version 1: manifest hash differs from the registry; refusing to load"):
            tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=KEY)
        tracker.client.delete_model_version_tag(MODEL, "1", BUNDLE_SHA_TAG)
        with pytest.raises(TrackingError, match="version 1 was not registered by tabloop; refusing to load"):
            tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=KEY)
    finally:
        tracker.client.set_model_version_tag(MODEL, "1", BUNDLE_SHA_TAG, original)
    assert tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=KEY).version == "1"


def test_runs_record_params_and_metrics(tracker: Tracker, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello")
    with tracker.run("r", tags={"tabloop.stage": "test"}) as run_id:
        tracker.log_params({"seed": 42, "long": "x" * 900})
        tracker.log_metrics({"auc": 0.8, "undefined": None})
        tracker.log_artifact(note, artifact_path="notes")
    run = tracker.client.get_run(run_id)
    assert run.data.params["seed"] == "42" and len(run.data.params["long"]) == 500
    assert run.data.metrics == {"auc": 0.8}
    assert run.data.tags["tabloop.stage"] == "test"
    got = tracker.download_run_artifact(run_id, "notes/note.txt", tmp_path / "dl")
    assert got.read_text() == "hello"
    with pytest.raises(TrackingError, match=rf"run {run_id}: cannot fetch artifact 'missing.txt'"):
        tracker.download_run_artifact(run_id, "missing.txt", tmp_path / "dl2")


# -- signatures: what an attacker who can write the artifacts and the registry cannot do ---------------
class Armed:
    """A pickle that, when loaded, creates ``marker``: stands for code an attacker runs through unpickling."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _stored_bundles(store: Path, sha: str) -> list[Path]:
    """The bundle folders in the artifact store whose manifest the registry names (MLflow may keep more than one)."""
    found = [p.parent for p in store.rglob("manifest.json") if file_sha256(p) == sha]
    assert found, "registered bundle not found in the artifact store"
    return found


def test_a_tampered_version_is_refused_before_unpickling_by_every_loader(
    tracker: Tracker, bundles: dict[str, ModelBundle], store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    b = bundles["1"]
    # a manifest of its own (identical bundles have identical manifests), so only this version's files are changed
    own = ModelBundle(b.pipeline, b.contract, b.manifest.replace(note="to be tampered with"), b.reference, b.spec_yaml)
    with tracker.run("tamper"):
        ref = tracker.register_bundle(own, "tampered", key=KEY)
    # the attacker swaps the pickle, recomputes its hash in the manifest and the manifest's hash in the registry
    marker = tmp_path / "attacker-code-ran"
    for bundle_dir in _stored_bundles(store / "artifacts", tracker.get_version("tampered", ref.version).tags[BUNDLE_SHA_TAG]):
        joblib.dump(Armed(marker), bundle_dir / "pipeline.joblib")
        manifest = json.loads((bundle_dir / "manifest.json").read_text())
        manifest["files"]["pipeline"] = file_sha256(bundle_dir / "pipeline.joblib")
        assert manifest["note"] == "to be tampered with"
        (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    tracker.client.set_model_version_tag("tampered", ref.version, BUNDLE_SHA_TAG, file_sha256(bundle_dir / "manifest.json"))

    with pytest.raises(SignatureError, match=r"model 'tampered' version 1 \(.*\): manifest\.json does not match its signature"):
        tracker.load_bundle(ref, cache=tmp_path / "cache", key=KEY)
    assert not marker.exists()
    monkeypatch.setenv(SIGNING_KEY_ENV, KEY_TEXT)
    with pytest.raises(SignatureError, match=r"manifest\.json does not match its signature"):
        mlflow.pyfunc.load_model(f"models:/tampered/{ref.version}")
    assert not marker.exists()


def test_a_version_signed_with_another_key_is_refused(tracker: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    other = SigningKey.from_text("another project's key", source=SIGNING_KEY_ENV)
    with pytest.raises(SignatureError, match=r"model 'm' version 1 \(.*\): signed with a different key") as err:
        tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=other)
    assert "set TABLOOP_SIGNING_KEY" in (err.value.hint or "")
    monkeypatch.setenv(SIGNING_KEY_ENV, "another project's key")
    with pytest.raises(SignatureError, match="signed with a different key"):
        mlflow.pyfunc.load_model(f"models:/{MODEL}/1")


def test_pyfunc_without_a_key_is_refused_naming_the_variable(tracker: Tracker, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv("TABLOOP_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SignatureError, match="no signing key: TABLOOP_SIGNING_KEY is not set"):
        mlflow.pyfunc.load_model(f"models:/{MODEL}/1")


def test_rotation_re_signs_a_verified_version_under_the_new_key(tracker: Tracker, bundles: dict[str, ModelBundle],
                                                                hmda: pd.DataFrame, tmp_path: Path) -> None:
    # docs/trust.md, "Rotating the key": load with the old key, register again with the new one
    new = SigningKey.from_text("tracking tests: the rotated key", source="test")
    bundle = tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=KEY)
    with tracker.run("re-sign"):
        ref = tracker.register_bundle(bundle, "rotated", key=new)
    again = tracker.load_bundle(ref, cache=tmp_path, key=new)
    np.testing.assert_array_equal(again.predict(hmda.head(20)).proba, bundles["1"].predict(hmda.head(20)).proba)
    with pytest.raises(SignatureError, match="signed with a different key"):
        tracker.load_bundle(ref, cache=tmp_path, key=KEY)


def _registry_copy(tracker: Tracker, version: str) -> Path:
    """The bundle folder inside the registry's own artifact store (not a download)."""
    from urllib.parse import unquote, urlparse

    location = tracker.client.get_model_version_download_uri(MODEL, version)
    return Path(unquote(urlparse(location).path)) / "artifacts" / "bundle"


def test_a_damaged_cache_copy_heals_from_the_registry(
    tracker: Tracker, bundles: dict[str, ModelBundle], hmda: pd.DataFrame, tmp_path: Path
) -> None:
    tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=KEY)
    cached = next(tmp_path.rglob("1/artifacts/bundle/pipeline.joblib"))
    whole = file_sha256(cached)
    with open(cached, "r+b") as fh:  # a flipped byte in the middle, as a bad disk would leave it
        fh.seek(cached.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert file_sha256(cached) != whole

    loaded = tracker.load_bundle(VersionRef(MODEL, "1"), cache=tmp_path, key=KEY)
    np.testing.assert_array_equal(loaded.predict(hmda.head(20)).proba, bundles["1"].predict(hmda.head(20)).proba)
    assert file_sha256(cached) == whole  # the cache holds a whole copy again


def test_a_damaged_registry_copy_is_refused(tracker: Tracker, tmp_path: Path) -> None:
    source = _registry_copy(tracker, "2") / "pipeline.joblib"
    original = source.read_bytes()
    tracker.load_bundle(VersionRef(MODEL, "2"), cache=tmp_path, key=KEY)
    try:
        source.write_bytes(original[:-10] + b"0123456789")
        cached = next(tmp_path.rglob("2/artifacts/bundle/pipeline.joblib"))
        cached.write_bytes(b"junk")
        with pytest.raises(TrackingError, match=r"model 'm' version 2: the registry's copy is damaged \(.*pipeline\.joblib: "
                                                 r"hash does not match the manifest") as err:
            tracker.load_bundle(VersionRef(MODEL, "2"), cache=tmp_path, key=KEY)
        assert "restore the artifact store from a backup" in (err.value.hint or "")
    finally:
        source.write_bytes(original)
    assert tracker.load_bundle(VersionRef(MODEL, "2"), cache=tmp_path, key=KEY).version == "2"

"""The typed manifest: real manifest.json files read and written back byte for byte (their signature covers the bytes)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from tabloop.bundle import Manifest, ModelBundle
from tabloop.errors import DataError
from tabloop.workspace import SigningKey, atomic_write_json

DATA = Path(__file__).with_name("data")
#: manifest.json files written by tabloop train (binary, regression, multiclass) and by a bare ModelBundle.save
CAPTURED = sorted(DATA.glob("*.manifest.json"))
KEY = SigningKey.from_text("a test key that is long enough", source="test")


def _written(manifest: Manifest, tmp_path: Path) -> bytes:
    """The bytes ``ModelBundle.save`` writes for ``manifest``."""
    return atomic_write_json(tmp_path / "manifest.json", manifest.to_dict()).read_bytes()


def test_the_captured_manifests_are_all_there() -> None:
    assert {p.name.split(".")[0] for p in CAPTURED} == {"binary", "regression", "multiclass", "minimal"}


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: p.name.split(".")[0])
def test_a_manifest_read_and_written_back_is_byte_identical(path: Path, tmp_path: Path) -> None:
    original = path.read_bytes()
    manifest = Manifest.from_dict(json.loads(original))
    assert _written(manifest, tmp_path) == original
    # and again from what was written: nothing drifts on a second pass
    assert _written(Manifest.from_dict(json.loads(_written(manifest, tmp_path))), tmp_path) == original


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: p.name.split(".")[0])
def test_an_unknown_key_survives_in_its_place(path: Path, tmp_path: Path) -> None:
    raw = json.loads(path.read_bytes())
    keys = list(raw)
    # a key from a newer tabloop, between two known ones
    future = {**{k: raw[k] for k in keys[:2]}, "drift_baseline": {"kind": "new", "values": [1, 2.5, None]},
              **{k: raw[k] for k in keys[2:]}}
    text = json.dumps(future, indent=2) + "\n"
    manifest = Manifest.from_dict(future)
    assert _written(manifest, tmp_path).decode() == text
    assert manifest.model_extra == {"drift_baseline": {"kind": "new", "values": [1, 2.5, None]}}
    changed = manifest.replace(files={"pipeline": "0" * 64})
    assert list(changed.to_dict()) == list(future)  # a present key keeps its place
    assert changed.to_dict()["drift_baseline"] == future["drift_baseline"]


def test_typed_reads_of_a_trained_manifest() -> None:
    binary = Manifest.from_dict(json.loads((DATA / "binary.manifest.json").read_bytes()))
    assert (binary.task, binary.classes, binary.threshold, binary.target) == ("binary", ["no", "yes"], 0.5, "deny")
    assert binary.metric == "roc_auc" and binary.files is not None and set(binary.files) >= {"pipeline", "contract"}
    assert binary.prior is not None and binary.prior["prediction"] in ("no", "yes")
    assert binary.onnx is not None and "used" in binary.onnx
    multi = Manifest.from_dict(json.loads((DATA / "multiclass.manifest.json").read_bytes()))
    assert multi.classes == [1, 2, 3, 4] and all(type(c) is int for c in multi.classes)
    assert multi.threshold is None
    reg = Manifest.from_dict(json.loads((DATA / "regression.manifest.json").read_bytes()))
    assert (reg.task, reg.classes, reg.threshold) == ("regression", [], None)


def test_values_are_written_as_given_not_as_typed(tmp_path: Path) -> None:
    # the typed view reads an integer threshold as a float; the file keeps the integer it had
    manifest = Manifest.from_dict({"task": "binary", "classes": ["a", "b"], "threshold": 1})
    assert manifest.threshold == 1.0
    assert _written(manifest, tmp_path) == (json.dumps({"task": "binary", "classes": ["a", "b"], "threshold": 1},
                                                      indent=2) + "\n").encode()


def test_present_null_and_absent_stay_apart() -> None:
    assert "threshold" in Manifest.from_dict({"threshold": None}).to_dict()
    assert "threshold" not in Manifest.from_dict({}).to_dict()


def test_the_manifest_is_frozen_and_strict() -> None:
    manifest = Manifest.from_dict({"task": "binary"})
    with pytest.raises(ValidationError):
        manifest.task = "regression"  # type: ignore[misc]
    with pytest.raises(DataError, match=r"here: not a readable model manifest \(train_rows: "):
        Manifest.from_dict({"train_rows": "12"}, where="here")


def test_model_copy_carries_the_update_into_what_is_written() -> None:
    manifest = Manifest.from_dict({"task": "binary", "note": 1})
    assert manifest.model_copy(update={"note": 2}).to_dict() == {"task": "binary", "note": 2}


def test_a_loaded_bundle_writes_its_manifest_back_unchanged(bundle: ModelBundle, tmp_path: Path) -> None:
    manifest = bundle.manifest.replace(from_the_future=[1, "two"])
    copy = ModelBundle(bundle.pipeline, bundle.contract, manifest, bundle.reference, bundle.spec_yaml)
    written = copy.save(tmp_path / "b", key=KEY)["manifest"].read_bytes()
    loaded = ModelBundle.load(tmp_path / "b", key=KEY)
    assert isinstance(loaded.manifest, Manifest)
    assert loaded.manifest.model_extra == {"from_the_future": [1, "two"]}
    assert _written(loaded.manifest, tmp_path) == written


def test_a_plain_mapping_becomes_a_manifest(bundle: ModelBundle) -> None:
    b = ModelBundle(bundle.pipeline, bundle.contract, {"task": "binary", "classes": ["no", "yes"]}, bundle.reference, "")
    assert isinstance(b.manifest, Manifest) and b.classes == ["no", "yes"] and b.threshold is None


def test_the_target_is_the_manifests_else_the_contracts(bundle: ModelBundle) -> None:
    assert bundle.manifest.target is None and bundle.target == bundle.contract.target == "deny"
    named = ModelBundle(bundle.pipeline, bundle.contract, bundle.manifest.replace(target="other"),
                        pd.DataFrame(), "")
    assert named.target == "other"

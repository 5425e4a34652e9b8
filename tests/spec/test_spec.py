from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tabloop.errors import SpecError
from tabloop.spec import DriftSpec, Spec, load_spec, spec_hash, spec_json_schema, spec_to_yaml, validate_spec

MINIMAL = {"name": "demo", "data": {"source": "data.csv", "target": "y", "task": "binary"}}


def test_defaults_are_filled_and_metric_follows_task() -> None:
    spec = validate_spec(MINIMAL)
    assert spec.seed == 42
    assert spec.resolved_metric == "roc_auc"
    assert spec.serving.host == "127.0.0.1"
    reg = validate_spec({**MINIMAL, "data": {**MINIMAL["data"], "task": "regression"}})
    assert reg.resolved_metric == "rmse"


def test_yaml_round_trip_writes_every_default_with_comments(tmp_path: Path) -> None:
    spec = validate_spec(MINIMAL)
    text = spec_to_yaml(spec)
    assert "# Wall-clock seconds for the whole train command, from its start to the registered model" in text
    assert "budget_seconds: 120" in text
    (tmp_path / "tabloop.yaml").write_text(text)
    again = load_spec(tmp_path / "tabloop.yaml", environ={})
    assert again == spec
    # every field of every section appears in the file
    loaded = yaml.safe_load(text)
    assert set(loaded) == set(Spec.model_fields)
    assert set(loaded["monitoring"]["drift"]) == set(DriftSpec.model_fields)
    assert {"p_value", "psi_threshold", "min_rows", "max_drifted_features"} <= set(DriftSpec.model_fields)


def test_unknown_key_names_the_path_and_the_allowed_keys() -> None:
    bad = {**MINIMAL, "train": {"budget_secs": 10}}
    with pytest.raises(SpecError) as err:
        validate_spec(bad, source="proj/tabloop.yaml")
    msg = str(err.value)
    assert "proj/tabloop.yaml" in msg
    assert "train.budget_secs: unknown key" in msg
    assert "budget_seconds" in msg


def test_wrong_value_names_the_key() -> None:
    with pytest.raises(SpecError, match=r"split\.test_size"):
        validate_spec({**MINIMAL, "split": {"test_size": 1.5}})
    with pytest.raises(SpecError, match="metric 'rmse' does not apply to a binary task"):
        validate_spec({**MINIMAL, "metric": "rmse"})
    with pytest.raises(SpecError, match="group_column"):
        validate_spec({**MINIMAL, "split": {"strategy": "group"}})


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tabloop.yaml"
    path.write_text("name: x\ndata: [unclosed\n")
    with pytest.raises(SpecError, match=r"tabloop\.yaml: line \d+"):
        load_spec(path, environ={})


def test_missing_file_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="tabloop init"):
        load_spec(tmp_path, environ={})


def test_environment_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "tabloop.yaml").write_text(spec_to_yaml(validate_spec(MINIMAL)))
    env = {"TABLOOP_TRACKING_URI": "http://mlflow:5000", "TABLOOP_TRAIN__BUDGET_SECONDS": "15", "OTHER": "x"}
    spec = load_spec(tmp_path, environ=env)
    assert spec.tracking.uri == "http://mlflow:5000"
    assert spec.train.budget_seconds == 15
    with pytest.raises(SpecError, match="train.budget_seconds"):
        load_spec(tmp_path, environ={"TABLOOP_TRAIN__BUDGET_SECONDS": "-1"})


def test_json_schema_is_exported_and_forbids_extra_keys() -> None:
    schema = spec_json_schema()
    json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert "data" in schema["required"]


def test_spec_hash_ignores_comments_but_not_values() -> None:
    a = validate_spec(MINIMAL)
    b = validate_spec(yaml.safe_load(spec_to_yaml(a)))
    assert spec_hash(a) == spec_hash(b)
    assert spec_hash(a) != spec_hash(validate_spec({**MINIMAL, "seed": 1}))


def test_preparation_defaults_are_the_preprocessing_of_before_and_values_are_checked(tmp_path: Path) -> None:
    prep = validate_spec(MINIMAL).preparation
    assert (prep.impute, prep.scaling, prep.encoding, prep.missing_indicator, prep.outliers) == (
        "median", "standard", "onehot", False, "none")
    assert prep.log_transform == "none" and prep.bins == {} and prep.search == [] and prep.dedupe is False
    chosen = validate_spec({**MINIMAL, "preparation": {"log_transform": ["a"], "bins": {"b": 4}, "search": ["encoding"]}})
    (tmp_path / "tabloop.yaml").write_text(spec_to_yaml(chosen))
    assert load_spec(tmp_path / "tabloop.yaml", environ={}).preparation == chosen.preparation
    for bad, where in [({"bins": {"b": 1}}, "preparation.bins.b: 1 bins"),
                       ({"log_transform": ["b"], "bins": {"b": 3}}, "both in preparation.log_transform and preparation.bins"),
                       ({"search": ["bins"]}, "preparation.search"),
                       ({"drop_missing_above": 0}, "preparation.drop_missing_above")]:
        with pytest.raises(SpecError, match=re.escape(where)):
            validate_spec({**MINIMAL, "preparation": bad})

"""One resolver for settings: flag > TABLOOP_* environment > tabloop.yaml > default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tabloop.spec import apply_env_overrides, env_names, load_spec, setting


def _spec_file(tmp_path: Path, **train: object) -> Path:
    raw = {"name": "demo", "data": {"source": "data.csv", "target": "y", "task": "binary"}, "train": train}
    path = tmp_path / "tabloop.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_flag_then_environment_then_file_then_default(tmp_path: Path) -> None:
    path = _spec_file(tmp_path, budget_seconds=45)
    from_file = load_spec(path, environ={})
    assert setting(from_file, "train.budget_seconds") == 45
    assert setting(from_file, "train.budget_seconds", 20) == 20
    from_env = load_spec(path, environ={"TABLOOP_TRAIN__BUDGET_SECONDS": "30"})
    assert setting(from_env, "train.budget_seconds") == 30
    assert setting(from_env, "train.budget_seconds", 20) == 20
    assert setting(load_spec(path, environ={"TABLOOP_BUDGET": "25"}), "train.budget_seconds") == 25
    default = load_spec(_spec_file(tmp_path), environ={})
    assert setting(default, "train.budget_seconds") == type(default.train).model_fields["budget_seconds"].default
    assert setting(default, "serving.port") == default.serving.port


def test_only_none_means_no_flag(tmp_path: Path) -> None:
    spec = load_spec(_spec_file(tmp_path), environ={})
    assert setting(spec, "serving.host", "") == ""
    assert setting(spec, "serving.host", "" or None) == spec.serving.host


def test_an_unknown_key_is_a_bug_named_at_once(tmp_path: Path) -> None:
    spec = load_spec(_spec_file(tmp_path), environ={})
    with pytest.raises(KeyError, match="train.nope"):
        setting(spec, "train.nope")
    with pytest.raises(KeyError, match="seed.x"):
        setting(spec, "seed.x")


def test_environment_names_are_the_ones_apply_env_overrides_reads() -> None:
    assert env_names("train.budget_seconds") == ["TABLOOP_TRAIN__BUDGET_SECONDS", "TABLOOP_BUDGET"]
    assert env_names("seed") == ["TABLOOP_SEED"]
    assert env_names("serving.rollout.mode") == ["TABLOOP_SERVING__ROLLOUT__MODE"]
    for key in ("train.budget_seconds", "seed", "tracking.uri", "serving.port"):
        for name in env_names(key):
            node = apply_env_overrides({}, {name: "7"})
            for part in key.split("."):
                node = node[part]
            assert node == 7, name

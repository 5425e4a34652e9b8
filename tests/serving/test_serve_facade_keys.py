"""API keys as the facade builds them from the spec and the environment."""

from __future__ import annotations

import pytest

from tabloop.api._serve import api_keys
from tabloop.errors import ServingError
from tabloop.serving import hash_key
from tabloop.spec import ServingSpec


def test_keys_from_spec_hashes_and_env_secrets() -> None:
    spec = ServingSpec.model_validate({"auth": {"keys": [{"sha256": hash_key("from-spec"), "scopes": ["control"]}]}})
    keys = api_keys(spec, {"TABLOOP_PREDICT_API_KEY": "from-env", "TABLOOP_API_KEY": "both"})
    assert keys.hashes == {
        hash_key("from-spec"): frozenset({"control"}),
        hash_key("from-env"): frozenset({"predict"}),
        hash_key("both"): frozenset({"predict", "control"}),
    }
    keys.check("Bearer from-env", None, "predict")
    with pytest.raises(ServingError.__mro__[1]):  # TabloopError: 403 for the wrong scope
        keys.check(None, "from-env", "control")


def test_no_keys_by_default_and_spec_refuses_plain_secrets() -> None:
    assert not api_keys(ServingSpec(), {})
    with pytest.raises(Exception, match="sha256"):
        ServingSpec.model_validate({"auth": {"keys": [{"sha256": "plain-secret"}]}})


def test_rollout_spec_defaults() -> None:
    spec = ServingSpec()
    assert spec.host == "127.0.0.1"
    assert spec.rollout.mode == "off" and spec.challenger_alias == "challenger"
    with pytest.raises(Exception):
        ServingSpec.model_validate({"rollout": {"mode": "ab", "share": 1.5}})

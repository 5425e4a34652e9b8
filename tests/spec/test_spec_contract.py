"""The spec's contract section: defaults per rule, overrides per column, and policies checked per rule."""

from __future__ import annotations

import pytest
import yaml

from tabloop.errors import SpecError
from tabloop.spec import CONTRACT_POLICIES, spec_to_yaml, validate_spec

MINIMAL = {"name": "demo", "data": {"source": "data.csv", "target": "y"}}


def test_defaults_refuse_far_values_and_answer_the_rest_marked() -> None:
    contract = validate_spec(MINIMAL).contract
    assert contract.policies() == {"not_null": "reject", "range": "warn", "far_range": "reject",
                                   "unseen_category": "unknown"}
    assert contract.far_range_factor == 1.0 and contract.columns == {}
    assert set(contract.policies()) == set(CONTRACT_POLICIES)


def test_a_default_policy_the_rule_does_not_allow_names_the_key() -> None:
    with pytest.raises(SpecError, match=r"contract\.range"):
        validate_spec({**MINIMAL, "contract": {"range": "unknown"}})
    with pytest.raises(SpecError, match=r"contract\.unseen_category"):
        validate_spec({**MINIMAL, "contract": {"unseen_category": "clip"}})
    with pytest.raises(SpecError, match=r"contract\.far_range_factor"):
        validate_spec({**MINIMAL, "contract": {"far_range_factor": 0}})


def test_a_column_override_is_checked_per_rule_naming_the_key() -> None:
    with pytest.raises(SpecError, match=r"contract\.columns\.dir\.range: 'unknown' is not a policy for range"):
        validate_spec({**MINIMAL, "contract": {"columns": {"dir": {"range": "unknown"}}}})
    with pytest.raises(SpecError, match=r"contract\.columns\.dir\.type: unknown rule"):
        validate_spec({**MINIMAL, "contract": {"columns": {"dir": {"type": "warn"}}}})


def test_overrides_survive_the_commented_yaml() -> None:
    spec = validate_spec({**MINIMAL, "contract": {"range": "clip", "columns": {"dir": {"far_range": "clip"}}}})
    again = validate_spec(yaml.safe_load(spec_to_yaml(spec)))
    assert again.contract == spec.contract and again.contract.columns == {"dir": {"far_range": "clip"}}

"""profile and train save the spec's contract policies with the contract; a bad column name is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tabloop
from tabloop.api._project import Project
from tabloop.api._train import _contract
from tabloop.errors import DataError

from .._spec_edit import set_spec


@pytest.fixture
def project(tmp_path: Path, hmda_csv: Path) -> Path:
    root = tmp_path / "p"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    return root


def test_profile_writes_the_specs_policies_into_contract_json(project: Path) -> None:
    set_spec(project, **{"contract.range": "clip", "contract.columns": {"dmi": {"unseen_category": "reject"}}})
    tabloop.profile(project)
    saved = json.loads((project / ".tabloop" / "contract.json").read_text())
    assert saved["version"] == 2
    assert saved["policy"]["defaults"]["range"] == "clip" and saved["policy"]["defaults"]["far_range"] == "reject"
    assert saved["policy"]["columns"] == {"dmi": {"unseen_category": "reject"}}


def test_training_acts_by_the_spec_as_it_is_then(project: Path) -> None:
    tabloop.profile(project)
    set_spec(project, **{"contract.far_range": "clip"})
    proj = Project.open(project)
    assert _contract(proj, proj.read_data()).policy.defaults["far_range"] == "clip"


def test_an_override_for_a_column_not_in_the_contract_is_refused(project: Path) -> None:
    set_spec(project, **{"contract.columns": {"deny": {"range": "clip"}}})
    with pytest.raises(DataError, match=r"contract\.columns names \['deny'\]"):
        tabloop.profile(project)

"""tabloop promote's gate, tabloop rollback and the audit log, on a real project and registry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tabloop
from tabloop.cli import app
from tabloop.errors import PromotionRefused

from .._spec_edit import set_spec


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory, two_versions_template: Path) -> Path:
    """Version 1: the dummy baseline, champion. Version 2: logistic regression, clearly better on ROC AUC."""
    root = tmp_path_factory.mktemp("gate") / "proj"
    shutil.copytree(two_versions_template, root, symlinks=True)
    # the gate runs the model tests too: a generous latency budget, as tests never judge this machine's speed
    set_spec(root, **{"model_tests.latency_ms": 10_000, "model_tests.latency_calls": 20})
    return root


def test_a_worse_candidate_is_refused_with_the_numbers_and_force_is_recorded(two_versions: Path) -> None:
    root = two_versions
    tabloop.promote("2", project=root)  # the better one passes the gate
    res = CliRunner().invoke(app, ["promote", "1", "-p", str(root), "--json"])
    assert res.exit_code == 1, res.output
    error = json.loads(res.stdout)["error"]
    assert error["code"] == "promotion_refused"
    assert "version 1 does not replace champion version 2" in error["message"]
    assert "delong one-sided p = " in error["message"] and "does not reach the required margin" in error["message"]
    assert "--force" in error["hint"]
    assert tabloop.history(project=root).current["champion"] == "2"  # nothing moved

    forced = tabloop.promote("1", project=root, force=True, reason="testing a forced move")
    assert (forced.how, forced.previous, forced.gate) == ("forced", "2", None)
    back = tabloop.rollback(project=root, reason="the forced move was a test")
    assert (back.version, back.previous) == ("2", "1")

    moves = tabloop.history("champion", project=root).moves
    assert [(m["from_version"], m["to_version"], m["how"]) for m in moves[-4:]] == [
        (None, "1", "set"), ("1", "2", "gated"), ("2", "1", "forced"), ("1", "2", "rollback")
    ]
    gated = moves[-3]
    assert gated["why"].startswith("candidate roc_auc ") and "meets the margin" in gated["why"]
    assert moves[-2]["why"] == "testing a forced move" and moves[-1]["why"] == "the forced move was a test"
    assert all(m["by"] and m["at"] for m in moves)
    assert [m["seq"] for m in moves] == sorted(m["seq"] for m in moves)


def test_the_gate_uses_the_margin_and_significance_of_the_spec(two_versions: Path) -> None:
    root = two_versions
    tabloop.promote("1", project=root, force=True)
    # the paired test alone: the model tests after it (a pytest process) run in the test above and in
    # tests/api/test_model_tests.py
    set_spec(root, **{"retraining.min_improvement": 0.5, "model_tests.gate": False})  # no model gains half an AUC point
    with pytest.raises(PromotionRefused, match="does not reach the required margin 0.5000"):
        tabloop.promote("2", project=root)
    set_spec(root, **{"retraining.min_improvement": 0.0})
    res = tabloop.promote("2", project=root)
    assert res.how == "gated" and res.gate is not None
    test = res.gate["test"]
    assert test["test"] == "delong" and test["score_b"] > test["score_a"] and test["p_value"] < 0.05
    set_spec(root, **{"model_tests.gate": True})


def test_rollback_without_a_recorded_earlier_version_says_what_to_do(tmp_path: Path,
                                                                    two_versions_template: Path) -> None:
    root = tmp_path / "fresh"
    shutil.copytree(two_versions_template, root, symlinks=True)  # champion v1 is the first alias move
    res = CliRunner().invoke(app, ["rollback", "-p", str(root), "--json"])
    assert res.exit_code == 1
    error = json.loads(res.stdout)["error"]
    assert error["code"] == "promotion_refused" and "no earlier version is recorded" in error["message"]
    text = subprocess.run([sys.executable, "-m", "tabloop", "history", "-p", str(root)], capture_output=True,
                          text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "gate: champion = v1" in text.stdout and "champion: (none) -> v1  set by " in text.stdout


def test_every_version_carries_its_lineage_in_the_registry(two_versions: Path) -> None:
    from tabloop.api._project import Project

    proj = Project.open(two_versions)
    mv = proj.tracker.get_version(proj.spec.model_name, "2")
    tags = mv.tags
    bundle = proj.load_bundle("2")
    assert tags["tabloop.run_id"] == mv.run_id
    assert tags["tabloop.data_hash"] == bundle.manifest.data_hash
    assert tags["tabloop.spec_hash"] == bundle.manifest.spec_hash
    assert tags["tabloop.code_version"].startswith("tabloop ")
    assert tags["tabloop.winner"] == "logistic" and tags["tabloop.cv_roc_auc"].split(" ± ")[0]
    assert len(tags["tabloop.contract_sha256"]) == 64
    assert int(tags["tabloop.train_rows"]) == bundle.manifest.train_rows

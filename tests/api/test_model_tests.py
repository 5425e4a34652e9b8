"""tabloop test: the generated model tests, written into a copy of a trained project and run with pytest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tabloop
from tabloop.api import generate_model_tests, run_model_tests
from tabloop.api._model_tests import is_unedited, parse_junit, render
from tabloop.cli import app
from tabloop.errors import ModelTestsFailed, PromotionRefused

from .._spec_edit import set_spec

GENERATED = {
    "test_outputs_have_the_right_shape_and_range", "test_probabilities_sum_to_one",
    "test_predictions_do_not_depend_on_column_order", "test_missing_values_follow_the_contract",
    "test_single_row_predictions_equal_the_batch", "test_one_row_latency_is_within_budget",
    "test_metric_meets_the_minimum", "test_no_regression_against_the_champion",
}


@pytest.fixture
def project(trained_project: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(trained_project, root, symlinks=True)
    # a generous budget: these tests check the suite's logic, not this machine's speed
    set_spec(root, **{"model_tests.latency_ms": 10_000, "model_tests.latency_calls": 20, "model_tests.single_rows": 5})
    return root


def test_a_good_champion_passes_and_the_files_are_written(project: Path) -> None:
    report = run_model_tests(project)
    assert report.passed, report.describe_failures()
    assert (report.model, report.version) == (tabloop.load_model(project=project).name, "1")
    assert {t["name"] for t in report.tests} == GENERATED
    outcomes = {t["name"]: t for t in report.tests}
    assert outcomes["test_metric_meets_the_minimum"]["outcome"] == "skipped"
    assert "min_metric is not set" in outcomes["test_metric_meets_the_minimum"]["message"]
    assert outcomes["test_no_regression_against_the_champion"]["message"] == "version 1 is the champion"
    assert report.counts == {"passed": 6, "failed": 0, "error": 0, "skipped": 2}
    assert [f["action"] for f in report.files] == ["written", "written"]
    for name in ("conftest.py", "test_model.py"):
        assert is_unedited((project / "tests" / "model" / name).read_text())
    assert report.junit_xml.exists()
    # a second run finds its own files unedited and leaves them
    assert [f.action for f in generate_model_tests(project)] == ["unchanged", "unchanged"]


def test_a_failing_version_exits_1_naming_each_test_and_its_numbers(project: Path, hmda_csv: Path) -> None:
    # version 2: the dummy baseline, worse than the champion (logistic regression) on the same rows
    set_spec(project, **{"data.source": str(hmda_csv), "train.candidates": ["dummy"], "split.folds": 3, "train.ensemble": False})
    assert tabloop.train(project).version == "2"
    set_spec(project, **{"model_tests.min_metric": 0.99, "model_tests.latency_ms": 0.0001})

    res = CliRunner().invoke(app, ["test", "2", "-p", str(project), "--json"])
    assert res.exit_code == 1, res.output
    error = json.loads(res.stdout)["error"]
    assert error["code"] == "model_tests_failed"
    assert "3 of 8 model tests of" in error["message"] and " v2 failed" in error["message"]
    failed = {t["name"]: t["message"] for t in error["tests"] if t["outcome"] == "failed"}
    assert set(failed) == {"test_metric_meets_the_minimum", "test_no_regression_against_the_champion",
                           "test_one_row_latency_is_within_budget"}
    assert failed["test_metric_meets_the_minimum"].startswith("roc_auc 0.5000 on ")
    assert "held-out rows is below model_tests.min_metric 0.99" in failed["test_metric_meets_the_minimum"]
    assert "vs champion v1 0." in failed["test_no_regression_against_the_champion"]
    assert "> model_tests.max_regression 0" in failed["test_no_regression_against_the_champion"]
    assert "> budget 0.0001 ms over 20 calls" in failed["test_one_row_latency_is_within_budget"]
    for name, message in failed.items():
        assert f"{name}: {message}" in error["message"]
    assert all({"name", "module", "outcome", "seconds", "message"} <= set(t) for t in error["tests"])

    # promote: version 1 beats the dummy in the paired gate, then fails its model tests, naming them
    assert tabloop.promote("2", project=project, force=True).how == "forced"
    with pytest.raises(PromotionRefused) as refused:
        tabloop.promote("1", project=project)
    assert "version 1 does not replace champion version 2: its model tests failed: " in refused.value.message
    assert "test_metric_meets_the_minimum: roc_auc 0.7" in refused.value.message
    assert "--force" in (refused.value.hint or "")
    assert tabloop.history(project=project).current["champion"] == "2"
    set_spec(project, **{"model_tests.min_metric": None, "model_tests.latency_ms": 10_000})
    # min_metric unset: skipped; the regression test ran against champion version 2, and passed
    assert tabloop.promote("1", project=project).gate["model_tests"] == {"passed": 7, "failed": 0, "error": 0,
                                                                         "skipped": 1}


def test_edits_are_kept_and_regenerate_saves_them_as_bak(project: Path) -> None:
    suite = project / "tests" / "model" / "test_model.py"
    generate_model_tests(project)
    edited = suite.read_text() + "\n\ndef test_my_own_check(model):\n    assert model.version == '1'\n"
    suite.write_text(edited)

    res = CliRunner().invoke(app, ["test", "-p", str(project), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert suite.read_text() == edited
    assert (doc["ok"], doc["passed"], doc["version"]) == (True, True, "1")
    assert [f["action"] for f in doc["files"]] == ["unchanged", "kept"]
    mine = [t for t in doc["tests"] if t["name"] == "test_my_own_check"]
    assert [(t["outcome"], t["message"]) for t in mine] == [("passed", "")]
    assert set(doc["counts"]) == {"passed", "failed", "error", "skipped"} and doc["junit_xml"].endswith(".xml")

    files = generate_model_tests(project, regenerate=True)
    assert [f.action for f in files] == ["unchanged", "regenerated"]
    assert files[1].backup == suite.with_name("test_model.py.bak")
    assert files[1].backup.read_text() == edited
    assert is_unedited(suite.read_text()) and "test_my_own_check" not in suite.read_text()


def test_an_unedited_older_file_is_brought_up_to_date(project: Path) -> None:
    suite = project / "tests" / "model" / "test_model.py"
    suite.parent.mkdir(parents=True)
    suite.write_text(render("def test_from_an_older_template():\n    pass\n"))
    assert [f.action for f in generate_model_tests(project)] == ["written", "updated"]
    assert "test_from_an_older_template" not in suite.read_text()


def test_the_header_hash_notices_any_change_of_the_body() -> None:
    text = render("x = 1\n")
    assert is_unedited(text)
    assert not is_unedited(text.replace("x = 1", "x = 2"))
    assert not is_unedited("x = 1\n")  # no header: a file of the user's own


def test_junit_outcomes_and_their_first_line(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="test_model" name="test_a" time="0.5"/>'
        '<testcase classname="test_model" name="test_b" time="1.25">'
        '<failure message="AssertionError: p95 one-row latency 73.2 ms &gt; budget 50 ms over 200 calls&#10;'
        'assert 73.2 &lt;= 50">trace</failure></testcase>'
        '<testcase classname="test_model" name="test_c" time="0"><skipped message="no champion"/></testcase>'
        '<testcase classname="test_model" name="test_d" time="0"><error message="failed on setup">x</error></testcase>'
        '</testsuite></testsuites>')
    assert parse_junit(xml) == [
        {"name": "test_a", "module": "test_model", "outcome": "passed", "seconds": 0.5, "message": ""},
        {"name": "test_b", "module": "test_model", "outcome": "failed", "seconds": 1.25,
         "message": "p95 one-row latency 73.2 ms > budget 50 ms over 200 calls"},
        {"name": "test_c", "module": "test_model", "outcome": "skipped", "seconds": 0.0, "message": "no champion"},
        {"name": "test_d", "module": "test_model", "outcome": "error", "seconds": 0.0, "message": "failed on setup"},
    ]


def test_a_suite_that_cannot_be_collected_is_an_error_not_a_pass(project: Path) -> None:
    suite = project / "tests" / "model" / "test_model.py"
    generate_model_tests(project)
    suite.write_text("import a_module_that_does_not_exist\n")
    with pytest.raises(ModelTestsFailed) as caught:
        run_model_tests(project).raise_for_failures()
    assert "a_module_that_does_not_exist" in str(caught.value)

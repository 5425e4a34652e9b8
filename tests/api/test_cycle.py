"""One pass of the loop: triggers, retrain, gate, shadow, approval, and the record of every decision."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import tabloop
from tabloop.api import approve, loop_run
from tabloop.api._cycle import LoopPassResult, read_decisions
from tabloop.api._project import Project
from tabloop.errors import PolicyError

from .._spec_edit import set_spec


def _split(hmda: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    history = hmda.sample(frac=0.6, random_state=1).sort_index()
    production = hmda.drop(history.index).reset_index(drop=True)
    return history, production


def _train_champion(folder: Path, history: pd.DataFrame, champion_candidates: list[str]) -> Path:
    history.to_csv(folder / "history.csv", index=False)
    root = folder / "proj"
    tabloop.init(root, data=str(folder / "history.csv"), target="deny", exclude=["black"])
    # the model tests after the gate have tests of their own (tests/api/test_model_tests.py); here one test runs them.
    # A few trials make a model good enough for every decision here; the search itself is tested in tests/training
    set_spec(root, **{"train.candidates": champion_candidates, "split.folds": 3, "model_tests.gate": False,
                      "train.trials": 4})
    v = tabloop.train(root).version
    tabloop.promote(v, project=root)
    return root


def _score_and_label(root: Path, production: pd.DataFrame, tmp_path: Path) -> None:
    production.drop(columns=["deny"]).to_csv(tmp_path / "prod.csv", index=False)
    tabloop.predict(tmp_path / "prod.csv", tmp_path / "scored.csv", project=root)
    scored = pd.read_csv(tmp_path / "scored.csv")
    pd.DataFrame({"request_id": scored["request_id"], "row": scored["row"], "label": production["deny"]}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    tabloop.feedback(tmp_path / "labels.csv", project=root)


MakeProject = Callable[..., tuple[Path, pd.DataFrame]]


@pytest.fixture(scope="module")
def _prepared(tmp_path_factory: pytest.TempPathFactory, hmda: pd.DataFrame) -> dict[tuple[str, ...], Path]:
    """Projects trained once for the whole module, by (champion candidates..., "labelled" or "unlabelled"):
    the champion trained on 60% of the rows; "labelled" has the other 40% scored in batch and their labels fed
    back. Each test works on a copy (``_project``), so none sees another's versions, log or decisions."""
    history, production = _split(hmda)
    folders: dict[tuple[str, ...], Path] = {}
    for candidates in (["dummy"], ["dummy", "linear"]):
        base = tmp_path_factory.mktemp("cycle")
        _train_champion(base, history, candidates)
        folders[(*candidates, "unlabelled")] = base
        labelled = tmp_path_factory.mktemp("cycle")
        _copy(base, labelled)
        _score_and_label(labelled / "proj", production, labelled)
        folders[(*candidates, "labelled")] = labelled
    return folders


def _copy(folder: Path, into: Path) -> Path:
    """Copy a prepared folder (history.csv and proj/) into ``into``; the copy reads its own history.csv."""
    shutil.copytree(folder, into, symlinks=True, dirs_exist_ok=True)
    set_spec(into / "proj", **{"data.source": str(into / "history.csv")})
    return into / "proj"


@pytest.fixture
def project(_prepared: dict[tuple[str, ...], Path], tmp_path: Path, hmda: pd.DataFrame) -> MakeProject:
    """``project(["dummy"], labelled=True)``: this test's own copy of a prepared project, and the production rows."""
    def make(champion_candidates: list[str], *, labelled: bool) -> tuple[Path, pd.DataFrame]:
        key = (*champion_candidates, "labelled" if labelled else "unlabelled")
        return _copy(_prepared[key], tmp_path), _split(hmda)[1]
    return make


def test_no_labels_no_trigger_means_no_action(tmp_path: Path, project: MakeProject) -> None:
    root, _ = project(["dummy", "linear"], labelled=False)
    set_spec(root, **{"retraining.triggers.drift": False, "retraining.triggers.new_labels": 100})
    res = loop_run(root)
    assert res.action == "none"
    assert [t["name"] for t in res.triggers] == ["new_labels"]
    assert read_decisions(Project.open(root))[-1]["action"] == "none"


def test_a_better_challenger_is_promoted_automatically(tmp_path: Path, project: MakeProject) -> None:
    root, production = project(["dummy"], labelled=True)  # a weak champion: the prior
    set_spec(root, **{"train.candidates": ["dummy", "linear"], "retraining.approval": "auto",
                  "retraining.triggers.new_labels": 100, "retraining.triggers.drift": False})
    res = loop_run(root)
    assert res.action == "promoted", res.reasons
    assert any(t["name"] == "new_labels" and t["fired"] for t in res.triggers)
    assert res.retrain["challenger_score"] > res.retrain["champion_score"]
    proj = Project.open(root)
    assert proj.resolve("champion").version == res.challenger_version
    record = read_decisions(proj)[-1]
    assert record["action"] == "promoted" and record["retrain"]["promote"] is True
    # records name their files relative to the project folder, so they stay true when it moves
    assert record["retrain"]["record"].startswith(".tabloop/reports/retrain-"), record["retrain"]["record"]
    assert json.loads((root / record["retrain"]["record"]).read_text())["record"] == record["retrain"]["record"]
    # the same labels do not fire the label trigger twice
    again = loop_run(root)
    assert again.action == "none" and again.labels_since_last == 0


def test_an_auto_promotion_yields_to_a_champion_moved_meanwhile(tmp_path: Path, hmda_csv: Path) -> None:
    from mlflow.tracking import MlflowClient

    from tabloop.api._cycle import LoopPassResult, _promote

    root = tmp_path / "proj"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    proj = Project.open(root)
    client = MlflowClient(tracking_uri=proj.tracker.uri, registry_uri=proj.tracker.uri)
    client.create_registered_model(proj.spec.model_name)
    for _ in range(3):
        client.create_model_version(proj.spec.model_name, source="file:///unused")
    proj.tracker.set_alias(proj.spec.model_name, "champion", "2")  # someone promoted v2 while the pass judged v1
    out = LoopPassResult(action="awaiting_approval", champion_version="1", challenger_version="3", triggers=[],
                         labelled_rows=0, labels_since_last=0, realized=None, retrain=None)
    _promote(proj, "3", out)
    assert out.action == "awaiting_approval"  # still pending: the next pass settles it
    assert out.reasons == ["not promoted: alias 'champion' moved to version 2 while promoting 3"]
    assert proj.resolve("champion").version == "2"
    _promote(proj, "3", LoopPassResult(**{**out.to_dict(), "champion_version": "2", "reasons": []}))
    assert proj.resolve("champion").version == "3"


def test_a_worse_challenger_is_refused_and_the_champion_stays(tmp_path: Path, project: MakeProject) -> None:
    root, production = project(["dummy", "linear"], labelled=True)
    set_spec(root, **{"train.candidates": ["dummy"], "retraining.approval": "auto",
                  "retraining.triggers.new_labels": 100, "retraining.triggers.drift": False})
    before = Project.open(root).resolve("champion").version
    res = loop_run(root)
    assert res.action == "rejected"
    assert res.retrain["challenger_score"] < res.retrain["champion_score"]
    assert Project.open(root).resolve("champion").version == before
    assert "does not reach" in " ".join(res.reasons)


def test_manual_approval_and_shadow_requirement(tmp_path: Path, project: MakeProject) -> None:
    root, production = project(["dummy"], labelled=True)
    set_spec(root, **{"train.candidates": ["dummy", "linear"], "retraining.approval": "manual",
                  "retraining.shadow_requests": 5, "retraining.triggers.new_labels": 100,
                  "retraining.triggers.drift": False})
    first = loop_run(root)
    assert first.action == "shadowing"
    with pytest.raises(PolicyError, match="not waiting for approval"):
        approve(first.challenger_version, project=root)
    # the challenger shadows live traffic (as the server logs it) and the labels of those rows come back
    labels = _shadow_traffic(root, production, champion=first.champion_version, challenger=first.challenger_version,
                             answers_from=first.challenger_version)
    pd.DataFrame(labels).to_csv(tmp_path / "live-labels.csv", index=False)
    tabloop.feedback(tmp_path / "live-labels.csv", project=root)
    second = loop_run(root)
    assert second.action == "awaiting_approval", second.reasons
    done = approve(first.challenger_version, project=root)
    assert done.version == first.challenger_version
    assert Project.open(root).resolve("champion").version == first.challenger_version
    assert read_decisions(Project.open(root))[-1]["action"] == "approved"
    move = tabloop.history("champion", project=root).moves[-1]
    assert move["how"] == "approved" and move["why"].startswith("approved after the loop's gate; ")
    assert "live shadow rows: candidate roc_auc " in move["why"]


def test_labels_only_for_one_kind_of_prediction_raise_a_warning(tmp_path: Path, project: MakeProject) -> None:
    root, production = project(["dummy"], labelled=True)  # the prior predicts 'no' for everyone
    set_spec(root, **{"retraining.triggers.drift": False, "retraining.triggers.new_labels": 10_000})
    res = loop_run(root)
    assert res.action == "none"
    assert res.warnings and "own choices" in res.warnings[0]


def test_a_retrain_budget_counts_from_the_start_of_the_command(
    tmp_path: Path, project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from tabloop.api import _loop

    root, production = project(["dummy", "linear"], labelled=True)
    seen: dict[str, float] = {}

    class Stop(Exception):
        pass

    def fit_and_register(*args: object, started: float | None = None, **kwargs: object) -> None:
        seen["started"], seen["called"] = started, time.perf_counter()  # type: ignore[assignment]
        raise Stop

    monkeypatch.setattr(_loop, "fit_and_register", fit_and_register)
    before = time.perf_counter()
    with pytest.raises(Stop):
        _loop.retrain(root, budget=30)
    # reading the log, joining the labels and splitting them came out of the same budget as training
    assert seen["started"] is not None and before <= seen["started"] < seen["called"]


def test_retrain_on_labels_of_one_class_registers_nothing_and_says_why(tmp_path: Path, project: MakeProject) -> None:
    """#14: ROC AUC is undefined on a holdout of one class; retrain crashed (rc 2) and registered a version per try."""
    from typer.testing import CliRunner

    from tabloop.cli import app

    root, production = project(["dummy"], labelled=False)
    _score_and_label(root, production.assign(deny="no"), tmp_path)
    set_spec(root, **{"retraining.triggers.drift": False, "retraining.triggers.new_labels": 100})

    def versions() -> int:
        proj = Project.open(root)
        return len(proj.tracker.client.search_model_versions(f"name='{proj.spec.model_name}'"))

    before = versions()
    runner = CliRunner()
    res = runner.invoke(app, ["retrain", "-p", str(root)])
    assert res.exit_code == 0, res.output
    assert "not retrained: the holdout's" in res.output and "labels are all 'no': roc_auc is undefined" in res.output
    res = runner.invoke(app, ["retrain", "-p", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "skipped" and doc["challenger_version"] is None
    assert "nothing was trained or registered" in doc["reasons"][0]
    passed = loop_run(root)  # the loop says the same, through the same decision
    assert passed.action == "waiting_for_labels" and passed.challenger_version is None
    assert any("labels are all 'no'" in r for r in passed.reasons)
    assert versions() == before


def test_loop_run_prints_a_fired_drift_trigger_once(tmp_path: Path, project: MakeProject) -> None:
    """#14: the drift trigger's detail came out twice, once as the trigger and once again as a reason."""
    from typer.testing import CliRunner

    from tabloop.cli import app

    root, production = project(["dummy"], labelled=False)
    drifted = production.drop(columns=["deny"]).assign(dir=production["dir"] * 3, lvr=production["lvr"] + 0.5)
    drifted.to_csv(tmp_path / "drifted.csv", index=False)
    tabloop.predict(tmp_path / "drifted.csv", tmp_path / "scored.csv", project=root)
    res = CliRunner().invoke(app, ["loop", "run", "-p", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    drift = [line for line in lines if "drifted:" in line]
    assert len(drift) == 1 and "trigger drift: FIRED" in drift[0], res.output
    assert lines[0].startswith("waiting_for_labels") and any("only 0 labelled rows" in line for line in lines)


def _shadow_traffic(root: Path, production: pd.DataFrame, *, champion: str, challenger: str,
                    answers_from: str) -> list[dict[str, object]]:
    """Live requests as the server logs them in shadow mode: the champion's answer and the challenger's shadow copy
    of every row under the same request id and row; ``answers_from`` is the version whose answers the copies hold.
    Returns the labels that will come back for those rows."""
    proj = Project.open(root)
    live = production.head(200).reset_index(drop=True)
    features = live.drop(columns=["deny"])
    answered = proj.load_bundle(champion).predict(features, source="test").records()
    copied = proj.load_bundle(answers_from).predict(features, source="test").records()
    inputs = json.loads(features.to_json(orient="records"))
    common = {"ts": "2026-01-01T00:00:00.000+00:00", "model": proj.spec.model_name, "latency_ms": 1.0}
    records = []
    for i, row in enumerate(inputs):
        rid = f"live-{i // 2}"  # two rows a request
        records.append({"request_id": rid, "row": i % 2, "source": "http", "version": champion,
                        "variant": "champion", "inputs": row, **answered[i], **common})
        records.append({"request_id": rid, "row": i % 2, "source": "shadow", "version": challenger,
                        "variant": "challenger", "inputs": row, **copied[i], **common})
    proj.predlog.append(records)
    return [{"request_id": f"live-{i // 2}", "row": i % 2, "label": live["deny"][i]} for i in range(len(live))]


def _shadowing_project(project: MakeProject, **spec: object) -> tuple[Path, pd.DataFrame, LoopPassResult]:
    root, production = project(["dummy"], labelled=True)  # a weak champion: the prior
    set_spec(root, **{"train.candidates": ["linear"], "retraining.approval": "auto", "retraining.shadow_requests": 5,
                      "retraining.triggers.new_labels": 100, "retraining.triggers.drift": False, **spec})
    first = loop_run(root)
    assert first.action == "shadowing", first.reasons
    return root, production, first


def test_a_shadowing_challenger_waits_for_live_labels_then_the_paired_test_on_them_promotes_it(
    tmp_path: Path, project: MakeProject
) -> None:
    # the gate runs the model tests too: a generous latency budget, as tests never judge this machine's speed
    root, production, first = _shadowing_project(project, **{"model_tests.gate": True,
                                                                     "model_tests.latency_ms": 10_000,
                                                                     "model_tests.latency_calls": 20})
    champion, challenger = first.champion_version, first.challenger_version
    assert challenger is not None
    # retrain's gate is promote's: the paired test on the recent holdout, then the model tests
    gate = first.retrain["gate"]
    assert gate["test"]["test"] == "delong" and gate["promote"] and gate["model_tests"]["failed"] == 0
    assert first.gate == gate and first.reasons[0].startswith("candidate roc_auc ")

    labels = _shadow_traffic(root, production, champion=champion, challenger=challenger, answers_from=challenger)
    waiting = loop_run(root)  # 200 rows shadowed, none labelled yet
    assert waiting.action == "shadowing", waiting.reasons
    assert waiting.reasons[-1].startswith("0 of the 30 labelled rows answered by both")
    assert waiting.shadow["rows"] == 200 and waiting.shadow["agreement"] is not None and waiting.gate is None

    pd.DataFrame(labels).to_csv(tmp_path / "live-labels.csv", index=False)
    tabloop.feedback(tmp_path / "live-labels.csv", project=root)
    done = loop_run(root)
    assert done.action == "promoted", done.reasons
    assert done.gate is not None and done.gate["promote"] and done.gate["rows"] == 200
    assert done.gate["source"] == f"200 labelled rows v{champion} answered and v{challenger} shadowed"
    assert done.shadow["labelled"] == 200 and done.shadow["verdict"] == "challenger_better"
    assert done.shadow["realized"]["challenger"] > done.shadow["realized"]["champion"]
    proj = Project.open(root)
    assert proj.resolve("champion").version == challenger
    record = read_decisions(proj)[-1]
    assert record["action"] == "promoted" and record["gate"]["test"]["test"] == "delong"
    # the audit log says why, with the live numbers, as promote's gate does
    move = tabloop.history("champion", project=root).moves[-1]
    assert (move["to_version"], move["how"]) == (challenger, "auto")
    assert "live shadow rows: candidate roc_auc " in move["why"] and "meets the margin" in move["why"]


def test_a_shadowing_challenger_no_better_on_the_live_rows_is_refused_with_the_numbers(
    tmp_path: Path, project: MakeProject
) -> None:
    root, production, first = _shadowing_project(project, **{"model_tests.gate": False})
    champion, challenger = first.champion_version, first.challenger_version
    assert challenger is not None and "model_tests" not in first.retrain["gate"]
    # live, the challenger answers exactly as the champion does: no gain at all
    labels = _shadow_traffic(root, production, champion=champion, challenger=challenger, answers_from=champion)
    pd.DataFrame(labels).to_csv(tmp_path / "live-labels.csv", index=False)
    tabloop.feedback(tmp_path / "live-labels.csv", project=root)
    res = loop_run(root)
    assert res.action == "rejected", res.reasons
    assert res.shadow["agreement"] == 1.0 and res.shadow["differences"]["mean_abs"] == 0.0
    assert res.gate is not None and not res.gate["promote"] and res.gate["refused_by"] == "paired"
    assert any(r.startswith("live shadow rows: candidate roc_auc ") and "gain +0.0000" in r
               and "does not reach the required margin" in r for r in res.reasons), res.reasons
    proj = Project.open(root)
    assert proj.resolve("champion").version == champion
    assert read_decisions(proj)[-1]["action"] == "rejected"
    tags = proj.tracker.get_version(proj.spec.model_name, challenger).tags
    assert tags["tabloop.decision"] == "reject" and "live shadow rows" in tags["tabloop.decision_reason"]
    assert loop_run(root).action != "promoted"  # a refused challenger is not settled again

"""A time budget covers the whole of ``tabloop train``, from its start to the registered model.

The search gets what the other phases leave: what came before it is measured, what follows it is
estimated from measurements (the refit from fold fit times, the rest from the project's last run).
These tests replace the earlier ``search_budget`` ones: that function kept a guessed 15% share of
the budget for what follows training, which is what let ``--budget 30`` take 61 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import tabloop
from tabloop.api._project import Project
from tabloop.api._train import (
    DEFAULT_AFTER_SEARCH,
    DEFAULT_STARTUP_SECONDS,
    EXIT_PER_STARTUP,
    EXIT_SECONDS,
    MAX_SLOWDOWN,
    TIMINGS,
    after_search_estimate,
    make_budget,
)
from tabloop.errors import TrainingError
from tabloop.training import MIN_BUDGET_SECONDS, AfterSearch, Budget


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_search_gets_the_budget_less_measured_time_and_the_estimated_rest() -> None:
    clock = FakeClock(100.0)
    budget = Budget(30.0, started=95.0, clock=clock, after=AfterSearch(log_per_run=0.1, export=1.5, register=2.5))
    budget.ensemble, budget.importance = 0.4, 1.0
    # 5 s already spent (start-up and preparation), 12 runs to log, a refit estimated at 2 s
    rest = 2.0 + 0.4 + 1.0 + 12 * 0.1 + 1.5 + 2.5
    assert budget.after_search(12, 2.0) == pytest.approx(rest)
    assert budget.search_seconds(12, 2.0) == pytest.approx(30.0 - 5.0 - rest)
    clock.now = 110.0  # ten seconds later the search has ten seconds fewer
    assert budget.search_seconds(12, 2.0) == pytest.approx(30.0 - 15.0 - rest)
    assert budget.end == 125.0 and budget.left() == pytest.approx(15.0)


def test_every_phase_is_measured_and_reported() -> None:
    clock = FakeClock(10.0)
    budget = Budget(30.0, started=7.0, clock=clock)
    budget.lap("startup", at=8.5)  # the process started 1.5 s before the command's code ran
    for phase, seconds in [("prepare", 2.0), ("search", 20.0), ("refit", 1.0), ("log", 0.5), ("export", 1.0),
                           ("register", 2.0)]:
        clock.now += seconds
        budget.lap(phase)
    budget.note("ensemble skipped: ...")
    report = budget.to_dict()
    assert report["budget_seconds"] == 30.0
    assert report["spent"] == {"startup": 1.5, "prepare": 3.5, "search": 20.0, "refit": 1.0, "log": 0.5,
                               "export": 1.0, "register": 2.0}
    assert report["wall_seconds"] == pytest.approx(sum(report["spent"].values()))
    assert report["notes"] == ["ensemble skipped: ..."]


def _project(tmp_path: Path, hmda_csv: Path) -> Project:
    root = tmp_path / "p"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    return Project.open(root)


def test_a_budget_below_the_minimum_is_a_clear_error(tmp_path: Path, hmda_csv: Path) -> None:
    proj = _project(tmp_path, hmda_csv)
    with pytest.raises(TrainingError, match=rf"below the minimum of {MIN_BUDGET_SECONDS:g}s") as err:
        make_budget(proj, MIN_BUDGET_SECONDS - 1, started=0.0)
    assert "--budget" in err.value.to_dict().get("hint", "") + str(err.value)
    assert make_budget(proj, MIN_BUDGET_SECONDS, started=0.0).total == MIN_BUDGET_SECONDS


def test_what_follows_the_search_is_estimated_from_the_last_run(tmp_path: Path, hmda_csv: Path) -> None:
    proj = _project(tmp_path, hmda_csv)
    assert after_search_estimate(proj) == DEFAULT_AFTER_SEARCH  # a fresh project: the benchmark's figures
    proj.workspace.home.mkdir(parents=True, exist_ok=True)
    (proj.workspace.home / TIMINGS).write_text(json.dumps({"log_per_run": 0.2, "export": 4.0, "register": 6.0}))
    assert after_search_estimate(proj) == AfterSearch(log_per_run=0.2, export=4.0, register=6.0)
    # a process that exits after registering keeps its exit back too; its start-up is a measured phase
    budget = make_budget(proj, 60, started=1.0, called=3.0, ends_process=True, clock=FakeClock(3.0))
    assert budget.after.register == pytest.approx(6.0 + EXIT_SECONDS)
    assert budget.spent == {"startup": 2.0}
    # a slow start-up (imports on a busy machine) means a slow exit too
    slow = make_budget(proj, 60, started=1.0, called=11.0, ends_process=True, clock=FakeClock(11.0))
    assert slow.after.register == pytest.approx(6.0 + EXIT_PER_STARTUP * 10.0)
    (proj.workspace.home / TIMINGS).write_text("not json")
    assert after_search_estimate(proj) == DEFAULT_AFTER_SEARCH


def test_a_fresh_projects_estimate_follows_how_slow_this_start_up_was(tmp_path: Path, hmda_csv: Path) -> None:
    # the defaults were measured on a quiet machine: a start-up three times slower than it was
    # there expects the phases after the search to be three times slower too, never faster
    proj = _project(tmp_path, hmda_csv)
    quick = after_search_estimate(proj, startup=DEFAULT_STARTUP_SECONDS / 2)
    assert quick == DEFAULT_AFTER_SEARCH
    slow = after_search_estimate(proj, startup=3 * DEFAULT_STARTUP_SECONDS)
    assert slow.register == pytest.approx(3 * DEFAULT_AFTER_SEARCH.register)
    assert slow.log_per_run == pytest.approx(3 * DEFAULT_AFTER_SEARCH.log_per_run)
    assert after_search_estimate(proj, startup=1000.0).export == pytest.approx(MAX_SLOWDOWN * DEFAULT_AFTER_SEARCH.export)
    budget = make_budget(proj, 60, started=0.0, called=3 * DEFAULT_STARTUP_SECONDS, clock=FakeClock(5.0))
    assert budget.after.register == pytest.approx(3 * DEFAULT_AFTER_SEARCH.register)
    # a project that trained before uses its own measurement, however slow the start-up
    proj.workspace.home.mkdir(parents=True, exist_ok=True)
    (proj.workspace.home / TIMINGS).write_text(json.dumps({"log_per_run": 0.2, "export": 4.0, "register": 6.0}))
    assert after_search_estimate(proj, startup=10.0) == AfterSearch(log_per_run=0.2, export=4.0, register=6.0)


def test_train_reports_where_the_time_went_and_skips_what_would_overrun(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "t.csv"
    x = rng.normal(size=400)
    pd.DataFrame({"x": x, "z": rng.normal(size=400), "y": 2 * x + rng.normal(size=400)}).to_csv(data, index=False)
    root = tmp_path / "p"
    tabloop.init(root, data=str(data), target="y")
    raw: dict[str, Any] = yaml.safe_load((root / "tabloop.yaml").read_text())
    raw["train"].update(candidates=["dummy", "linear"], budget_seconds=20)
    (root / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    # the last run's export took longer than the whole budget: this run must not start one
    (root / ".tabloop").mkdir(exist_ok=True)
    (root / ".tabloop" / TIMINGS).write_text(json.dumps({"log_per_run": 0.0, "export": 1000.0, "register": 0.0}))
    res = tabloop.train(root)
    time = res.time  # type: ignore[union-attr]
    assert time["budget_seconds"] == 20
    assert {"prepare", "search", "refit", "log", "register"} <= set(time["spent"])
    assert "export" not in time["spent"]
    assert any(n.startswith("ONNX export skipped") for n in time["notes"])
    assert time["wall_seconds"] == pytest.approx(sum(time["spent"].values()), abs=0.01)
    bundle = Project.open(root).load_bundle(res.version)  # type: ignore[union-attr]
    assert bundle.onnx is None and bundle.manifest.onnx["used"] is False
    assert "ONNX export skipped" in bundle.manifest.onnx["reason"]
    report = json.loads(Path(res.report_json).read_text())  # type: ignore[union-attr]
    assert report["time"]["budget_seconds"] == 20 and "search" in report["time"]["spent"]
    # this run's measurements replace the estimate for the next one (export kept: it did not run)
    timings = json.loads((root / ".tabloop" / TIMINGS).read_text())
    assert timings["export"] == 1000.0 and timings["register"] > 0


def test_train_refuses_a_budget_below_the_minimum_before_starting(tmp_path: Path, hmda_csv: Path) -> None:
    from typer.testing import CliRunner

    from tabloop.cli import app

    proj = _project(tmp_path, hmda_csv)
    res = CliRunner().invoke(app, ["train", "-p", str(tmp_path / "p"), "--budget", "5", "--json"])
    assert res.exit_code == 1
    error = json.loads(res.stdout)["error"]
    assert "a time budget of 5s is below the minimum of 10s" in error["message"]
    assert not (proj.workspace.home / "mlflow.db").exists()  # refused before anything was tracked

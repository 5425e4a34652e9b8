"""The same commands against a real PostgreSQL tracking store and registry, chosen by environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tabloop

from ..tracking.test_alias_race import check_round, make_project, race
from .._postgres import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture()
def pg_database() -> Iterator[str]:
    with scratch_database("tabloop_test") as url:
        yield url


def test_train_promote_and_predict_against_postgres(
    pg_database: str, tmp_path: Path, hmda_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLOOP_TRACKING_URI", pg_database)
    monkeypatch.setenv("TABLOOP_TRAIN__CANDIDATES", "[dummy, linear]")
    # a few trials: every one is still a nested run in PostgreSQL, and the model only has to score the rows
    monkeypatch.setenv("TABLOOP_TRAIN__TRIALS", "3")
    # a folder of this test's own as the current one: ./mlruns below can only be these commands' doing
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "proj"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    trained = tabloop.train(root)
    tabloop.promote(trained.version, project=root)
    assert not (root / ".tabloop" / "mlflow.db").exists(), "the embedded store must not be used"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=pg_database, registry_uri=pg_database)
    assert str(client.get_model_version_by_alias(root.name, "champion").version) == trained.version
    scored = tabloop.predict(hmda_csv, tmp_path / "out.csv", project=root)
    assert scored.rows == 2381 and scored.version == trained.version
    assert any((root / ".tabloop" / "artifacts").iterdir()), "artifacts stay in the workspace, not in ./mlruns"
    assert not Path("mlruns").exists()

    # the other registry commands, through the CLI, on the same PostgreSQL registry
    from typer.testing import CliRunner

    from tabloop.cli import app

    def cli(*args: str) -> dict[str, Any]:
        res = CliRunner().invoke(app, [*args, "--project", str(root), "--json"])
        assert res.exit_code == 0, res.stdout + res.stderr
        return json.loads(res.stdout)

    evaluated = cli("evaluate", trained.version)
    assert evaluated["version"] == trained.version and evaluated["metrics"]
    client.create_model_version(root.name, source=(root / ".tabloop" / "artifacts").as_uri())  # a version 2
    assert cli("promote", "2", "--force", "--reason", "test")["previous"] == trained.version
    assert cli("rollback")["version"] == trained.version
    history = cli("history", "--alias", "champion")
    assert [(m["from_version"], m["to_version"]) for m in history["moves"]] == [
        (None, trained.version), (trained.version, "2"), ("2", trained.version)]
    assert [m["how"] for m in history["moves"]][1:] == ["forced", "rollback"]
    assert str(client.get_model_version_by_alias(root.name, "champion").version) == trained.version


def test_two_processes_promoting_at_once_never_both_win_on_postgres(
    pg_database: str, tmp_path: Path, hmda_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alias lock is a PostgreSQL advisory lock here: it holds across processes (and machines)."""
    monkeypatch.setenv("TABLOOP_TRACKING_URI", pg_database)  # the spawned workers inherit it
    root = tmp_path / "proj"
    uri, model = make_project(root, hmda_csv, versions=3)
    assert uri == pg_database
    rounds = 12
    kinds = [check_round(o) for o in race(root, uri, model, rounds)]
    assert len(kinds) == rounds
    print(f"{rounds} rounds on PostgreSQL: {kinds.count('conflict')} conflicts, {kinds.count('serial')} serial")

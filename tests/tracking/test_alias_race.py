"""Two processes promoting different versions to one alias at the same moment: exactly one move wins.

Before the compare-and-set, both reported success with the same previous version and one move was
lost. Each round starts both promotions behind one barrier, so they really overlap.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tabloop
from tabloop.api._project import Project
from tabloop.errors import PromotionConflictError
from tabloop.tracking import Tracker

ROUNDS = 12


def make_project(root: Path, data: Path, versions: int) -> tuple[str, str]:
    """A project whose registry holds ``versions`` versions (no training: promote only moves aliases)."""
    tabloop.init(root, data=str(data), target="deny", exclude=["black"])
    proj = Project.open(root)
    uri = proj.workspace.tracking_uri(proj.spec)  # the embedded store, or TABLOOP_TRACKING_URI
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(root.name)
    for _ in range(versions):
        client.create_model_version(root.name, source=(root / ".tabloop" / "artifacts").as_uri())
    return uri, root.name


def promote_in_rounds(root: str, version: str, rounds: int, barrier: Any, results: Any) -> None:
    for r in range(rounds):
        barrier.wait()  # the parent has reset the champion to version 1
        try:
            res = tabloop.promote(version, project=root, force=True)  # the race, not the gate, is tested
            results.put((r, version, "ok", res.previous))
        except PromotionConflictError as exc:
            results.put((r, version, "conflict", exc.message))
        except Exception as exc:  # anything else fails the test, with its text
            results.put((r, version, "error", f"{type(exc).__name__}: {exc}"))
        barrier.wait()


def race(root: Path, uri: str, model: str, rounds: int) -> list[list[tuple[int, str, str, str | None]]]:
    """Run ``rounds`` rounds of two promoting processes (versions 2 and 3); the outcomes per round."""
    ctx = mp.get_context("spawn")  # no MLflow or SQLite state inherited from this process
    barrier, results = ctx.Barrier(3, timeout=120), ctx.Queue()
    workers = [ctx.Process(target=promote_in_rounds, args=(str(root), v, rounds, barrier, results)) for v in ("2", "3")]
    for w in workers:
        w.start()
    tracker = Tracker(uri, model)
    outcomes = []
    try:
        for _ in range(rounds):
            tracker.set_alias(model, "champion", "1")
            barrier.wait()
            barrier.wait()
            outcomes.append(sorted(results.get(timeout=30) for _ in range(2)))
            final = tracker.alias_version(model, "champion")
            outcomes[-1].append((-1, "final", "alias", final))
    finally:
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    return outcomes


def check_round(outcome: list[tuple[int, str, str, str | None]]) -> str:
    """Either one winner and one conflict naming the winner, or two moves one after the other; never a lost one."""
    (_, va, sa, pa), (_, vb, sb, pb), (_, _, _, final) = outcome
    assert "error" not in (sa, sb), outcome
    if {sa, sb} == {"ok", "conflict"}:
        win, lose = ((va, pa), (vb, pb)) if sa == "ok" else ((vb, pb), (va, pa))
        assert win[1] == "1", outcome  # the truly previous version
        assert lose[1] == f"alias 'champion' moved to version {win[0]} while promoting {lose[0]}", outcome
        assert final == win[0], outcome
        return "conflict"
    assert (sa, sb) == ("ok", "ok"), outcome
    # both moved: then they were serial, and the later one saw the earlier one's version
    assert sorted([pa, pb]) in (["1", vb], ["1", va]) and pa != pb, f"a move was lost: {outcome}"
    later = va if pa == vb else vb
    assert final == later, outcome
    return "serial"


def test_two_processes_promoting_at_once_never_both_win(tmp_path: Path, hmda_csv: Path) -> None:
    root = tmp_path / "proj"
    uri, model = make_project(root, hmda_csv, versions=3)
    outcomes = race(root, uri, model, ROUNDS)
    kinds = [check_round(o) for o in outcomes]
    assert len(kinds) == ROUNDS
    print(f"{ROUNDS} rounds: {kinds.count('conflict')} conflicts, {kinds.count('serial')} serial")


def test_set_alias_is_a_compare_and_set(tmp_path: Path, hmda_csv: Path) -> None:
    root = tmp_path / "proj"
    uri, model = make_project(root, hmda_csv, versions=3)
    mine, theirs = Tracker(uri, model), Tracker(uri, model)
    assert mine.set_alias(model, "champion", "1", expected_previous=None) is None
    seen = mine.alias_version(model, "champion")
    assert theirs.set_alias(model, "champion", "3", expected_previous=seen) == "1"  # they move first
    with pytest.raises(PromotionConflictError, match="alias 'champion' moved to version 3 while promoting 2") as err:
        mine.set_alias(model, "champion", "2", expected_previous=seen)
    assert "run promote again" in (err.value.hint or "")
    assert mine.alias_version(model, "champion") == "3"  # the refused move changed nothing
    theirs.set_alias(model, "challenger", "1")
    with pytest.raises(PromotionConflictError, match="alias 'challenger' moved to version 1 while promoting 2"):
        mine.set_alias(model, "challenger", "2", expected_previous=None)  # expected it to be unset
    assert mine.set_alias(model, "champion", "2") == "3"  # no expectation: moves whatever it points at


def test_the_cli_exits_non_zero_on_a_conflict(tmp_path: Path, hmda_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tabloop.cli import app

    root = tmp_path / "proj"
    uri, model = make_project(root, hmda_csv, versions=3)
    other = Tracker(uri, model)
    other.set_alias(model, "champion", "1")
    real = Tracker.alias_version

    def read_then_lose_the_race(self: Tracker, name: str, alias: str) -> str | None:
        seen = real(self, name, alias)
        monkeypatch.setattr(Tracker, "alias_version", real)  # only the first read races
        other.set_alias(name, alias, "3")
        return seen

    monkeypatch.setattr(Tracker, "alias_version", read_then_lose_the_race)
    res = CliRunner().invoke(app, ["promote", "2", "--force", "-p", str(root), "--json"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "promotion_conflict"
    assert doc["error"]["message"] == "alias 'champion' moved to version 3 while promoting 2"
    assert other.alias_version(model, "champion") == "3"


def test_without_a_lock_a_lost_race_seen_after_the_move_is_raised(
    tmp_path: Path, hmda_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An http tracking server offers no lock: the move is re-read, and a lost race seen then is an error."""
    import contextlib

    from tabloop.tracking import _mlflow

    root = tmp_path / "proj"
    uri, model = make_project(root, hmda_csv, versions=3)
    mine, theirs = Tracker(uri, model), Tracker(uri, model)
    mine.set_alias(model, "champion", "1")
    monkeypatch.setattr(_mlflow, "alias_lock", lambda *a: contextlib.nullcontext(False))
    real = mine.client.set_registered_model_alias

    def set_then_overtaken(name: str, alias: str, version: str) -> None:
        real(name, alias, version)
        theirs.client.set_registered_model_alias(name, alias, "3")  # their move lands just after ours

    monkeypatch.setattr(mine.client, "set_registered_model_alias", set_then_overtaken)
    with pytest.raises(PromotionConflictError, match="alias 'champion' moved to version 3 while promoting 2"):
        mine.set_alias(model, "champion", "2", expected_previous="1")

"""Two `tabloop train --worker` processes share one Optuna study in a real PostgreSQL; `train` registers the best."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tabloop
from .._postgres import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture()
def pg_url() -> Iterator[str]:
    with scratch_database("tabloop_optuna", driver="postgresql") as url:
        yield url


def test_two_workers_share_one_study_and_train_uses_all_their_trials(pg_url: str, tmp_path: Path, hmda_csv: Path) -> None:
    root = tmp_path / "proj"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    env = {**os.environ, "TABLOOP_TRAIN__CANDIDATES": "[dummy, linear, tree]", "TABLOOP_TRAIN__SELECTION": "[]",
           "TABLOOP_TRAIN__IMBALANCE": "[]"}
    cmd = [sys.executable, "-m", "tabloop", "train", "--project", str(root), "--worker", "--trials", "8",
           "--storage", pg_url, "--json"]
    workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    docs = []
    for w in workers:
        out, err = w.communicate(timeout=500)
        assert w.returncode == 0, err[-3000:]
        docs.append(json.loads(out.strip().splitlines()[-1]))
    assert docs[0]["study"] == docs[1]["study"]
    assert all(d["trials_run"] >= 1 for d in docs), docs  # both did part of the work
    assert 8 <= docs[0]["trials_run"] + docs[1]["trials_run"] <= 9  # shared: not 8 each
    assert "***" not in pg_url and "postgres@" not in docs[0]["storage"]  # no user name in output

    import optuna

    study = optuna.load_study(study_name=docs[0]["study"], storage=pg_url.replace("postgresql://", "postgresql+psycopg://"))
    assert sorted(t.number for t in study.trials) == list(range(len(study.trials)))  # one numbering, no repeats
    finished = [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]
    assert len({t.user_attrs["worker"] for t in finished}) == 2
    # no worker leaves a trial queued in the study that nobody runs (Optuna's enqueue/ask race between workers)
    assert [t.number for t in study.trials if t.state.name == "WAITING"] == []

    # the coordinating run finds the trials done, runs none, and registers the best of all of them
    proc = subprocess.run([sys.executable, "-m", "tabloop", "train", "--project", str(root), "--trials", "8",
                           "--storage", pg_url, "--json"], capture_output=True, text=True, env=env, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["study"] == docs[0]["study"] and summary["trials"] == len(study.trials)
    assert summary["version"] == "1"

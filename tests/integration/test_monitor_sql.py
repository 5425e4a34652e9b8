"""tabloop monitor reads its windows from a SQL query against the machine's real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tabloop
from tabloop.errors import DataError

pytestmark = pytest.mark.integration

PG = "postgresql+psycopg://postgres:not-this-password@127.0.0.1:5432/postgres"


@pytest.fixture()
def table() -> Iterator[str]:
    """A table of the current window in PostgreSQL: 'dir' moved, everything else as in the reference."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    name = f"tabloop_current_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(PG)
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{name}"'))
        engine.dispose()


def test_standalone_drift_with_the_current_window_from_sql(table: str, hmda: pd.DataFrame, tmp_path: Path) -> None:
    import sqlalchemy

    rng = np.random.default_rng(0)
    reference = hmda.sample(1_000, random_state=1).drop(columns=["deny"])
    current = hmda.sample(1_000, random_state=2).drop(columns=["deny"])
    current["dir"] = current["dir"] + 0.3 + rng.normal(0, 0.02, len(current))
    ref_path = tmp_path / "reference.csv"
    reference.to_csv(ref_path, index=False)
    engine = sqlalchemy.create_engine(PG)
    current.to_sql(table, engine, index=False)
    engine.dispose()
    query = f'SELECT * FROM "{table}"'

    res = tabloop.monitor(reference=ref_path, current=PG, current_query=query, report_dir=tmp_path / "r")
    assert res.drifted_features == ["dir"] and res.current_rows == 1_000
    assert "not-this-password" not in res.current and table in res.current  # the report names it, masked

    # the CLI: the URL stays a URL (typer must not fold its '//'), one JSON document on stdout
    done = subprocess.run(
        [sys.executable, "-m", "tabloop", "monitor", "--reference", str(ref_path), "--current", PG,
         "--current-query", query, "--report-dir", str(tmp_path / "cli"), "--json"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 3, done.stderr  # the policy says act: 'dir' drifted
    doc = json.loads(done.stdout)
    assert doc["drifted_features"] == ["dir"]
    assert "not-this-password" not in done.stdout


def test_a_query_without_a_database_url_is_refused(hmda: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    hmda.to_csv(path, index=False)
    with pytest.raises(DataError, match="--current-query .* needs --current to be a database URL"):
        tabloop.monitor(reference=path, current=path, current_query="SELECT 1")


def test_a_database_url_without_a_query_says_which_option_to_add(hmda: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    hmda.to_csv(path, index=False)
    with pytest.raises(DataError, match="needs a query") as err:
        tabloop.monitor(reference=path, current=PG)
    assert "--current-query" in (err.value.hint or "")

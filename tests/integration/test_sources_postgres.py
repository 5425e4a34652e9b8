"""Tables read whole from the machine's real PostgreSQL: by name, typed, through profile, train and monitor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tabloop
from tabloop.data import infer_semantic_types, read_table
from tabloop.errors import DataError

pytestmark = pytest.mark.integration

PG = "postgresql+psycopg://postgres:not-this-password@127.0.0.1:5432/postgres"


@pytest.fixture()
def names() -> Iterator[list[str]]:
    """Table names this test creates (unique per run), dropped afterwards whatever happens."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    made: list[str] = []
    yield made
    engine = sqlalchemy.create_engine(PG)
    with engine.begin() as conn:
        for name in made:
            conn.execute(sqlalchemy.schema.DropTable(sqlalchemy.table(name), if_exists=True))
    engine.dispose()


def _unique(names: list[str], stem: str) -> str:
    name = f"{stem}_{uuid.uuid4().hex[:10]}"
    names.append(name)
    return name


def test_a_table_by_name_with_each_type(names: list[str]) -> None:
    import sqlalchemy

    # a name that must be quoted: mixed case, a space and a quote
    name = _unique(names, "Tabloop Typed \"t\"")
    n = 60
    engine = sqlalchemy.create_engine(PG)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(
            f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" (id serial PRIMARY KEY, ref uuid, '
            "at timestamptz, amount numeric(10,2), active boolean, city text, note text)"))
        rows = [{"ref": str(uuid.UUID(int=i + 1)), "at": f"2024-01-{i % 28 + 1:02d} 10:00:00+00",
                 "amount": f"{(i * 37) % 500}.25", "active": i % 3 == 0, "city": ["Boston", "Salem"][i % 2],
                 "note": f"the customer number {i} asked twice about a refund for order {i * 7}"} for i in range(n)]
        table = sqlalchemy.table(name, *(sqlalchemy.column(c) for c in rows[0]))
        conn.execute(sqlalchemy.insert(table), rows)
    engine.dispose()

    df = read_table(PG, table=name)
    assert len(df) == n and list(df.columns) == ["id", "ref", "at", "amount", "active", "city", "note"]
    assert infer_semantic_types(df) == {"id": "identifier", "ref": "identifier", "at": "datetime",
                                        "amount": "numeric", "active": "boolean", "city": "categorical",
                                        "note": "text"}
    assert len(read_table(PG, table=f"public.{name}")) == n  # schema-qualified


def test_errors_name_the_url_without_its_password(names: list[str]) -> None:
    with pytest.raises(DataError, match=r"postgresql\+psycopg://\*\*\*@127\.0\.0\.1:5432/postgres: no such table") as err:
        read_table(PG, table=_unique(names, "tabloop_absent"))
    assert "not-this-password" not in str(err.value) + (err.value.hint or "")
    refused = PG.replace(":5432/", ":1/")  # nothing listens on port 1
    with pytest.raises(DataError, match="cannot connect") as err:
        read_table(refused, table="t")
    assert "not-this-password" not in str(err.value) and "is the server running" in (err.value.hint or "")
    with pytest.raises(DataError, match="query failed") as err:
        read_table(PG, query="SELEC 1")
    assert "not-this-password" not in str(err.value)


def test_profile_train_and_monitor_read_tables(names: list[str], hmda: pd.DataFrame, tmp_path: Path) -> None:
    import sqlalchemy

    train_name, current_name = _unique(names, "tabloop_train"), _unique(names, "tabloop_current")
    engine = sqlalchemy.create_engine(PG)
    hmda.head(800).to_sql(train_name, engine, index=False)
    rng = np.random.default_rng(0)
    current = hmda.head(800).sample(500, random_state=2).drop(columns=["deny"])  # no gaps the training rows lacked
    current["dir"] = current["dir"] + 0.3 + rng.normal(0, 0.02, len(current))
    current.to_sql(current_name, engine, index=False)
    engine.dispose()

    root = tmp_path / "p"
    tabloop.init(root, data=PG, table=train_name, target="deny", exclude=["black"])
    spec = (root / "tabloop.yaml").read_text()
    assert f"table: {train_name}" in spec
    spec = re.sub(r"(?m)^(\s*)candidates: \[[^\]]*\]$", r"\1candidates: [dummy, linear]", spec)
    (root / "tabloop.yaml").write_text(spec)
    prof = tabloop.profile(root)
    assert prof.rows == 800 and prof.source == f"postgresql+psycopg://***@127.0.0.1:5432/postgres (table {train_name})"
    res = tabloop.train(root, trials=1)
    tabloop.promote(res.version, project=root)

    done = subprocess.run(
        [sys.executable, "-m", "tabloop", "monitor", "-p", str(root), "--current", PG, "--current-table",
         current_name, "--json"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        # the tabloop this test imported, wherever it comes from
        env={**os.environ, "PYTHONPATH": str(Path(tabloop.__file__).parents[1])},
    )
    assert done.returncode == 3, done.stderr  # the policy says act: 'dir' drifted
    doc = json.loads(done.stdout)
    assert "dir" in doc["drifted_features"] and doc["current_rows"] == 500
    assert current_name in doc["current"] and "not-this-password" not in done.stdout

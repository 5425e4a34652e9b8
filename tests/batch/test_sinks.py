"""Output sinks: CSV, Parquet and a SQL table (SQLite here, a real PostgreSQL database of its own below), written
whole at the end or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tabloop.batch import ChunkScorer, check_target, local_results, open_sink, rejects_schema, write_scored
from tabloop.bundle import ModelBundle
from tabloop.data import read_chunks
from tabloop.errors import DataError
from .._postgres import scratch_database



@pytest.mark.parametrize("name", ["o.csv", "o.parquet"])
def test_a_file_appears_only_at_commit(tmp_path: Path, name: str) -> None:
    sink = open_sink(tmp_path / name)
    sink.write(pd.DataFrame({"a": [1, 2], "note": [None, None]}))  # a column of gaps, then text: kept as text
    sink.write(pd.DataFrame({"a": [3], "note": ["x"]}))
    assert not (tmp_path / name).exists()
    assert sink.commit() == str(tmp_path / name)
    back = pd.read_csv(tmp_path / name) if name.endswith(".csv") else pd.read_parquet(tmp_path / name)
    assert back["a"].tolist() == [1, 2, 3] and back["note"].fillna("").tolist() == ["", "", "x"]
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_abort_leaves_the_old_file(tmp_path: Path) -> None:
    (tmp_path / "o.csv").write_text("old\n")
    sink = open_sink(tmp_path / "o.csv")
    sink.write(pd.DataFrame({"a": [1]}))
    sink.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["o.csv"] and (tmp_path / "o.csv").read_text() == "old\n"


def test_a_chunk_that_changes_a_column_type_is_refused(tmp_path: Path) -> None:
    sink = open_sink(tmp_path / "o.parquet")
    sink.write(pd.DataFrame({"a": [1.5]}))
    with pytest.raises(DataError, match="do not fit the first chunk's types"):
        sink.write(pd.DataFrame({"a": ["text"]}))
    sink.abort()


@pytest.mark.parametrize(("target", "table", "message"), [
    ("o.xlsx", None, "unknown output format '.xlsx'"),
    ("o.csv", "t", "a table name needs a database URL"),
    ("sqlite:///x.db", None, "a database output needs a table name"),
])
def test_targets_no_sink_can_write_are_refused_up_front(target: str, table: str | None, message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_target(target, table)


def _score_into(bundle: ModelBundle, source: object, url: str, out: str, *, rows: int, **read: object) -> object:
    scorer = ChunkScorer(bundle, request_id="batch-sql")
    chunks = read_chunks(source, rows=rows, numbers=bundle.contract.numeric, **read)  # type: ignore[arg-type]
    return write_scored(local_results(scorer, chunks), open_sink(url, table=out),
                        open_sink(url, table=f"{out}_rejects", schema=rejects_schema()))


def test_sqlite_table_replaced_whole(bundle: ModelBundle, bad_csv: Path, tmp_path: Path) -> None:
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'out.db'}"
    summary = _score_into(bundle, bad_csv, url, "scores", rows=7)
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        scored = pd.read_sql("SELECT * FROM scores ORDER BY row", conn)
        rejects = pd.read_sql("SELECT * FROM scores_rejects", conn)
        tables = sorted(sqlalchemy.inspect(conn).get_table_names())
    engine.dispose()
    assert summary.rows_scored == len(scored) == 28  # type: ignore[attr-defined]
    assert rejects["row"].tolist() == [9, 20]
    assert tables == ["scores", "scores_rejects"]  # no staging table left


@pytest.fixture()
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    with scratch_database("tabloop_batch") as url:
        yield url


@pytest.mark.integration
def test_postgres_in_and_out_by_chunks_same_as_a_file(
    bundle: ModelBundle, bad_csv: Path, hmda: pd.DataFrame, pg_database: str, tmp_path: Path
) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_database)
    # typed columns (a database's text cells are not parsed as numbers): a far value and an unseen category
    source = pd.read_csv(bad_csv).drop(columns=["lvr"]).assign(lvr=hmda.head(30)["lvr"].to_numpy())
    source.loc[4, "dmi"] = "perhaps"
    with engine.begin() as conn:
        source.to_sql("Loans In", conn, index=False)  # a name that must be quoted
        conn.execute(sqlalchemy.text('CREATE TABLE "Scores" (old int)'))  # replaced whole at the end
    _score_into(bundle, pg_database, pg_database, "Scores", rows=7, table="Loans In")
    with engine.connect() as conn:
        scored = pd.read_sql('SELECT * FROM "Scores" ORDER BY row', conn)
        rejects = pd.read_sql('SELECT * FROM "Scores_rejects" ORDER BY row', conn)
        tables = sorted(sqlalchemy.inspect(conn).get_table_names())
    engine.dispose()
    assert tables == ["Loans In", "Scores", "Scores_rejects"]
    assert list(zip(rejects["row"], rejects["column"], rejects["rule"])) == [(20, "dir", "far_range")]
    assert scored.loc[scored["row"] == 4, "out_of_contract"].tolist() == ["dmi:unseen_category:unknown"]
    # the same rows and answers as from a Parquet file into a Parquet file
    source.to_parquet(tmp_path / "in.parquet")
    scorer = ChunkScorer(bundle, request_id="batch-sql")
    write_scored(local_results(scorer, read_chunks(tmp_path / "in.parquet", rows=7)),
                 open_sink(tmp_path / "o.parquet"), open_sink(tmp_path / "r.csv", schema=rejects_schema()))
    from_file = pd.read_parquet(tmp_path / "o.parquet")
    pd.testing.assert_frame_equal(scored, from_file, check_dtype=False)


@pytest.mark.integration
def test_postgres_failed_run_keeps_the_old_table_and_no_staging(bundle: ModelBundle, hmda: pd.DataFrame,
                                                                pg_database: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE scores (old int)"))
        conn.execute(sqlalchemy.text("INSERT INTO scores VALUES (1)"))

    def chunks() -> Iterator[pd.DataFrame]:
        yield hmda.head(5).reset_index(drop=True)
        raise OSError("killed part-way")

    with pytest.raises(OSError, match="killed part-way"):
        write_scored(local_results(ChunkScorer(bundle, request_id="x"), chunks()),
                     open_sink(pg_database, table="scores"),
                     open_sink(pg_database, table="scores_rejects", schema=rejects_schema()))
    with engine.connect() as conn:
        assert sorted(sqlalchemy.inspect(conn).get_table_names()) == ["scores"]
        assert pd.read_sql("SELECT * FROM scores", conn)["old"].tolist() == [1]
    engine.dispose()

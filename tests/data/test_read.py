"""read_table (CSV, gzip, Parquet, SQL) and frame_fingerprint."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tabloop.data import frame_fingerprint, is_database_url, read_table
from tabloop.errors import DataError


def test_csv_round_trips_the_real_table(hmda: pd.DataFrame, hmda_csv: Path) -> None:
    df = read_table(hmda_csv)
    pd.testing.assert_frame_equal(df, hmda)


@pytest.mark.parametrize("name", ["t.parquet", "t.pq", "t.csv.gz", "T.CSV", "t.CSV.GZ", "t.txt"])
def test_every_supported_format_reads_the_same_rows(tmp_path: Path, hmda: pd.DataFrame, name: str) -> None:
    part = hmda.head(50)
    path = tmp_path / name
    if ".parquet" in name.lower() or name.endswith(".pq"):
        part.to_parquet(path, index=False)
    else:
        part.to_csv(path, index=False, compression="gzip" if name.lower().endswith(".gz") else None)
    df = read_table(path)
    assert list(df.columns) == list(hmda.columns)
    pd.testing.assert_frame_equal(df.reset_index(drop=True), part.reset_index(drop=True), check_dtype=False)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as err:
        read_table(path)
    assert str(path) in str(err.value)
    assert "no such file" in str(err.value)
    assert err.value.hint and "relative to the project folder" in err.value.hint


def test_unknown_suffix_is_refused_with_the_formats_to_use(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"t\.xlsx: unknown table format '\.xlsx'") as err:
        read_table(path)
    assert ".parquet" in (err.value.hint or "")


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataError, match=r"empty\.csv: the table has no rows"):
        read_table(path)


def test_unreadable_content_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot be read as a table"):
        read_table(path)
    empty = tmp_path / "zero.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"zero\.csv: cannot be read as a table"):
        read_table(empty)


def test_duplicate_csv_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match=r"dupes\.csv: duplicate column names \['a'\]"):
        read_table(path)
    # a header that merely looks like pandas' renaming is fine
    ok = tmp_path / "ok.csv"
    ok.write_text("a,a.1\n1,2\n")
    assert list(read_table(ok).columns) == ["a", "a.1"]


def test_sql_source_runs_the_query(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x real, y text)")
        conn.executemany("insert into t values (?, ?)", [(1.5, "a"), (2.5, "b"), (3.5, "a")])
    url = f"sqlite:///{db}"
    df = read_table(url, query="select x, y from t where y = 'a' order by x")
    assert df["x"].tolist() == [1.5, 3.5]
    with pytest.raises(DataError, match="needs a query"):
        read_table(url)
    with pytest.raises(DataError, match="query failed"):
        read_table(url, query="select * from missing_table")
    with pytest.raises(DataError, match="the query returned no rows"):
        read_table(url, query="select * from t where y = 'z'")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("postgresql+psycopg://u@h/db", True),
        ("sqlite:///x.db", True),
        ("duckdb:///x.duckdb", True),
        ("data/train.csv", False),
        ("s3://bucket/x.parquet", False),
        ("C:\\data\\x.csv", False),
    ],
)
def test_is_database_url(source: str, expected: bool) -> None:
    assert is_database_url(source) is expected


def test_fingerprint_follows_content_not_index(hmda: pd.DataFrame) -> None:
    part = hmda.head(200)
    fp = frame_fingerprint(part)
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert frame_fingerprint(part.copy()) == fp
    assert frame_fingerprint(part.set_axis(range(1000, 1200))) == fp  # index does not count

    changed = part.copy()
    changed.iloc[7, 0] = changed.iloc[7, 0] + 0.001
    assert frame_fingerprint(changed) != fp
    assert frame_fingerprint(part.rename(columns={"dir": "dir2"})) != fp
    assert frame_fingerprint(part[list(reversed(part.columns))]) != fp
    assert frame_fingerprint(part.iloc[::-1]) != fp
    assert frame_fingerprint(part.head(199)) != fp


def test_redact_url_hides_credentials_only() -> None:
    from tabloop.data import redact_url

    assert redact_url("postgresql://me:secret@db:5432/optuna") == "postgresql://***@db:5432/optuna"
    assert redact_url("sqlite:///x/optuna.db") == "sqlite:///x/optuna.db"
    assert redact_url("user@example") == "user@example"

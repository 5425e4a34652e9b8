"""read_table (CSV, gzip, Parquet, SQL) and frame_fingerprint."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tabloop.data import frame_fingerprint, is_database_url, read_table, source_name
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
    with pytest.raises(DataError, match="query failed: no such table: missing_table"):
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


def _sqlite(tmp_path: Path) -> str:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute('create table "odd name; drop table t" (x real, y text)')
        conn.executemany('insert into "odd name; drop table t" values (?, ?)', [(1.5, "a"), (2.5, "b")])
        conn.execute("create table t (x real)")
        conn.execute("create table blank (x real)")
        conn.execute("insert into t values (7)")
    return f"sqlite:///{db}"


def test_sql_table_is_read_whole_with_its_name_quoted(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    # a name that would break (or abuse) string-formatted SQL is only ever a quoted identifier
    df = read_table(url, table="odd name; drop table t")
    assert df.to_dict("list") == {"x": [1.5, 2.5], "y": ["a", "b"]}
    assert read_table(url, table="t")["x"].tolist() == [7.0]  # and table t is still there


def test_sql_table_errors_name_the_table_and_what_exists(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    with pytest.raises(DataError, match="no such table 'missing'") as err:
        read_table(url, table="missing")
    assert "t.db" in str(err.value) and "blank" in (err.value.hint or "")
    with pytest.raises(DataError, match="table 'blank' has no rows"):
        read_table(url, table="blank")
    with pytest.raises(DataError, match="a table or a query, not both"):
        read_table(url, table="t", query="select 1")
    with pytest.raises(DataError, match="needs a query or a table") as err:
        read_table(url)
    assert "data.table" in (err.value.hint or "")


def test_schema_qualified_table(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    assert read_table(url, table="main.t")["x"].tolist() == [7.0]


def test_sql_errors_hide_the_password() -> None:
    url = "postgresql+psycopg://me:s3cret@127.0.0.1:1/db"  # port 1: nothing listens there
    with pytest.raises(DataError, match="cannot connect") as err:
        read_table(url, table="t")
    assert "s3cret" not in str(err.value) and "127.0.0.1:1/db" in str(err.value)
    assert "server running" in (err.value.hint or "")
    with pytest.raises(DataError, match="not a usable database URL") as err:
        read_table("mysql+nosuchdriver://me:s3cret@h/db", query="select 1")
    assert "s3cret" not in str(err.value)


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(DataError, match=r"no such database file"):
        read_table(f"sqlite:///{path}", table="t")
    assert not path.exists()


def test_query_or_table_with_a_file_is_refused(hmda_csv: Path) -> None:
    with pytest.raises(DataError, match="needs a database URL"):
        read_table(hmda_csv, table="t")


def test_a_dataframe_is_taken_as_a_copy_and_checked(hmda: pd.DataFrame) -> None:
    part = hmda.head(10)
    df = read_table(part)
    pd.testing.assert_frame_equal(df, part)
    df.iloc[0, 0] = -1.0
    assert part.iloc[0, 0] != -1.0
    with pytest.raises(DataError, match=r"<DataFrame>: the table has no rows"):
        read_table(part.head(0))
    with pytest.raises(DataError, match=r"<DataFrame>: duplicate column names \['a'\]"):
        read_table(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(DataError, match="takes no query or table"):
        read_table(part, query="select 1")


def test_source_name() -> None:
    assert source_name(pd.DataFrame({"a": [1]})) == "<DataFrame>"
    assert source_name(Path("x/y.csv")) == "x/y.csv"
    assert source_name("postgresql://u:pw@h/db", table="t") == "postgresql://***@h/db (table t)"
    assert source_name("sqlite:///a.db", query="select *\n from t") == "sqlite:///a.db (select * from t)"


# -- unreadable input: each a DataError naming the path and the reason


def test_corrupt_parquet_names_the_path_and_reason(tmp_path: Path, hmda: pd.DataFrame) -> None:
    path = tmp_path / "cut.parquet"
    hmda.head(100).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-200])  # a file cut short: the footer is gone
    with pytest.raises(DataError, match=r"cut\.parquet: cannot be read as a table: .*(?i:parquet|footer|magic)"):
        read_table(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary content"),
        (b"a,b\n\xff\xfe\x00\x01,2\n", "binary content"),
        (b"a,b\n1,\xe9t\xe9\n", "not text in UTF-8"),
        (b"PAR1\x15\x04\x15", "a Parquet file"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed"),
    ],
)
def test_binary_file_named_csv_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"data\.csv: cannot be read as a table: .*{reason}"):
        read_table(path)


@pytest.mark.parametrize("name", ["folder", "folder.csv"])
def test_a_directory_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.mkdir()
    with pytest.raises(DataError, match=rf"{name}: is a directory, not a table file"):
        read_table(path)


def test_a_parquet_directory_is_a_dataset(tmp_path: Path, hmda: pd.DataFrame) -> None:
    path = tmp_path / "parts.parquet"
    path.mkdir()
    hmda.head(5).to_parquet(path / "a.parquet")
    hmda.iloc[5:9].to_parquet(path / "b.parquet")
    assert len(read_table(path)) == 9
    (tmp_path / "empty.parquet").mkdir()
    with pytest.raises(DataError, match=r"empty\.parquet: "):
        read_table(tmp_path / "empty.parquet")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)  # opening it for reading would wait for a writer forever
    with pytest.raises(DataError, match=r"pipe\.csv: is not a regular file"):
        read_table(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; the FIFO test covers a path that cannot be opened")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("a,b\n1,2\n")
    path.chmod(0)
    with pytest.raises(DataError, match=r"secret\.csv: permission denied"):
        read_table(path)


def test_permission_denied_while_reading_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)

    def denied(*_a: object, **_k: object) -> pd.DataFrame:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pd, "read_parquet", denied)
    with pytest.raises(DataError, match=r"locked\.parquet: permission denied \(Permission denied\)"):
        read_table(path)


def test_a_file_without_suffix_is_an_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "table"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"table: unknown table format ''"):
        read_table(path)


# -- read_chunks: the same table, a bounded number of rows and bytes at a time ---------------------------------

def test_chunks_of_a_csv_hold_the_table_in_order(hmda: pd.DataFrame, hmda_csv: Path) -> None:
    from tabloop.data import TEXT_SOURCE, read_chunks

    chunks = list(read_chunks(hmda_csv, rows=1000, numbers=["dir", "lvr"]))
    assert [len(c) for c in chunks] == [1000, 1000, 381]
    whole = pd.concat(chunks, ignore_index=True)
    assert whole["dir"].dtype == "float64" and whole["dir"].tolist() == hmda["dir"].tolist()
    assert whole["ccs"].dtype == object and whole["ccs"].iloc[0] == "5.0"  # text unless asked: the contract parses it
    assert whole["deny"].tolist() == hmda["deny"].tolist() and all(TEXT_SOURCE in c.attrs for c in chunks)


def test_a_number_column_with_a_bad_cell_stays_text_in_that_chunk_only(tmp_path: Path) -> None:
    from tabloop.data import read_chunks

    (tmp_path / "t.csv").write_text("a,b\n1,x\n2,y\nlots,z\n4,w\n,v\n")
    first, second, third = read_chunks(tmp_path / "t.csv", rows=2, numbers=["a"])
    assert first["a"].dtype == "float64" and second["a"].tolist() == ["lots", "4"]
    assert third["a"].isna().all() and third["a"].dtype == "float64"


def test_the_byte_bound_caps_parquet_batches(tmp_path: Path, hmda: pd.DataFrame) -> None:
    from tabloop.data import read_chunks

    hmda.to_parquet(tmp_path / "t.parquet")
    chunks = list(read_chunks(tmp_path / "t.parquet", rows=10_000, bytes_=5_000))
    assert len(chunks) >= 4 and max(len(c) for c in chunks) < len(hmda) / 3
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), hmda, check_dtype=False)


def test_sql_chunks_and_their_errors(tmp_path: Path, hmda: pd.DataFrame) -> None:
    from tabloop.data import read_chunks

    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        hmda.head(25).to_sql("loans", conn, index=False)
        conn.execute("CREATE TABLE empty_one (a int)")
    chunks = list(read_chunks(f"sqlite:///{db}", rows=10, table="loans"))
    assert [len(c) for c in chunks] == [10, 10, 5]
    with pytest.raises(DataError, match="table .empty_one. has no rows"):
        list(read_chunks(f"sqlite:///{db}", table="empty_one"))
    with pytest.raises(DataError, match="query failed"):
        list(read_chunks(f"sqlite:///{db}", query="SELECT * FROM gone"))


def test_chunks_refuse_what_read_table_refuses(tmp_path: Path) -> None:
    from tabloop.data import read_chunks

    (tmp_path / "dup.csv").write_text("a,a\n1,2\n")
    with pytest.raises(DataError, match=r"duplicate column names \['a'\]"):
        list(read_chunks(tmp_path / "dup.csv"))
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="the table has no rows"):
        list(read_chunks(tmp_path / "empty.csv"))
    with pytest.raises(DataError, match="no such file"):
        list(read_chunks(tmp_path / "gone.parquet"))
    with pytest.raises(DataError, match="at least one row"):
        list(read_chunks(tmp_path / "empty.csv", rows=0))


def test_chunked_reading_of_a_missing_sqlite_file_refuses_and_creates_nothing(tmp_path: Path) -> None:
    # the streamed reader shares read_table's engine: reading must not create an empty database
    from tabloop.data import read_chunks

    missing = tmp_path / "nope.db"
    with pytest.raises(DataError, match="no such database file"):
        next(iter(read_chunks(f"sqlite:///{missing}", rows=10, table="t")))
    assert not missing.exists()


def test_a_long_csv_is_read_a_bounded_number_of_bytes_ahead_of_its_chunks(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrow's streaming CSV reader queues up to 32 blocks ahead of its consumer on an I/O thread; with blocks as
    # large as the chunk byte bound (32 MB) that was the whole file (peak RSS of tabloop predict grew 65 MB per
    # million rows). Blocks are small now: what is read ahead of the rows handed over stays about 32 blocks,
    # whatever the file's length (here 16 MB: before, all of it by the first chunk).
    import tabloop.data._read as read_module
    from tabloop.data import read_chunks

    block = 1 << 16
    monkeypatch.setattr(read_module, "_CSV_BLOCK", block, raising=False)
    line = "{},{}\n"
    text = "".join(line.format(i, "x" * 1000) for i in range(16_000))
    (tmp_path / "long.csv").write_text("id,note\n" + text)
    ends = np.cumsum([len(line.format(i, "x" * 1000)) for i in range(16_000)]) + len("id,note\n")
    opened: list[Any] = []

    class Counted:
        def __init__(self, fh: Any) -> None:
            self.fh, self.read_bytes = fh, 0
            opened.append(self)

        def read(self, n: int = -1) -> bytes:
            data: bytes = self.fh.read(n)
            self.read_bytes += len(data)
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self.fh, name)

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    def counted_open(path: Any, mode: str = "r", **kwargs: Any) -> Any:
        fh = open(path, mode, **kwargs)  # noqa: SIM115 - the reader closes it
        return Counted(fh) if mode == "rb" else fh

    monkeypatch.setattr(read_module, "open", counted_open, raising=False)
    ahead, rows = [], 0
    for chunk in read_chunks(tmp_path / "long.csv", rows=500):
        rows += len(chunk)
        ahead.append(opened[-1].read_bytes - int(ends[rows - 1]))
    assert rows == 16_000 and len(ahead) == 32
    assert max(ahead) <= 48 * block, f"read {max(ahead):,} bytes ahead of the rows handed over"


def test_a_row_longer_than_a_block_is_refused_with_what_to_do(tmp_path: Path) -> None:
    from tabloop.data import read_chunks

    (tmp_path / "wide.csv").write_text("a,b\n1,short\n2," + "z" * (3 << 20) + "\n")
    with pytest.raises(DataError, match=r"wide.csv: a row is longer than 1,048,576 bytes") as info:
        list(read_chunks(tmp_path / "wide.csv"))
    assert "Parquet" in info.value.hint


@pytest.mark.parametrize("distinct", [2, 40, 5_000])
def test_text_cells_are_the_strings_arrow_gives_cell_by_cell(distinct: int) -> None:
    """CSV text columns are converted through Arrow's dictionary when few values repeat: the same cells (str,
    None for a gap, the empty string kept), in the same order, as ``to_numpy`` gives, over chunked columns too."""
    import pyarrow as pa

    from tabloop.data._read import _text_cells, text_frame

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(distinct)] + ["", "é ü", "yes"]
    cells = [None if rng.random() < 0.1 else words[int(rng.integers(len(words)))] for _ in range(10_000)]
    column = pa.chunked_array([pa.array(cells[:3_000], pa.string()), pa.array(cells[3_000:], pa.string())])
    got = _text_cells(column)
    expected = column.to_numpy(zero_copy_only=False)
    assert got.dtype == object and got.shape == expected.shape
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert got.tolist() == expected.tolist() == cells
    frame = text_frame(pa.table({"a": column, "n": pa.array(["1.5"] * 10_000)}), numbers=["n"])
    assert frame["a"].tolist() == cells and frame["n"].dtype == np.float64

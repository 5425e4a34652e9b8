"""Tables on Dask: the split decided per row inside partitions, the contract widened by reductions, the
test part streamed to one Parquet file, and a scheduler that does not answer named."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest

from tabloop.data import (
    dask_client,
    dask_fingerprint,
    dask_split,
    infer_contract,
    joined_fingerprint,
    read_dask_table,
    widen_contract,
    write_parquet_parts,
)
from tabloop.errors import DataError
from tabloop.spec import validate_spec

dask = pytest.importorskip("dask")

from .._dask import client, parts  # noqa: E402,F401  (fixtures)


def _spec(**split: object) -> object:
    return validate_spec({"name": "t", "data": {"source": "x.csv", "target": "deny", "task": "binary"},
                          "split": split, "seed": 7})


def test_a_split_puts_every_row_on_exactly_one_side_and_repeats_itself(parts: Path, client: object,
                                                                       hmda: pd.DataFrame) -> None:
    ddf = read_dask_table(parts)
    assert ddf.npartitions == 4
    first, second = dask_split(ddf, _spec(), share=0.2)
    a, b = first.compute(), second.compute()
    assert len(a) + len(b) == len(hmda)
    assert 0.15 < len(b) / len(hmda) < 0.25
    key = ["dir", "hir", "lvr", "ccs", "mcs", "uria"]
    assert not set(map(tuple, a[key].to_numpy())) & set(map(tuple, b[key].to_numpy())) - \
        set(map(tuple, hmda[hmda.duplicated(key, keep=False)][key].to_numpy()))
    again = dask_split(ddf, _spec(), share=0.2)[1].compute()
    pd.testing.assert_frame_equal(again, b)
    other = dask_split(ddf, _spec(), share=0.2, salt=1)[1].compute()
    assert not other.equals(b)  # another salt draws another part (the validation part inside the training part)


def test_a_group_split_never_puts_a_group_on_both_sides(parts: Path, client: object) -> None:
    ddf = read_dask_table(parts)
    first, second = dask_split(ddf, _spec(strategy="group", group_column="ccs"), share=0.3)
    a, b = first.compute(), second.compute()
    assert len(a) and len(b)
    assert not set(a["ccs"]) & set(b["ccs"])


def test_a_time_split_is_refused_with_what_to_do(parts: Path) -> None:
    with pytest.raises(DataError, match="'time' needs the whole table ordered") as err:
        dask_split(read_dask_table(parts), _spec(strategy="time", time_column="dir"), share=0.2)
    assert "train locally" in (err.value.hint or "")


def test_the_contract_from_a_sample_is_widened_to_every_row(parts: Path, client: object, hmda: pd.DataFrame) -> None:
    sample = hmda.nsmallest(300, "dir")  # a sample that misses the high ratios and, likely, some categories
    narrow = infer_contract(sample, target="deny", ignored=["black"])
    wide = widen_contract(narrow, read_dask_table(parts))
    full = infer_contract(hmda, target="deny", ignored=["black"])
    assert narrow.column("dir").max < full.column("dir").max
    for col in full.columns:
        got = wide.column(col.name)
        assert (got.min, got.max, got.nullable, got.categories) == (col.min, col.max, col.nullable, col.categories)
    assert wide.ignored == narrow.ignored and wide.policy == narrow.policy


def test_the_test_part_is_written_partition_by_partition_to_one_file(parts: Path, client: object,
                                                                      tmp_path: Path) -> None:
    ddf = read_dask_table(parts)
    _, second = dask_split(ddf, _spec(), share=0.2)
    rows, head = write_parquet_parts(second, tmp_path / "test.parquet", keep=10)
    back = pd.read_parquet(tmp_path / "test.parquet")
    expected = second.compute().reset_index(drop=True)
    assert rows == len(back) == len(expected)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    pd.testing.assert_frame_equal(head, expected.head(10), check_dtype=False)


def test_the_fingerprint_follows_the_content(parts: Path, client: object, tmp_path: Path, hmda: pd.DataFrame) -> None:
    ddf = read_dask_table(parts)
    same = joined_fingerprint(dask_fingerprint(read_dask_table(parts)).compute())
    assert joined_fingerprint(dask_fingerprint(ddf).compute()) == same
    changed = tmp_path / "changed"
    changed.mkdir()
    for i in range(4):
        part = hmda.iloc[i::4].copy()
        if i == 2:
            part.iloc[0, 0] += 1
        part.to_parquet(changed / f"part-{i}.parquet", index=False)
    assert joined_fingerprint(dask_fingerprint(read_dask_table(changed)).compute()) != same


def test_the_reader_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_dask_table(tmp_path / "gone.parquet")
    with pytest.raises(DataError, match="not a database"):
        read_dask_table("postgresql://u@h/db")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(DataError, match=r"reads \.csv"):
        read_dask_table(tmp_path / "t.json")


def test_a_scheduler_that_does_not_answer_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(DataError, match=f"cannot reach the Dask scheduler {address}") as err:
            with dask_client(address):
                pass
    assert "dask scheduler" in (err.value.hint or "")


def test_worker_processes_print_to_stderr_so_stdout_keeps_one_document() -> None:
    """LightGBM prints "[LightGBM] [Info] Listening..." from C in each worker; under --json that came before
    the document on stdout."""
    import subprocess
    import sys
    import textwrap

    program = textwrap.dedent("""
        import os
        from tabloop.data._dask import dask_client
        if __name__ == "__main__":
            with dask_client(workers=1) as client:
                client.run(lambda: os.write(1, b"a worker's own line\\n"))
            print("the document")
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "the document\n"
    assert "a worker's own line" in done.stderr

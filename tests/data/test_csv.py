"""The CSV reader: pyarrow's frame where it is pandas' frame, pandas' (round-trip numbers) everywhere else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.data import _csv, read_table
from tabloop.data._csv import NA_VALUES, read_csv, read_csv_arrow
from tabloop.data._types import text_levels


def _pandas(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, low_memory=False, float_precision="round_trip")


@pytest.fixture
def always_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_csv, "ARROW_MIN_BYTES", 0)


def test_the_missing_markers_are_pandas_own() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(NA_VALUES) == set(STR_NA_VALUES)


def test_the_bundled_table_reads_the_same_by_arrow_and_by_pandas(hmda_csv: Path) -> None:
    fast = read_csv_arrow(hmda_csv)
    assert fast is not None  # the fast path is taken, not skipped
    pd.testing.assert_frame_equal(fast, _pandas(hmda_csv), check_exact=True)
    # and, but for the last digit of a few numbers, what pandas' default parser made of it before
    pd.testing.assert_frame_equal(fast, pd.read_csv(hmda_csv, low_memory=False), rtol=1e-15)


# each: file text, whether arrow's reader takes it (False: pandas reads it, as it would have)
UGLY = {
    "quoted line breaks and commas": ('id,note,x\n1,"two\nlines",1.5\n2,"a, b",2.5\n3,plain,\n', True),
    "thousands separators stay text": ('n,label\n"1,000",a\n"2,500",b\n"12",c\n', False),
    "every missing marker": ("a,b,c\n1,NA,x\n2,null,None\n3,<NA>,n/a\n4,#N/A,\n5,NaN,y\n6,2.5,nan\n", True),
    "text among numbers": ("a,b\n1,x\n2,3\n3,y\n", False),
    "numbers among text": ("a,b\n1,3\n2,x\n3,4\n", False),
    "text": ("a,b\n1,x\n2,y\n3,z\n", True),
    "booleans with a gap": ("a,b\n1,True\n2,\n3,false\n", True),
    "booleans as text": ("a,b\nTrue,1\nmaybe,2\n", False),
    "empty column": ("a,b,c\n1,,x\n2,,y\n", True),
    "whole numbers with gaps": ("a,b\n1,7\n2,\n3,-9\n", True),
    "whole numbers past 2**53 with gaps": ("a,b\n1,9007199254740993\n2,\n", False),
    "whole numbers past 2**63": ("a,b\n1,18446744073709551615\n2,3\n", False),
    "dates and times stay text": ("d,t,ts,y\n2024-01-02,10:30:00,2024-01-02 10:30:00,1\n2024-02-03,11:00:00,"
                                  "2024-02-03T11:00:00Z,0\n", True),
    "unnamed index (R's row names)": ('"",x,y\n"1",1.5,a\n"2",2.5,b\n', True),
    "byte order mark": ("\ufeffa,b\n1,x\n2,y\n", True),
    "spaces around numbers": ("a,b\n 1.5 ,x\n2.5,y\n", True),
    "spaces around numbers among text": ("a,b\nx, 1.5 \n2.5,y\n", False),
    "infinities": ("a,b\ninf,x\n-inf,y\n1.0,z\n", True),
    "blank lines": ("a,b\n1,x\n\n2,y\n", True),
    "too few fields in a row": ("a,b,c\n1,2,3\n4,5\n", False),
    "windows line ends": ("a,b\r\n1,x\r\n2,\"y\r\nz\"\r\n", True),
    "old mac line ends": ("a,b\r1,x\r2,y\r", True),
    "no final line end": ("a,b\n1,x\n2,y", True),
    "17 significant digits": ("a\n1.5193001324895903\n0.23994308264252015\n-3.4854173847750802e-07\n", True),
}


@pytest.mark.parametrize("name", list(UGLY))
def test_an_ugly_file_reads_as_pandas_reads_it(name: str, tmp_path: Path, always_arrow: None) -> None:
    text, arrow_takes_it = UGLY[name]
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    fast = read_csv_arrow(path)
    assert (fast is not None) == arrow_takes_it
    pd.testing.assert_frame_equal(read_csv(path), _pandas(path), check_exact=True)


def test_a_repeated_or_empty_header_and_bad_bytes_are_left_to_pandas(tmp_path: Path) -> None:
    for body in (b"a,a\n1,2\n", b"a,b\n", b"a,b\n1,\xff\xfe\n"):
        path = tmp_path / "t.csv"
        path.write_bytes(body)
        assert read_csv_arrow(path) is None


def test_numbers_read_as_the_double_nearest_their_text_on_either_path(tmp_path: Path, always_arrow: None,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(3).normal(50.0, 10.0, 2_000)
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": values}).to_csv(path, index=False)  # repr: the shortest text that reads back exactly
    assert np.array_equal(read_table(path)["x"].to_numpy(), values)
    monkeypatch.setattr(_csv, "ARROW_MIN_BYTES", 1 << 60)  # pandas' path
    assert np.array_equal(read_table(path)["x"].to_numpy(), values)


def test_read_table_takes_arrows_frame_from_the_size_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": np.arange(50) / 7, "c": ["a", None] * 25}).to_csv(path, index=False)
    taken: list[bool] = []
    real = _csv.read_csv_arrow
    monkeypatch.setattr(_csv, "read_csv_arrow", lambda p: taken.append(True) or real(p))
    small = read_table(path)
    assert taken == []
    monkeypatch.setattr(_csv, "ARROW_MIN_BYTES", 0)
    big = read_table(path)
    assert taken == [True]
    pd.testing.assert_frame_equal(small, big, check_exact=True)
    assert big["c"].iloc[1] is not None and np.isnan(big["c"].iloc[1])  # a gap in text is NaN, as pandas has it


def _assert_factorized(levels: tuple[np.ndarray, object], column: pd.Series) -> None:
    codes, uniques = levels
    want_codes, want_uniques = pd.factorize(column, use_na_sentinel=True)
    assert codes.dtype == want_codes.dtype and np.array_equal(codes, want_codes)
    pd.testing.assert_index_equal(uniques, want_uniques, exact=True)


@pytest.mark.parametrize("name", [n for n, (_, arrow) in UGLY.items() if arrow])
def test_arrows_levels_of_each_text_column_are_pandas_factorization(name: str, tmp_path: Path,
                                                                     always_arrow: None) -> None:
    # the profile, the contract and the semantic types take these in place of pd.factorize of every text column
    path = tmp_path / "t.csv"
    path.write_bytes(UGLY[name][0].encode("utf-8"))
    df = read_table(path)
    levels = text_levels(df)
    text = [c for c in df.columns if df[c].dtype == object]
    assert sorted(levels) == sorted(map(str, text))
    for column in text:
        _assert_factorized(levels[str(column)], df[column])


def test_a_mixed_table_gets_its_levels_from_arrow_and_they_are_pandas_own(tmp_path: Path, always_arrow: None,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    n = 3_000
    pd.DataFrame({
        "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "k": rng.integers(0, 9, n),
        "cat": np.where(rng.random(n) < 0.2, None, rng.choice(["b", "a", "c", "é"], n)),
        "flag": rng.choice(["True", "False"], n),
        "gappy_flag": np.where(rng.random(n) < 0.1, None, rng.choice(["true", "false"], n)),
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        "note": [f"free text {i} of {rng.integers(10**6)}, \"quoted\"" for i in range(n)],
    }).to_csv(tmp_path / "t.csv", index=False)
    made = []
    real = _csv._text
    monkeypatch.setattr(_csv, "_text", lambda *a: made.append(True) or real(*a))
    df = read_table(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(df, _pandas(tmp_path / "t.csv"), check_exact=True)
    assert len(made) == 3  # cat, when (dates stay text), note: arrow's dictionary encoding, not pandas'
    levels = text_levels(df)
    assert sorted(levels) == ["cat", "gappy_flag", "note", "when"]  # a flag with gaps is objects, factorized here
    for column in levels:
        _assert_factorized(levels[column], df[column])


def test_levels_read_with_a_column_are_not_taken_for_the_column_that_replaced_it(tmp_path: Path,
                                                                                  always_arrow: None) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\nx,1\ny,2\nx,3\n")
    df = read_table(path)
    assert _csv.read_levels(df.copy(), "a") is None  # not for a copy, nor for any frame this reader did not make
    df["a"] = np.array(["q", "q", "r"], dtype=object)
    assert _csv.read_levels(df, "a") is None
    _assert_factorized(text_levels(df)["a"], df["a"])


def test_levels_read_with_a_frame_are_handed_over_once(tmp_path: Path, always_arrow: None) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\nx,1\ny,2\nx,3\n")
    df = read_table(path)
    first = text_levels(df)["a"]
    assert _csv.read_levels(df, "a") is None  # taken: a second caller factorizes the column as it is then
    df.loc[0, "a"] = "y"
    again = text_levels(df)["a"]
    _assert_factorized(again, df["a"])
    assert not np.array_equal(first[0], again[0])

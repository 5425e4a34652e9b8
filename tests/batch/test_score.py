"""score_frame, write_table and log_batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.batch import log_batch, score_frame, write_table
from tabloop.errors import ContractViolation, DataError
from tabloop.predlog import PredictionLog
from tabloop.bundle import ModelBundle


def test_one_output_row_per_input_row_in_input_order(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    shuffled = hmda.sample(frac=1.0, random_state=3)
    out = score_frame(bundle, shuffled, source="in.csv")
    assert out.rows == len(shuffled) == len(out.frame)
    assert list(out.frame.columns) == ["request_id", "row", "prediction", "proba_no", "proba_yes", "out_of_contract"]
    assert out.frame["out_of_contract"].isna().all() and out.marks == {}
    assert out.frame["row"].tolist() == list(range(len(shuffled)))
    assert (out.frame["request_id"] == out.request_id).all() and out.request_id.startswith("batch-")
    expected = bundle.predict(shuffled).proba
    np.testing.assert_array_equal(out.frame[["proba_no", "proba_yes"]].to_numpy(), expected)
    # the n-th output row is the n-th input row, whatever the input's index
    for pos in (0, 17, len(shuffled) - 1):
        alone = bundle.predict(shuffled.iloc[[pos]]).proba[0]
        np.testing.assert_allclose(out.frame.loc[pos, ["proba_no", "proba_yes"]].to_numpy(float), alone, atol=1e-12)


def test_each_run_gets_its_own_request_id(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    a = score_frame(bundle, hmda.head(3), source="x")
    b = score_frame(bundle, hmda.head(3), source="x")
    assert a.request_id != b.request_id


def test_id_column_is_copied_first(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    df = hmda.head(5)
    out = score_frame(bundle, df, source="x", id_column="black")  # an ignored column may be sent
    assert list(out.frame.columns)[:3] == ["black", "request_id", "row"]
    assert out.frame["black"].tolist() == df["black"].tolist()
    no_id = score_frame(bundle, df.drop(columns=["black"]), source="x", id_column="black")
    assert "black" not in no_id.frame.columns


def test_bad_rows_fail_the_batch_naming_source_column_and_row(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    df = hmda.head(10).reset_index(drop=True)
    df.loc[6, "ccs"] = np.inf
    with pytest.raises(ContractViolation, match=r"^in\.csv breaks the data contract in 1 place\(s\): column 'ccs', row 6"):
        score_frame(bundle, df, source="in.csv")


def test_rows_out_of_contract_are_named_in_the_output_and_the_log(
    bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path
) -> None:
    df = hmda.head(5).reset_index(drop=True).copy()
    df["dmi"] = df["dmi"].astype(object)
    df.loc[1, "dmi"] = "maybe"
    df.loc[3, "dir"] = bundle.contract.column("dir").max + 0.5
    out = score_frame(bundle, df, source="in.csv")
    assert out.frame["out_of_contract"].fillna("").tolist() == ["", "dmi:unseen_category:unknown", "", "dir:range:warn", ""]
    log = PredictionLog(tmp_path)
    log_batch(log, bundle, df, out, variant="champion")
    marks = log.read_predictions()["contract"].tolist()
    assert marks[1] == [{"column": "dmi", "rule": "unseen_category", "policy": "unknown"}]
    assert marks[3] == [{"column": "dir", "rule": "range", "policy": "warn"}]
    assert not isinstance(marks[0], list)


def test_a_far_value_fails_the_batch_naming_its_row(bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    df = hmda.head(10).reset_index(drop=True)
    df.loc[4, "dir"] = 1000.0
    with pytest.raises(ContractViolation, match=r"column 'dir', row 4: 1000\.0 is far outside .* \[far_range\]"):
        score_frame(bundle, df, source="in.csv")


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.pq"])
def test_write_table_round_trips(tmp_path: Path, bundle: ModelBundle, hmda: pd.DataFrame, name: str) -> None:
    frame = score_frame(bundle, hmda.head(20), source="x").frame
    path = write_table(frame, tmp_path / "deep" / name)
    assert path == tmp_path / "deep" / name
    back = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temp file left


def test_write_table_refuses_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"out\.xlsx: unknown output format '\.xlsx'") as err:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")
    assert "use .csv or .parquet" in (err.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "out.parquet")
    before = path.read_bytes()
    unwritable = pd.DataFrame({"a": [object(), object()]})  # pyarrow cannot store these
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises
        write_table(unwritable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_log_batch_writes_one_record_per_row(tmp_path: Path, bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    df = hmda.head(6).reset_index(drop=True)
    df.loc[2, "pbcr"] = None  # a gap is logged as null
    out = score_frame(bundle, df, source="x")
    log = PredictionLog(tmp_path)
    assert log_batch(log, bundle, df, out, variant="champion") == 6
    logged = log.read_predictions()
    assert len(logged) == 6
    assert logged["row"].tolist() == list(range(6))
    assert set(logged["request_id"]) == {out.request_id}
    first = logged.iloc[0]
    assert (first["source"], first["model"], first["version"], first["variant"]) == ("batch", "hmda", "4", "champion")
    assert first["latency_ms"] is None or pd.isna(first["latency_ms"])
    assert logged["prediction"].tolist() == out.frame["prediction"].tolist()
    for i in range(6):
        probs = logged.loc[i, "probabilities"]
        assert probs == {"no": out.frame.loc[i, "proba_no"], "yes": out.frame.loc[i, "proba_yes"]}
    inputs = log.inputs_frame(logged)
    assert list(inputs.columns) == bundle.contract.feature_names  # no target, no ignored column
    assert pd.isna(inputs.loc[2, "pbcr"])
    (path,) = tmp_path.glob("predictions-*.jsonl")
    assert json.loads(path.read_text().splitlines()[2])["inputs"]["pbcr"] is None  # JSON null, not NaN
    assert inputs.loc[0, "lvr"] == df.loc[0, "lvr"]


def _records_as_before(bundle: ModelBundle, df: pd.DataFrame, frame: pd.DataFrame, marks: dict, request_id: str,
                       variant: str, ts: str) -> list[dict]:
    """The log records as they were built before the columns were taken out once: cell by cell with ``iat``."""
    from tabloop.bundle import CONTRACT_KEY

    features = [c for c in bundle.contract.feature_names if c in df.columns]
    inputs = df[features].astype(object).where(df[features].notna(), None).to_dict(orient="records")
    proba_cols = [c for c in frame.columns if c.startswith("proba_")]
    rows = frame["row"].tolist() if "row" in frame.columns else list(range(len(frame)))
    records = []
    for i, row in enumerate(inputs):
        probs = {c[len("proba_"):]: float(frame[c].iat[i]) for c in proba_cols} or None
        record = {"request_id": request_id, "row": int(rows[i]), "ts": ts, "source": "batch", "model": bundle.name,
                  "version": bundle.version, "variant": variant, "inputs": row,
                  "prediction": frame["prediction"].iat[i], "probabilities": probs, "latency_ms": None}
        if i in marks:
            record[CONTRACT_KEY] = [m.to_dict() for m in marks[i]]
        records.append(record)
    return records


@pytest.mark.parametrize("labels", ["text", "numbers", "no_proba"])
def test_log_records_are_the_ones_built_cell_by_cell(
    labels: str, bundle: ModelBundle, hmda: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch log's records, types included (labels as the frame holds them, Python floats and ints), and their
    encoded lines, are the same as the cell-by-cell build gave."""
    import tabloop.batch._score as score

    monkeypatch.setattr(score, "utc_now", lambda: "2026-12-03T00:00:00Z")
    df = hmda.head(40).reset_index(drop=True).copy()
    df["dmi"] = df["dmi"].astype(object)
    df.loc[1, "dmi"] = "maybe"
    df.loc[3, "dir"] = bundle.contract.column("dir").max + 0.5
    out = score_frame(bundle, df, source="in.csv")
    frame = out.frame.copy()
    frame["row"] = frame["row"] + 1000
    if labels == "numbers":
        frame["prediction"] = (frame["prediction"] == "yes").astype("int64")
    elif labels == "no_proba":
        frame = frame.drop(columns=["proba_no", "proba_yes"])
    got = score._records(bundle, df, frame, out.marks, "r-1", "champion")
    expected = _records_as_before(bundle, df, frame, out.marks, "r-1", "champion", "2026-12-03T00:00:00Z")
    assert out.marks and got == expected
    assert [{k: type(v) for k, v in r.items()} for r in got] == [{k: type(v) for k, v in r.items()} for r in expected]
    assert [type(v) for r in got for v in (r["probabilities"] or {}).values()] == \
        [type(v) for r in expected for v in (r["probabilities"] or {}).values()]
    assert PredictionLog.encode(got) == PredictionLog.encode(expected)


def test_input_rows_are_what_to_dict_gives() -> None:
    """The logged inputs, cell types included: floats, ints, bools, text, gaps, timestamps and NumPy scalars
    held in an object column (which ``to_dict`` boxes)."""
    from tabloop.batch._score import _input_rows

    df = pd.DataFrame({"f": [1.5, np.nan, 2.0], "i": [1, 2, 3], "b": [True, False, True], "s": ["a", None, "c"],
                       "t": pd.to_datetime(["2026-01-01", None, "2026-01-03"]), "x": [7, 8, 9]})
    mixed = df.assign(o=pd.Series([np.float64(1.0), "z", np.int64(3)], dtype=object))
    for frame, features in ((df, ["f", "i", "b", "s", "t"]), (mixed, ["o", "f"]), (df, []), (df.head(0), ["f"])):
        got = _input_rows(frame, features)
        expected = frame[features].astype(object).where(frame[features].notna(), None).to_dict(orient="records")
        assert got == expected
        assert [[type(v) for v in r.values()] for r in got] == [[type(v) for v in r.values()] for r in expected]

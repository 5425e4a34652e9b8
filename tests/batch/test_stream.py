"""Streaming batch scoring: chunks, rejects with reasons, output independent of the chunk size, nothing half written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.batch import ChunkScorer, local_results, open_sink, rejects_schema, write_scored
from tabloop.bundle import ModelBundle
from tabloop.data import read_chunks
from tabloop.errors import ContractViolation, DataError


def _run(bundle: ModelBundle, source: object, out: Path, rejects: Path, *, rows: int, threads: int = 1,  # noqa: ANN202
         **kw: object):
    scorer = ChunkScorer(bundle, request_id="batch-test", source=str(source), **kw)  # type: ignore[arg-type]
    chunks = read_chunks(source, rows=rows, numbers=bundle.contract.numeric)  # type: ignore[arg-type]
    return write_scored(local_results(scorer, chunks, threads=threads), open_sink(out),
                        open_sink(rejects, schema=rejects_schema()))


def test_a_bad_row_in_the_second_chunk_is_rejected_alone_with_its_reasons(
    bundle: ModelBundle, bad_csv: Path, tmp_path: Path
) -> None:
    summary = _run(bundle, bad_csv, tmp_path / "out.parquet", tmp_path / "rejects.csv", rows=7)
    assert (summary.rows_in, summary.rows_scored, summary.rows_rejected, summary.out_of_contract) == (30, 28, 2, 1)
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert list(rejects.columns) == ["row", "column", "value", "rule", "reason"]
    assert rejects.to_dict(orient="records") == [
        {"row": 9, "column": "lvr", "value": "high", "rule": "type", "reason": "expected a number, got 'high'"},
        {"row": 20, "column": "dir", "value": "1000.0", "rule": "far_range",
         "reason": "1000.0 is far outside the trained range [0.0, 3.0] (beyond [-3, 6])"},
    ]
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["row"].tolist() == [i for i in range(30) if i not in (9, 20)]
    assert out.loc[out["row"] == 21, "out_of_contract"].tolist() == ["dmi:unseen_category:unknown"]
    # each scored row has the answer the whole-table path gives it
    good = pd.read_csv(bad_csv).drop(index=[9, 20])
    good["lvr"] = good["lvr"].astype(float)
    expected = bundle.predict(good).proba
    np.testing.assert_allclose(out[["proba_no", "proba_yes"]].to_numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("which", ["sklearn", "onnx"])
def test_output_and_rejects_are_the_same_for_chunks_of_1_7_and_all(
    which: str, bundle: ModelBundle, onnx_bundle: ModelBundle, bad_csv: Path, tmp_path: Path
) -> None:
    model = onnx_bundle if which == "onnx" else bundle
    assert ChunkScorer(model, request_id="x").engine == which
    got = {}
    for rows in (1, 7, 10_000):
        _run(model, bad_csv, tmp_path / f"o{rows}.parquet", tmp_path / f"r{rows}.parquet", rows=rows)
        got[rows] = (pd.read_parquet(tmp_path / f"o{rows}.parquet"), pd.read_parquet(tmp_path / f"r{rows}.parquet"))
    for rows in (1, 7):
        # ONNX: exact. The float64 pipeline: BLAS picks its kernel by the number of rows, and sums differ in the
        # last bit (2.2e-16) between a chunk of 3 or 7 rows and one of 30
        exact = which == "onnx"
        pd.testing.assert_frame_equal(got[rows][0], got[10_000][0], check_exact=exact, rtol=0, atol=0 if exact else 1e-15)
        pd.testing.assert_frame_equal(got[rows][1], got[10_000][1])
        assert got[rows][0]["prediction"].tolist() == got[10_000][0]["prediction"].tolist()
    assert len(got[1][0]) == 28 and len(got[1][1]) == 2


@pytest.mark.parametrize("which", ["sklearn", "onnx"])
def test_output_and_rejects_are_the_same_whatever_the_threads(
    which: str, bundle: ModelBundle, onnx_bundle: ModelBundle, bad_csv: Path, tmp_path: Path
) -> None:
    # each chunk is scored as alone, on the same single-threaded runtime: bit for bit the same, in the same order
    model = onnx_bundle if which == "onnx" else bundle
    got = {}
    for rows, threads in ((7, 1), (7, 3), (1, 4), (3, 2)):
        summary = _run(model, bad_csv, tmp_path / f"o{rows}-{threads}.parquet", tmp_path / f"r{rows}-{threads}.csv",
                       rows=rows, threads=threads)
        assert (summary.rows_in, summary.rows_scored, summary.rows_rejected) == (30, 28, 2)
        got[rows, threads] = (pd.read_parquet(tmp_path / f"o{rows}-{threads}.parquet"),
                              pd.read_csv(tmp_path / f"r{rows}-{threads}.csv"))
    for rows, threads in ((7, 3), (1, 4), (3, 2)):
        same_chunks = rows == 7  # across chunk sizes the pipeline's float64 sums may differ in the last bit
        exact = which == "onnx" or same_chunks
        pd.testing.assert_frame_equal(got[rows, threads][0], got[7, 1][0], check_exact=exact, rtol=0,
                                      atol=0 if exact else 1e-15)
        pd.testing.assert_frame_equal(got[rows, threads][1], got[7, 1][1])
    assert got[7, 3][0]["row"].tolist() == [i for i in range(30) if i not in (9, 20)]


def test_threads_hold_a_bounded_number_of_chunks(onnx_bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    # memory stays bounded by the chunk: the reader is never more than threads + 1 chunks ahead of the writer
    pulled = 0

    def chunks() -> Iterator[pd.DataFrame]:
        nonlocal pulled
        for start in range(0, 200, 5):
            pulled += 1
            yield hmda.iloc[start:start + 5].reset_index(drop=True)

    ahead = []
    handed = 0
    for result in local_results(ChunkScorer(onnx_bundle, request_id="x"), chunks(), threads=3):
        handed += 1
        ahead.append(pulled - handed)
        assert len(result.frame) == 5
    assert handed == 40 and max(ahead) <= 3 and ahead[0] == 3


def test_a_failing_chunk_fails_a_threaded_run_and_writes_nothing(
    bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path
) -> None:
    df = hmda.head(40).reset_index(drop=True)
    (tmp_path / "out.csv").write_text("old\n")

    def chunks() -> Iterator[pd.DataFrame]:
        yield df.iloc[:10].reset_index(drop=True)
        yield df.iloc[10:20].drop(columns=["dir"]).reset_index(drop=True)  # a missing column: no row can be scored
        yield df.iloc[20:].reset_index(drop=True)

    with pytest.raises(ContractViolation, match=r"column 'dir': column is required"):
        write_scored(local_results(ChunkScorer(bundle, request_id="x"), chunks(), threads=2),
                     open_sink(tmp_path / "out.csv"), open_sink(tmp_path / "r.csv", schema=rejects_schema()))
    assert (tmp_path / "out.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_the_batch_lookups_answer_as_the_whole_graph_bit_for_bit(onnx_bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    # batch scoring looks categorical encodings up for the whole chunk and runs the graph past them (the folded
    # graph); the whole graph, on the same checked columns, must give the very same floats
    from tabloop.export import predict_batch

    scorer = ChunkScorer(onnx_bundle, request_id="x")
    predictor = scorer._row_predictor()
    assert predictor.engine == "onnx" and predictor.folded
    df = hmda.head(400).reset_index(drop=True)
    nullable = [c.name for c in onnx_bundle.contract.columns if c.kind == "categorical" and c.nullable]
    if nullable:
        df.loc[::7, nullable[0]] = np.nan
    columns = {k: v.to_numpy() for k, v in scorer._screen(df, False).values.items()}
    whole = predictor.predict_columns(columns)
    calls = []
    real = predictor._small_session

    class Spy:
        def run(self, *args: object) -> object:
            calls.append(1)
            return real.run(*args)

    predictor._small_session = Spy()
    try:
        got = predict_batch(predictor, columns)
        assert calls, "the folded graph was not used"
        np.testing.assert_array_equal(got.proba, whole.proba)
        assert list(got.labels) == list(whole.labels)
        # a value with no entry in the lookups: the whole graph answers it
        name = onnx_bundle.contract.categorical[0]
        odd = {**columns, name: np.array(["not-a-category", *columns[name][1:]], dtype=object)}
        calls.clear()
        assert np.array_equal(predict_batch(predictor, odd).proba, predictor.predict_columns(odd).proba) and not calls
    finally:
        predictor._small_session = real


def test_a_number_too_large_for_float32_does_not_change_its_neighbours(
    onnx_bundle: ModelBundle, hmda: pd.DataFrame
) -> None:
    # such a row goes to the float64 pipeline alone (a warn policy lets it through); its chunk stays on ONNX
    from tabloop.data import ContractPolicy

    lenient = ModelBundle(onnx_bundle.pipeline, onnx_bundle.contract.with_policy(ContractPolicy(
        columns={"dir": {"range": "warn", "far_range": "warn"}})), manifest=onnx_bundle.manifest.to_dict(),
        reference=onnx_bundle.reference, spec_yaml="x: 1", name="hmda", version="4")
    lenient.onnx = onnx_bundle.onnx
    df = hmda.head(12).reset_index(drop=True)
    df.loc[5, "dir"] = 1e39
    got = {}
    for rows in (1, 12):
        scorer = ChunkScorer(lenient, request_id="x")
        assert scorer.engine == "onnx"
        got[rows] = pd.concat([r.frame for r in local_results(scorer, read_chunks(df, rows=rows))], ignore_index=True)
    pd.testing.assert_frame_equal(got[1], got[12], check_exact=True)
    assert got[12].loc[5, "out_of_contract"] == "dir:far_range:warn"
    exact = lenient.predict(df.iloc[[5]]).proba[0]  # the float64 pipeline's answer, not float32's infinity
    np.testing.assert_allclose(got[12].loc[5, ["proba_no", "proba_yes"]].to_numpy(float), exact, rtol=0, atol=1e-12)


def test_many_bad_rows_in_one_chunk_are_all_rejected(bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path) -> None:
    # the contract check spells out 20 type errors per column at a time: every bad row must still be found
    df = hmda.head(200).copy()
    df["lvr"] = df["lvr"].astype(object)
    bad = list(range(0, 200, 3))
    df.loc[bad, "lvr"] = "n/a!"
    df.to_csv(tmp_path / "in.csv", index=False)
    summary = _run(bundle, tmp_path / "in.csv", tmp_path / "o.csv", tmp_path / "r.csv", rows=10_000)
    assert summary.rows_rejected == len(bad) and summary.rows_scored == 200 - len(bad)
    assert pd.read_csv(tmp_path / "r.csv")["row"].tolist() == bad
    assert set(pd.read_csv(tmp_path / "o.csv")["row"]).isdisjoint(bad)


def test_a_row_breaking_two_rules_has_one_line_per_rule(bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path) -> None:
    df = hmda.head(5).copy()
    df["lvr"] = df["lvr"].astype(object)
    df.loc[2, "lvr"] = "x"
    df.loc[2, "dir"] = np.inf
    summary = _run(bundle, df, tmp_path / "o.parquet", tmp_path / "r.parquet", rows=2)
    rejects = pd.read_parquet(tmp_path / "r.parquet")
    assert summary.rows_rejected == 1
    assert sorted(zip(rejects["row"], rejects["column"], rejects["rule"])) == [(2, "dir", "not_finite"),
                                                                               (2, "lvr", "type")]


def test_a_missing_column_fails_the_run_and_writes_nothing(bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "out.csv").write_text("old\n")
    with pytest.raises(ContractViolation, match=r"column 'dir': column is required"):
        _run(bundle, hmda.head(20).drop(columns=["dir"]), tmp_path / "out.csv", tmp_path / "r.csv", rows=7)
    assert (tmp_path / "out.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_every_row_rejected_keeps_the_rejects_and_writes_no_output(
    bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path
) -> None:
    df = hmda.head(4).copy()
    df["dir"] = 1000.0
    with pytest.raises(DataError, match=r"every one of the 4 rows broke the data contract") as err:
        _run(bundle, df, tmp_path / "out.parquet", tmp_path / "r.csv", rows=3)
    assert str(tmp_path / "r.csv") in (err.value.hint or "")
    assert pd.read_csv(tmp_path / "r.csv")["row"].tolist() == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_a_run_that_fails_part_way_leaves_the_old_output_whole(
    bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"
    _run(bundle, hmda.head(10), out, tmp_path / "r.csv", rows=4)
    before, rejects_before = out.read_bytes(), (tmp_path / "r.csv").read_bytes()

    def chunks() -> Iterator[pd.DataFrame]:
        yield hmda.head(5).reset_index(drop=True)
        raise OSError("the disk went away")

    scorer = ChunkScorer(bundle, request_id="x")
    with pytest.raises(OSError, match="the disk went away"):
        write_scored(local_results(scorer, chunks()), open_sink(out), open_sink(tmp_path / "r.csv", schema=rejects_schema()))
    assert out.read_bytes() == before and (tmp_path / "r.csv").read_bytes() == rejects_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "r.csv"]  # no temporary file left


def test_id_and_version_columns(bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path) -> None:
    df = hmda.head(9).reset_index(drop=True)
    _run(bundle, df, tmp_path / "o.csv", tmp_path / "r.csv", rows=4, id_column="black", add_version=True)
    out = pd.read_csv(tmp_path / "o.csv")
    assert list(out.columns) == ["black", "request_id", "row", "prediction", "proba_no", "proba_yes",
                                 "out_of_contract", "model_version"]
    assert out["black"].tolist() == df["black"].tolist()
    assert set(out["model_version"]) == {4} and set(out["request_id"]) == {"batch-test"}


def test_clean_run_writes_an_empty_rejects_table_with_its_columns(
    bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path
) -> None:
    summary = _run(bundle, hmda.head(10), tmp_path / "o.parquet", tmp_path / "r.parquet", rows=4)
    assert summary.rows_rejected == 0
    rejects = pd.read_parquet(tmp_path / "r.parquet")
    assert len(rejects) == 0 and list(rejects.columns) == ["row", "column", "value", "rule", "reason"]


def test_the_scorer_travels_to_another_process_without_its_runtime(onnx_bundle: ModelBundle, hmda: pd.DataFrame) -> None:
    import pickle

    scorer = ChunkScorer(onnx_bundle, request_id="x")
    first = scorer(hmda.head(5), 0).frame
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy._predictor is None
    pd.testing.assert_frame_equal(copy(hmda.head(5), 0).frame, first)


def test_a_line_with_the_wrong_number_of_fields_is_rejected_alone(bundle: ModelBundle, hmda: pd.DataFrame,
                                                                  tmp_path: Path) -> None:
    head = hmda.head(12).copy()
    head.loc[2, "dmi"] = "no\nreally"  # a quoted value across two lines is one row, as pandas reads it
    head.to_csv(tmp_path / "in.csv", index=False)
    lines = (tmp_path / "in.csv").read_text().splitlines(keepends=True)
    # after the header and rows 0-4 (row 2 spans two lines): a short line, rows 5-11, then a long line
    lines.insert(7, "0.2,0.3\n")
    lines.append(lines[-1].rstrip("\n") + ",extra\n")
    (tmp_path / "in.csv").write_text("".join(lines))
    summary = _run(bundle, tmp_path / "in.csv", tmp_path / "o.csv", tmp_path / "r.csv", rows=4)
    assert (summary.rows_in, summary.rows_rejected) == (14, 2)
    rejects = pd.read_csv(tmp_path / "r.csv")
    assert list(zip(rejects["row"], rejects["rule"])) == [(5, "malformed_row"), (13, "malformed_row")]
    assert rejects.loc[0, "value"] == "0.2,0.3" and rejects.loc[0, "reason"] == "the line has 2 field(s), the header 13"
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["row"].tolist() == [0, 1, 2, 3, 4, *range(6, 13)]
    assert out.loc[2, "out_of_contract"] == "dmi:unseen_category:unknown"  # the two-line value, one row
    # each row keeps its own number: row 6 of the file is hmda's row 5
    expected = bundle.predict(hmda.head(12).iloc[[5]]).proba[0]
    np.testing.assert_allclose(out.loc[out["row"] == 6, ["proba_no", "proba_yes"]].to_numpy(float)[0], expected,
                               rtol=0, atol=1e-12)


def test_the_logged_inputs_of_a_csv_chunk_are_numbers_the_log_s_readers_accept(
    bundle: ModelBundle, bad_csv: Path, tmp_path: Path
) -> None:
    # a CSV is read as text so that one bad cell rejects one row; the prediction log must still hold
    # numbers: logged as '32', a number column broke the contract for every later reader (monitor
    # refused its whole window after one batch run)
    from tabloop.batch import log_chunk
    from tabloop.data import check_frame
    from tabloop.predlog import PredictionLog

    log = PredictionLog(tmp_path / "predlog")
    scorer = ChunkScorer(bundle, request_id="batch-test", source=str(bad_csv), keep_inputs=True)
    logged = 0
    for chunk in local_results(scorer, read_chunks(bad_csv, rows=7, numbers=bundle.contract.numeric)):
        logged += log_chunk(log, bundle, "batch-test", chunk, variant="batch")
    assert logged == 28
    inputs = log.inputs_frame(log.read_predictions())
    numeric = [c for c in bundle.contract.numeric if c in inputs.columns]
    assert numeric and all(isinstance(v, float) for c in numeric for v in inputs[c].dropna())
    check_frame(inputs, bundle.contract.with_policy(bundle.contract.policy), source="prediction log")


@pytest.mark.parametrize("which", ["sklearn", "onnx"])
def test_the_output_frame_is_the_one_predictions_to_frame_gives(
    which: str, bundle: ModelBundle, onnx_bundle: ModelBundle, bad_csv: Path
) -> None:
    """The chunk's output is built in one frame; it must equal, types included, the frame grown from
    ``Predictions.to_frame`` column by column as before (id, request id and row first; marks and version last)."""
    chosen = bundle if which == "sklearn" else onnx_bundle
    df = pd.read_csv(bad_csv).drop(index=[9, 20]).reset_index(drop=True)
    df["lvr"] = df["lvr"].astype(float)
    scorer = ChunkScorer(chosen, request_id="batch-test", id_column="black", add_version=True)
    got = scorer(df, 100)
    assert got.marks  # row 21's unseen category is let through and marked
    preds = scorer._predict(scorer._screen(df, False).values)
    expected = preds.to_frame()
    marked: list[object] = [None] * len(expected)
    for i, marks in got.marks.items():
        marked[i] = "; ".join(map(str, marks))
    expected["out_of_contract"] = pd.Series(marked, dtype=object)
    expected.insert(0, "row", np.arange(100, 100 + len(df)))
    expected.insert(0, "request_id", "batch-test")
    expected.insert(0, "black", df["black"].to_numpy())
    expected["model_version"] = "4"
    pd.testing.assert_frame_equal(got.frame, expected, check_exact=True)
    assert got.frame["out_of_contract"].notna().sum() == 1
    assert list(got.rejects.columns) == ["row", "column", "value", "rule", "reason"]
    assert got.rejects["row"].dtype == np.int64 and got.rejects.empty


@pytest.mark.parametrize("nullable", [True, False])
@pytest.mark.parametrize("cells", [["no", "yes"], ["no", "yes", None], ["no", np.nan, "yes"], ["no", "maybe"],
                                   ["no", None, "maybe"], [1, "yes"], ["yes"]])
@pytest.mark.parametrize("categories", [["no", "yes"], ["no", "yes", "no"], [1, "yes"]])
def test_the_clean_category_check_agrees_with_isin_and_isna(cells: list[object], categories: list[object],
                                                            nullable: bool) -> None:
    """The screen's shortcut for categorical columns decides as ``isin`` and ``isna`` did."""
    from tabloop.batch._stream import _clean_categories

    values = np.empty(60, dtype=object)
    values[:] = [cells[i % len(cells)] for i in range(60)]
    missing = pd.isna(values)
    known = pd.Series(values, dtype=object).isin(categories).to_numpy()
    expected = missing if (known | (missing & nullable)).all() else None
    got = _clean_categories(values, categories, nullable)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got is not None and got.tolist() == expected.tolist()

"""Streaming batch scoring: chunks in, scored rows and rejected rows out, memory bounded by the chunk.

Each chunk is screened against the contract; a row that breaks a rule the contract refuses
(a bad cell, a value far out of range, an unseen category under ``reject``) goes to the
rejects with its original row number, column, value, rule and reason, and every other row
is scored. A rule that no row can pass (a missing or unexpected column) fails the run. The
per-chunk function (``ChunkScorer``) is the same on every engine, so the local loop and
Dask give the same rows.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from tabloop._plain import shown
from tabloop.batch._sinks import Sink
from tabloop.bundle import PREDICTION_COLUMN, ModelBundle, Predictions, proba_column
from tabloop.data import (MALFORMED_ATTR, ROWS_ATTR, TEXT_SOURCE, Marks, Screened, parse_text_numbers, rows_to_reject,
                          screen_frame)
from tabloop.errors import ContractViolation, DataError, Violation

if TYPE_CHECKING:
    from tabloop.features import FilledFrame
    from tabloop.features._online import Gap

#: the batch output's column naming, per row, the contract rules it was let through with
#: ("column:rule:policy", several joined by "; "; empty (null) within the contract)
OUT_OF_CONTRACT_COLUMN = "out_of_contract"
#: the column ``add_version`` adds: the model version that scored the row
VERSION_COLUMN = "model_version"
#: one line per broken rule of a rejected row (a row breaking two rules has two lines)
REJECT_COLUMNS = ["row", "column", "value", "rule", "reason"]
#: rules that concern a column, not a row: no row can be scored, the run fails
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def rejects_schema() -> Any:
    """The rejects' columns and types, fixed, so a run without rejects writes the same (empty) table."""
    import pyarrow as pa

    return pa.schema([("row", pa.int64()), ("column", pa.string()), ("value", pa.string()), ("rule", pa.string()),
                      ("reason", pa.string())])


@dataclass
class ScoredChunk:
    """One chunk's outcome: the scored rows (output columns), the rejected ones (``REJECT_COLUMNS``), and for the
    prediction log the scored rows' inputs and marks (row -> marks, keyed by the output frame's position)."""

    frame: pd.DataFrame
    rejects: pd.DataFrame
    rows_in: int
    inputs: pd.DataFrame | None = None
    marks: Marks = field(default_factory=dict)


class ChunkScorer:
    """The per-chunk function of every engine: contract screen -> rejects -> model -> output columns.

    Picklable (a Dask worker gets a copy): the row predictor (ONNX when the bundle's graph passed
    its parity check, as the server answers; else the scikit-learn pipeline) is built in the process
    that first scores.
    """

    def __init__(self, bundle: ModelBundle, *, request_id: str, source: str = "input", id_column: str | None = None,
                 add_version: bool = False, prefer_onnx: bool = True, keep_inputs: bool = False,
                 complete: Callable[[pd.DataFrame], FilledFrame] | None = None,
                 on_missing: Literal["reject", "impute"] = "reject") -> None:
        """``complete`` joins the features a chunk lacks from the feature store (key-only rows); a row it finds
        nothing for is rejected (rule ``no_value``, naming the entity) or, with ``on_missing='impute'``, scored
        with the gaps imputed and marked, as the server does with ``features.on_missing`` (``bundle``'s contract
        must then let those gaps through: ``tabloop.features.gaps_allowed``)."""
        self.bundle = bundle
        self.complete = complete
        self.on_missing = on_missing
        self.request_id = request_id
        self.source = source
        self.id_column = id_column
        self.add_version = add_version
        self.prefer_onnx = prefer_onnx
        self.keep_inputs = keep_inputs
        self._predictor: Any = None
        self._exact: Any = None
        self._pipeline_lock = threading.Lock()
        # the feature store's point-in-time join is not known to be safe from several threads: one at a time
        self._complete_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_predictor"] = state["_exact"] = None  # an onnxruntime session does not travel
        del state["_pipeline_lock"], state["_complete_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pipeline_lock = threading.Lock()
        self._complete_lock = threading.Lock()

    @property
    def engine(self) -> str:
        return str(self._row_predictor().engine)

    def _row_predictor(self) -> Any:
        """The row predictor; the scikit-learn pipeline's calls hold ``_pipeline_lock``: one scores at a time,
        as LightGBM, for one, is not safe to drive from several threads (onnxruntime's session is)."""
        if self._predictor is None:
            from tabloop.export import SklearnRowPredictor, make_row_predictor

            self._predictor = make_row_predictor(self.bundle, prefer_onnx=self.prefer_onnx)
            self._exact = SklearnRowPredictor(self.bundle)
        return self._predictor

    def __call__(self, chunk: pd.DataFrame, first_row: int) -> ScoredChunk:
        """Score ``chunk``, whose first row is row ``first_row`` of the input (counted from 0)."""
        numbers = chunk.attrs.get(ROWS_ATTR)
        malformed = chunk.attrs.get(MALFORMED_ATTR, ())
        chunk = chunk.reset_index(drop=True)
        chunk.attrs.pop(ROWS_ATTR, None)  # pandas copies attrs into every frame made from this one
        chunk.attrs.pop(MALFORMED_ATTR, None)
        n = len(chunk)
        rows = np.asarray(numbers, dtype="int64") if numbers is not None else np.arange(first_row, first_row + n)
        positions = np.arange(n)
        kept = chunk
        rejected: list[dict[str, Any]] = [
            {"row": row, "column": None, "value": line, "rule": "malformed_row",
             "reason": f"the line has {got} field(s), the header {expected}"} for row, expected, got, line in malformed]
        n += len(malformed)
        if not len(chunk):
            return ScoredChunk(_empty_frame(), _rejects_frame(rejected), n)
        text = TEXT_SOURCE in chunk.attrs
        gaps: dict[int, list[Gap]] = {}
        if self.complete is not None:
            with self._complete_lock:
                filled = self.complete(kept)
            kept, gaps = filled.frame, filled.gaps
            if gaps and self.on_missing != "impute":
                for pos, row_gaps in gaps.items():
                    rejected += [_gap_reject(g, int(rows[pos])) for g in row_gaps]
                keep = np.ones(len(kept), dtype=bool)
                keep[list(gaps)] = False
                positions = positions[keep]
                kept = kept.iloc[np.flatnonzero(keep)].reset_index(drop=True)
                if text:
                    kept.attrs[TEXT_SOURCE] = {"rows": len(kept)}
                gaps = {}
                if not len(kept):
                    return ScoredChunk(_empty_frame(), _rejects_frame(rejected), n)
        while True:
            try:
                screened = self._screen(kept, text)
                break
            except ContractViolation as exc:
                bad = rows_to_reject(exc, self.source)
                for v in exc.violations:
                    if v.row is not None:
                        rejected.append(_reject(v, int(rows[positions[v.row]])))
                keep = np.ones(len(kept), dtype=bool)
                keep[bad] = False
                positions = positions[keep]
                kept = kept.iloc[np.flatnonzero(keep)].reset_index(drop=True)
                if text:
                    kept.attrs[TEXT_SOURCE] = {"rows": len(kept)}
                if not len(kept):
                    return ScoredChunk(_empty_frame(), _rejects_frame(rejected), n)
        if gaps:
            _mark_imputed(screened.marks, gaps, positions)
        preds = self._predict(screened.values)
        out = self._output(preds, screened.marks, rows[positions], kept)
        inputs = (_numbers_read(kept, self.bundle.contract.numeric) if text else kept) if self.keep_inputs else None
        return ScoredChunk(out, _rejects_frame(rejected), n, inputs, screened.marks)

    def _output(self, preds: Predictions, marks: Marks, rows: np.ndarray, kept: pd.DataFrame) -> pd.DataFrame:
        """The output columns, built in one frame: ``Predictions.to_frame``'s, with the id, request id and row
        before them and the marks (and version) after. One constructor call instead of a frame grown column by
        column (each ``insert`` copies the frame's blocks): about 12 ms of a 50,000-row chunk's 20 ms of
        output building; ``tests/batch/test_stream.py`` checks the frame equals the one ``to_frame`` gives."""
        n = len(preds.labels)
        columns: dict[str, Any] = {}
        if self.id_column and self.id_column in kept.columns:
            columns[self.id_column] = kept[self.id_column].to_numpy()
        columns["request_id"] = np.full(n, self.request_id, dtype=object)
        columns["row"] = rows
        columns[PREDICTION_COLUMN] = preds.labels  # a list: pandas infers its type, as ``to_frame`` lets it
        if preds.proba is not None:
            for j, c in enumerate(preds.classes):
                columns[proba_column(c)] = preds.proba[:, j]
        marked = np.full(n, None, dtype=object)
        for i, row_marks in marks.items():
            marked[i] = "; ".join(map(str, row_marks))
        columns[OUT_OF_CONTRACT_COLUMN] = marked
        if self.add_version:
            columns[VERSION_COLUMN] = np.full(n, str(self.bundle.version or ""), dtype=object)
        return pd.DataFrame(columns, copy=False)

    def _screen(self, frame: pd.DataFrame, text: bool) -> Screened[pd.DataFrame]:
        """``screen_frame`` on ``frame``, without its value-by-value pass over a categorical column whose every cell
        is plainly clean: a known category string, or a gap where the contract allows one (as the request
        path's small feed does). Those columns can break no rule and mark no row; every other column, and every
        column rule, is checked by ``screen_frame`` itself, so the rules and messages keep their one home.
        Measured on 100,000 rows of HMDA: that pass was 2.5 of the chunk's 4.5 seconds."""
        contract = self.bundle.contract
        clean: dict[str, np.ndarray] = {}
        for col in contract.columns:
            if col.kind != "categorical" or col.name not in frame.columns or not col.categories:
                continue
            s = frame[col.name]
            if s.dtype != object and not isinstance(s.dtype, pd.CategoricalDtype):
                continue
            values = s.to_numpy(dtype=object)
            missing = _clean_categories(values, col.categories, bool(col.nullable))
            if missing is None:
                continue
            if missing.any():
                values = values.copy()
                values[missing] = np.nan
            clean[col.name] = values
        if not clean:
            return screen_frame(frame, contract, source=self.source, max_violations=sys.maxsize, text=text)
        rest = replace(contract, columns=[c for c in contract.columns if c.name not in clean],
                       ignored=[*contract.ignored, *clean])
        screened = screen_frame(frame, rest, source=self.source, max_violations=sys.maxsize, text=text)
        values = screened.values
        for name, column in clean.items():
            values[name] = pd.Series(column, index=values.index, dtype=object)
        return Screened(values[contract.feature_names], screened.marks)

    def _predict(self, X: pd.DataFrame) -> Predictions:
        """The model on checked rows; a row with a number beyond float32 goes to the float64 pipeline on its own,
        so which rows share a chunk never changes a row's answer."""
        predictor = self._row_predictor()
        columns = {name: X[name].to_numpy() for name in X.columns}
        if predictor.engine != "onnx":
            with self._pipeline_lock:
                return _rows(predictor, columns)
        wide = np.zeros(len(X), dtype=bool)
        for name in self.bundle.contract.numeric:
            with np.errstate(invalid="ignore"):
                wide |= np.abs(columns[name]) > _FLOAT32_MAX
        if not wide.any():
            return _rows(predictor, columns)
        narrow = ~wide
        parts = [(self._exact, wide)] + ([(predictor, narrow)] if narrow.any() else [])
        labels: list[Any] = [None] * len(X)
        proba = None
        classes: list[Any] = []
        for part_predictor, mask in parts:
            part = {k: v[mask] for k, v in columns.items()}
            if part_predictor is self._exact:
                with self._pipeline_lock:
                    got = _rows(part_predictor, part)
            else:
                got = _rows(part_predictor, part)
            for i, label in zip(np.flatnonzero(mask), got.labels):
                labels[i] = label
            if got.proba is not None:
                if proba is None:
                    proba = np.empty((len(X), got.proba.shape[1]))
                proba[mask] = got.proba
            classes = got.classes
        return Predictions(labels=labels, proba=proba, classes=classes)


def _clean_categories(values: np.ndarray, categories: list[Any], nullable: bool) -> np.ndarray | None:
    """Where ``values`` (objects) has gaps when every value is a known category or an allowed gap, else None.

    One hash lookup per cell (the categories' positions) instead of ``isin`` and ``isna`` over the whole column;
    only the few cells not found are asked whether they are gaps. The lookup is on an object index, as ``isin``
    matches objects: the same cells pass."""
    index = pd.Index(categories, dtype=object)
    if not index.is_unique:
        missing = pd.isna(values)
        known = pd.Series(values, dtype=object).isin(categories).to_numpy()
        return missing if (known | (missing & nullable)).all() else None
    unknown = index.get_indexer(values) < 0
    if not unknown.any():
        return unknown
    if not nullable or not pd.isna(values[unknown]).all():
        return None
    return unknown


def _rows(predictor: Any, columns: dict[str, np.ndarray]) -> Predictions:
    """The model's answer for these rows, the same whichever rows share the call: a single row is sent twice,
    because for one row ONNX Runtime and BLAS take another kernel (a matrix-vector product) whose sums differ
    from the batched one's in the last bit (measured with ONNX: 473 of 2,000 rows, by up to 1.2e-7; with the
    float64 pipeline by 1e-16), and a chunk of one row would answer otherwise than the same row in a larger one."""
    from tabloop.export import predict_batch

    if len(next(iter(columns.values()))) != 1:
        return predict_batch(predictor, columns)
    got = predict_batch(predictor, {k: np.concatenate([v, v]) for k, v in columns.items()})
    return Predictions(labels=got.labels[:1], proba=None if got.proba is None else got.proba[:1], classes=got.classes)


def _reject(v: Violation, row: int) -> dict[str, Any]:
    value = None if v.value is None else str(shown(v.value))
    return {"row": row, "column": v.column, "value": value, "rule": v.rule, "reason": v.message}


def _rejects_frame(rejected: list[dict[str, Any]]) -> pd.DataFrame:
    if not rejected:  # most chunks: the typed empty frame, without the sort and cast (7 ms a chunk)
        return _empty_rejects().copy()
    frame = pd.DataFrame(rejected, columns=REJECT_COLUMNS)
    frame["row"] = frame["row"].astype("int64")
    return frame.sort_values("row", kind="stable").reset_index(drop=True)


@lru_cache(maxsize=1)
def _empty_rejects() -> pd.DataFrame:
    frame = pd.DataFrame([], columns=REJECT_COLUMNS)
    frame["row"] = frame["row"].astype("int64")
    return frame


def _gap_reject(gap: Gap, row: int) -> dict[str, Any]:
    key, _, value = gap.entity.partition("=")
    return {"row": row, "column": key, "value": value, "rule": gap.rule,
            "reason": f"{gap.entity}: the feature store holds no {gap.view} value at or before the row's time within "
                      f"the view's ttl (features {list(gap.features)}; features.on_missing: reject)"}


def _mark_imputed(marks: Marks, gaps: dict[int, list[Gap]], positions: np.ndarray) -> None:
    """Each imputed feature marked with its gap's rule and policy ``impute``, in place of the relaxed not_null mark
    (``gaps`` by chunk position, ``marks`` by position among the rows kept, ``positions`` mapping the latter)."""
    from tabloop.data import Mark

    where = {int(p): i for i, p in enumerate(positions)}
    for pos, row_gaps in gaps.items():
        i = where.get(pos)
        if i is None:
            continue
        columns = {f: g.rule for g in row_gaps for f in g.features}
        kept = [m for m in marks.get(i, []) if not (m.column in columns and m.rule == "not_null")]
        marks[i] = kept + [Mark(column, rule, "impute") for column, rule in columns.items()]


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass
class StreamSummary:
    rows_in: int
    rows_scored: int
    rows_rejected: int
    out_of_contract: int
    seconds: float
    output: str
    rejects: str
    logged: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0


#: called after each chunk with (rows scored, rows rejected) so far
Progress = Callable[[int, int], None]
#: called with each chunk's scored rows: the prediction log's hook; returns the records written
ChunkLog = Callable[[ScoredChunk], int]


def write_scored(
    results: Iterable[ScoredChunk],
    output: Sink,
    rejects: Sink,
    *,
    on_progress: Progress | None = None,
    log: ChunkLog | None = None,
) -> StreamSummary:
    """Append each chunk's scored rows to ``output`` and its rejects to ``rejects``, in order; commit both at the
    end (rejects first), or abort both on any error. When every row is rejected the rejects are kept and the
    output is not written: a ``DataError`` says so."""
    start = time.perf_counter()
    rows_in = scored = rejected_rows = marked = logged = 0
    try:
        for result in results:
            rows_in += result.rows_in
            if len(result.frame):
                output.write(result.frame)
                scored += len(result.frame)
                marked += int(result.frame[OUT_OF_CONTRACT_COLUMN].notna().sum())
                if log is not None:
                    logged += log(result)
            if len(result.rejects):
                rejects.write(result.rejects)
                rejected_rows += int(result.rejects["row"].nunique())
            if on_progress is not None:
                on_progress(scored, rejected_rows)
        if rows_in and not scored:
            where = rejects.commit()
            output.abort()
            raise DataError(f"every one of the {rows_in} rows broke the data contract: nothing scored, "
                            f"{output.where} not written",
                            hint=f"the reasons, row by row, are in {where}")
        rejects_where = rejects.commit()
        output_where = output.commit()
    except BaseException:
        output.abort()
        rejects.abort()
        raise
    return StreamSummary(rows_in, scored, rejected_rows, marked, time.perf_counter() - start, output_where,
                         rejects_where, logged)


def local_results(scorer: ChunkScorer, chunks: Iterable[pd.DataFrame], *, threads: int = 1) -> Iterator[ScoredChunk]:
    """The local engine: each chunk scored in this process, handed over in order.

    With ``threads`` > 1 that many chunks are scored at once, while this thread reads the next one and the
    caller writes the last: onnxruntime, Arrow and NumPy let go of the GIL while they compute (measured on
    HMDA, the ONNX session is 60% of a chunk's CPU). Each chunk runs on the same single-threaded session as
    alone, so the output is the same, bit for bit, whatever ``threads`` is; and at most ``threads + 1``
    chunks are in flight, so memory stays bounded by the chunk.
    """
    first_row = 0
    if threads <= 1:
        for chunk in chunks:
            yield scorer(chunk, first_row)
            first_row += len(chunk)
        return
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    scorer.engine  # noqa: B018 - the runtime is built once, here, not by two threads at once
    pending: deque[Future[ScoredChunk]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="tabloop-score") as pool:
        try:
            for chunk in chunks:
                pending.append(pool.submit(scorer, chunk, first_row))
                first_row += len(chunk)
                if len(pending) > threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # a failed chunk or a caller that stops: the chunks not started are not scored
            for future in pending:
                future.cancel()


def batch_threads() -> int:
    """The threads the local engine scores with when not told: the CPUs this process may run on (a
    container's share, not the host's count)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _numbers_read(kept: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """A CSV chunk read as text, with its number columns as the numbers the contract read them as.

    The prediction log keeps each row's inputs; as text ('32') a number column would be a type
    violation for every later reader of the log (monitor refused the whole window over it).
    """
    out = kept.copy()
    for name in numeric:
        if name in out.columns:
            out[name] = parse_text_numbers(out[name].to_numpy(dtype=object))
    return out

"""Profiling: per-column statistics and distributions, the target, duplicates, associations, ranked findings.

Everything is computed on numpy arrays in one pass per column, so a profile of a million rows
takes seconds (benchmarks/profile): histograms, quartiles and IQR outliers on every row;
associations (Spearman, Cramér's V, each feature against the target) on a random sample of at
most :data:`SAMPLE_ROWS` rows, whose size the profile states. What the numbers say a person
should act on comes out as :class:`~tabloop.data.Finding` values, most important first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data._categories import category_label
from tabloop.data._contract import Contract, empty_columns, is_categorical_dtype
from tabloop.data._findings import Finding, rank_findings
from tabloop.data._read import frame_fingerprint
from tabloop.report import Report
from tabloop.report import profile_report as draw_profile_report

#: associations are computed on a random sample of at most this many rows: their error at 50,000
#: rows (about 0.005 for a correlation) is far below any threshold a finding uses
SAMPLE_ROWS = 50_000
HISTOGRAM_BINS = 30
#: categories shown per column (bar chart, JSON), the rest summed as "other"
TOP_CATEGORIES = 10
#: categories kept apart in Cramér's V and the correlation ratio; rarer ones are pooled into one level
ASSOCIATION_LEVELS = 50
#: levels seen in fewer rows than this are pooled too, and a pooled level still this rare is left out: one
#: row in a category of its own adds n to chi-square and made two unrelated columns look associated
MIN_LEVEL_ROWS = 10
#: a text column counts as numbers with a few bad cells when at least this share of its values are numbers
MOSTLY_NUMBERS = 0.9
#: duplicate rows from this share on are a warning (below: info)
DUPLICATE_WARNING_SHARE = 0.01
#: majority/minority class ratio from which imbalance is a warning (info from IMBALANCE_INFO_RATIO)
IMBALANCE_WARNING_RATIO = 10.0
IMBALANCE_INFO_RATIO = 3.0
#: missing share from which a column is a warning (drop or impute), and from which it is worth a note
MISSING_WARNING_SHARE = 0.5
MISSING_INFO_SHARE = 0.2
#: one value in at least this share of a column's present cells makes it near-constant
NEAR_CONSTANT_SHARE = 0.99
#: a category column with more levels than this makes one-hot encoding wide and rare levels noisy
HIGH_CARDINALITY = 100
#: two features whose |Spearman rho| (or Cramér's V) exceeds this carry the same information
CORRELATED = 0.95
COPY_CORRELATED = 0.999
#: |skewness| above this is worth a note
SKEWED = 2.0
#: threads describing columns at once (at most one per core)
WORKERS = 4
#: a target with at most this many distinct values is treated as classes when the task is not given
MAX_CLASSES = 50


def profile_frame(
    df: pd.DataFrame,
    *,
    target: str | None = None,
    ignored: Sequence[str] = (),
    types: Mapping[str, str] | None = None,
    id_column: str | None = None,
    task: str | None = None,
    extra_findings: Iterable[Finding] = (),
    sample_rows: int = SAMPLE_ROWS,
    seed: int = 0,
    semantic: Mapping[str, str] | None = None,
    levels: Mapping[str, tuple[np.ndarray, Any]] | None = None,
) -> dict[str, Any]:
    """The numbers of a profile, JSON-ready, with ``findings``: what a person should act on, most important first.

    ``ignored`` columns (excluded, the id, group and time columns) are described but are not
    features, nor are those whose semantic type keeps them out (``type``: ``types``, the spec's
    ``data.types``, where given, else inferred; datetime, text, identifier), as ``infer_contract``
    does; ``id_column`` is checked for repeated ids; ``task`` (binary, multiclass,
    regression; else guessed from the target) decides between class balance and a distribution.
    ``extra_findings`` (leakage, shift: checks that live elsewhere) are ranked together with
    the profile's own. Associations use a random sample of ``sample_rows`` rows (``seed``). ``semantic``:
    ``resolve_types(df, types)`` when the caller has it already (it costs a pass over every column); ``levels``:
    ``tabloop.data._types.text_levels(df)``, likewise.
    """
    from tabloop.data._types import excluded_by_type, resolve_types, type_findings

    n = len(df)
    semantic = dict(semantic) if semantic is not None else resolve_types(df, types)
    empty = set(empty_columns(df, target=target, ignored=ignored))
    by_type = [c for c in excluded_by_type(semantic, target=target, ignored=ignored) if c not in empty]
    ignored = [*ignored, *by_type]
    columns: list[dict[str, Any]] = []
    findings: list[Finding] = [*extra_findings, *type_findings(df, {c: semantic[c] for c in by_type},
                                                                overrides=types or {})]
    roles = {name: "target" if name == target else "excluded" if name in ignored or name in empty else "feature"
             for name in df.columns}
    used = [name for name, role in roles.items() if role != "excluded"]
    every_row = _RowHashes(n, len(df.columns))
    # the model reads every column (nothing excluded): its rows' hashes are the table's, combined once
    used_row = every_row if len(used) == len(df.columns) else _RowHashes(n, len(used))
    given = dict(levels or {})
    rows = _sample_rows(n, sample_rows, seed)
    sampled: dict[str, np.ndarray] = {}  # each association feature's ranks or levels on the sample

    def describe(item: tuple[Any, str]) -> tuple[dict[str, Any], list[Finding], np.ndarray]:
        s = df[item[0]]
        entry, said, found = _column(s, n, role=item[1], semantic=semantic[str(item[0])],
                                     factorized=given.get(str(item[0])))
        if item[1] == "feature" and entry["unique"] > 1:  # here, beside the column's other work, not after all
            sampled[entry["name"]] = _sampled(s, rows, entry["kind"])
        return entry, said, column_hashes(s, None if found is None else found[:2])

    # columns in parallel threads: sorting, hashing and arrow's kernels release the GIL
    with ThreadPoolExecutor(max_workers=min(WORKERS, os.cpu_count() or 1)) as pool:
        for (name, role), (entry, said, hashes) in zip(roles.items(), pool.map(describe, roles.items()), strict=True):
            columns.append(entry)
            findings += said
            every_row.add(hashes)
            if role != "excluded" and used_row is not every_row:
                used_row.add(hashes)
            del hashes
    for name in empty:  # said here with what to do; the contract leaves these columns out on its own
        findings.append(Finding(
            code="empty_column", severity="warning", column=name, score=0.55, spec_change=f"data.exclude: [{name}]",
            message=f"column {name!r} has no values (all {n} cells are empty): it is left out of the features "
                    "and the contract does not require it",
            action="fill it or drop it from the data"))
    features = [c for c in columns if c["role"] == "feature"]
    findings += _skewed(features)
    duplicates, said = _duplicate_rows(used_row.result()) if used else (0, [])
    del used_row
    findings += said
    out: dict[str, Any] = {
        "data_hash": frame_fingerprint(df, row_hashes=every_row.result()),
        "rows": n,
        "columns": columns,
        "duplicate_rows": duplicates,
        "duplicate_share": duplicates / n if n else 0.0,
        "missing_cells": int(sum(c["missing"] for c in columns)),
    }
    if id_column is not None and id_column in df.columns:
        out["duplicate_ids"], said = _duplicate_ids(df[id_column], id_column)
        findings += said
    if target is not None and target in df.columns:
        out["target"], said = _target(df[target], target, task, given.get(str(target)))
        findings += said
        if out["target"]["kind"] == "classes":
            out["class_balance"] = out["target"]["class_balance"]
    out["associations"], said = _associations(df, features, target if target in df.columns else None,
                                              out.get("target", {}).get("kind"), sample_rows=sample_rows, seed=seed,
                                              sampled=sampled)
    findings += said
    out["findings"] = [f.to_dict() for f in rank_findings(findings)]
    return out


def profile_findings(
    df: pd.DataFrame,
    *,
    target: str | None = None,
    ignored: Sequence[str] = (),
    types: Mapping[str, str] | None = None,
    id_column: str | None = None,
    task: str | None = None,
    extra_findings: Iterable[Finding] = (),
    sample_rows: int = 20_000,
) -> list[Finding]:
    """The profile's findings alone, most important first: what ``train`` says before it starts."""
    numbers = profile_frame(df, target=target, ignored=ignored, types=types, id_column=id_column, task=task,
                            extra_findings=extra_findings, sample_rows=sample_rows)
    return [Finding(**f) for f in numbers["findings"]]


# -- one column ------------------------------------------------------------------------------------
def _column(
    s: pd.Series, n: int, *, role: str, semantic: str, factorized: tuple[np.ndarray, Any] | None = None
) -> tuple[dict[str, Any], list[Finding], tuple[np.ndarray, Any, np.ndarray] | None]:
    """A column's numbers and what they say; ``semantic`` is its semantic type. Also a category column's
    levels (codes, uniques, counts: its factorization), which its row hashes reuse."""
    name = str(s.name)
    categorical = is_categorical_dtype(s)
    entry: dict[str, Any] = {"name": name, "dtype": str(s.dtype), "kind": "categorical" if categorical else "numeric",
                             "type": semantic, "role": role}
    levels = None
    if categorical:
        codes, uniques = (pd.factorize(s, use_na_sentinel=True) if factorized is None or s.dtype != object
                          else factorized)
        with_missing = np.bincount(codes + 1, minlength=len(uniques) + 1)
        missing, counts = int(with_missing[0]), with_missing[1:]
        present = n - missing
        entry.update(missing=missing, missing_share=missing / n if n else 0.0, unique=len(uniques))
        top = _top(counts, TOP_CATEGORIES)
        entry["top"] = [{"value": category_label(uniques[i]), "count": int(counts[i])} for i in top]
        entry["other_count"] = present - int(counts[top].sum())
        entry["top_share"] = float(counts[top[0]] / present) if present else None
        levels = (codes, uniques, counts)
    else:
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        absent = np.isnan(v)
        missing = int(absent.sum())
        entry.update(missing=missing, missing_share=missing / n if n else 0.0)
        entry.update(_numbers(v, absent, integral=pd.api.types.is_integer_dtype(s.dtype)))
    return entry, _column_findings(s, entry, n, levels) if role == "feature" else [], levels


def column_hashes(s: pd.Series, levels: tuple[np.ndarray, Any] | None = None) -> np.ndarray:
    """``pd.util.hash_pandas_object(s, index=False)`` as an array. ``levels``: ``pd.factorize(s)``'s codes and
    uniques, when the caller has them: pandas hashes an object column by factorizing it and hashing each distinct
    value once, so the same numbers come from the codes without factorizing a second time (a tenth of a second
    per million rows of text; tests/data/test_profile.py pins the two to each other)."""
    if levels is None or s.dtype != object:
        return pd.util.hash_pandas_object(s, index=False).to_numpy()
    codes, uniques = levels
    hashed = pd.util.hash_array(np.asarray(uniques, dtype=object), categorize=False)
    out = hashed.take(codes) if len(hashed) else np.zeros(len(codes), dtype=np.uint64)
    out[codes < 0] = np.iinfo(np.uint64).max  # what pandas gives a missing cell
    return out


def _top(counts: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest counts, largest first (ties: first seen first)."""
    if counts.size > 4 * k:
        part = np.argpartition(-counts, k)[:k]
        return part[np.lexsort((part, -counts[part]))]
    return np.argsort(-counts, kind="stable")[:k]


def _numbers(v: np.ndarray, absent: np.ndarray, *, integral: bool) -> dict[str, Any]:
    """Distinct count, statistics, histogram and box plot of a column's present values (infinities
    counted, not described). One sort gives the quantiles, the distinct values, the histogram and the
    outliers: cheaper than asking numpy for each."""
    finite = np.isfinite(v)
    present = v if finite.all() else v[finite]
    x = _counted_sort(present)
    if x is None and present is v:
        x = np.sort(v)
    elif x is None:  # the present values are a copy already: sorted in place, not copied again
        x = present
        x.sort()
    del present
    size = x.size
    infinite = int(v.size - absent.sum() - size)
    distinct = (1 + int(np.count_nonzero(x[1:] != x[:-1]))) if size else 0
    if infinite:
        distinct += int(np.isposinf(v).any()) + int(np.isneginf(v).any())
    out: dict[str, Any] = {"unique": distinct, "infinite": infinite}
    if not size:
        return out
    p5, q1, med, q3, p95 = _quantiles(x, (0.05, 0.25, 0.5, 0.75, 0.95))
    mean = float(x.mean())
    centred = x - mean
    squares = centred * centred
    m2 = float(squares.mean())
    # the third moment summed by numpy (pairwise, into the centred values' own memory), not by BLAS' dot: OpenBLAS
    # ran a million-long dot on its own threads, which then spun idle for a while (0.1-0.2 CPU s per profile of the
    # benchmark table), and its sum depended on how many threads it had
    skew = float(np.multiply(squares, centred, out=centred).sum() / size / m2**1.5) if m2 > 0 else 0.0
    del centred, squares
    iqr = q3 - q1
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    below = int(np.searchsorted(x, lo, side="left"))
    above = size - int(np.searchsorted(x, hi, side="right"))
    out.update(
        mean=mean,
        std=math.sqrt(m2 * size / (size - 1)) if size > 1 else 0.0,
        min=float(x[0]), p5=p5, p25=q1, median=med, p75=q3, p95=p95, max=float(x[-1]),
        skewness=skew,
        zeros=int(np.searchsorted(x, 0.0, side="right") - np.searchsorted(x, 0.0, side="left")),
        outliers_iqr=below + above,
        outlier_bounds=[lo, hi],
        # what a box plot draws: the box, whiskers at the furthest values inside 1.5 IQR, a few outliers each side
        box={"q1": q1, "median": med, "q3": q3, "whislo": float(x[below]), "whishi": float(x[size - above - 1]),
             "low_outliers": [float(a) for a in x[: min(below, 5)]],
             "high_outliers": [float(a) for a in x[size - min(above, 5):]]},
        histogram=_histogram(x, integral=integral or _whole(x)),
    )
    if q1 == q3:  # at least half the values are one value: how many?
        out["top_share"] = float((np.searchsorted(x, med, side="right") - np.searchsorted(x, med, side="left")) / size)
    return out


#: values on a decimal grid (whole numbers, cents, ...) spanning at most this many grid steps per value are sorted
#: by counting them: a bincount and a repeat, a third to a tenth of a comparison sort's CPU
COUNTING_SPAN = 1
#: the finest grid tried: 10**-GRID_DECIMALS
GRID_DECIMALS = 4
#: fewer values than this are sorted by numpy: the checks would cost more than they save
COUNTING_MIN = 4096


def _counted_sort(v: np.ndarray) -> np.ndarray | None:
    """``np.sort(v)`` of finite values that are each ``m / 10**d`` for a whole ``m`` (the double a CSV reader
    makes of a number written with at most ``d`` decimals), by counting each ``m``: the same doubles, bit for
    bit (checked on every value, so a -0.0 or a value off the grid leaves the sort to numpy). None where no grid
    up to GRID_DECIMALS fits, the grid spans more steps than there are values, or ``m`` passes 2**53."""
    if v.size < COUNTING_MIN:
        return None
    spread = v[:: max(1, v.size // 512)]  # a few hundred values turn away most columns of measured numbers
    for d in range(GRID_DECIMALS + 1):
        scale = 10.0**d
        if np.array_equal((np.rint(spread * scale) / scale).view(np.int64), spread.view(np.int64)):
            break
    else:
        return None
    low, high = float(np.rint(v.min() * scale)), float(np.rint(v.max() * scale))
    if not (max(abs(low), abs(high)) < 2.0**53 and high - low < COUNTING_SPAN * v.size):
        return None
    m = np.rint(v * scale)
    m += 0.0  # -0.0 becomes 0.0, which the check below then tells from the value's own -0.0
    if not np.array_equal((m / scale).view(np.int64), v.view(np.int64)):
        return None
    m -= low
    counts = np.bincount(m.astype(np.intp), minlength=int(high - low) + 1)
    return np.repeat((np.arange(counts.size, dtype=np.float64) + low) / scale, counts)


def _whole(x: np.ndarray) -> bool:
    """Whether every value is a whole number; a few hundred values spread over ``x`` answer most columns of
    fractions without the two full-length copies the whole check makes."""
    spread = x[:: max(1, x.size // 512)]
    return bool(np.all(spread == np.floor(spread))) and bool(np.all(x == np.floor(x)))


def _quantiles(x: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Quantiles of sorted ``x``, interpolated linearly (numpy's default method)."""
    out = []
    for q in qs:
        pos = q * (x.size - 1)
        i = int(math.floor(pos))
        j = min(i + 1, x.size - 1)
        out.append(float(x[i] + (pos - i) * (x[j] - x[i])))
    return out


def _histogram(x: np.ndarray, *, integral: bool) -> dict[str, list]:
    """Counts of sorted ``x`` over at most HISTOGRAM_BINS equal bins (the last one closed, as numpy's)."""
    lo, hi = float(x[0]), float(x[-1])
    if integral:  # bins of a whole number of values each, so that no bin holds one value more than its neighbours
        width = math.ceil((hi - lo + 1) / HISTOGRAM_BINS)
        edges = np.arange(lo - 0.5, hi + width, width)
    elif lo == hi:
        edges = np.array([lo - 0.5, hi + 0.5])
    else:
        edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    inner = np.searchsorted(x, edges[1:-1], side="left")
    counts = np.diff(np.concatenate(([0], inner, [x.size])))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _column_findings(
    s: pd.Series, entry: dict[str, Any], n: int, levels: tuple[np.ndarray, Any, np.ndarray] | None
) -> list[Finding]:
    """What one feature column's numbers say a person should act on."""
    name = entry["name"]
    exclude = f"data.exclude: [{name}]"
    out: list[Finding] = []
    if n == 0:
        return out
    share = entry["missing_share"]
    if share >= MISSING_WARNING_SHARE:
        out.append(Finding(
            code="high_missing", severity="warning", column=name, score=0.3 + 0.5 * share, spec_change=exclude,
            message=f"column {name!r} is empty in {entry['missing']:,} of {n:,} rows ({share:.0%})",
            action="drop it (add it to data.exclude) unless its gaps mean something; a kept column is imputed "
                   "by the pipeline"))
    elif share >= MISSING_INFO_SHARE:
        out.append(Finding(
            code="missing_values", severity="info", column=name, score=share,
            message=f"column {name!r} is empty in {entry['missing']:,} of {n:,} rows ({share:.0%})",
            action="impute: the pipeline fills gaps (median or most frequent value); check the gaps are not "
                   "recorded after the outcome"))
    present = n - entry["missing"]
    if entry["unique"] == 1:
        out.append(Finding(
            code="constant", severity="warning", column=name, score=0.35, spec_change=exclude,
            message=f"column {name!r} holds one value in every row that has one: nothing to learn from",
            action="exclude it (data.exclude)"))
    elif present and (entry.get("top_share") or 0.0) >= NEAR_CONSTANT_SHARE:
        out.append(Finding(
            code="near_constant", severity="info", column=name, score=entry["top_share"],
            message=f"column {name!r} holds one value in {entry['top_share']:.1%} of the rows that have one",
            action="exclude it (data.exclude) unless the rare values matter; trees can still use them"))
    said = _numbers_kept_as_text(s, entry, levels) if levels is not None else []
    out += said
    if not said and entry["kind"] == "categorical" and entry["unique"] > HIGH_CARDINALITY:
        out.append(Finding(
            code="high_cardinality", severity="warning", column=name,
            score=0.4 + 0.2 * min(entry["unique"] / max(present, 1), 1.0), spec_change=exclude,
            message=f"column {name!r} has {entry['unique']:,} distinct categories: one-hot encoding makes a "
                    "column of each, and the rare ones are noise",
            action="exclude it (data.exclude), or group its rare levels into one before training"))
    return out


def _skewed(features: list[dict[str, Any]]) -> list[Finding]:
    """One note naming every skewed feature, most skewed first (one each would bury the rest)."""
    skewed = sorted(((c["name"], c["skewness"]) for c in features
                     if c.get("skewness") is not None and abs(c["skewness"]) > SKEWED and c["unique"] > 2),
                    key=lambda t: -abs(t[1]))
    if not skewed:
        return []
    if len(skewed) == 1:
        message = f"column {skewed[0][0]!r} is skewed (skewness {skewed[0][1]:.1f}): a few values lie far from the rest"
    else:
        named = ", ".join(f"{name!r} ({skew:.1f})" for name, skew in skewed)
        message = f"{len(skewed)} columns are skewed, a few values far from the rest (skewness): {named}"
    return [Finding(code="skewed", severity="info", column=skewed[0][0], score=min(abs(skewed[0][1]) / 20.0, 0.5),
                    message=message, action="nothing for tree models; for linear ones consider a log transform")]


def _numbers_kept_as_text(
    s: pd.Series, entry: dict[str, Any], levels: tuple[np.ndarray, Any, np.ndarray]
) -> list[Finding]:
    """A text column whose values are nearly all numbers: a few stray cells turned a number column into categories.

    Parsed per distinct value, not per cell: a million cells are often a few hundred distinct values.
    """
    if pd.api.types.is_bool_dtype(s.dtype):
        return []
    codes, uniques, counts = levels
    present = int(counts.sum())
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip()
    bad = pd.to_numeric(text, errors="coerce").isna().to_numpy()
    bad_cells = int(counts[bad].sum())
    if not present or not bad_cells or bad_cells / present > 1 - MOSTLY_NUMBERS:
        return []
    name = entry["name"]
    positions = np.flatnonzero(np.isin(codes, np.flatnonzero(bad)))
    cells = ", ".join(f"row {int(i)} {s.iat[int(i)]!r}" for i in positions[:5])
    more = f" and {bad_cells - 5} more" if bad_cells > 5 else ""
    verb = "is" if bad_cells == 1 else "are"
    return [Finding(
        code="numbers_as_text", severity="warning", column=name, score=0.9,
        message=f"column {name!r} holds numbers but {bad_cells} of its {present} values {verb} not "
                f"({cells}{more}; rows count from 0 after the header): it is treated as categories",
        action="blank or fix those cells to keep it numeric")]


# -- rows --------------------------------------------------------------------------------------------
class _RowHashes:
    """Row hashes combined from per-column hashes exactly as pandas' ``hash_pandas_object(df,
    index=False)`` combines them (CPython's tuple hash), one column at a time: the profile hashes
    each column once, for repeated rows (the model's columns) and the fingerprint (all of them)."""

    def __init__(self, rows: int, columns: int) -> None:
        self.rows = np.full(rows, 0x345678, dtype=np.uint64)
        self._mult = np.uint64(1000003)
        self._columns = columns
        self._added = 0

    def add(self, hashes: np.ndarray) -> None:
        self.rows ^= hashes
        self.rows *= self._mult
        self._mult += np.uint64(82520 + 2 * (self._columns - self._added))
        self._added += 1

    def result(self) -> np.ndarray:
        assert self._added == self._columns, "every column is added once"
        return self.rows + np.uint64(97531)


def _duplicate_rows(row_hash: np.ndarray) -> tuple[int, list[Finding]]:
    """Rows repeating an earlier row in every column the model reads (features and target).

    Rows are compared by a 64-bit hash of their values, much faster than comparing text cells;
    two different rows of a million share one with a chance of about 1 in 10^7.
    """
    if row_hash.size < 2:
        return 0, []
    hashes = pd.Series(row_hash)
    repeated = hashes.duplicated(keep="first").to_numpy()
    count = int(repeated.sum())
    if not count:
        return 0, []
    share = count / row_hash.size
    first = int(np.flatnonzero(repeated)[0])
    original = int(np.flatnonzero(row_hash == row_hash[first])[0])
    severity = "warning" if share >= DUPLICATE_WARNING_SHARE else "info"
    return count, [Finding(
        code="duplicate_rows", severity=severity, score=0.5 + min(share, 0.5),
        message=f"{count:,} rows ({share:.1%}) repeat an earlier row in every feature and the target "
                f"(the first: row {first} repeats row {original}; rows count from 0)",
        action="dedupe: drop the repeats before training unless they are real repeated events; copies on both "
               "sides of a fold or of the test split make the scores look better than they are")]


def _duplicate_ids(s: pd.Series, name: str) -> tuple[int, list[Finding]]:
    repeated = s.duplicated(keep="first") & s.notna()
    count = int(repeated.sum())
    if not count:
        return 0, []
    share = count / len(s)
    ids = int(s[repeated].nunique())
    return count, [Finding(
        code="duplicate_ids", severity="warning", column=name, score=0.5 + min(share, 0.5),
        spec_change=f"split: {{strategy: group, group_column: {name}}}",
        message=f"{count:,} rows ({share:.1%}) repeat an id of data.id_column {name!r} ({ids:,} ids occur more "
                "than once)",
        action="dedupe by id if each id is one case; if an id has many rows, split by group so its rows never "
               "straddle training and test")]


# -- the target --------------------------------------------------------------------------------------
def _target(
    y: pd.Series, name: str, task: str | None, levels: tuple[np.ndarray, Any] | None = None
) -> tuple[dict[str, Any], list[Finding]]:
    """The target's gaps, classes and their balance; ``levels``: its factorization, when the caller has it."""
    n = len(y)
    findings: list[Finding] = []
    if levels is not None and y.dtype == object:  # counted from the codes, not by hashing every cell again
        missing, distinct = int(np.count_nonzero(levels[0] < 0)), len(levels[1])
    else:
        missing, distinct = int(y.isna().sum()), int(y.nunique())
    if missing:
        findings.append(Finding(
            code="target_missing", severity="critical", column=name, score=missing / n,
            message=f"the target {name!r} is empty in {missing} row(s): training refuses them",
            action="drop or label those rows"))
    if distinct < 2:
        findings.append(Finding(
            code="target_constant", severity="critical", column=name, score=1.0,
            message=f"the target {name!r} holds {distinct} distinct value(s): a model has nothing to learn",
            action="check data.source and data.target"))
    classes = task in ("binary", "multiclass") or (task is None and distinct <= MAX_CLASSES)
    if not classes:
        return {"name": name, "kind": "numeric", "missing": missing}, findings
    counts = y.value_counts(dropna=False)
    balance = [{"label": "(missing)" if pd.isna(k) else category_label(k), "count": int(c), "share": float(c / n)}
               for k, c in counts.items()]
    out: dict[str, Any] = {"name": name, "kind": "classes", "missing": missing, "class_balance": balance}
    labelled = counts[counts.index.notna()]
    if len(labelled) >= 2:
        ratio = float(labelled.iloc[0] / labelled.iloc[-1])
        out["imbalance_ratio"] = ratio
        major, minor = category_label(labelled.index[0]), category_label(labelled.index[-1])
        if ratio >= IMBALANCE_INFO_RATIO:
            warning = ratio >= IMBALANCE_WARNING_RATIO
            findings.append(Finding(
                code="class_imbalance", severity="warning" if warning else "info", column=name,
                score=(0.4 + 0.2 * (1 - IMBALANCE_WARNING_RATIO / ratio)) if warning else ratio / 100.0,
                spec_change="metric: average_precision" if len(labelled) == 2 and warning else None,
                message=f"the classes of {name!r} are imbalanced {ratio:.1f}:1 ({major!r} {int(labelled.iloc[0]):,} "
                        f"rows, {minor!r} {int(labelled.iloc[-1]):,}): accuracy would reward always answering "
                        f"{major!r}, and a model sees few {minor!r} examples",
                action="keep a metric that does not reward the majority (roc_auc, average_precision, balanced "
                       "accuracy), keep the split stratified, let the search try class weights and SMOTE "
                       "(train.imbalance) and set costs to what each mistake costs"))
    return out, findings


# -- associations ------------------------------------------------------------------------------------
def _associations(
    df: pd.DataFrame, features: list[dict[str, Any]], target: str | None, target_kind: str | None, *,
    sample_rows: int, seed: int, sampled: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, Any], list[Finding]]:
    """Spearman between numeric features, Cramér's V between categorical ones, each feature against the target.
    ``sampled``: the features' ``_sampled`` ranks and levels, where the caller made them already."""
    n = len(df)
    rows = _sample_rows(n, sample_rows, seed)
    numeric = [c["name"] for c in features if c["kind"] == "numeric" and c["unique"] > 1]
    categorical = [c["name"] for c in features if c["kind"] == "categorical" and c["unique"] > 1]
    sampled = sampled or {}

    def column(name: str) -> pd.Series:
        s = df[name]
        return s if rows is None else s.iloc[rows]

    ranks = {name: sampled[name] if name in sampled else _ranks(column(name)) for name in numeric}
    codes = {name: sampled[name] if name in sampled else _codes(column(name)) for name in categorical}
    findings: list[Finding] = []
    out: dict[str, Any] = {"sample_rows": n if rows is None else int(rows.size), "rows": n}
    if len(numeric) >= 2:
        matrix = pd.DataFrame(ranks).corr().to_numpy()  # Pearson of ranks over the pairs present: Spearman
        out["numeric"] = {"method": "spearman", "columns": numeric, "matrix": _plain_matrix(matrix)}
        findings += _pairs(numeric, matrix, "Spearman rho")
    if len(categorical) >= 2:
        k = len(categorical)
        matrix = np.eye(k)
        for i in range(k):
            for j in range(i + 1, k):
                matrix[i, j] = matrix[j, i] = _cramers_v(codes[categorical[i]], codes[categorical[j]])
        out["categorical"] = {"method": "cramers_v_bias_corrected", "columns": categorical,
                              "matrix": _plain_matrix(matrix)}
        findings += _pairs(categorical, matrix, "Cramér's V")
    if target is not None and target_kind is not None:
        out["target"] = _against_target(column(target), target_kind, ranks, codes)
    return out, findings


def _sample_rows(n: int, sample_rows: int, seed: int) -> np.ndarray | None:
    """The rows associations are measured on, in order (None: every row)."""
    return np.sort(np.random.default_rng(seed).choice(n, sample_rows, replace=False)) if n > sample_rows else None


def _sampled(s: pd.Series, rows: np.ndarray | None, kind: str) -> np.ndarray:
    """A feature's ranks (numeric) or levels (categorical) on the associations' sample ``rows``."""
    part = s if rows is None else s.iloc[rows]
    return _ranks(part) if kind == "numeric" else _codes(part)


def _ranks(s: pd.Series) -> np.ndarray:
    v = s.to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(np.where(np.isfinite(v), v, np.nan)).rank().to_numpy()


def _codes(s: pd.Series) -> np.ndarray:
    """Integer levels 0..k-1, most frequent first; missing is a level, and the levels beyond
    ASSOCIATION_LEVELS or rarer than MIN_LEVEL_ROWS are pooled into one (the last)."""
    raw, _ = pd.factorize(s, use_na_sentinel=True)
    raw = np.where(raw < 0, raw.max(initial=-1) + 1, raw)
    counts = np.bincount(raw)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    kept = min(ASSOCIATION_LEVELS, int((counts >= MIN_LEVEL_ROWS).sum()))
    return np.minimum(rank[raw], kept)


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V with Bergsma's bias correction (zero for independent columns, whatever their levels)."""
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype("float64")
    table = table[table.sum(axis=1) >= MIN_LEVEL_ROWS][:, table.sum(axis=0) >= MIN_LEVEL_ROWS]
    n = table.sum()
    r, k = table.shape
    if n < 2 or r < 2 or k < 2:
        return float("nan")
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    phi2 = float(((table - expected) ** 2 / expected).sum() / n)
    phi2 = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_, k_ = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_ - 1, r_ - 1)
    return float(math.sqrt(phi2 / denominator)) if denominator > 0 else float("nan")


def _correlation_ratio(levels: np.ndarray, values: np.ndarray) -> float:
    """eta: the share of ``values``' spread that the levels explain, square-rooted (0 none, 1 all)."""
    present = ~np.isnan(values)
    levels, values = levels[present], values[present]
    if values.size < 2:
        return float("nan")
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return float("nan")
    counts = np.bincount(levels)
    sums = np.bincount(levels, weights=values)
    seen = counts > 0
    between = float((sums[seen] ** 2 / counts[seen]).sum() - values.sum() ** 2 / values.size)
    return float(math.sqrt(min(max(between / total, 0.0), 1.0)))


def _against_target(
    y: pd.Series, kind: str, ranks: dict[str, np.ndarray], codes: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    """Each feature's association with the target, strongest first, each on a 0..1 scale.

    Classes: the correlation ratio of a number, Cramér's V of a category. A numeric target:
    |Spearman rho| of a number, the correlation ratio of the target over a category's levels.
    """
    out: list[dict[str, Any]] = []
    if kind == "classes":
        labelled = y.notna().to_numpy()
        levels = _codes(y)
        for name, r in ranks.items():
            out.append({"column": name, "measure": "correlation_ratio",
                        "value": _correlation_ratio(levels[labelled], r[labelled])})
        for name, c in codes.items():
            out.append({"column": name, "measure": "cramers_v", "value": _cramers_v(c[labelled], levels[labelled])})
    else:
        target_ranks = _ranks(y)
        for name, r in ranks.items():
            both = ~np.isnan(r) & ~np.isnan(target_ranks)
            rho = np.corrcoef(r[both], target_ranks[both])[0, 1] if both.sum() > 2 else float("nan")
            out.append({"column": name, "measure": "abs_spearman", "value": abs(float(rho))})
        values = y.to_numpy(dtype="float64", na_value=np.nan)
        for name, c in codes.items():
            out.append({"column": name, "measure": "correlation_ratio", "value": _correlation_ratio(c, values)})
    for row in out:
        row["value"] = None if row["value"] is None or math.isnan(row["value"]) else float(row["value"])
    return sorted(out, key=lambda r: -1.0 if r["value"] is None else -r["value"])


def _pairs(names: list[str], matrix: np.ndarray, measure: str) -> list[Finding]:
    """Features that move together: one finding per group of features linked by pairs above CORRELATED
    (carat, x, y and z of diamonds are one group, not six pairs)."""
    k = len(names)
    group = list(range(k))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    strong = [(i, j, float(matrix[i, j])) for i in range(k) for j in range(i + 1, k)
              if not np.isnan(matrix[i, j]) and abs(matrix[i, j]) > CORRELATED]
    for i, j, _ in strong:
        group[root(j)] = root(i)
    out: list[Finding] = []
    for head in sorted({root(i) for i, _, _ in strong}):
        members = [names[i] for i in range(k) if root(i) == head]
        values = [v for i, _, v in strong if root(i) == head]
        top = max(values, key=abs)
        copy = abs(top) >= COPY_CORRELATED
        keep, rest = members[0], members[1:]
        if len(members) == 2:
            message = f"columns {keep!r} and {rest[0]!r} carry the same information ({measure} {top:.4f})"
        else:
            quoted = ", ".join(repr(m) for m in members[:-1]) + f" and {members[-1]!r}"
            message = (f"columns {quoted} carry nearly the same information (|{measure}| above {CORRELATED} for "
                       f"{len(values)} of their pairs, up to {abs(top):.4f})")
        out.append(Finding(
            code="correlated_features", severity="warning" if copy else "info", column=keep,
            score=abs(top) * (0.3 if copy else 0.5), spec_change=f"data.exclude: [{', '.join(rest)}]",
            message=message,
            action=f"keep one of them (e.g. {keep!r}) and add the others to data.exclude: together they split "
                   "importance and make linear models unstable"))
    return out


def _plain_matrix(matrix: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(x) else round(float(x), 4) for x in row] for row in matrix]


def profile_report(profile: dict[str, Any], contract: Contract, *, source: str) -> Report:
    """The HTML + JSON report of ``profile`` and ``contract``, drawn by the report layer."""
    return draw_profile_report(
        profile,
        contract.to_dict(),
        source=source,
        contract_rows=[
            {"column": c.name, "kind": c.kind, "nullable": c.nullable, "min": c.min, "max": c.max,
             "categories": ", ".join(c.categories or [])}
            for c in contract.columns
        ],
    )

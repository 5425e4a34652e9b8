"""Profiling: column types, gaps, class balance, duplicates, IQR outliers; as numbers and a report."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data._contract import Contract, empty_column_warning, empty_columns, is_categorical_dtype
from tabloop.data._findings import rank_findings
from tabloop.report import Report
from tabloop.report import profile_report as draw_profile_report

log = logging.getLogger("tabloop.data")


def profile_frame(
    df: pd.DataFrame, *, target: str | None = None, ignored: Sequence[str] = (),
    types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The numbers of a profile, JSON-ready, with ``warnings`` about columns the model cannot use as they are.

    Each column's ``type`` is its semantic type (``types``, the spec's ``data.types``, where given, else
    inferred); ``findings`` says which columns their type keeps out of the features, as ``infer_contract`` does.
    """
    from tabloop.data._types import excluded_by_type, resolve_types, type_findings

    semantic = resolve_types(df, types)
    empty = empty_columns(df, target=target, ignored=ignored)
    by_type = [c for c in excluded_by_type(semantic, target=target, ignored=ignored) if c not in empty]
    ignored = [*ignored, *by_type]
    found = rank_findings(type_findings(df, {c: semantic[c] for c in by_type}, overrides=types or {}))
    columns: list[dict[str, Any]] = []
    for name in df.columns:
        s = df[name]
        missing = int(s.isna().sum())
        entry: dict[str, Any] = {
            "name": str(name),
            "dtype": str(s.dtype),
            "kind": "categorical" if is_categorical_dtype(s) else "numeric",
            "type": semantic[str(name)],
            "missing": missing,
            "missing_share": missing / len(df) if len(df) else 0.0,
            "unique": int(s.nunique(dropna=True)),
            "role": "target" if name == target else "excluded" if name in ignored or name in empty else "feature",
        }
        if entry["kind"] == "numeric":
            v = s.dropna().to_numpy(dtype="float64")
            if v.size:
                q1, med, q3 = np.percentile(v, [25, 50, 75])
                iqr = q3 - q1
                lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
                entry.update(
                    mean=float(v.mean()),
                    std=float(v.std(ddof=1)) if v.size > 1 else 0.0,
                    min=float(v.min()),
                    p25=float(q1),
                    median=float(med),
                    p75=float(q3),
                    max=float(v.max()),
                    outliers_iqr=int(((v < lo) | (v > hi)).sum()),
                )
        else:
            top = s.value_counts(dropna=True).head(10)
            entry["top"] = [{"value": str(k), "count": int(c)} for k, c in top.items()]
        columns.append(entry)
    features = [c["name"] for c in columns if c["role"] == "feature"]
    said = _numbers_kept_as_text(df, features) + _identifiers(df, features) + _unlabelled(df, target)
    for warning in said:  # infer_contract says the empty columns' warnings, which it acts on
        log.warning("%s", warning)
    warnings = [empty_column_warning(name, len(df)) for name in empty] + said + [str(f) for f in found]
    out: dict[str, Any] = {
        "rows": int(len(df)),
        "columns": columns,
        "duplicate_rows": int(df.duplicated().sum()),
        "missing_cells": int(df.isna().sum().sum()),
        "warnings": warnings,
        "findings": [f.to_dict() for f in found],
    }
    if target is not None and target in df.columns:
        counts = df[target].value_counts(dropna=False)
        if df[target].nunique() <= 50:
            out["class_balance"] = [
                {"label": str(k), "count": int(c), "share": float(c / len(df))} for k, c in counts.items()
            ]
    return out


#: a text column counts as numbers with a few bad cells when at least this share of its values are numbers
MOSTLY_NUMBERS = 0.9


def _numbers_kept_as_text(df: pd.DataFrame, features: list[str]) -> list[str]:
    """Text columns whose values are nearly all numbers: a few stray cells turned a number column into categories."""
    out: list[str] = []
    for name in features:
        s = df[name]
        if not is_categorical_dtype(s) or pd.api.types.is_bool_dtype(s.dtype):
            continue
        present = s.dropna()
        parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
        bad = parsed.isna().to_numpy()
        if not len(present) or not bad.any() or bad.mean() > 1 - MOSTLY_NUMBERS:
            continue
        positions = np.flatnonzero(df[name].notna().to_numpy())[bad]
        cells = ", ".join(f"row {int(i)} {df[name].iat[int(i)]!r}" for i in positions[:5])
        more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
        verb = "is" if len(positions) == 1 else "are"
        out.append(
            f"column {name!r} holds numbers but {len(positions)} of its {len(present)} values {verb} not "
            f"({cells}{more}; rows count from 0 after the header): it is treated as categories; "
            "blank or fix those cells to keep it numeric"
        )
    return out


def _identifiers(df: pd.DataFrame, features: list[str]) -> list[str]:
    """Columns with a different whole number or text in every row: row numbers or keys, not features."""
    out: list[str] = []
    if len(df) < 20:
        return out
    for name in features:
        s = df[name]
        if s.isna().any() or s.nunique() != len(df) or pd.api.types.is_bool_dtype(s.dtype):
            continue
        if not is_categorical_dtype(s) and not bool(np.all(np.mod(s.to_numpy(dtype="float64"), 1) == 0)):
            continue  # distinct measurements (e.g. incomes with cents) are ordinary numbers
        out.append(
            f"column {name!r} has a different value in every row (an identifier or a row number?): as a feature "
            "it can only memorise rows; set data.id_column to it or add it to data.exclude in tabloop.yaml"
        )
    return out


def _unlabelled(df: pd.DataFrame, target: str | None) -> list[str]:
    """A target with gaps or a single value: training refuses it, so say it before."""
    if target is None or target not in df.columns:
        return []
    out: list[str] = []
    y = df[target]
    if y.isna().any():
        out.append(f"the target {target!r} is empty in {int(y.isna().sum())} row(s): training refuses them; "
                   "drop or label those rows")
    if y.nunique() < 2:
        out.append(f"the target {target!r} holds {y.nunique()} distinct value(s): a model has nothing to learn; "
                   "check data.source and data.target")
    return out


def profile_report(profile: dict[str, Any], df: pd.DataFrame, contract: Contract, *, source: str) -> Report:
    """The HTML + JSON report of ``profile`` (of ``df``) and ``contract``, drawn by the report layer."""
    numeric = [c["name"] for c in profile["columns"] if c["kind"] == "numeric" and c.get("role") == "feature"]
    return draw_profile_report(
        profile,
        contract.to_dict(),
        source=source,
        numeric_values={name: df[name].dropna().to_numpy(dtype=float) for name in numeric},
        contract_rows=[
            {"column": c.name, "kind": c.kind, "nullable": c.nullable, "min": c.min, "max": c.max,
             "categories": ", ".join(c.categories or [])}
            for c in contract.columns
        ],
    )

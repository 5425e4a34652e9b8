"""``tabloop profile``: the data's profile as HTML + JSON, and its contract saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.api._leakage import data_findings, findings_dicts
from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.data import (
    Contract,
    ContractPolicy,
    Finding,
    frame_fingerprint,
    infer_contract,
    profile_frame,
    profile_report,
    split_train_test,
)
from tabloop.errors import DataError
from tabloop.report import LEAKAGE_HEADING, findings_html


@dataclass
class ProfileResult(Result):
    rows: int
    columns: int
    missing_cells: int
    duplicate_rows: int
    class_balance: list[dict[str, Any]] | None
    contract: Path
    report_html: Path
    report_json: Path
    data_hash: str
    #: columns the model cannot use as they are (no values at all, numbers with stray text), said before training
    warnings: list[str]
    #: each column's semantic type (data.types where set, else inferred): numeric, categorical, boolean,
    #: datetime, text or identifier; the last three are kept out of the features
    types: dict[str, str] = field(default_factory=dict)
    source: str = ""
    #: leaks in the whole table and the shift between the parts of the spec's split (tabloop.data.Finding),
    #: most dangerous first
    leakage: list[dict[str, Any]] = field(default_factory=list)


def profile(project: str | Path | None = None, *, data: str | Path | pd.DataFrame | None = None) -> ProfileResult:
    """Profile the spec's data (or ``data``: a DataFrame, or a file path or URL in place of ``data.source``) and
    save the data contract to ``.tabloop/contract.json``."""
    proj = Project.open(project)
    spec = proj.spec
    df = proj.read_data(data)
    ignored = ignored_columns(spec)
    contract = infer_contract(df, target=spec.data.target, ignored=ignored, types=spec.data.types).with_policy(
        ContractPolicy.from_spec(spec.contract))
    numbers = profile_frame(df, target=spec.data.target, ignored=ignored, types=spec.data.types)
    digest = frame_fingerprint(df)
    source = proj.data_name(data)
    report = profile_report(numbers, df, contract, source=source)
    leakage = _leakage(spec, df, contract)
    report.data["leakage"] = findings_dicts(leakage)
    section = findings_html(report.data["leakage"], none=(
        "No column predicts the target too well alone (copies, identifiers, timestamps, gaps, the row order) and no "
        "classifier tells the test part of the spec's split from its training part."))
    # near the top: a leak matters more than any histogram below it
    at = next((i + 1 for i, (heading, _) in enumerate(report.sections) if heading == "Overview"), len(report.sections))
    report.sections.insert(at, (LEAKAGE_HEADING, section))
    html_path, json_path = report.write(proj.report_dir(), f"profile-{digest[:12]}")
    contract_path = contract.save(proj.workspace.contract_path)
    return ProfileResult(
        rows=numbers["rows"],
        columns=len(numbers["columns"]),
        missing_cells=numbers["missing_cells"],
        duplicate_rows=numbers["duplicate_rows"],
        class_balance=numbers.get("class_balance"),
        contract=contract_path,
        report_html=html_path,
        report_json=json_path,
        data_hash=digest,
        warnings=numbers["warnings"],
        types={c["name"]: c["type"] for c in numbers["columns"]},
        source=source,
        leakage=findings_dicts(leakage),
    )


def _leakage(spec: Any, df: pd.DataFrame, contract: Contract) -> list[Finding]:
    """Leakage on the whole table; shift between the parts the spec's split would make (when it can make them)."""
    try:
        train, test = split_train_test(df, spec)
    except DataError:  # too few rows, a class too small to stratify: train will say so; the leak checks still run
        train = test = None
    return data_findings(spec, contract.feature_names, excluded=contract.ignored, table=df, train=train, test=test)


def ignored_columns(spec: Any) -> list[str]:
    cols = list(spec.data.exclude)
    for extra in (spec.data.id_column, spec.split.group_column, spec.split.time_column):
        if extra and extra not in cols and extra != spec.data.target:
            cols.append(extra)
    return cols

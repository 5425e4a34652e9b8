"""``tabloop profile``: the data's profile as HTML + JSON, and its contract saved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.data import ContractPolicy, frame_fingerprint, infer_contract, profile_frame, profile_report


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


def profile(project: str | Path | None = None) -> ProfileResult:
    """Profile the spec's data and save the data contract to ``.tabloop/contract.json``."""
    proj = Project.open(project)
    spec = proj.spec
    df = proj.read_data()
    ignored = ignored_columns(spec)
    contract = infer_contract(df, target=spec.data.target, ignored=ignored).with_policy(
        ContractPolicy.from_spec(spec.contract))
    numbers = profile_frame(df, target=spec.data.target, ignored=ignored)
    digest = frame_fingerprint(df)
    report = profile_report(numbers, df, contract, source=spec.data.source)
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
    )


def ignored_columns(spec: Any) -> list[str]:
    cols = list(spec.data.exclude)
    for extra in (spec.data.id_column, spec.split.group_column, spec.split.time_column):
        if extra and extra not in cols and extra != spec.data.target:
            cols.append(extra)
    return cols

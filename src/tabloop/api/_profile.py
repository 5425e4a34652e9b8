"""``tabloop profile``: the data's profile as HTML + JSON, and its contract saved."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.data import (
    Contract,
    ContractPolicy,
    Finding,
    infer_contract,
    profile_frame,
    profile_report,
    resolve_types,
    text_levels,
)
from tabloop.errors import DataError
from tabloop.report import LEAKAGE_HEADING, findings_html
from tabloop.spec import Spec


@dataclass
class ProfileResult(Result):
    rows: int
    columns: int
    missing_cells: int
    duplicate_rows: int
    duplicate_share: float
    class_balance: list[dict[str, Any]] | None
    contract: Path
    report_html: Path
    report_json: Path
    data_hash: str
    #: what a person should act on before training (``Finding.to_dict()``), most important first
    findings: list[dict[str, Any]]
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
    # resolved once for the contract and the profile, and each text column factorized once for the three: each
    # read every column
    levels = text_levels(df)
    semantic = resolve_types(df, spec.data.types, levels=levels)

    def learn() -> tuple[Contract, list[Finding]]:
        with said_as_findings():
            contract = infer_contract(df, target=spec.data.target, ignored=ignored, types=spec.data.types,
                                      semantic=semantic, levels=levels).with_policy(ContractPolicy.from_spec(spec.contract))
        return contract, _leakage(spec, df, contract)

    # the contract and the leak checks run beside the profile, on a second core where there is one
    with ThreadPoolExecutor(max_workers=1) as pool:
        learning = pool.submit(learn)
        numbers = profile_frame(df, target=spec.data.target, ignored=ignored, types=spec.data.types,
                                id_column=spec.data.id_column, task=spec.data.task, seed=spec.seed,
                                semantic=semantic, levels=levels)
        contract, leakage = learning.result()
    numbers["findings"] = [f.to_dict() for f in missing_target_said(spec, df, [Finding(**d) for d in numbers["findings"]])]
    digest = numbers["data_hash"]  # frame_fingerprint(df), from the hashes the profile made anyway
    source = proj.data_name(data)
    report = profile_report(numbers, contract, source=source)
    report.data["leakage"] = [f.to_dict() for f in leakage]
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
        duplicate_share=numbers["duplicate_share"],
        class_balance=numbers.get("class_balance"),
        contract=contract_path,
        report_html=html_path,
        report_json=json_path,
        data_hash=digest,
        findings=numbers["findings"],
        types={c["name"]: c["type"] for c in numbers["columns"]},
        source=source,
        leakage=report.data["leakage"],
    )


def missing_target_said(spec: Spec, df: pd.DataFrame, findings: list[Finding]) -> list[Finding]:
    """The profile's finding about rows without a target, said as what training does with them under
    ``data.missing_target: drop``: leaves them out (a warning, with the count), rather than refuses them."""
    target = spec.data.target
    if spec.data.missing_target != "drop" or target not in df.columns:
        return findings
    n = int(df[target].isna().sum())
    said = [f for f in findings if f.code != "target_missing"]
    if not n:
        return said
    said.insert(0, Finding(code="target_missing", severity="warning", column=target, score=n / max(len(df), 1),
                         message=f"the target {target!r} is empty in {n} row(s): training leaves them out "
                                 "(data.missing_target: drop)",
                         action="label those rows to train on them"))
    return said


@contextlib.contextmanager
def said_as_findings() -> Iterator[None]:
    """Quiet ``tabloop.data``'s warnings (the contract logs each column it leaves out) while a command
    that says the same things as ranked findings learns its contract: each is said once."""
    logger = logging.getLogger("tabloop.data")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


#: the shift check compares a few thousand rows of each part (``tabloop.data.shift_findings``): the spec's split of
#: a random sample of this many rows hands it the same parts as splitting millions, for a fraction of the time
#: (splitting 1,000,000 rows took 2 s)
SHIFT_SPLIT_ROWS = 100_000


def _leakage(spec: Any, df: pd.DataFrame, contract: Contract) -> list[Finding]:
    """Leakage on the whole table; shift between the parts the spec's split would make, when it can make them
    and when they can differ: a random or stratified split draws both parts from the same shuffled rows, so a
    classifier telling them apart could only find chance (and would cost seconds on a large table)."""
    from tabloop.api._leakage import data_findings

    train = test = None
    if spec.split.strategy not in ("random", "stratified"):
        # scikit-learn (the split, and the shift check's classifier) only where the shift is checked: importing it
        # cost more than every leak check together
        from tabloop.data import split_train_test

        part = df if len(df) <= SHIFT_SPLIT_ROWS else (
            df.sample(n=SHIFT_SPLIT_ROWS, random_state=spec.seed).sort_index().reset_index(drop=True))
        try:
            train, test = split_train_test(part, spec)
        except DataError:  # too few rows, a class too small to stratify: train will say so; the leak checks still run
            pass
    return data_findings(spec, contract.feature_names, excluded=contract.ignored, table=df, train=train, test=test)


def ignored_columns(spec: Any) -> list[str]:
    cols = list(spec.data.exclude)
    features = spec.features
    # an entity table's join keys and label times find the features; they are not features themselves
    entity = [*features.join_keys(), features.entity_timestamp] if features.entity_timestamp else []
    for extra in (spec.data.id_column, spec.split.group_column, spec.split.time_column, *entity):
        if extra and extra not in cols and extra != spec.data.target:
            cols.append(extra)
    return cols

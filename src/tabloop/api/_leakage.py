"""Leakage and train/test shift checks for ``profile`` and ``train``: the spec's columns and split handed to the data layer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from tabloop.data import Finding, infer_task, leakage_findings, rank_findings, shift_findings
from tabloop.errors import DataError

log = logging.getLogger("tabloop.data")


def data_findings(
    spec: Any,
    features: Sequence[str],
    *,
    excluded: Sequence[str] = (),
    table: pd.DataFrame,
    train: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
) -> list[Finding]:
    """Leakage in ``table`` and, given both parts of a split, the test part's shift from the training part; ranked.

    ``excluded``: the contract's ignored columns (data.exclude and those its semantic types keep out),
    whose identifiers and timestamps are checked too.

    Advice, never a reason to stop: a check that fails on unusual data is logged and skipped, so
    that it cannot cost a person the run it was meant to improve.
    """
    target = spec.data.target
    findings: list[Finding] = []
    try:
        task = spec.data.task or infer_task(table[target])
        findings += leakage_findings(
            table, target, task, features=features, id_column=spec.data.id_column,
            time_column=spec.split.time_column, split_strategy=spec.split.strategy, excluded=excluded,
            seed=spec.seed,
        )
        if train is not None and test is not None and len(test):
            findings += shift_findings(train, test, features=features, split_strategy=spec.split.strategy,
                                       seed=spec.seed)
    except DataError as exc:  # a target with one value: training says so in its own words
        log.debug("leakage and shift checks skipped: %s", exc)
    except Exception as exc:  # noqa: BLE001 - see the docstring: advice must not stop the run
        log.warning("leakage and shift checks skipped: %s: %s", type(exc).__name__, exc)
    return rank_findings(findings)


def said(finding: Finding) -> str:
    """One line for a person: severity, what, what to do, and the edit of tabloop.yaml."""
    edit = f" (tabloop.yaml: {finding.spec_change})" if finding.spec_change else ""
    return f"{finding.severity.upper()}: {finding.message}; {finding.action}{edit}"


def findings_dicts(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in findings]

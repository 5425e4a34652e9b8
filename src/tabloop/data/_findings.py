"""Findings about a table: what is wrong or risky, how much it matters, and what to do about it.

Every check of the data (profile warnings, leakage, train/test shift) reports ``Finding``
values; ``rank_findings`` orders them so the one that most endangers the model comes first,
and ``profile``, ``train`` and the reports all show them in that order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]
#: critical: the model will be wrong or useless as trained (a leak, an empty target);
#: warning: it will be worse than it could be (duplicates, an all-missing column);
#: info: worth knowing, no action needed unless it surprises you
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One thing a person should know about the data before trusting a model trained on it.

    ``score`` orders findings of one severity (larger matters more: a share of rows, an AUC
    above chance, ...); ``action`` is what to do in words (drop, exclude, impute, dedupe);
    ``spec_change`` is the one edit of tabloop.yaml that acts on it, when there is one.
    """

    code: str
    severity: Severity
    message: str
    action: str
    column: str | None = None
    score: float = 0.0
    spec_change: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.message}; {self.action}"


def rank_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most important first: by severity, then by score (descending), then by column name for a stable order."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], -f.score, f.column or "", f.code))

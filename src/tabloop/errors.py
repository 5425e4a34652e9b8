"""The one exception tree of tabloop.

Every error a user can cause is a ``TabloopError``: its message says what was
wrong, where (file, key, column, row) and what to do. The CLI prints it as one
line and exits non-zero; the HTTP app maps it to a 4xx in one place.

::

    TabloopError
    ├── SpecError                 tabloop.yaml is missing, malformed or invalid
    ├── WorkspaceError            the project folder or .tabloop/ is not usable
    ├── DataError                 a table cannot be read or is unusable
    │   ├── ContractViolation     rows break the data contract (all listed)
    │   └── UnloggableRecords     records that cannot be encoded as a prediction log line
    ├── TrainingError             no candidate could be trained
    ├── TrackingError             the tracking store or registry failed
    │   ├── ModelNotFoundError    no such model version or alias
    │   └── PromotionConflictError  an alias moved while it was being moved
    ├── ServingError              the server cannot start or load a model
    ├── PredictionLogError        the prediction log cannot be written (disk full, read-only, unsafe file)
    ├── ServingClosed             records handed to a prediction log writer that has stopped
    ├── SignatureError            a model version is unsigned or signed with another key, or no key is usable
    └── PolicyError               a policy cannot be applied to these inputs
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ContractViolation",
    "DataError",
    "ModelNotFoundError",
    "PolicyError",
    "PredictionLogError",
    "PromotionConflictError",
    "ServingClosed",
    "ServingError",
    "SignatureError",
    "SpecError",
    "TabloopError",
    "TrackingError",
    "TrainingError",
    "UnloggableRecords",
    "Violation",
    "WorkspaceError",
]


class TabloopError(Exception):
    """Base of every error tabloop raises on purpose."""

    #: short machine-readable code, used in JSON output and HTTP answers
    code: str = "tabloop_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class SpecError(TabloopError):
    code = "spec_error"


class WorkspaceError(TabloopError):
    code = "workspace_error"


class DataError(TabloopError):
    code = "data_error"


@dataclass(frozen=True)
class Violation:
    """One broken rule: which column, which row (None for the whole column), which rule."""

    column: str | None
    rule: str
    message: str
    row: int | None = None
    value: Any = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "rule": self.rule, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        if self.value is not None:
            out["value"] = _jsonable(self.value)
        return out

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column is not None else "input"
        if self.row is not None:
            where += f", row {self.row}"
        return f"{where}: {self.message} [{self.rule}]"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)


class ContractViolation(DataError):
    """Rows that break the data contract; ``violations`` lists every one found."""

    code = "contract_violation"
    #: how many violations the message spells out before summarising
    shown = 5

    def __init__(self, violations: list[Violation], *, source: str = "input") -> None:
        self.violations = list(violations)
        self.source = source
        head = "; ".join(str(v) for v in self.violations[: self.shown])
        more = len(self.violations) - self.shown
        tail = f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"{source} breaks the data contract in {len(self.violations)} place(s): {head}{tail}",
            hint="fix the listed values, or re-run 'tabloop profile' if the contract itself is out of date",
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["violations"] = [v.to_dict() for v in self.violations]
        return out


class TrainingError(TabloopError):
    code = "training_error"


class TrackingError(TabloopError):
    code = "tracking_error"


class ModelNotFoundError(TrackingError):
    code = "model_not_found"


class PromotionConflictError(TrackingError):
    """Another process moved the alias between this one reading it and moving it."""

    code = "promotion_conflict"


class ServingError(TabloopError):
    code = "serving_error"


class SignatureError(TabloopError):
    """A model version cannot be trusted: unsigned, wrongly signed, or no usable signing key (docs/trust.md)."""

    code = "signature_error"


# -- the prediction log (raised by tabloop.predlog, importable from it too) --------------------------------
class PredictionLogError(TabloopError):
    """The prediction log could not be written (disk full, read-only, permissions)."""

    code = "prediction_log_unavailable"

    def __init__(self, path: Path, cause: OSError, *, unsafe: str | None = None) -> None:
        self.path = path
        self.errno = cause.errno
        if unsafe is not None:
            # not the disk: something other than the log's own file sits where it belongs
            super().__init__(
                f"{path}: refusing to write the prediction log: {unsafe}",
                hint="remove or rename it so that tabloop creates a file of its own there; the log folder itself "
                "may be a symbolic link",
            )
            return
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        if cause.errno == errno.ENOSPC:
            hint = "the disk is full: free space; writes resume by themselves"
        elif cause.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            hint = "the log folder is not writable: fix its permissions or mount; writes resume by themselves"
        else:
            hint = "check disk space and permissions of the log folder"
        super().__init__(f"{path}: cannot write the prediction log: {reason} ({cause})", hint=hint)


class ServingClosed(TabloopError):
    """Records handed to a prediction log writer that has already stopped."""

    code = "prediction_log_closed"


class UnloggableRecords(DataError):
    """Some records could not be encoded as JSON; ``written`` others were logged."""

    def __init__(self, written: int, reasons: list[str]) -> None:
        self.written = written
        self.refused = len(reasons)
        super().__init__(f"{len(reasons)} record(s) could not be written to the prediction log: {reasons[0]}")


class PolicyError(TabloopError):
    code = "policy_error"

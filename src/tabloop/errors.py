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
    │   ├── PromotionConflictError  an alias moved while it was being moved
    │   └── PromotionRefused      the promotion gate (or a rollback) refused the move, with the numbers
    ├── ServingError              the server cannot start or load a model
    ├── PredictionLogError        the prediction log cannot be written (disk full, read-only, unsafe file)
    ├── ServingClosed             records handed to a prediction log writer that has stopped
    ├── SignatureError            a model version is unsigned or signed with another key, or no key is usable
    ├── PolicyError               a policy cannot be applied to these inputs
    ├── ModelTestsFailed          a model version failed its model tests (tabloop test), each outcome listed
    ├── NotConvertible            a pipeline has a part ONNX cannot express (export falls back to the pipeline)
    ├── PackagingError            a deployment build context cannot be written (tabloop package)
    │
    │   the HTTP request path (tabloop.serving maps each to one status, serving/_errors.py)
    ├── RequestRejected           the request itself (not its rows' values) is unusable: 400
    │   ├── MalformedRequest      not JSON, the wrong shape, rows that are not objects: 400
    │   ├── PayloadTooLarge       too many bytes or rows: 413
    │   ├── UnsupportedMediaType  a Content-Type the route does not read: 415
    │   ├── NotFound              a model or version not served here: 404
    │   ├── Unauthenticated       no API key, or an unknown one: 401
    │   ├── Forbidden             a key without the route's scope: 403
    │   │   └── CrossOrigin       a change sent by another origin's page: 403
    │   ├── MisdirectedRequest    a Host header naming another server: 421
    │   └── TooManyRequests       more requests in flight than the server takes: 429
    ├── RequestTimeout            the prediction outlived the request time limit: 504
    ├── NotReady                  starting or draining: 503
    ├── LogUnavailable            the answer could not be logged, so it is not given: 503
    ├── ClientDisconnected        the client left before its request was read: 499
    └── InternalError             an unexpected exception, wrapped with its cause: 500
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabloop._plain import shown

__all__ = [
    "ClientDisconnected",
    "ContractViolation",
    "CrossOrigin",
    "DataError",
    "Forbidden",
    "InternalError",
    "LogUnavailable",
    "MalformedRequest",
    "MisdirectedRequest",
    "ModelNotFoundError",
    "ModelTestsFailed",
    "NotConvertible",
    "NotFound",
    "NotReady",
    "PackagingError",
    "PayloadTooLarge",
    "PolicyError",
    "PredictionLogError",
    "PromotionConflictError",
    "PromotionRefused",
    "RequestRejected",
    "RequestTimeout",
    "ServingClosed",
    "ServingError",
    "SignatureError",
    "SpecError",
    "TabloopError",
    "TooManyRequests",
    "TrackingError",
    "TrainingError",
    "Unauthenticated",
    "UnloggableRecords",
    "UnsupportedMediaType",
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
            out["value"] = shown(self.value)
        return out

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column is not None else "input"
        if self.row is not None:
            where += f", row {self.row}"
        return f"{where}: {self.message} [{self.rule}]"


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


class PromotionRefused(TrackingError):
    """The promotion gate (or a rollback) found no grounds for the move; the numbers say why."""

    code = "promotion_refused"


class ServingError(TabloopError):
    code = "serving_error"


class PackagingError(TabloopError):
    """A deployment build context cannot be written: the folder is taken, tabloop's files cannot be found."""

    code = "packaging_error"


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


class ModelTestsFailed(TabloopError):
    """A model version failed tests of its generated suite (``tabloop test``); ``tests`` holds every test's outcome."""

    code = "model_tests_failed"

    def __init__(self, message: str, *, tests: list[dict[str, Any]] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tests = list(tests or [])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "tests": self.tests}


class NotConvertible(TabloopError):
    """A pipeline has a part no registered ONNX converter handles; export serves the pipeline instead."""

    code = "not_convertible"


# -- the HTTP request path: serving/_errors.py maps each class to one status ----------------
class RequestRejected(TabloopError):
    """The request itself (not its rows' values) is unusable."""

    code = "bad_request"

    def __init__(self, message: str, *, violations: list[Violation] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.violations = list(violations or [])

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["violations"] = [v.to_dict() for v in self.violations]
        return out


class MalformedRequest(RequestRejected):
    """Not JSON, the wrong top-level shape, rows that are not objects, a bad header."""

    code = "malformed_request"


class PayloadTooLarge(RequestRejected):
    """Too many bytes or too many rows for one request."""

    code = "payload_too_large"


class UnsupportedMediaType(RequestRejected):
    """A Content-Type the route does not read."""

    code = "unsupported_media_type"


class NotFound(RequestRejected):
    """A model or version that is not served here."""

    code = "not_found"


class Unauthenticated(RequestRejected):
    """No API key, or one that matches no configured key."""

    code = "unauthenticated"


class Forbidden(RequestRejected):
    """A valid API key without the scope this route needs."""

    code = "forbidden"


class CrossOrigin(Forbidden):
    """A request that changes something, sent by a browser page of another origin."""

    code = "cross_origin"


class MisdirectedRequest(RequestRejected):
    """A ``Host`` header naming a server this is not (a page rebinding its DNS to this address)."""

    code = "host_not_allowed"


class TooManyRequests(RequestRejected):
    """More requests in flight than the server takes at once."""

    code = "too_many_requests"


class RequestTimeout(TabloopError):
    """The prediction took longer than the request time limit."""

    code = "timeout"


class NotReady(TabloopError):
    """The server is starting or draining and takes no new predictions."""

    code = "not_ready"


class LogUnavailable(TabloopError):
    """The answer could not be written to the prediction log, so it is not given (log_sync: write or ack)."""

    code = "prediction_log_unavailable"


class ClientDisconnected(TabloopError):
    """The client went away before its request was read: nobody is left to answer.

    Answered 499 (nginx's "client closed request"), a status no client sees: it is for
    the access log and the error metrics, so a disconnect is never counted as a 5xx.
    """

    code = "client_disconnected"


class InternalError(TabloopError):
    """Wraps an unexpected exception so it reaches the handlers with its cause attached."""

    code = "internal_error"

"""tabloop: the whole machine-learning lifecycle for tabular data, in one tool.

The Python API mirrors the CLI: ``tabloop.init``, ``tabloop.profile``,
``tabloop.train``, ``tabloop.evaluate``, ``tabloop.promote``, ``tabloop.serve``,
``tabloop.predict``, ``tabloop.monitor``, ``tabloop.feedback``, ``tabloop.retrain``, ``tabloop.export_model``;
``tabloop.load_model`` gives a registered version to predict with in this process.
"""

import importlib
from typing import TYPE_CHECKING, Any

# Names resolve on first use, so 'tabloop --help' does not pay for MLflow and scikit-learn.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["EvaluateResult", "ExportResult", "FeedbackResult", "HistoryResult", "InitResult", "MonitorResult", "PredictResult",
         "ProfileResult", "PromoteResult", "RetrainResult", "RollbackResult", "TrainSummary", "evaluate", "export_model", "feedback",
         "history", "init", "load_model", "monitor", "predict", "profile", "promote", "retrain", "rollback", "serve",
         "train"],
        "tabloop.api",
    ),
    **dict.fromkeys(["Contract", "check_frame"], "tabloop.data"),
    **dict.fromkeys(
        ["ContractViolation", "DataError", "ExportError", "ModelNotFoundError", "PolicyError", "PromotionConflictError", "PromotionRefused",
         "ServingError",
         "SignatureError", "SpecError", "TabloopError", "TrackingError", "TrainingError", "WorkspaceError"],
        "tabloop.errors",
    ),
    **dict.fromkeys(["Spec", "load_spec"], "tabloop.spec"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tabloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from tabloop.api import (
        EvaluateResult,
        ExportResult,
        FeedbackResult,
        HistoryResult,
        InitResult,
        MonitorResult,
        PredictResult,
        ProfileResult,
        PromoteResult,
        RetrainResult,
        RollbackResult,
        TrainSummary,
        evaluate,
        export_model,
        feedback,
        history,
        init,
        load_model,
        monitor,
        predict,
        profile,
        promote,
        retrain,
        rollback,
        serve,
        train,
    )
    from tabloop.data import Contract, check_frame
    from tabloop.errors import (
        ContractViolation,
        DataError,
        ExportError,
        ModelNotFoundError,
        PolicyError,
        PromotionConflictError,
        PromotionRefused,
        ServingError,
        SignatureError,
        SpecError,
        TabloopError,
        TrackingError,
        TrainingError,
        WorkspaceError,
    )
    from tabloop.spec import Spec, load_spec

__version__ = "0.1.0"

__all__ = [
    "Contract",
    "ContractViolation",
    "DataError",
    "EvaluateResult",
    "ExportError",
    "ExportResult",
    "FeedbackResult",
    "HistoryResult",
    "InitResult",
    "ModelNotFoundError",
    "MonitorResult",
    "PolicyError",
    "PromotionConflictError",
    "PromotionRefused",
    "PredictResult",
    "ProfileResult",
    "PromoteResult",
    "RetrainResult",
    "RollbackResult",
    "ServingError",
    "SignatureError",
    "Spec",
    "SpecError",
    "TabloopError",
    "TrackingError",
    "TrainSummary",
    "TrainingError",
    "WorkspaceError",
    "__version__",
    "check_frame",
    "evaluate",
    "export_model",
    "feedback",
    "history",
    "init",
    "load_model",
    "load_spec",
    "monitor",
    "predict",
    "profile",
    "promote",
    "retrain",
    "rollback",
    "serve",
    "train",
]

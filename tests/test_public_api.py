"""Pins what ``tabloop/__init__.py`` exports: changing it is a decision, not an accident."""

from __future__ import annotations

import inspect

import tabloop

EXPECTED = {
    "Contract", "ContractViolation", "DataError", "EvaluateResult", "ExportError", "ExportResult", "FeedbackResult", "HistoryResult", "InitResult",
    "ModelNotFoundError", "MonitorResult", "PolicyError", "PredictResult", "ProfileResult", "PromoteResult",
    "PromotionConflictError", "PromotionRefused", "RetrainResult", "RollbackResult", "ServingError", "SignatureError",
    "Spec", "SpecError", "TabloopError", "TrackingError", "TrainSummary", "TrainingError", "WorkspaceError",
    "__version__", "check_frame", "evaluate", "export_model", "feedback", "history", "init", "load_model", "load_spec", "monitor",
    "predict", "profile", "promote", "retrain", "rollback", "serve", "train",
}

CLI_COMMANDS = {"init", "profile", "train", "evaluate", "promote", "rollback", "history", "serve", "predict", "monitor",
                "feedback", "retrain"}


def test_all_is_pinned() -> None:
    assert set(tabloop.__all__) == EXPECTED


def test_every_name_resolves() -> None:
    for name in tabloop.__all__:
        assert getattr(tabloop, name) is not None, name


def test_python_api_mirrors_the_cli() -> None:
    from typer.main import get_command

    from tabloop.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert CLI_COMMANDS <= commands
    for name in CLI_COMMANDS:
        assert callable(getattr(tabloop, name)), name


def test_public_functions_are_typed() -> None:
    for name in CLI_COMMANDS:
        sig = inspect.signature(getattr(tabloop, name))
        assert sig.return_annotation is not inspect.Signature.empty, name
        for param in sig.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"


def test_errors_share_one_root() -> None:
    for name in ("ContractViolation", "DataError", "ModelNotFoundError", "PolicyError", "PromotionConflictError",
                 "PromotionRefused", "ServingError", "SignatureError", "SpecError", "TrackingError", "TrainingError", "WorkspaceError"):
        assert issubclass(getattr(tabloop, name), tabloop.TabloopError)


def test_verbs_are_functions_after_every_package_is_imported() -> None:
    # each verb's stage package has a different name (training, serving, ...), so importing one never
    # rebinds the verb on the parent package
    import importlib

    for package in ("training", "evaluation", "serving", "monitoring", "preparation", "predlog", "loop", "bundle"):
        importlib.import_module(f"tabloop.{package}")
    for name in CLI_COMMANDS:
        assert inspect.isfunction(getattr(tabloop, name)), name

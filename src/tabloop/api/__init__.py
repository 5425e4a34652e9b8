"""The facade: one function per CLI command, doing the I/O around the pure stages."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.api._cycle import ApproveResult, LoopPassResult, approve, loop_run, loop_watch
    from tabloop.api._evaluate import (
        EvaluateResult,
        HistoryResult,
        PromoteResult,
        RollbackResult,
        evaluate,
        history,
        promote,
        rollback,
    )
    from tabloop.api._export import ExportResult, export_model
    from tabloop.api._features import (
        FeaturesApplyResult,
        FeaturesMaterializeResult,
        feature_repo,
        features_apply,
        features_materialize,
    )
    from tabloop.api._init import InitResult, init
    from tabloop.api._loop import FeedbackResult, RetrainResult, feedback, retrain
    from tabloop.api._model import LoadedModel, MetricScore, held_out_rows, load_model, metric_on
    from tabloop.api._model_tests import GeneratedFile, ModelTestReport, generate_model_tests, run_model_tests
    from tabloop.api._monitor import MonitorResult, monitor
    from tabloop.api._package import PackageResult, package
    from tabloop.api._profile import ProfileResult, profile
    from tabloop.api._project import Project
    from tabloop.api._batch import PredictResult, predict
    from tabloop.api._serve import serve
    from tabloop.api._train import TrainSummary, train

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "ApproveResult",
    "LoopPassResult",
    "approve",
    "loop_run",
    "loop_watch",
    "EvaluateResult",
    "ExportResult",
    "FeaturesApplyResult",
    "FeaturesMaterializeResult",
    "FeedbackResult",
    "HistoryResult",
    "InitResult",
    "GeneratedFile",
    "LoadedModel",
    "MetricScore",
    "ModelTestReport",
    "MonitorResult",
    "PackageResult",
    "PredictResult",
    "ProfileResult",
    "Project",
    "PromoteResult",
    "RetrainResult",
    "RollbackResult",
    "TrainSummary",
    "evaluate",
    "export_model",
    "feature_repo",
    "features_apply",
    "features_materialize",
    "feedback",
    "generate_model_tests",
    "held_out_rows",
    "history",
    "init",
    "load_model",
    "metric_on",
    "monitor",
    "package",
    "predict",
    "profile",
    "promote",
    "retrain",
    "rollback",
    "run_model_tests",
    "serve",
    "train",
]

"""Evaluation (layer 10): metrics by task, thresholds from costs, evaluation reports."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.evaluation._evaluate import EvaluationResult, evaluate_predictions, evaluation_report
    from tabloop.evaluation._metrics import (
        SCORERS,
        TASK_METRICS,
        compute_metrics,
        cost_threshold,
        expected_cost,
        greater_is_better,
        metrics_for,
    )

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "SCORERS",
    "TASK_METRICS",
    "EvaluationResult",
    "compute_metrics",
    "cost_threshold",
    "evaluate_predictions",
    "evaluation_report",
    "expected_cost",
    "greater_is_better",
    "metrics_for",
]

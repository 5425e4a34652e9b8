"""Evaluation (layer 10): metrics by task with bootstrap intervals, the decision threshold, slices, explanations,
evaluation reports."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.evaluation._card import LINEAGE_TAGS, model_card_data
    from tabloop.evaluation._errors import confident_errors
    from tabloop.evaluation._evaluate import EvaluationResult, evaluate_bundle, evaluate_predictions, evaluation_report
    from tabloop.evaluation._importance import permutation_ranking, shap_ranking
    from tabloop.evaluation._metrics import (
        REPORT_METRICS,
        SCORERS,
        TASK_METRICS,
        compute_metrics,
        cost_threshold,
        expected_cost,
        greater_is_better,
        metrics_for,
        report_metrics_for,
    )
    from tabloop.evaluation._resampled import resampled_metrics
    from tabloop.evaluation._slices import slice_labels, slice_metrics
    from tabloop.evaluation._threshold import Decision, choose_threshold, decide, threshold_sentence

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "LINEAGE_TAGS",
    "REPORT_METRICS",
    "SCORERS",
    "TASK_METRICS",
    "Decision",
    "EvaluationResult",
    "choose_threshold",
    "compute_metrics",
    "confident_errors",
    "cost_threshold",
    "decide",
    "evaluate_bundle",
    "evaluate_predictions",
    "evaluation_report",
    "expected_cost",
    "greater_is_better",
    "metrics_for",
    "model_card_data",
    "permutation_ranking",
    "report_metrics_for",
    "resampled_metrics",
    "shap_ranking",
    "slice_labels",
    "slice_metrics",
    "threshold_sentence",
]

"""Monitoring (layer 14): has the world moved since the model was trained, and how is the model doing?

``compute_drift`` compares a current window with the reference, feature by
feature, on the predictions and (with a domain classifier) on all features at
once; ``drift_over_time`` and ``performance_over_time`` follow windows of the
prediction log; ``drift_report`` turns the verdicts into a self-contained HTML
report with the same numbers as JSON. Everything here takes DataFrames and
returns dataclasses: reading the log is the caller's business. ``dashboard_data``
gathers the same timelines for the live page that ``tabloop serve`` shows at ``/dashboard``.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.monitoring._ab import ABComparison, ABSummary, VariantResult, ab_summary, answered_variants
    from tabloop.monitoring._dashboard_data import (
        OutputsTimeline,
        dashboard_data,
        outputs_over_time,
        positive_probability,
        top_drift_features,
    )
    from tabloop.monitoring._drift import DriftJob, DriftResult, FeatureDrift, compute_drift, start_drift
    from tabloop.monitoring._label_selection import batch_mask, holdout_mask, holdout_rows, label_selection_warning, shadow_mask
    from tabloop.monitoring._importance import permutation_importances
    from tabloop.monitoring._multivariate import (
        DomainWorker,
        MultivariateDrift,
        domain_classifier_drift,
        start_domain_worker,
    )
    from tabloop.monitoring._out_of_contract import out_of_contract_summary
    from tabloop.monitoring._paired import Answers, paired_test
    from tabloop.monitoring._shadow import ShadowComparison, ShadowPairs, shadow_comparison, shadow_pairs
    from tabloop.monitoring._performance import (
        Calibration,
        GroupOps,
        HoldoutPerformance,
        PerformanceTimeline,
        WindowPerformance,
        estimate_performance,
        expected_roc_auc,
        fit_calibration,
        performance_over_time,
    )
    from tabloop.monitoring._drift_report import drift_report
    from tabloop.monitoring._timeline import DriftTimeline, drift_over_time
    from tabloop.monitoring._windows import Window, split_windows

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "ab_summary",
    "Answers",
    "ABComparison",
    "ABSummary",
    "answered_variants",
    "batch_mask",
    "Calibration",
    "compute_drift",
    "dashboard_data",
    "domain_classifier_drift",
    "DomainWorker",
    "DriftJob",
    "drift_over_time",
    "drift_report",
    "out_of_contract_summary",
    "DriftResult",
    "DriftTimeline",
    "estimate_performance",
    "expected_roc_auc",
    "FeatureDrift",
    "fit_calibration",
    "GroupOps",
    "holdout_mask",
    "holdout_rows",
    "HoldoutPerformance",
    "label_selection_warning",
    "MultivariateDrift",
    "outputs_over_time",
    "paired_test",
    "OutputsTimeline",
    "performance_over_time",
    "PerformanceTimeline",
    "permutation_importances",
    "positive_probability",
    "shadow_comparison",
    "ShadowComparison",
    "shadow_mask",
    "shadow_pairs",
    "ShadowPairs",
    "split_windows",
    "start_drift",
    "start_domain_worker",
    "top_drift_features",
    "VariantResult",
    "Window",
    "WindowPerformance",
]

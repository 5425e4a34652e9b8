"""The loop (layer 15): feedback labels joined, realized performance, the retraining set, the triggers,
the promotion gate and the decision of each pass; values in, values out, no I/O."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.loop._cycle import (
        PENDING,
        Step,
        after_gate,
        before_retraining,
        check_awaiting_approval,
        labels_since,
        last_retrain,
        pending_decision,
        settle,
        settles_pending,
        shadow_answers,
        too_few_labels,
    )
    from tabloop.loop._gate import Answers, GateVerdict, paired_gate, with_model_tests
    from tabloop.loop._label_join import JoinedLabels, join_labels, normalise_labels
    from tabloop.loop._policy import unjudgeable_holdout
    from tabloop.loop._realized import holdout_labelled_rows, performance_of, realized_performance
    from tabloop.loop._retraining_set import labelled_window, retraining_frame, split_recent, uses_older_data
    from tabloop.loop._triggers import Trigger, evaluate_triggers, label_bias_warning

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "PENDING",
    "Answers",
    "GateVerdict",
    "JoinedLabels",
    "Step",
    "Trigger",
    "after_gate",
    "before_retraining",
    "check_awaiting_approval",
    "evaluate_triggers",
    "holdout_labelled_rows",
    "join_labels",
    "label_bias_warning",
    "labelled_window",
    "labels_since",
    "last_retrain",
    "normalise_labels",
    "paired_gate",
    "pending_decision",
    "performance_of",
    "realized_performance",
    "retraining_frame",
    "settle",
    "settles_pending",
    "shadow_answers",
    "split_recent",
    "too_few_labels",
    "unjudgeable_holdout",
    "uses_older_data",
    "with_model_tests",
]

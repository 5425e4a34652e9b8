"""The loop (layer 7): feedback labels in, triggers, the promotion gate."""

from tabloop.loop._feedback import JoinedLabels, join_labels, normalise_labels
from tabloop.loop._policy import Decision, decide_promotion, unjudgeable_holdout
from tabloop.loop._triggers import Trigger, evaluate_triggers, label_bias_warning

__all__ = [
    "Decision",
    "JoinedLabels",
    "Trigger",
    "decide_promotion",
    "evaluate_triggers",
    "join_labels",
    "label_bias_warning",
    "normalise_labels",
    "unjudgeable_holdout",
]

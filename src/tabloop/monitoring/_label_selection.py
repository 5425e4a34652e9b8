"""Which logged rows the labels can be trusted on: self-reinforcing feedback.

Labels often come back only for what the model chose: the loans it approved get a
repayment record, the cases it flagged get reviewed. Realized performance on those
labels, and a model retrained on them, see only the model's own choices.
``label_selection_warning`` says so, with counts, when the labelled rows cover only
some of the classes the model predicted. Rows of the feedback holdout (logged with
``holdout: true``) were answered with the training prior, so their labels do not
depend on the model: performance on them is reported on its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "batch_mask", "decided_labelled_rows", "holdout_mask", "holdout_rows", "label_selection_warning", "labelled_mask", "shadow_mask",
]

#: warn only when random labelling at the observed rate would almost never leave these rows unlabelled
_CHANCE = 0.01


def holdout_mask(log: pd.DataFrame) -> np.ndarray:
    """Rows logged with ``holdout: true`` (answered with the prior, not by the model)."""
    if "holdout" not in log.columns:
        return np.zeros(len(log), dtype=bool)
    return log["holdout"].map(lambda v: v is True or v == 1 or v == "true").to_numpy(dtype=bool, copy=True)


def shadow_mask(log: pd.DataFrame) -> np.ndarray:
    """Rows the challenger scored on a copy in shadow mode (never returned)."""
    if "source" not in log.columns:
        return np.zeros(len(log), dtype=bool)
    return (log["source"].astype(str) == "shadow").to_numpy(copy=True)


def batch_mask(log: pd.DataFrame) -> np.ndarray:
    """Rows ``tabloop predict`` scored from a file (``source: batch``): no served variant answered them."""
    if "source" not in log.columns:
        return np.zeros(len(log), dtype=bool)
    return (log["source"].astype(str) == "batch").to_numpy(copy=True)


def label_selection_warning(log: pd.DataFrame, task: str) -> str | None:
    """A warning when the labels came back only for some of the classes the model predicted, else None.

    Also when the model predicted a single class on every row it decided: then every
    label, however many, comes from that one choice.

    ``log`` is the prediction log with a ``label`` column (missing where none joined).
    Only rows the model decided count: shadow copies and holdout rows are left out. A
    class whose rows are all unlabelled is only suspicious when that is unlikely by
    chance at the overall labelling rate, so a rarely predicted class does not warn.
    Regression has no predicted classes to compare, so it is not judged.
    """
    if task == "regression" or log.empty or "label" not in log.columns or "prediction" not in log.columns:
        return None
    held = holdout_mask(log)
    decided = ~shadow_mask(log) & ~held
    labelled = decided & log["label"].notna().to_numpy()
    if not labelled.any():
        return None
    predicted = log["prediction"].map(str)
    counts = predicted[decided].value_counts()
    with_labels = predicted[labelled].value_counts()
    unlabelled = [(c, int(n)) for c, n in counts.items() if c not in with_labels.index]
    if len(counts) == 1:
        # the model decided everything one way: its labels cannot show how any other decision turns out
        only = str(counts.index[0])
        return (
            f"all {int(labelled.sum())} labels came back for rows the model predicted {only!r}, the only class it "
            "predicted: retraining on them feeds the model its own choices (set serving.feedback_holdout.share to "
            "keep a share of traffic the model does not decide)"
        )
    if not unlabelled:
        return None
    rate = float(labelled.sum()) / float(decided.sum())
    if (1.0 - rate) ** sum(n for _, n in unlabelled) >= _CHANCE:
        return None
    got = ", ".join(f"{int(with_labels[c])} of {int(counts[c])} predicted {c!r}" for c in with_labels.index)
    missing = ", ".join(f"none of the {n} predicted {c!r}" for c, n in unlabelled)
    held_labelled = int((held & log["label"].notna().to_numpy()).sum())
    remedy = (
        f"the {held_labelled} labelled holdout rows measure the model without that bias"
        if held_labelled
        else "set serving.feedback_holdout.share to keep a share of traffic the model does not decide"
    )
    return (
        f"labels came back only for rows the model chose: {got} are labelled, {missing}; realized performance "
        f"and retraining on these labels see only the model's own choices ({remedy})"
    )


def labelled_mask(log: pd.DataFrame) -> np.ndarray:
    """Rows a feedback label joined."""
    return log["label"].notna().to_numpy() if "label" in log.columns else np.zeros(len(log), dtype=bool)


def holdout_rows(log: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the answered holdout rows, and of those with a label."""
    held = holdout_mask(log) & ~shadow_mask(log)
    return np.flatnonzero(held), np.flatnonzero(held & labelled_mask(log))


def decided_labelled_rows(log: pd.DataFrame) -> np.ndarray:
    """Positions of labelled rows the model decided (answered, not held out)."""
    return np.flatnonzero(~holdout_mask(log) & ~shadow_mask(log) & labelled_mask(log))

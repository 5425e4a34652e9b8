"""Which of the retraining policy's triggers fire, each with the numbers that decided it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from tabloop.spec import TriggerSpec


@dataclass
class Trigger:
    name: str
    fired: bool
    detail: str
    value: Any = None
    threshold: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_triggers(
    policy: TriggerSpec,
    *,
    drift_crossed: bool | None,
    drifted_features: list[str],
    realized_metric: float | None,
    metric: str,
    greater_is_better: bool,
    labels_since_last: int,
    last_retrain_at: str | None,
    now: dt.datetime | None = None,
) -> list[Trigger]:
    """One record per configured trigger; a trigger without data to judge says so and does not fire."""
    out: list[Trigger] = []
    if policy.drift:
        if drift_crossed is None:
            out.append(Trigger("drift", False, "no current data to compare with the reference"))
        else:
            detail = f"drifted: {', '.join(drifted_features) or 'none'}"
            out.append(Trigger("drift", bool(drift_crossed), detail, value=drifted_features))
    if policy.performance_floor is not None:
        floor = policy.performance_floor
        if realized_metric is None:
            out.append(Trigger("performance", False, "no labelled predictions yet", threshold=floor))
        else:
            below = realized_metric < floor if greater_is_better else realized_metric > floor
            word = "below" if greater_is_better else "above"
            out.append(Trigger(
                "performance", below,
                f"realized {metric} {realized_metric:.4f} {'is' if below else 'is not'} {word} the floor {floor}",
                value=realized_metric, threshold=floor,
            ))
    if policy.new_labels is not None:
        fired = labels_since_last >= policy.new_labels
        out.append(Trigger("new_labels", fired, f"{labels_since_last} labels since the last retraining",
                           value=labels_since_last, threshold=policy.new_labels))
    if policy.schedule_hours is not None:
        now = now or dt.datetime.now(dt.UTC)
        if last_retrain_at is None:
            out.append(Trigger("schedule", True, "never retrained", threshold=policy.schedule_hours))
        else:
            hours = (now - pd.Timestamp(last_retrain_at).to_pydatetime()).total_seconds() / 3600
            out.append(Trigger("schedule", hours >= policy.schedule_hours,
                               f"{hours:.1f} h since the last retraining", value=hours, threshold=policy.schedule_hours))
    return out


def label_bias_warning(
    joined: pd.DataFrame, classes: list[Any], *, logged: pd.DataFrame | None = None
) -> str | None:
    """Labels that only come back for some kinds of prediction teach the model its own choices.

    With ``logged`` (every logged prediction, labelled or not) the judgement is
    ``tabloop.monitoring.label_selection_warning``'s: it knows which predicted classes
    never got a label and leaves shadow and holdout rows out. Without it, only the
    labelled rows are seen, so it can only tell that they all share one prediction.
    """
    if logged is not None:
        from tabloop.monitoring import label_selection_warning

        if logged.empty or not classes:
            return None
        labels = joined[["request_id", "row", "label"]].drop_duplicates(subset=["request_id", "row"], keep="last")
        with_labels = logged.drop(columns=["label"], errors="ignore").merge(labels, on=["request_id", "row"], how="left")
        return label_selection_warning(with_labels, "multiclass" if len(classes) > 2 else "binary")
    if joined.empty or len(classes) < 2 or "prediction" not in joined:
        return None
    seen = {str(p) for p in joined["prediction"]}
    if len(seen) == 1:
        only = next(iter(seen))
        return (
            f"all {len(joined)} labels came back for rows the model predicted {only!r}: retraining on them "
            "feeds the model its own choices; keep a holdout share of traffic the model does not decide"
        )
    return None

"""The decisions of one pass of the loop, given its numbers: what the facade reads, these judge.

A pass either settles a challenger that passed the gate earlier (shadow answers counted, then
the paired test on the live rows both models answered, then approval), or looks at the triggers
and, when one fires and enough labels came back, retrains; a challenger that passes the gate then
shadows, waits for approval, or is promoted.
Every function here takes values and returns values; reading the log and the decisions
file, training and moving aliases are ``tabloop.api``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tabloop.errors import PolicyError
from tabloop.loop._gate import GateVerdict
from tabloop.loop._triggers import Trigger

#: decisions that leave a challenger waiting for a later pass (or a person)
PENDING = ("shadowing", "awaiting_approval")


@dataclass
class Step:
    """What a pass does: the action it records, why, and whether it moves the champion now."""

    action: str
    reasons: list[str] = field(default_factory=list)
    promote: bool = False


def pending_decision(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last decision when it left a challenger waiting, else None."""
    return history[-1] if history and history[-1]["action"] in PENDING else None


def last_retrain(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest decision that retrained (its labelled rows and time start the next count)."""
    return next((r for r in reversed(history) if r.get("retrain")), None)


def labels_since(labelled_rows: int, last: dict[str, Any] | None) -> int:
    """Labelled rows that arrived since the last retraining (never below zero)."""
    return max(labelled_rows - (last["labelled_rows"] if last else 0), 0)


def settles_pending(pending: dict[str, Any] | None, challenger_now: str | None) -> bool:
    """A pending challenger is settled only while the ``challenger`` alias still names it."""
    return pending is not None and challenger_now is not None and pending.get("challenger_version") == challenger_now


def shadow_answers(predictions: pd.DataFrame, version: str) -> int:
    """How many answers the challenger ``version`` gave in shadow (logged with variant ``challenger``)."""
    if predictions.empty or "variant" not in predictions:
        return 0
    return int(((predictions["variant"] == "challenger") & (predictions["version"].astype(str) == str(version))).sum())


def settle(action: str, version: str, *, shadowed: int, shadow_requests: int, approval: str,
           live: GateVerdict | None = None, labelled_pairs: int = 0, min_labels: int = 0) -> Step:
    """A challenger that passed the gate earlier: enough shadow answers yet, did it beat the champion on the live
    rows both answered, and may it be promoted alone?

    ``live`` is the paired gate on the labelled pairs (``labelled_pairs`` of them; judged from ``min_labels``):
    after the shadow answers, a challenger waits for that many labels, and is refused when it is not better there.
    """
    step = Step(action, [f"challenger v{version} passed the gate earlier"])
    if action == "shadowing":
        if shadowed < shadow_requests:
            step.reasons.append(f"{shadowed} of {shadow_requests} shadow requests answered")
            return step
        step.reasons.append(f"{shadowed} shadow requests answered (needed {shadow_requests})")
        if live is None or labelled_pairs < min_labels:
            step.reasons.append(f"{labelled_pairs} of the {min_labels} labelled rows answered by both the champion "
                                "and the shadow challenger that the live paired test needs (monitoring.shadow."
                                "min_labels): waiting for feedback labels")
            return step
        if live.test is None:  # the metric is undefined on these labels (one class): more labels may settle it
            step.reasons.extend(f"live shadow rows: {r}" for r in live.reasons)
            step.reasons.append("waiting for more feedback labels")
            return step
        if not live.promote:
            step.action = "rejected"
            step.reasons.extend(f"live shadow rows: {r}" for r in live.reasons)
            return step
        step.reasons.extend(f"live shadow rows: {r}" for r in live.reasons)
        step.action = "awaiting_approval"
    if approval == "auto":
        step.promote = True
    else:
        step.reasons.append(f"waiting for 'tabloop approve {version}'")
    return step


def before_retraining(triggers: list[Trigger], *, labelled_rows: int, min_new_labels: int) -> Step | None:
    """The pass's outcome when it does not retrain (no trigger fired, too few labels), else None: retrain."""
    if not any(t.fired for t in triggers):
        return Step("none", ["no trigger fired"])
    if labelled_rows < min_new_labels:
        # which triggers fired, and why, is in the record's triggers: not said twice
        return Step("waiting_for_labels", [f"only {labelled_rows} labelled rows; retraining needs {min_new_labels}"])
    return None


def after_gate(passed: bool, *, shadow_requests: int, approval: str) -> Step:
    """A trained challenger: refused, shadowing first, waiting for a person, or promoted at once."""
    if not passed:
        return Step("rejected")
    if shadow_requests > 0:
        return Step("shadowing")
    return Step("awaiting_approval", promote=approval == "auto")


def too_few_labels(labelled_rows: int, min_new_labels: int) -> str | None:
    """Why a retraining is skipped for lack of labels, or None when there are enough."""
    if labelled_rows < min_new_labels:
        return f"{labelled_rows} labelled rows; the policy needs {min_new_labels}"
    return None


def check_awaiting_approval(history: list[dict[str, Any]], version: str) -> None:
    """Refuse to approve a version the loop did not leave waiting for approval."""
    pending = next((r for r in reversed(history) if r.get("challenger_version") == str(version)), None)
    if pending is None or pending["action"] != "awaiting_approval":
        state = "no decision" if pending is None else f"its last decision is {pending['action']!r}"
        raise PolicyError(
            f"version {version} is not waiting for approval ({state})",
            hint="run 'tabloop loop run' first, or move the alias by hand with 'tabloop promote'",
        )

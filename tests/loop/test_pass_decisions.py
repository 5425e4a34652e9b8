"""The decisions of one loop pass, judged on values alone (no project, no training)."""

from __future__ import annotations

import pandas as pd
import pytest

from tabloop.errors import PolicyError
from tabloop.stats import PairedTest
from tabloop.loop import (
    GateVerdict,
    Trigger,
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


def test_pending_and_last_retrain_come_from_the_history() -> None:
    history = [{"action": "rejected", "retrain": {"x": 1}, "labelled_rows": 40},
               {"action": "none", "retrain": None, "labelled_rows": 50},
               {"action": "shadowing", "challenger_version": "3", "retrain": None, "labelled_rows": 60}]
    assert pending_decision(history) == history[-1]
    assert pending_decision(history[:2]) is None and pending_decision([]) is None
    assert last_retrain(history) == history[0]
    assert labels_since(70, history[0]) == 30 and labels_since(70, None) == 70 and labels_since(10, history[0]) == 0


def test_a_pending_challenger_is_settled_only_while_the_alias_names_it() -> None:
    pending = {"action": "shadowing", "challenger_version": "3"}
    assert settles_pending(pending, "3")
    assert not settles_pending(pending, "4") and not settles_pending(pending, None) and not settles_pending(None, "3")


def _live(promote: bool) -> GateVerdict:
    reason = "candidate roc_auc 0.8000 vs champion 0.7000 on 60 rows"
    test = PairedTest("delong", 0.7, 0.8, 0.1, 2.0, 0.01 if promote else 0.3)
    return GateVerdict(promote, "roc_auc", 60, 0.0, 0.05, test, [reason], refused_by=None if promote else "paired")


def test_settling_counts_shadow_answers_then_judges_the_live_rows_then_asks_for_approval_or_promotes() -> None:
    waiting = settle("shadowing", "3", shadowed=2, shadow_requests=5, approval="auto")
    assert (waiting.action, waiting.promote) == ("shadowing", False)
    assert waiting.reasons == ["challenger v3 passed the gate earlier", "2 of 5 shadow requests answered"]
    # enough shadow answers, too few of them labelled: it keeps shadowing, and says how many labels it waits for
    unlabelled = settle("shadowing", "3", shadowed=5, shadow_requests=5, approval="auto", live=None,
                        labelled_pairs=12, min_labels=30)
    assert (unlabelled.action, unlabelled.promote) == ("shadowing", False)
    assert unlabelled.reasons[-1].startswith("12 of the 30 labelled rows answered by both")
    manual = settle("shadowing", "3", shadowed=5, shadow_requests=5, approval="manual", live=_live(True),
                    labelled_pairs=60, min_labels=30)
    assert (manual.action, manual.promote) == ("awaiting_approval", False)
    assert "live shadow rows: candidate roc_auc 0.8000 vs champion 0.7000 on 60 rows" in manual.reasons
    assert manual.reasons[-1] == "waiting for 'tabloop approve 3'"
    promoted = settle("shadowing", "3", shadowed=5, shadow_requests=5, approval="auto", live=_live(True),
                      labelled_pairs=60, min_labels=30)
    assert (promoted.action, promoted.promote) == ("awaiting_approval", True)
    refused = settle("shadowing", "3", shadowed=5, shadow_requests=5, approval="auto", live=_live(False),
                     labelled_pairs=60, min_labels=30)
    assert (refused.action, refused.promote) == ("rejected", False)
    assert refused.reasons[-1].startswith("live shadow rows: candidate roc_auc")
    one_class = GateVerdict(False, "roc_auc", 40, 0.0, 0.05, None, ["roc_auc cannot be compared on these 40 rows"])
    undefined = settle("shadowing", "3", shadowed=5, shadow_requests=5, approval="auto", live=one_class,
                       labelled_pairs=40, min_labels=30)
    assert (undefined.action, undefined.promote) == ("shadowing", False)
    assert undefined.reasons[-2:] == ["live shadow rows: roc_auc cannot be compared on these 40 rows",
                                      "waiting for more feedback labels"]
    auto = settle("awaiting_approval", "3", shadowed=0, shadow_requests=5, approval="auto")
    assert (auto.action, auto.promote) == ("awaiting_approval", True)


def test_a_pass_retrains_only_when_a_trigger_fires_and_labels_suffice() -> None:
    quiet = [Trigger("drift", False, "drifted: none")]
    fired = [Trigger("new_labels", True, "120 labels since the last retraining")]
    none = before_retraining(quiet, labelled_rows=500, min_new_labels=100)
    assert none is not None and (none.action, none.reasons) == ("none", ["no trigger fired"])
    wait = before_retraining(fired, labelled_rows=20, min_new_labels=100)
    assert wait is not None and wait.action == "waiting_for_labels"
    assert wait.reasons == ["only 20 labelled rows; retraining needs 100"]
    assert before_retraining(fired, labelled_rows=100, min_new_labels=100) is None
    assert too_few_labels(20, 100) == "20 labelled rows; the policy needs 100" and too_few_labels(100, 100) is None


def test_after_the_gate() -> None:
    assert after_gate(False, shadow_requests=0, approval="auto").action == "rejected"
    assert after_gate(True, shadow_requests=5, approval="auto").action == "shadowing"
    manual = after_gate(True, shadow_requests=0, approval="manual")
    assert (manual.action, manual.promote) == ("awaiting_approval", False)
    assert after_gate(True, shadow_requests=0, approval="auto").promote


def test_shadow_answers_count_the_challengers_shadow_rows() -> None:
    preds = pd.DataFrame({"variant": ["champion", "challenger", "challenger", "challenger"],
                          "version": ["1", "3", "3", 4]})
    assert shadow_answers(preds, "3") == 2 and shadow_answers(preds, "4") == 1
    assert shadow_answers(pd.DataFrame(), "3") == 0 and shadow_answers(preds.drop(columns=["variant"]), "3") == 0


def test_only_a_version_awaiting_approval_can_be_approved() -> None:
    history = [{"action": "shadowing", "challenger_version": "3"}, {"action": "awaiting_approval", "challenger_version": "4"}]
    check_awaiting_approval(history, "4")
    with pytest.raises(PolicyError, match=r"version 3 is not waiting for approval \(its last decision is 'shadowing'\)"):
        check_awaiting_approval(history, "3")
    with pytest.raises(PolicyError, match=r"\(no decision\)"):
        check_awaiting_approval(history, "9")

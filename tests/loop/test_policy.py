"""Whether the loop's recent holdout can judge a challenger (the judging itself: tests/loop/test_gate.py)."""

from __future__ import annotations


def test_a_holdout_without_a_champion_score_cannot_judge_a_challenger() -> None:
    from tabloop.loop import unjudgeable_holdout

    assert unjudgeable_holdout(metric="roc_auc", champion=0.7, labels=["no", "yes"]) is None
    why = unjudgeable_holdout(metric="roc_auc", champion=None, labels=["no"] * 9)
    assert why is not None and why.startswith("the holdout's 9 labels are all 'no': roc_auc is undefined")
    assert "nothing was trained or registered" in why and "more than one class" in why
    why = unjudgeable_holdout(metric="r2", champion=None, labels=[1.0])
    assert why is not None and "undefined" in why

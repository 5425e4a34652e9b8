"""decide_promotion in both metric directions."""

from __future__ import annotations

import pytest

from tabloop.loop import decide_promotion


@pytest.mark.parametrize(
    ("champion", "challenger", "min_improvement", "promote"),
    [
        (0.80, 0.82, 0.0, True),
        (0.80, 0.82, 0.02, True),  # exactly the required gain
        (0.80, 0.82, 0.03, False),
        (0.80, 0.80, 0.0, False),  # a tie does not move the champion
        (0.80, 0.78, 0.0, False),
        (0.80, 0.79, -0.05, False),  # a negative margin never promotes a worse model
    ],
)
def test_higher_is_better(champion: float, challenger: float, min_improvement: float, promote: bool) -> None:
    d = decide_promotion(metric="roc_auc", greater_is_better=True, champion=champion, challenger=challenger,
                         min_improvement=min_improvement)
    assert d.promote is promote
    assert (d.champion_score, d.challenger_score, d.metric) == (champion, challenger, "roc_auc")
    assert "(higher is better)" in d.reasons[0]


@pytest.mark.parametrize(
    ("champion", "challenger", "min_improvement", "promote"),
    [
        (0.40, 0.35, 0.0, True),
        (0.40, 0.35, 0.05, True),
        (0.40, 0.35, 0.06, False),
        (0.40, 0.45, 0.0, False),
        (0.40, 0.40, 0.0, False),
    ],
)
def test_lower_is_better(champion: float, challenger: float, min_improvement: float, promote: bool) -> None:
    d = decide_promotion(metric="log_loss", greater_is_better=False, champion=champion, challenger=challenger,
                         min_improvement=min_improvement)
    assert d.promote is promote
    assert "(lower is better)" in d.reasons[0]


def test_reasons_state_the_numbers() -> None:
    yes = decide_promotion(metric="rmse", greater_is_better=False, champion=2.0, challenger=1.5, min_improvement=0.1)
    assert yes.reasons == ["challenger rmse 1.5000 vs champion 2.0000 (lower is better): gain +0.5000 >= required 0.1000"]
    no = decide_promotion(metric="roc_auc", greater_is_better=True, champion=0.8, challenger=0.7, min_improvement=0.0)
    assert no.reasons == [
        "challenger roc_auc 0.7000 vs champion 0.8000 (higher is better): gain -0.1000 does not reach the required 0.0000"
    ]
    assert no.to_dict() == {"promote": False, "metric": "roc_auc", "champion_score": 0.8, "challenger_score": 0.7,
                            "reasons": no.reasons}


def test_undefined_scores() -> None:
    d = decide_promotion(metric="roc_auc", greater_is_better=True, champion=0.8, challenger=None, min_improvement=0.0)
    assert not d.promote and "undefined on the holdout" in d.reasons[0]
    d = decide_promotion(metric="roc_auc", greater_is_better=True, champion=None, challenger=0.6, min_improvement=0.5)
    assert d.promote and d.reasons == ["there is no champion score to beat"]
    d = decide_promotion(metric="roc_auc", greater_is_better=True, champion=None, challenger=None, min_improvement=0.0)
    assert not d.promote


def test_a_holdout_without_a_champion_score_cannot_judge_a_challenger() -> None:
    from tabloop.loop import unjudgeable_holdout

    assert unjudgeable_holdout(metric="roc_auc", champion=0.7, labels=["no", "yes"]) is None
    why = unjudgeable_holdout(metric="roc_auc", champion=None, labels=["no"] * 9)
    assert why is not None and why.startswith("the holdout's 9 labels are all 'no': roc_auc is undefined")
    assert "nothing was trained or registered" in why and "more than one class" in why
    why = unjudgeable_holdout(metric="r2", champion=None, labels=[1.0])
    assert why is not None and "undefined" in why

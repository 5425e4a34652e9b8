"""The decision threshold: chosen from costs or a target, and said in one sentence with counts per day."""

from __future__ import annotations

import numpy as np
import pytest

from tabloop.evaluation import choose_threshold, cost_threshold, decide, threshold_sentence
from tabloop.stats import bootstrap_counts

# 5 true cases, 15 others
Y = np.array([1, 1, 1, 1, 1] + [0] * 15)
P = np.array([0.9, 0.8, 0.6, 0.35, 0.2] + [0.7, 0.4, 0.3, 0.25] + [0.1] * 11)


def test_the_sentence_by_hand() -> None:
    """At 0.31: flagged 0.9, 0.8, 0.6, 0.35 (true) and 0.7, 0.4 (not): 6 of 20; 0.2 is missed: 1 of 20.
    Per 1,000 a day: 300 flagged, 50 missed; FNR 1/5, FPR 2/15."""
    t = cost_threshold(31, 69)
    d = decide(Y, P, t, daily_volume=1000)
    assert (d.true_positives, d.false_positives, d.false_negatives, d.true_negatives) == (4, 2, 1, 13)
    assert d.flagged == pytest.approx(300) and d.missed == pytest.approx(50)
    assert d.false_negative_rate == pytest.approx(0.2) and d.false_positive_rate == pytest.approx(2 / 15)
    assert d.sentence == ("at threshold 0.31, of about 1,000 cases a day, about 300 are flagged for review and about "
                          "50 true cases are missed (false negative rate 20.0%, false positive rate 13.3%)")


def test_without_a_volume_it_counts_per_thousand_and_says_so() -> None:
    d = decide(Y, P, 0.31)
    assert d.daily_volume is None and d.per == 1000
    assert d.sentence.startswith("at threshold 0.31, of every 1,000 cases, about 300 are flagged for review and "
                                 "about 50 true cases are missed")
    assert d.sentence.endswith("the expected daily volume is not set in the spec (evaluation.daily_volume)")


def test_small_counts_are_said_plainly() -> None:
    assert "0 are flagged for review and 0 true cases" in threshold_sentence(0.5, 0.0, 0.0, 0.0, 0.0, 100)
    assert "fewer than one true cases" in threshold_sentence(0.5, 2.0, 0.2, 0.1, 0.1, 100)
    assert "about 1 true cases" in threshold_sentence(0.5, 2.0, 0.5, 0.1, 0.1, 100)
    assert "(false negative rate n/a" in threshold_sentence(0.5, 2.0, 0.0, None, 0.1, 100)


def test_target_recall_takes_the_highest_threshold_that_finds_enough() -> None:
    assert choose_threshold(Y, P, costs=(1, 1), target_recall=0.8)[:2] == (0.35, "target_recall")
    assert choose_threshold(Y, P, costs=(1, 1), target_recall=1.0)[0] == 0.2
    assert choose_threshold(Y, P, costs=(1, 1), target_recall=0.4)[0] == 0.8


def test_target_precision_takes_the_lowest_threshold_that_is_precise_enough() -> None:
    # precision going down the scores: 1/1, 2/2, 2/3 (0.7), 3/4 (0.6), 3/5, 4/6, ...
    assert choose_threshold(Y, P, costs=(1, 1), target_precision=0.75)[:2] == (0.6, "target_precision")
    assert choose_threshold(Y, P, costs=(1, 1), target_precision=1.0)[0] == 0.8


def test_unreachable_targets_fall_back_to_the_costs_and_say_so() -> None:
    t, rule, notes = choose_threshold(np.array([0, 1]), np.array([0.9, 0.1]), costs=(1, 3), target_precision=0.9)
    assert (t, rule) == (0.25, "costs") and "no threshold reaches precision 90%" in notes[0]
    t, rule, notes = choose_threshold(np.zeros(3, int), np.array([0.1, 0.2, 0.3]), costs=(1, 1), target_recall=0.9)
    assert (t, rule) == (0.5, "costs") and "no positive case" in notes[0]
    assert choose_threshold(Y, P, costs=(1, 4)) == (0.2, "costs", [])


def test_the_counts_have_intervals_around_them() -> None:
    d = decide(Y, P, 0.31, daily_volume=1000, weights=bootstrap_counts(20, 500, seed=2))
    low, high = d.intervals["flagged"]
    assert low <= d.flagged <= high and high - low > 50
    assert d.intervals["false_negative_rate"][0] <= 0.2 <= d.intervals["false_negative_rate"][1]
    assert len(d.curve["threshold"]) == len(d.curve["flagged_share"]) == len(d.curve["false_negative_rate"])

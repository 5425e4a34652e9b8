"""A time budget covers the whole of ``tabloop train``: what was spent before training and what follows it."""

from __future__ import annotations

import pytest

from tabloop.api._train import AFTER_TRAINING_MAX_SECONDS, AFTER_TRAINING_SHARE, MIN_SEARCH_SECONDS, search_budget


def test_the_search_gets_the_budget_less_time_spent_and_time_kept_for_export() -> None:
    assert search_budget(60, 5) == pytest.approx(60 - 5 - AFTER_TRAINING_SHARE * 60)
    # what follows training does not grow without bound with the budget
    assert search_budget(3600, 5) == pytest.approx(3600 - 5 - AFTER_TRAINING_MAX_SECONDS)


def test_a_budget_already_spent_still_leaves_the_search_its_minimum() -> None:
    assert search_budget(10, 30) == MIN_SEARCH_SECONDS

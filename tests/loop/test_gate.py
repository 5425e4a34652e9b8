"""The paired gate every promotion goes through, on arrays (through commands: tests/api/test_promote_gate.py,
tests/api/test_cycle.py)."""

from __future__ import annotations

import numpy as np

from tabloop.loop import Answers, paired_gate, with_model_tests


def _answers(y: np.ndarray, noise: float, seed: int) -> Answers:
    rng = np.random.default_rng(seed)
    p = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, noise, y.size), 0.01, 0.99)
    return Answers((p >= 0.5).astype(int), np.column_stack([1 - p, p]))


def test_better_promoted_not_significant_and_short_of_the_margin_refused_with_numbers() -> None:
    y = np.random.default_rng(0).integers(0, 2, 300)
    weak, strong = _answers(y, 0.5, 1), _answers(y, 0.1, 2)
    better = paired_gate("binary", "roc_auc", y, weak, strong, margin=0.0, significance=0.05, source="rows")
    assert better.promote and better.refused_by is None and better.source == "rows"
    assert better.reasons[0].startswith("candidate roc_auc ") and "meets the margin 0.0000" in better.reasons[0]
    short = paired_gate("binary", "roc_auc", y, weak, strong, margin=0.9, significance=0.05)
    assert not short.promote and short.refused_by == "paired"
    assert "does not reach the required margin 0.9000" in short.reasons[0]
    # two models of the same quality on few rows: whatever the sign of the gain, never significant
    few = y[:40]
    noisy = paired_gate("binary", "roc_auc", few, _answers(few, 0.5, 3), _answers(few, 0.5, 4), margin=0.0,
                        significance=0.01, noise="noise on these live rows")
    assert not noisy.promote and noisy.refused_by == "paired"
    text = noisy.reasons[0]
    assert "does not reach" in text or "the gain may be noise on these live rows" in text
    one_class = paired_gate("binary", "roc_auc", np.zeros(10, int), _answers(np.zeros(10), 0.1, 5),
                            _answers(np.zeros(10), 0.1, 6), margin=0.0, significance=0.05)
    assert not one_class.promote and "roc_auc cannot be compared on these 10 rows" in one_class.reasons[0]


def test_failing_model_tests_refuse_a_candidate_the_paired_test_passed() -> None:
    y = np.random.default_rng(0).integers(0, 2, 300)
    verdict = paired_gate("binary", "roc_auc", y, _answers(y, 0.5, 1), _answers(y, 0.1, 2), margin=0.0,
                          significance=0.05)
    counts = {"passed": 6, "failed": 1, "error": 0, "skipped": 1}
    with_model_tests(verdict, version="3", passed=False, counts=counts, failures="test_x: too slow")
    assert (verdict.promote, verdict.refused_by) == (False, "model_tests")
    assert verdict.reasons[-1] == "its model tests failed: test_x: too slow"
    assert verdict.to_dict()["model_tests"] == counts

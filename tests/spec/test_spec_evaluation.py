"""The spec's evaluation section."""

from __future__ import annotations

import pytest

from tabloop.errors import SpecError
from tabloop.spec import validate_spec

MINIMAL = {"name": "demo", "data": {"source": "data.csv", "target": "y", "task": "binary"}}


def test_defaults() -> None:
    e = validate_spec(MINIMAL).evaluation
    assert e.bootstrap_resamples == 1000 and e.confident_errors == 10 and e.slices == []
    assert e.daily_volume is None and e.target_recall is None and e.target_precision is None and e.intended_use is None


def test_a_target_recall_or_a_target_precision_not_both() -> None:
    ok = validate_spec({**MINIMAL, "evaluation": {"target_recall": 0.9, "daily_volume": 1200, "slices": ["region"]}})
    assert ok.evaluation.target_recall == 0.9 and ok.evaluation.slices == ["region"]
    with pytest.raises(SpecError, match="target_recall and evaluation.target_precision are alternatives"):
        validate_spec({**MINIMAL, "evaluation": {"target_recall": 0.9, "target_precision": 0.5}})


@pytest.mark.parametrize(("key", "value"), [("target_recall", 1.5), ("target_precision", 0), ("daily_volume", -3),
                                            ("bootstrap_resamples", -1), ("confident_errors", -1)])
def test_out_of_range_values_name_the_key(key: str, value: float) -> None:
    with pytest.raises(SpecError, match=f"evaluation.{key}"):
        validate_spec({**MINIMAL, "evaluation": {key: value}})

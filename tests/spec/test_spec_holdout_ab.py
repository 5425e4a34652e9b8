"""The feedback holdout (serving.feedback_holdout) and A/B test (monitoring.ab) settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tabloop.errors import SpecError
from tabloop.spec import load_spec, spec_to_yaml, validate_spec

MINIMAL = {"name": "demo", "data": {"source": "data.csv", "target": "y", "task": "binary"}}


def test_defaults_keep_the_holdout_off_and_test_at_five_percent() -> None:
    spec = validate_spec(MINIMAL)
    assert spec.serving.feedback_holdout.share == 0.0 and spec.serving.feedback_holdout.key is None
    assert spec.monitoring.ab.alpha == 0.05 and spec.monitoring.ab.min_labels == 50


def test_written_spec_comments_both_and_reads_back(tmp_path: Path) -> None:
    raw = {**MINIMAL, "serving": {"feedback_holdout": {"share": 0.05, "key": "customer_id"}},
           "monitoring": {"ab": {"alpha": 0.01, "min_labels": 200}}}
    spec = validate_spec(raw)
    text = spec_to_yaml(spec)
    assert "# Guard against self-reinforcing feedback" in text
    assert "# Share of traffic the model does not decide" in text
    assert "# Significance level of the A/B test" in text
    loaded = yaml.safe_load(text)
    assert loaded["serving"]["feedback_holdout"] == {"share": 0.05, "key": "customer_id"}
    assert loaded["monitoring"]["ab"] == {"alpha": 0.01, "min_labels": 200}
    (tmp_path / "tabloop.yaml").write_text(text)
    assert load_spec(tmp_path, environ={"TABLOOP_SERVING__FEEDBACK_HOLDOUT__SHARE": "0.1"}).serving.feedback_holdout.share == 0.1


@pytest.mark.parametrize(("section", "message"), [
    ({"serving": {"feedback_holdout": {"share": 1.5}}}, "serving.feedback_holdout.share: Input should be less than or equal to 1"),
    ({"serving": {"feedback_holdout": {"share": -0.1}}}, "serving.feedback_holdout.share: Input should be greater than or equal to 0"),
    ({"serving": {"feedback_holdout": {"ratio": 0.1}}}, "serving.feedback_holdout.ratio: unknown key; allowed here: share, key"),
    ({"monitoring": {"ab": {"alpha": 0}}}, "monitoring.ab.alpha: Input should be greater than 0"),
    ({"monitoring": {"ab": {"min_labels": 1}}}, "monitoring.ab.min_labels: Input should be greater than or equal to 2"),
])
def test_bad_values_name_the_field(section: dict, message: str) -> None:
    with pytest.raises(SpecError) as err:
        validate_spec({**MINIMAL, **section})
    assert message in str(err.value)

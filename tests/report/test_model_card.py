"""The model card as Markdown and as HTML with its JSON twin."""

from __future__ import annotations

import json
from pathlib import Path

from tabloop.report import model_card

CARD = {
    "model": "loans", "version": "3", "subtitle": "binary model of 'deny'",
    "intended_use": "Second review | of likely denials.",
    "data": {"source": "hmda.csv", "training rows": 1904, "fingerprint (data hash)": "f14d"},
    "model_facts": {"family": "lightgbm"},
    "metrics": [{"metric": "roc_auc", "value": 0.81234, "interval": [0.75, 0.86], "baseline": 0.5},
                {"metric": "recall", "value": None, "interval": None, "baseline": 0.0}],
    "decision": "at threshold 0.31, of about 1,000 cases a day, about 48 are flagged for review",
    "slices": ["black: worst slice yes (57 rows)"],
    "limits": ["Trained on lvr in [0.02, 1.95]"],
    "lineage": {"tabloop.run_id": "abc", "tabloop.data_hash": "f14d"},
}


def test_markdown_has_every_section_and_escapes_table_cells() -> None:
    md, _ = model_card(CARD)
    assert md.startswith("# Model card: loans v3\n")
    for heading in ("## Intended use", "## Data", "## Model", "## Metrics", "## Decision threshold", "## Slices",
                    "## Limits", "## Lineage"):
        assert heading in md, heading
    assert "| roc_auc | 0.8123 | [0.75, 0.86] | 0.5 |" in md
    assert "| recall | n/a |  | 0 |" in md
    assert "At threshold 0.31, of about 1,000 cases a day" in md
    assert "- black: worst slice yes (57 rows)" in md and "| tabloop.run_id | abc |" in md


def test_html_and_json_say_the_same(tmp_path: Path) -> None:
    _, report = model_card(CARD)
    html_path, json_path = report.write(tmp_path, "model-card-v3")
    html = html_path.read_text()
    assert "Second review | of likely denials." in html and "tabloop.run_id" in html
    assert json.loads(json_path.read_text())["metrics"][0]["interval"] == [0.75, 0.86]


def test_without_intended_use_the_card_says_where_to_set_it() -> None:
    md, _ = model_card({**CARD, "intended_use": None, "slices": [], "decision": None})
    assert "set evaluation.intended_use" in md and "No slices named" in md and "## Decision threshold" not in md

"""What ``tabloop train`` reports about how candidates were scored."""

from __future__ import annotations

import json
from pathlib import Path


def test_the_leaderboard_says_which_validation_scored_the_candidates(trained_project: Path) -> None:
    reports = trained_project / ".tabloop" / "reports"
    data = json.loads((reports / "train-v1.json").read_text())
    # HMDA: 2,380 rows, 80% for training; auto picks 5-fold between 1,000 and 100,000 training rows
    assert data["validation"] == "5-fold (stratified); auto for 1,904 training rows"
    assert data["folds"] == 5
    assert all(len(c["fold_scores"]["roc_auc"]) == 5 for c in data["leaderboard"] if c["status"] == "ok")
    assert "validation on the training part: 5-fold (stratified); auto for 1,904 training rows" in \
        (reports / "train-v1.html").read_text()

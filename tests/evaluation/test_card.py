"""What the model card says: data, metrics with intervals and baseline, limits from the contract and the slices."""

from __future__ import annotations

from types import SimpleNamespace

from tabloop.bundle import Manifest
from tabloop.data import ColumnContract, Contract
from tabloop.evaluation import EvaluationResult, model_card_data
from tabloop.spec import Spec


def test_card_data_from_the_evaluation_bundle_spec_and_tags() -> None:
    spec = Spec.model_validate({"name": "loans", "data": {"source": "hmda.csv", "target": "deny", "task": "binary",
                                                         "exclude": ["black"]},
                                "evaluation": {"intended_use": "Second review."}})
    contract = Contract([ColumnContract("lvr", "numeric", False, min=0.02, max=1.95),
                         ColumnContract("self", "categorical", False, categories=["no", "yes"])], target="deny")
    bundle = SimpleNamespace(contract=contract, manifest=Manifest(winner="lightgbm", train_rows=1904, data_hash="f14d",
                                                                  threshold=0.31, trained_at="2026-01-01T00:00:00+00:00"))
    weak = {"column": "black", "metric": "roc_auc", "summary": "black: worst slice yes",
            "worst": {"slice": "yes", "rows": 57, "value": 0.7, "gap": -0.1, "gap_interval": [-0.2, -0.01]},
            "slices": [{"slice": "yes", "too_small": False}, {"slice": "(missing)", "too_small": True}]}
    result = EvaluationResult(task="binary", metric="roc_auc", rows=150, metrics={"roc_auc": 0.8},
                              intervals={"roc_auc": [0.7, 0.9]}, baseline={"roc_auc": 0.5}, slices=[weak],
                              decision={"sentence": "at threshold 0.31, ..."}, notes=["a note"])
    tags = {"tabloop.run_id": "r1", "tabloop.data_hash": "f14d", "other": "x"}
    card = model_card_data(result, bundle, spec, name="loans", version="3", tags=tags, source="hmda.csv")  # type: ignore[arg-type]
    assert card["intended_use"] == "Second review."
    assert card["data"]["training rows"] == 1904 and card["data"]["excluded columns"] == "black"
    assert card["metrics"] == [{"metric": "roc_auc", "value": 0.8, "interval": [0.7, 0.9], "baseline": 0.5}]
    assert card["lineage"] == {"tabloop.data_hash": "f14d", "tabloop.run_id": "r1"}  # the lineage tags, in order
    limits = " ".join(card["limits"])
    assert "lvr in [0.02, 1.95]" in limits and "self: 2 known" in limits
    assert "Weaker on black = yes" in limits and "Too few test rows to judge black = (missing)" in limits
    assert "Only 150 test rows" in limits and "a note" in limits

"""What the model card says, assembled from the evaluation, the bundle, the spec and the registry's tags.

No I/O: the facade reads the tags and writes the files; ``tabloop.report.model_card`` draws it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tabloop.evaluation._evaluate import EvaluationResult
from tabloop.evaluation._metrics import greater_is_better

if TYPE_CHECKING:
    from tabloop.bundle import ModelBundle
    from tabloop.spec import Spec

__all__ = ["LINEAGE_TAGS", "model_card_data"]

#: the registry tags the card's lineage shows, in this order (see api/_train.py, _lineage)
LINEAGE_TAGS = ("tabloop.data_hash", "tabloop.spec_hash", "tabloop.code_version", "tabloop.run_id",
                "tabloop.parent_version", "tabloop.data_source")


def _limits(result: EvaluationResult, bundle: ModelBundle) -> list[str]:
    limits = []
    numeric = [c for c in bundle.contract.columns if c.kind == "numeric" and c.min is not None and c.max is not None]
    if numeric:
        ranges = ", ".join(f"{c.name} in [{c.min:.4g}, {c.max:.4g}]" for c in numeric[:12])
        more = f" and {len(numeric) - 12} more" if len(numeric) > 12 else ""
        limits.append(f"Trained on {ranges}{more}: rows outside these ranges are extrapolation, and its answers "
                      "there are not backed by the test part.")
    categorical = [c for c in bundle.contract.columns if c.kind == "categorical" and c.categories]
    if categorical:
        limits.append("Categories not seen in training ("
                      + ", ".join(f"{c.name}: {len(c.categories or [])} known" for c in categorical[:12])
                      + ") are refused by the contract: the model cannot judge them.")
    for group in result.slices:
        worst = group.get("worst")
        ci = (worst or {}).get("gap_interval")
        if worst and ci and (ci[1] < 0 if greater_is_better(group["metric"]) else ci[0] > 0):
            limits.append(f"Weaker on {group['column']} = {worst['slice']}: {group['metric']} {worst['value']:.3f}, "
                          f"{worst['gap']:+.3f} against all rows (interval of the gap excludes 0).")
        small = [s["slice"] for s in group["slices"] if s["too_small"]]
        if small:
            limits.append(f"Too few test rows to judge {group['column']} = {', '.join(small)}.")
    if result.rows < 200:
        limits.append(f"Only {result.rows} test rows: the intervals are wide.")
    limits += result.notes
    return limits


def model_card_data(
    result: EvaluationResult,
    bundle: ModelBundle,
    spec: Spec,
    *,
    name: str,
    version: str,
    tags: dict[str, str],
    source: str,
) -> dict[str, Any]:
    """The card's content as plain data (``tabloop.report.model_card`` draws it; it is also its JSON)."""
    m = bundle.manifest
    return {
        "model": name,
        "version": str(version),
        "subtitle": f"{spec.task} model of {spec.data.target!r}, evaluated on {result.rows} held-out rows",
        "intended_use": spec.evaluation.intended_use,
        "data": {
            "source": source,
            "target": spec.data.target,
            "classes": ", ".join(str(c) for c in result.classes) if result.classes else None,
            "training rows": m.train_rows,
            "test rows": result.rows,
            "fingerprint (data hash)": m.data_hash,
            "trained at": m.trained_at,
            "excluded columns": ", ".join(spec.data.exclude) or None,
        },
        "model_facts": {"family": m.winner, "chosen by": m.rule, "metric": m.metric,
                        "decision threshold": m.threshold},
        "metrics": [{"metric": k, "value": v, "interval": result.intervals.get(k), "baseline": result.baseline.get(k)}
                    for k, v in result.metrics.items()],
        "decision": (result.decision or {}).get("sentence"),
        "slices": [g["summary"] for g in result.slices],
        "limits": _limits(result, bundle),
        "lineage": {k: tags[k] for k in LINEAGE_TAGS if tags.get(k)},
    }

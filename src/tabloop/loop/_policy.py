"""The promotion gate: does the challenger earn the champion's place on the same recent holdout?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

_EPS = 1e-12


@dataclass
class Decision:
    promote: bool
    metric: str
    champion_score: float | None
    challenger_score: float | None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_promotion(
    *, metric: str, greater_is_better: bool, champion: float | None, challenger: float | None, min_improvement: float
) -> Decision:
    """Promote only when the challenger beats the champion by at least ``min_improvement``."""
    d = Decision(False, metric, champion, challenger)
    if challenger is None:
        d.reasons.append(f"the challenger's {metric} is undefined on the holdout (too few rows or one class)")
        return d
    if champion is None:
        d.promote = True
        d.reasons.append("there is no champion score to beat")
        return d
    gain = (challenger - champion) if greater_is_better else (champion - challenger)
    direction = "higher" if greater_is_better else "lower"
    # a tolerance so that 0.82 vs 0.80 meets a required 0.02 despite binary floating point
    if gain >= min_improvement - _EPS and gain > _EPS:
        d.promote = True
        d.reasons.append(
            f"challenger {metric} {challenger:.4f} vs champion {champion:.4f} ({direction} is better): "
            f"gain {gain:+.4f} >= required {min_improvement:.4f}"
        )
    else:
        d.reasons.append(
            f"challenger {metric} {challenger:.4f} vs champion {champion:.4f} ({direction} is better): "
            f"gain {gain:+.4f} does not reach the required {max(min_improvement, 0):.4f}"
        )
    return d


def unjudgeable_holdout(*, metric: str, champion: float | None, labels: Sequence[Any]) -> str | None:
    """Why the holdout cannot judge a challenger against the champion, or None when it can.

    The champion's score on the holdout is computed before anything is trained: when the
    metric is undefined there (ROC AUC on labels of one class), it is undefined for any
    challenger too, so training one would register a version nothing can score.
    """
    if champion is not None:
        return None
    seen = sorted({str(v) for v in labels})
    if len(seen) == 1:
        return (f"the holdout's {len(labels)} labels are all {seen[0]!r}: {metric} is undefined on them, "
                "so no challenger could be judged against the champion; nothing was trained or registered; "
                "collect labels of more than one class and run it again")
    return (f"{metric} is undefined on the holdout's {len(labels)} rows, so no challenger could be judged against "
            "the champion; nothing was trained or registered; collect more labels and run it again")

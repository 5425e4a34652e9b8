"""Whether the loop's recent holdout can judge a challenger at all (the judging is ``loop/_gate.py``'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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

"""How many logged rows were answered out of contract, and by which column, rule and policy.

The server and batch scoring log a row the contract let through (its ``warn``, ``clip``
and ``unknown`` policies) with ``"contract": [{"column", "rule", "policy"}, ...]``; rows
within the contract, and every row of a log written before the field existed, carry none.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

#: the prediction record's field holding a row's contract marks (``tabloop.bundle.CONTRACT_KEY``)
FIELD = "contract"


def out_of_contract_summary(logged: pd.DataFrame) -> dict[str, Any]:
    """Rows, their share, and counts per ``column:rule:policy`` over the prediction records ``logged``."""
    counts: Counter[str] = Counter()
    rows = 0
    if FIELD in logged.columns:
        for marks in logged[FIELD]:
            if not isinstance(marks, list) or not marks:
                continue
            rows += 1
            for m in marks:
                if isinstance(m, dict):
                    counts[f"{m.get('column')}:{m.get('rule')}:{m.get('policy')}"] += 1
    total = len(logged)
    return {"rows": rows, "of": total, "share": rows / total if total else 0.0,
            "by_rule": dict(counts.most_common())}

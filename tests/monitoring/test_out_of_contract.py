"""out_of_contract_summary counts logged rows answered out of contract; old logs have none."""

from __future__ import annotations

import pandas as pd

from tabloop.monitoring import out_of_contract_summary


def test_counts_rows_and_marks_by_column_rule_and_policy() -> None:
    range_warn = {"column": "dir", "rule": "range", "policy": "warn"}
    unknown = {"column": "dmi", "rule": "unseen_category", "policy": "unknown"}
    logged = pd.DataFrame({"row": [0, 1, 2, 3], "contract": [[range_warn, unknown], None, [range_warn], float("nan")]})
    got = out_of_contract_summary(logged)
    assert got == {"rows": 2, "of": 4, "share": 0.5,
                   "by_rule": {"dir:range:warn": 2, "dmi:unseen_category:unknown": 1}}


def test_a_log_from_before_the_field_reads_as_rows_within_the_contract() -> None:
    assert out_of_contract_summary(pd.DataFrame({"row": [0, 1]})) == {"rows": 0, "of": 2, "share": 0.0, "by_rule": {}}
    assert out_of_contract_summary(pd.DataFrame())["share"] == 0.0

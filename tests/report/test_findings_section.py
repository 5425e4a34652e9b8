"""The findings table every report that shows findings uses."""

from __future__ import annotations

from tabloop.report import findings_html


def test_findings_table_lists_severity_what_and_what_to_do_in_order() -> None:
    findings = [
        {"code": "leak", "severity": "critical", "message": "column 'x' <leaks>", "action": "exclude it",
         "column": "x", "score": 1.0, "spec_change": "data.exclude: [x]"},
        {"code": "skewed", "severity": "info", "message": "column 'y' is skewed", "action": "nothing",
         "column": "y", "score": 0.1, "spec_change": None},
    ]
    page = findings_html(findings, none="")
    assert page.index("critical") < page.index("info")
    assert "&lt;leaks&gt;" in page and "<code>data.exclude: [x]</code>" in page and "class='bad'" in page
    assert "Nothing found" in findings_html([], none="Nothing found.")  # says the checks ran

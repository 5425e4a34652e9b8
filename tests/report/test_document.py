"""The report layer's document: one self-contained HTML file and its JSON twin."""

from __future__ import annotations

import json
from pathlib import Path

from tabloop.report import Report, plot_label, table_html


def test_a_report_writes_html_and_the_same_numbers_as_json(tmp_path: Path) -> None:
    report = Report(title="T <1>", data={"a": 1.5, "b": [1, 2]}, subtitle="sub & more")
    report.add("Numbers", table_html([{"name": "x", "value": 0.123456, "bad": True, "none": None}]))
    html_path, json_path = report.write(tmp_path, "r")
    assert (html_path, json_path) == (tmp_path / "r.html", tmp_path / "r.json")
    text = html_path.read_text()
    assert text.startswith("<!doctype html><html><head><meta charset='utf-8'><title>T &lt;1&gt;</title><style>")
    assert "<p class='meta'>sub &amp; more</p>" in text and "<h2>Numbers</h2>" in text
    assert "<td>0.1235</td>" in text and "<span class='bad'>yes</span>" in text
    assert json.loads(json_path.read_text()) == {"a": 1.5, "b": [1, 2]}


def test_the_report_stylesheet_is_the_shipped_asset_inlined() -> None:
    from tabloop.report._assets import asset_text

    css = asset_text("report.css")
    assert "table{border-collapse:collapse" in css
    assert f"<style>{css}</style>" in Report(title="t", data={}).to_html()


def test_an_empty_table_says_none() -> None:
    assert table_html([]) == "<p class='meta'>(none)</p>"


def test_labels_from_data_are_drawn_literally() -> None:
    assert plot_label("$price$") == r"\$price\$"
    assert plot_label(5) == "5"

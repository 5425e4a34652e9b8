"""The inline SVG charts: shapes for the numbers handed in, labels as escaped text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tabloop.report._svg import bars_svg, box_svg, heatmap_svg, histogram_svg, number

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_histogram_bars_are_as_tall_as_their_counts() -> None:
    root = parse(histogram_svg([0.0, 1.0, 2.0, 3.0], [10, 5, 0], label="h"))
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect")]
    assert heights[0] == 2 * heights[1] and heights[2] == 0
    assert "max 10 rows a bin" in ET.tostring(root, encoding="unicode")


def test_box_plot_places_quartiles_whiskers_and_outliers_on_the_given_scale() -> None:
    box = {"q1": 25.0, "median": 50.0, "q3": 75.0, "whislo": 10.0, "whishi": 90.0,
           "low_outliers": [], "high_outliers": [99.0, 100.0]}
    root = parse(box_svg(box, lo=0.0, hi=100.0, label="b", width=208))  # 200 px for 0..100 after 4 px margins
    rect = next(root.iter(f"{SVG}rect"))
    assert (float(rect.get("x")), float(rect.get("width"))) == (54.0, 100.0)
    assert [float(c.get("cx")) for c in root.iter(f"{SVG}circle")] == [202.0, 204.0]


def test_bars_and_heatmap_escape_labels_and_show_values() -> None:
    svg = bars_svg(["<a>", "$b$"], [3, 1], label="x")
    parse(svg)
    assert "&lt;a&gt;" in svg and "$b$" in svg and "<a>" not in svg
    widths = [float(r.get("width")) for r in parse(svg).iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(3 * widths[1], abs=0.2)
    heat = heatmap_svg(["a", "b"], [[1.0, -0.5], [-0.5, 1.0]], label="h")
    parse(heat)
    assert re.search(r"a / b: -0\.50", heat) and "#" in heat
    assert heatmap_svg(["a"], [[None]], label="h").count("n/a") == 1


def test_numbers_read_as_a_person_writes_them() -> None:
    assert [number(x) for x in (1234567, 0.5, 12345.678, 1e-5, 3.0, None, float("nan"))] == [
        "1,234,567", "0.5", "12,346", "1e-05", "3", "", "n/a"]

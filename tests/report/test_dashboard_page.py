"""The live dashboard's page, built from the package's asset files."""

from __future__ import annotations

import base64
import hashlib
import re

from tabloop.report import dashboard_html
from tabloop.report._assets import asset_text


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_inlines_its_assets_and_pins_them_in_its_policy() -> None:
    page, csp = dashboard_html(refresh_s=2.5)
    assert page.startswith("<!doctype html>") and "{style}" not in page and "{script}" not in page
    (style,) = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    (script,) = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert style == asset_text("dashboard.css")
    assert script == asset_text("dashboard.js").replace("__REFRESH_MS__", "2500")
    assert "var REFRESH_MS = 2500;" in script
    assert f"script-src {_digest(script)};" in csp and f"style-src {_digest(style)};" in csp


def test_the_refresh_pace_changes_the_script_and_so_its_hash() -> None:
    (a, csp_a), (b, csp_b) = dashboard_html(), dashboard_html(refresh_s=10)
    assert "var REFRESH_MS = 5000;" in a and "var REFRESH_MS = 10000;" in b
    assert csp_a != csp_b

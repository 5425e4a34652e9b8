"""The report layer alone draws: no other package imports matplotlib or writes an HTML document."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tabloop"


def test_only_the_report_layer_imports_matplotlib_or_builds_html_pages() -> None:
    outside = [p for p in SRC.rglob("*.py") if "report" not in p.relative_to(SRC).parts]
    offenders = [
        str(p.relative_to(SRC)) for p in outside
        if re.search(r"^\s*(import|from)\s+matplotlib", p.read_text(), flags=re.M)
        or re.search(r"<html|<style|<!doctype", p.read_text(), flags=re.I)
    ]
    assert offenders == []


def test_the_report_layer_uses_no_pyplot_and_imports_matplotlib_in_one_module() -> None:
    for p in (SRC / "report").rglob("*.py"):
        assert "matplotlib.pyplot" not in p.read_text() and "import pyplot" not in p.read_text(), p.name
        if p.name != "_figures.py":
            assert not re.search(r"^\s*(import|from)\s+matplotlib", p.read_text(), flags=re.M), p.name


def test_importing_the_report_layer_or_serving_its_page_imports_no_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tabloop.report import Report, dashboard_html, evaluation_report, leaderboard_report, monitor_report, "
        "profile_report, table_html\n"
        "dashboard_html()\n"
        "Report(title='t', data={}).to_html()\n"
        "print('matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"

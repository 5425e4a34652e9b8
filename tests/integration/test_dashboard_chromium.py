"""``tabloop serve``'s live dashboard in a real browser: headless Chromium draws it from the real server.

A project is trained and promoted, ``tabloop serve`` runs in its own process on a
free loopback port, answers predictions (and refuses two bad ones) and takes feedback
labels; Chromium then loads ``/dashboard``, runs its script and dumps the DOM. Every
number the page drew (kept unrounded in ``data-value`` attributes) must equal
``/dashboard/data``, and the timelines must equal what ``tabloop monitor --json``
writes for the same log. The screenshot is kept as a test artifact.

Chromium comes from Debian (``apt-get install -y --no-install-recommends chromium``);
without it this test fails, unless ``TABLOOP_SKIP_BROWSER=1`` says to skip it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import tabloop
from ._server import wait_until_answering

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ROWS, PER_REQUEST, LABELLED, WINDOW = 150, 10, 100, 50
KEY_VARS = ("TABLOOP_API_KEY", "TABLOOP_PREDICT_API_KEY", "TABLOOP_CONTROL_API_KEY")


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, checked before anything is trained: a missing one fails loudly, never silently skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("TABLOOP_SKIP_BROWSER") == "1":
            pytest.skip("TABLOOP_SKIP_BROWSER=1: the dashboard browser test is skipped")
        pytest.fail(
            "chromium is not installed, so the dashboard cannot be checked in a browser: "
            "apt-get install -y --no-install-recommends chromium (or set TABLOOP_SKIP_BROWSER=1 to skip this test)"
        )
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, hmda_csv: Path) -> Path:
    """A project of its own (the log it gathers must not leak into other tests), windows small enough to see."""
    root = tmp_path_factory.mktemp("dashboard-project")
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    spec = (root / "tabloop.yaml").read_text()
    edits = [
        (r"(?m)^(\s*)candidates: \[[^\]]*\]$", r"\1candidates: [dummy, linear]"),
        (r"(?m)^(    )rows: 1000$", rf"\g<1>rows: {WINDOW}"),  # monitoring.timeline.rows
        (r"(?m)^(    )min_rows: 50$", r"\1min_rows: 20"),  # monitoring.drift.min_rows
        (r"(?m)^(    )min_labels: 30$", r"\1min_labels: 20"),  # monitoring.performance.min_labels
        (r"(?m)^(    )threshold: null$", r"\1threshold: 0.7"),  # monitoring.performance.threshold
        (r"(?m)^(    )domain_classifier: true$", r"\1domain_classifier: false"),  # not drawn; keeps monitor quick
    ]
    for pattern, repl in edits:
        spec, n = re.subn(pattern, repl, spec, count=1)
        assert n == 1, f"tabloop.yaml no longer matches {pattern!r}: update this fixture"
    (root / "tabloop.yaml").write_text(spec)
    tabloop.profile(root)
    tabloop.promote(tabloop.train(root).version, project=root)
    return root


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    # no API keys: a browser navigation cannot send one (see the keyed case in tests/serve)
    return {k: v for k, v in os.environ.items() if k not in KEY_VARS}


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    stderr_path = tmp_path_factory.mktemp("dashboard-server") / "stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tabloop", "serve", "--project", str(project), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=err, env=_env(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, url, stderr_path, probe="/ping", timeout_s=180, poll_s=0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def traffic(server: str, hmda: pd.DataFrame) -> dict[str, int]:
    """Predictions in requests of ten rows, two refused requests, and labels for the first rows."""
    features = hmda.drop(columns=["deny"])
    labels: list[dict[str, Any]] = []
    with httpx.Client(base_url=server, timeout=30) as client:
        for start in range(0, ROWS, PER_REQUEST):
            part = features.iloc[start : start + PER_REQUEST]
            rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                    for r in part.to_dict("records")]
            answer = client.post("/predict", json=rows)
            assert answer.status_code == 200, answer.text
            rid = answer.json()["request_id"]
            for i in range(len(rows)):
                if start + i < LABELLED:
                    labels.append({"request_id": rid, "row": i, "label": str(hmda["deny"].iloc[start + i])})
        for bad in ([{"dir": "a lot"}], {"rows": "nope"}):
            assert client.post("/predict", json=bad).status_code in (400, 422)
        accepted = client.post("/feedback", json=labels)
        assert accepted.status_code == 200 and accepted.json()["accepted"] == LABELLED
    return {"rows": ROWS, "requests": ROWS // PER_REQUEST, "refused": 2, "labelled": LABELLED}


# -- reading what the page drew ------------------------------------------------------------------


@dataclass
class Drawn:
    state: str | None = None
    #: chart -> series -> window -> value, from the hidden numbers table (None where the cell is empty)
    tables: dict[str, dict[str, dict[int, float | None]]] = field(default_factory=lambda: defaultdict(dict))
    #: chart -> line name -> value (thresholds, reference lines)
    lines: dict[str, dict[str, float | None]] = field(default_factory=lambda: defaultdict(dict))
    #: chart -> series -> window -> value, from the plotted points
    points: dict[str, dict[str, dict[int, float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    figures: dict[str, float | None] = field(default_factory=dict)
    #: chart -> windows whose point is marked as drifted
    drifted: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.drawn = Drawn()
        self.chart: str | None = None  # the figure being read
        self.table: str | None = None
        self.window: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        value = (float(a["data-value"]) if a["data-value"] != "" else None) if "data-value" in a else None
        if tag == "body":
            self.drawn.state = a.get("data-state")
        elif tag == "figure":
            self.chart = a.get("data-chart")
        elif tag == "table" and "data-chart" in a:
            self.table = a["data-chart"]
        elif tag == "tr" and self.table is not None:
            self.window = int(a["data-window"]) if "data-window" in a else None
        elif tag == "td" and self.table is not None:
            if "data-line" in a:
                self.drawn.lines[self.table][a["data-line"]] = value
            elif self.window is not None:
                self.drawn.tables[self.table].setdefault(a["data-series"], {})[self.window] = value
        elif tag == "circle" and self.chart is not None:
            assert value is not None
            self.drawn.points[self.chart][a["data-series"]][int(a["data-window"])] = value
            if a.get("data-drifted") == "1":
                self.drawn.drifted[self.chart].add(int(a["data-window"]))
        elif tag == "dd" and "data-figure" in a:
            self.drawn.figures[a["data-figure"]] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.table = None
        elif tag == "figure":
            self.chart = None


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # a page refreshing itself never goes idle: a virtual time budget runs its script, then dumps or shoots
    return subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )


def _same(drawn: float | None, want: Any) -> bool:
    if want is None:
        return drawn is None
    return drawn is not None and math.isclose(drawn, float(want), rel_tol=1e-12, abs_tol=1e-12)


def _check_series(drawn: Drawn, chart: str, series: str, want: list[Any]) -> None:
    got = drawn.tables[chart][series]
    assert sorted(got) == list(range(len(want))), (chart, series, got)
    bad = [(i, got[i], w) for i, w in enumerate(want) if not _same(got[i], w)]
    assert not bad, f"{chart}/{series}: drawn != JSON at (window, drawn, json) {bad}"
    # a point is plotted for exactly the windows that have a number, at that number
    points = drawn.points[chart].get(series, {})
    assert sorted(points) == [i for i, w in enumerate(want) if w is not None], (chart, series)
    assert all(_same(points[i], want[i]) for i in points), (chart, series)


def _artifacts() -> Path:
    out = Path(os.environ.get("TABLOOP_TEST_ARTIFACTS") or REPO / ".pytest-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_dashboard_in_chromium_draws_the_monitor_numbers(
    chromium: str, project: Path, server: str, traffic: dict[str, int], tmp_path: Path
) -> None:
    data = httpx.get(f"{server}/dashboard/data", timeout=120).json()
    perf, timeline, outputs = data["performance"], data["timeline"], data["outputs"]
    windows = perf["windows"]
    assert [w["rows"] for w in windows] == [WINDOW] * (ROWS // WINDOW)
    assert [w["labelled"] for w in windows] == [50, 50, 0]
    assert data["server"]["requests"] == traffic["requests"] and data["server"]["rows"] == traffic["rows"]
    assert data["server"]["errors"] == traffic["refused"]

    # the browser: dump the DOM once the script has drawn it (the page says so on <body data-state>)
    result = _browser(chromium, tmp_path / "profile-dom", "--dump-dom", f"{server}/dashboard")
    assert result.returncode == 0, result.stderr[-3000:]
    reader = _Reader()
    reader.feed(result.stdout)
    drawn = reader.drawn
    assert drawn.state == "ready", f"the page never drew its charts (state {drawn.state!r}):\n{result.stdout[:2000]}"

    # every number drawn is the JSON's: volume, latency, error rate, performance, outputs, drift
    _check_series(drawn, "volume", "rows", [w["rows"] for w in windows])
    _check_series(drawn, "volume", "labelled", [w["labelled"] for w in windows])
    _check_series(drawn, "latency", "p50", [w["latency_ms"]["p50"] for w in windows])
    _check_series(drawn, "latency", "p99", [w["latency_ms"]["p99"] for w in windows])
    _check_series(drawn, "error_rate", "error rate", [w["error_rate"] for w in windows])
    metric = perf["metric"]
    _check_series(drawn, f"metric:{metric}", "realized", [w["realized"][metric] for w in windows])
    _check_series(drawn, f"metric:{metric}", "estimated", [w["estimated"][metric] for w in windows])
    assert _same(drawn.lines[f"metric:{metric}"]["threshold"], 0.7)
    for name, values in outputs["series"].items():
        _check_series(drawn, "outputs", name, values)
    drift_columns = [data["prediction_column"], *data["top_features"]]
    assert data["prediction_column"] == "__prediction__" and len(data["top_features"]) == 6
    for col in drift_columns:
        _check_series(drawn, f"drift:{col}", timeline["effects"][col], timeline["values"][col])
        assert _same(drawn.lines[f"drift:{col}"]["threshold"], timeline["thresholds"][col])
    assert drawn.figures["requests answered (this process)"] == traffic["requests"]
    assert drawn.figures["requests refused (this process)"] == traffic["refused"]
    assert _same(drawn.figures["error rate (this process)"], traffic["refused"] / (traffic["requests"] + traffic["refused"]))
    assert drawn.figures["rows logged"] == traffic["rows"] and drawn.figures["rows labelled"] == traffic["labelled"]
    # the log's own error records: every worker's refusals, surviving restarts
    assert perf["requests"] == traffic["requests"] + traffic["refused"] and perf["errors"] == traffic["refused"]
    assert drawn.figures["requests (log)"] == perf["requests"]
    assert drawn.figures["requests refused (log)"] == perf["errors"]
    assert _same(drawn.figures["error rate (log)"], perf["error_rate"]) and perf["error_rate"] > 0
    assert any(w["error_rate"] for w in windows)  # the error-rate chart has a point above zero
    # realized where labels joined, estimated everywhere, latency measured: the charts are not empty
    assert windows[0]["realized"][metric] is not None and windows[2]["realized"][metric] is None
    assert all(w["estimated"][metric] is not None and w["latency_ms"]["p50"] > 0 for w in windows)

    # the same log through `tabloop monitor --json`: the report's timelines are the dashboard's
    run = subprocess.run([sys.executable, "-m", "tabloop", "monitor", "--project", str(project), "--json"],
                         capture_output=True, text=True, timeout=300, env=_env(), check=False)
    assert run.returncode in (0, 3), run.stderr[-3000:]
    report = json.loads(Path(json.loads(run.stdout)["report_json"]).read_text())
    assert report["performance"] == perf
    assert report["timeline"] == timeline
    assert [w["rows"] for w in report["performance"]["windows"]] == [w["rows"] for w in windows]

    # the screenshot, kept for a person to look at
    shot = _artifacts() / "dashboard.png"
    shot.unlink(missing_ok=True)
    result = _browser(chromium, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000",
                      "--hide-scrollbars", f"{server}/dashboard")
    assert result.returncode == 0, result.stderr[-3000:]
    assert shot.stat().st_size > 10_000, "the screenshot is (nearly) empty"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

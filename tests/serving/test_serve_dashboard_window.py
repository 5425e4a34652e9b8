"""/dashboard/data reads only the windows it shows, and shows what a reading of the whole log shows (issue #14).

With 318k logged rows a refresh re-read the whole log (10-12 s, +600 MB held). The
figures must stay those of the monitor's functions over the whole log; the work must
not grow with the log.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pandas as pd
import pytest

from tabloop.api._dashboard_source import DashboardSource
from tabloop.predlog import PredictionLog, error_record
from tabloop.spec import MonitoringSpec, TimelineSpec
from tabloop.bundle import ModelBundle

#: what the page draws: every window's figures and the sums over them
DRAWN = ("timeline", "outputs", "top_features", "prediction_column")
PERF_DRAWN = ("windows", "rows", "labelled", "requests", "errors", "error_rate", "metric", "estimable", "threshold",
              "latest", "window_by")


def _project(log_dir: Path, timeline: TimelineSpec) -> Any:
    spec = SimpleNamespace(monitoring=MonitoringSpec(timeline=timeline), resolved_metric="roc_auc")
    return SimpleNamespace(spec=spec, predlog=PredictionLog(log_dir))


def _write_log(log_dir: Path, bundle: ModelBundle, hmda: pd.DataFrame, n: int, *, days: int = 3,
               segments: int = 2, step_s: float = 60.0) -> None:
    """``n`` rows over ``days`` UTC days in ``segments`` worker files each, with error records and feedback."""
    features = hmda[bundle.contract.feature_names].sample(n=n, replace=True, random_state=3).reset_index(drop=True)
    features.loc[n // 2 :, "dir"] = features.loc[n // 2 :, "dir"] * 1.5
    out = bundle.predict(features).records()
    start = dt.datetime(2024, 5, 1, 20, tzinfo=dt.UTC)
    files: dict[Path, list[bytes]] = {}
    feedback: list[bytes] = []
    for i, o in enumerate(out):
        ts = start + dt.timedelta(seconds=i * step_s * days * 86400 / (n * step_s) if days else i * step_s)
        stamp = ts.isoformat(timespec="milliseconds")
        path = log_dir / f"predictions-{ts:%Y%m%d}-w{i % segments}.jsonl"
        rec = {"request_id": f"q{i}", "row": 0, "ts": stamp, "source": "http", "model": bundle.name,
               "version": bundle.version, "variant": "champion",
               "inputs": {k: (None if pd.isna(v) else v) for k, v in features.iloc[i].items()},
               "prediction": o["prediction"], "probabilities": o["probabilities"], "latency_ms": 3.0 + i % 7}
        files.setdefault(path, []).append(orjson.dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        if i % 9 == 4:
            err = error_record(request_id=f"e{i}", status=422, code="contract_violation", message="bad",
                               dialect="tabloop", model=bundle.name, ts=stamp)
            files[path].append(orjson.dumps(err) + b"\n")
        if i % 2 == 0:
            label = "yes" if (i // 2) % 5 == 0 else "no"
            feedback.append(orjson.dumps({"request_id": f"q{i}", "row": 0, "label": label,
                                          "ts": (ts + dt.timedelta(minutes=30)).isoformat()}) + b"\n")
    log_dir.mkdir(parents=True, exist_ok=True)
    for path, lines in files.items():
        path.write_bytes(b"".join(lines))
    (log_dir / "feedback.jsonl").write_bytes(b"".join(feedback))


def _whole_log(source: DashboardSource) -> None:
    """Make ``source`` read the whole log, as the dashboard did before: the reference figures."""
    log = source.proj.predlog
    source.window.read = lambda timeline: (*log.read_log(), log.read_feedback())  # type: ignore[method-assign]


def _drawn(data: dict[str, Any]) -> dict[str, Any]:
    perf = data["performance"]
    return {**{k: data[k] for k in DRAWN}, "performance": {k: perf[k] for k in PERF_DRAWN}}


@pytest.mark.parametrize("timeline", [
    TimelineSpec(by="rows", rows=97, max_windows=4),
    TimelineSpec(by="rows", rows=1000, max_windows=30),  # all of it: fewer rows than the windows hold
    TimelineSpec(by="time", every="6h", max_windows=5),
    TimelineSpec(by="time", every="7D", max_windows=2),  # not a divisor of a day: read whole
])
def test_the_windows_read_from_the_end_draw_what_the_whole_log_draws(
    bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path, timeline: TimelineSpec,
) -> None:
    _write_log(tmp_path, bundle, hmda, 1_203)
    bounded = DashboardSource(_project(tmp_path, timeline))  # type: ignore[arg-type]
    whole = DashboardSource(_project(tmp_path, timeline))  # type: ignore[arg-type]
    _whole_log(whole)
    got, expected = bounded(bundle), whole(bundle)
    assert got["performance"]["labelled"] > 0 and got["performance"]["errors"] > 0
    assert _drawn(got) == _drawn(expected)


def test_a_refresh_parses_the_windows_not_the_log(bundle: ModelBundle, hmda: pd.DataFrame, tmp_path: Path) -> None:
    timeline = TimelineSpec(by="rows", rows=50, max_windows=3)
    _write_log(tmp_path, bundle, hmda, 3_000, days=5, segments=2)
    source = DashboardSource(_project(tmp_path, timeline))  # type: ignore[arg-type]
    source(bundle)
    stats = source.window.stats
    # the newest 150 rows of each worker's file of the newest day, their error records, and the day's labels
    assert stats.parsed_lines < 1_200, stats
    assert stats.files == {p.name for p in tmp_path.glob("predictions-20240506-*.jsonl")} | {"feedback.jsonl"}
    # the first refresh counted the older files' rows (newlines only); the next one does not touch them again
    log_bytes = sum(p.stat().st_size for p in tmp_path.glob("predictions-*.jsonl"))
    assert stats.scanned_bytes == log_bytes
    stats.files.clear()
    stats.scanned_files.clear()
    before = stats.scanned_bytes, stats.parsed_lines
    newest = sorted(tmp_path.glob("predictions-*.jsonl"))[-1]
    with newest.open("ab") as fh:
        fh.write(newest.read_bytes().splitlines(keepends=True)[-1])
    source(bundle)
    assert stats.scanned_bytes - before[0] == len(newest.read_bytes().splitlines(keepends=True)[-1])
    assert stats.parsed_lines - before[1] < 1_200
    assert stats.scanned_files == {newest.name}
    assert not any(name.startswith("predictions-2024050") and "0506" not in name for name in stats.files)

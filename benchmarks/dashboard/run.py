"""Dashboard benchmark: one ``/dashboard/data`` refresh, and the server's memory, against the log's size.

Writes a synthetic prediction log straight into its files, in the log's own record
format (one JSON line per row, one error record every 500 rows, a feedback label for
one row in ten), spread over days and two worker segments; then, in a fresh process per
size, builds the server app (``create_app`` with a ``ServeConfig`` naming the project's ``DashboardSource``) and
times ``GET /dashboard/data`` (cache off) three times: the first refresh (which counts
the older files' rows once, newlines only), and two more after rows were appended.
RSS is read before and after, and the peak. ``--whole`` adds the way it was before
(every refresh reads the whole log) at the sizes given to it.

    .venv/bin/python benchmarks/dashboard/run.py [--sizes 10000 10000000] [--whole 10000 300000]

Writes benchmarks/results/dashboard.json and dashboard.md. The timeline is the spec's
default (windows of 1,000 rows, the newest 30).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
ROOT = HERE.parent.parent
ROWS_PER_DAY = 1_000_000
DISTINCT = 5_000


def _bundle() -> Any:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    import tabloop
    from tabloop.data import check_frame, infer_contract
    from tabloop.preparation import make_preprocessor
    from tabloop.bundle import ModelBundle

    hmda = pd.read_csv(Path(tabloop.__file__).parent / "datasets" / "hmda.csv")
    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipeline = Pipeline([("prep", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(check_frame(hmda, contract), (hmda["deny"] == "yes").astype(int))
    bundle = ModelBundle(pipeline=pipeline, contract=contract,
                         manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5, "metric": "roc_auc"},
                         reference=hmda.head(500), spec_yaml="", name="hmda", version="1")
    return bundle, hmda


def generate(log_dir: Path, n: int) -> dict[str, Any]:
    """``n`` rows in the log's format, ~ROWS_PER_DAY a day, in two segments a day; fast: templates, no JSON encoder per row."""
    import orjson
    import pandas as pd

    bundle, hmda = _bundle()
    sample = hmda[bundle.contract.feature_names].sample(n=DISTINCT, replace=True, random_state=0).reset_index(drop=True)
    out = bundle.predict(sample).records()
    # each distinct row's JSON after its request id and time: inputs, outputs, latency
    tails = []
    for i, o in enumerate(out):
        rest = {"source": "http", "model": "hmda", "version": "1", "variant": "champion",
                "inputs": {k: (None if pd.isna(v) else v) for k, v in sample.iloc[i].items()},
                "prediction": o["prediction"], "probabilities": o["probabilities"], "latency_ms": 2.5 + i % 9}
        tails.append(orjson.dumps(rest, option=orjson.OPT_SERIALIZE_NUMPY)[1:])  # without its "{"
    labels = [b"yes" if o["prediction"] == "yes" else b"no" for o in out]
    log_dir.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    step_ms = 86_400_000 / ROWS_PER_DAY
    started = time.perf_counter()
    handles: dict[str, Any] = {}
    feedback = open(log_dir / "feedback.jsonl", "wb")
    seconds: dict[int, bytes] = {}
    buffers: dict[str, list[bytes]] = {}
    fb: list[bytes] = []
    for i in range(n):
        ms = int(i * step_ms)
        sec = ms // 1000
        text = seconds.get(sec)
        if text is None:
            seconds.clear()
            text = seconds[sec] = (start + dt.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S").encode()
        ts = b'%s.%03d+00:00' % (text, ms % 1000)
        name = "predictions-%s-w%d.jsonl" % (text[:10].decode().replace("-", ""), i % 2)
        buf = buffers.setdefault(name, [])
        buf.append(b'{"request_id":"q%d","row":0,"ts":"%s",%s\n' % (i, ts, tails[i % DISTINCT]))
        if i % 500 == 250:
            buf.append(b'{"kind":"error","request_id":"e%d","ts":"%s","source":"http","model":"hmda","version":"1",'
                       b'"variant":"champion","dialect":"tabloop","status":422,"code":"contract_violation",'
                       b'"message":"bad row","violations":[],"rows":1,"latency_ms":1.0}\n' % (i, ts))
        if i % 10 == 0:
            fb.append(b'{"request_id":"q%d","row":0,"label":"%s","ts":"%s"}\n' % (i, labels[i % DISTINCT], ts))
        if len(buf) >= 50_000:
            handles.setdefault(name, open(log_dir / name, "ab")).write(b"".join(buf))
            buf.clear()
        if len(fb) >= 50_000:
            feedback.write(b"".join(fb))
            fb.clear()
    for name, buf in buffers.items():
        handles.setdefault(name, open(log_dir / name, "ab")).write(b"".join(buf))
    feedback.write(b"".join(fb))
    for h in [*handles.values(), feedback]:
        h.close()
    size = sum(p.stat().st_size for p in log_dir.glob("*.jsonl"))
    return {"rows": n, "bytes": size, "files": len(handles), "generate_s": round(time.perf_counter() - started, 1)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(log_dir: Path, whole: bool) -> dict[str, Any]:
    """In this (fresh) process: the app with the dashboard over ``log_dir``, three refreshes, RSS."""
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from tabloop.api._dashboard_source import DashboardSource
    from tabloop.predlog import PredictionLog
    from tabloop.serving import ServeConfig, create_app
    from tabloop.spec import MonitoringSpec

    bundle, _ = _bundle()
    proj = SimpleNamespace(spec=SimpleNamespace(monitoring=MonitoringSpec(), resolved_metric="roc_auc"),
                           predlog=PredictionLog(log_dir))
    source = DashboardSource(proj)  # type: ignore[arg-type]
    if whole:  # as before: every refresh reads the whole log and all feedback
        log = proj.predlog
        source.window.read = lambda timeline: (*log.read_log(), log.read_feedback())  # type: ignore[method-assign]
    app = create_app(ServeConfig(bundle, dashboard=source))
    out: dict[str, Any] = {"mode": "whole log" if whole else "windows"}
    with TestClient(app) as client:
        app.state.dashboard.ttl_s = 0.0
        client.get("/health")
        out["rss_before_mb"] = round(_rss_mb(), 1)
        times = []
        newest = sorted(log_dir.glob("predictions-*.jsonl"))[-1]
        extra = newest.read_bytes()[-200_000:].split(b"\n", 1)[1]
        for k in range(3):
            if k:
                with newest.open("ab") as fh:  # traffic meanwhile: the next refresh sees new rows
                    fh.write(extra)
            t = time.perf_counter()
            r = client.get("/dashboard/data")
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        data = r.json()
        out["refresh_s"] = [round(x, 3) for x in times]
        out["rss_after_mb"] = round(_rss_mb(), 1)
        out["rss_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out["windows"] = len(data["performance"]["windows"])
        out["rows_shown"] = data["performance"]["rows"]
        out["stats"] = {"scanned_bytes": source.window.stats.scanned_bytes,
                        "tail_bytes": source.window.stats.tail_bytes,
                        "parsed_lines": source.window.stats.parsed_lines}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 10_000_000])
    parser.add_argument("--whole", type=int, nargs="*", default=[10_000, 300_000])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--whole-mode", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.whole_mode)))
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tabloop-dash-"))
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        for n in sorted(set(args.sizes) | set(args.whole)):
            log_dir = work / f"log-{n}"
            for whole in ([False] if n in args.sizes else []) + ([True] if n in args.whole else []):
                # afresh for each mode: the measurement appends rows
                shutil.rmtree(log_dir, ignore_errors=True)
                made = generate(log_dir, n)
                print(f"generated {made}", file=sys.stderr, flush=True)
                env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
                cmd = [sys.executable, __file__, "--measure", str(log_dir)] + (["--whole-mode"] if whole else [])
                res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                row = {**made, **json.loads(res.stdout.strip().splitlines()[-1])}
                print(row, file=sys.stderr, flush=True)
                rows.append(row)
            shutil.rmtree(log_dir, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    meta = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "platform": platform.platform(), "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Dashboard benchmark", "",
        f"{meta['when']} on {meta['cpus']} CPU(s), {meta['platform']}; load average before {meta['load_before']}, "
        f"after {meta['load_after']}. One `GET /dashboard/data` (cache off) over a synthetic log of N rows "
        f"(~{ROWS_PER_DAY:,} a day, two worker segments, an error record every 500 rows, a label for one row in ten); "
        "windows of 1,000 rows, the newest 30. Refresh 1 counts the files' rows (newlines) once; refreshes 2 and 3 "
        "follow an append. \"whole log\" is the way before (every refresh reads it all).", "",
        "| rows logged | log MiB | mode | refresh 1 s | refresh 2 s | refresh 3 s | RSS before MiB | RSS after MiB "
        "| RSS peak MiB | lines parsed (3 refreshes) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t = r["refresh_s"]
        lines.append(f"| {r['rows']:,} | {r['bytes'] / 2**20:,.0f} | {r['mode']} | {t[0]:.3f} | {t[1]:.3f} | {t[2]:.3f} "
                     f"| {r['rss_before_mb']:,.0f} | {r['rss_after_mb']:,.0f} | {r['rss_peak_mb']:,.0f} "
                     f"| {r['stats']['parsed_lines']:,} |")
    (RESULTS / "dashboard.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

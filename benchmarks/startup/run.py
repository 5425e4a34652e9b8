"""Start-up benchmark: how long a tabloop command takes as a whole process (issue #14).

Each case runs ``python -m tabloop ...`` in a fresh interpreter ``--repeat`` times and
records the median wall time and the median CPU time (user + system of the child: less
sensitive to other load on the machine than wall time). The targets are on wall time,
on a quiet machine:

- ``--help`` of the CLI and of any command: under 0.5 s;
- ``monitor --reference A --current B`` on two 10,000-row CSVs, standalone: under 2 s;
- ``predict`` of 1,000 rows in a trained project (a LightGBM champion): under 3 s.

    python benchmarks/startup/run.py                  # all cases, writes benchmarks/results/startup.{json,md}
    python benchmarks/startup/run.py --repeat 1 --out /tmp/startup   # a smoke run
    python benchmarks/startup/run.py --src /tmp/old/src --out /tmp/before   # another source tree, for before/after
    python benchmarks/startup/run.py --baseline /tmp/before/startup.json      # these figures beside those

The project for ``predict`` is trained once into the work folder (``--work``, kept between
runs): ``tabloop init`` on the bundled HMDA table, candidates ``[lightgbm]``, 3 trials. ``predict``
logs its rows, as it does by default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HMDA = ROOT / "src" / "tabloop" / "datasets" / "hmda.csv"
TARGETS_S = {"help": 0.5, "monitor": 2.0, "predict": 3.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case; the median is reported")
    parser.add_argument("--src", type=Path, default=None, help="put this source tree first on PYTHONPATH")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tabloop-bench-startup"), help="data and project")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for startup.json/.md")
    parser.add_argument("--label", default="", help="a note stored with the figures (e.g. 'before')")
    parser.add_argument("--note", default="", help="a paragraph printed under the first (e.g. how loaded the machine was)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="an earlier startup.json (e.g. --src of the code before a change) to show beside these")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), *filter(None, [env.get("PYTHONPATH")])])
    work = args.work.resolve()
    reference, current, batch, project = _prepare(work, env)
    tabloop = [sys.executable, "-m", "tabloop"]
    cases = {
        "tabloop --help": (tabloop + ["--help"], "help"),
        "tabloop monitor --help": (tabloop + ["monitor", "--help"], "help"),
        "tabloop predict --help": (tabloop + ["predict", "--help"], "help"),
        "tabloop train --help": (tabloop + ["train", "--help"], "help"),
        "tabloop monitor (10,000 vs 10,000 rows, standalone)": (
            tabloop + ["monitor", "--reference", str(reference), "--current", str(current),
                       "--report-dir", str(work / "reports"), "--json"], "monitor"),
        "tabloop predict (1,000 rows, LightGBM champion)": (
            tabloop + ["predict", "--project", str(project), "--input", str(batch), "--output",
                       str(work / "scored.csv"), "--json"], "predict"),
    }
    load_before = os.getloadavg()
    results = []
    for name, (argv, kind) in cases.items():
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = _timed(argv, env, cwd=work)
            walls.append(wall)
            cpus.append(cpu)
        med = statistics.median(walls)
        results.append({"case": name, "kind": kind, "argv": argv[1:], "wall_s": walls, "cpu_s": cpus,
                        "median_wall_s": med, "median_cpu_s": statistics.median(cpus),
                        "target_s": TARGETS_S[kind], "meets_target": med < TARGETS_S[kind]})
        print(f"{name}: median {med:.2f} s wall, {statistics.median(cpus):.2f} s CPU", file=sys.stderr)
    doc = {
        "benchmark": "startup: whole-process time of tabloop commands",
        "label": args.label,
        "note": args.note,
        "source": str((args.src or ROOT / "src").resolve()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "repeat": args.repeat,
        "results": results,
    }
    if args.baseline is not None:
        doc["baseline"] = json.loads(args.baseline.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / "startup.md").write_text(_markdown(doc))
    print(f"wrote {args.out / 'startup.json'} and {args.out / 'startup.md'}", file=sys.stderr)


def _timed(argv: list[str], env: dict[str, str], *, cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run; exit codes 0 and 3 (monitor: the policy says act) are success."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _prepare(work: Path, env: dict[str, str]) -> tuple[Path, Path, Path, Path]:
    """Two 10,000-row samples of the bundled table (the current one with a shifted column), 1,000 rows
    to score, and a trained project with a champion; made once, reused by later runs."""
    work.mkdir(parents=True, exist_ok=True)
    reference, current, batch = work / "reference.csv", work / "current.csv", work / "batch.csv"
    if not (reference.exists() and current.exists() and batch.exists()):
        import pandas as pd

        table = pd.read_csv(HMDA)
        table.sample(10_000, replace=True, random_state=1).to_csv(reference, index=False)
        shifted = table.sample(10_000, replace=True, random_state=2)
        shifted["dir"] = shifted["dir"] * 1.3
        shifted.to_csv(current, index=False)
        table.sample(1_000, random_state=3).drop(columns=["deny"]).to_csv(batch, index=False)
    project = work / "project"
    ready = work / "project.ready"
    if not ready.exists():
        tabloop = [sys.executable, "-m", "tabloop"]
        _check([*tabloop, "init", str(project), "--data", str(HMDA), "--target", "deny", "--exclude", "black",
                "--force", "--json"], env)
        spec = project / "tabloop.yaml"
        text = re.sub(r"(?m)^(\s*)candidates: \[[^\]]*\]$", r"\1candidates: [lightgbm]", spec.read_text())
        spec.write_text(text)
        _check([*tabloop, "profile", "--project", str(project), "--json"], env)
        _check([*tabloop, "train", "--project", str(project), "--trials", "3", "--json"], env)
        _check([*tabloop, "promote", "1", "--project", str(project), "--json"], env)
        ready.write_text("trained and promoted\n")
    return reference, current, batch, project


def _check(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")


def _markdown(doc: dict) -> str:
    lines = [
        "# Start-up: whole-process time of tabloop commands",
        "",
        f"Median of {doc['repeat']} runs of `python -m tabloop ...`, each in a fresh interpreter "
        "(`benchmarks/startup/run.py`). CPU is the child's user + system time. "
        f"Machine: {doc['machine']['platform']}, {doc['machine']['cpus']} CPUs, Python {doc['machine']['python']}; "
        f"load average before {doc['load_average_before'][0]:.2f}, after {doc['load_average_after'][0]:.2f}."
        + (f" Label: {doc['label']}." if doc["label"] else ""),
        "",
        *([doc["note"], ""] if doc.get("note") else []),
        "| command | wall s (median) | CPU s (median) | target s | met |",
        "|---|---:|---:|---:|---|",
    ]
    for r in doc["results"]:
        lines.append(f"| {r['case']} | {r['median_wall_s']:.2f} | {r['median_cpu_s']:.2f} | {r['target_s']:g} | "
                     f"{'yes' if r['meets_target'] else 'no'} |")
    base = doc.get("baseline")
    if base:
        before = {r["case"]: r for r in base["results"]}
        lines += [
            "",
            f"Against the baseline ({base.get('label') or base['source']}; median of {base['repeat']}, load average "
            f"before {base['load_average_before'][0]:.2f}, after {base['load_average_after'][0]:.2f}):",
            "",
            "Wall times on a busy machine follow its load, which differed between the two runs; the CPU columns "
            "compare the work each process did.",
            "",
            "| command | baseline wall s | wall s | baseline CPU s | CPU s |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in doc["results"]:
            b = before.get(r["case"])
            if b is not None:
                lines.append(f"| {r['case']} | {b['median_wall_s']:.2f} | {r['median_wall_s']:.2f} | "
                             f"{b['median_cpu_s']:.2f} | {r['median_cpu_s']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

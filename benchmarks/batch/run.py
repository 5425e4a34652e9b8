"""Batch scoring benchmark: ``tabloop predict`` against MLflow's ``pyfunc`` predict, same model, same data, one sitting
(issue #18).

A project is trained once on the bundled HMDA table (LightGBM, a few trials) and its champion is the model
both tools score: tabloop through ``tabloop predict``, MLflow through ``mlflow.pyfunc.load_model("models:/...")``
on the very version tabloop registered. The input is a CSV of N rows drawn from the table (with replacement),
written in blocks so making it takes little memory.

Measured, each as a fresh process, one after the other (order alternating between repeats):

- whole process: ``python -m tabloop predict -i in.csv -o out.parquet --no-log --json`` vs ``mlflow_runner.py``
  (``pd.read_csv``, ``load_model``, ``predict``, ``to_parquet``): wall seconds, rows/s, peak RSS (``ru_maxrss``
  from ``os.wait4``);
- inner computation: the same ``pd.read_csv`` DataFrame in memory, scored by tabloop's per-chunk function
  (``tabloop_inner.py``) vs ``model.predict(df)`` (the runner's own timing of that call);
- memory in the row count: tabloop's whole process at 1,000,000 and 10,000,000 rows (peak RSS should not grow);
  MLflow at 10,000,000 only with ``--mlflow-10m`` (it holds the whole table: several GB on a shared machine).

Targets: whole-process rows/s at least 3x MLflow's; peak RSS flat in the row count.

    python benchmarks/batch/run.py                      # 1M (both) and 10M (tabloop), writes benchmarks/results/batch.*
    python benchmarks/batch/run.py --rows 100000 --big 0 --out /tmp/bb   # a smoke run
    python benchmarks/batch/run.py --dask-only          # tabloop predict --engine dask, 1 and 2 workers: batch-dask.*
    make bench-batch
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SPEED_UP_TARGET = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the side-by-side run")
    parser.add_argument("--big", type=int, default=10_000_000, help="rows of the memory run (0: none)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each tool; the fastest is reported")
    parser.add_argument("--family", default="lightgbm", help="the model family trained (train.candidates)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tabloop-bench-batch"), help="project and data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for batch.json/.md")
    parser.add_argument("--mlflow-10m", action="store_true", help="also run MLflow on the big input")
    parser.add_argument("--dask-only", action="store_true", help="scoring throughput on Dask with 1 and 2 workers")
    args = parser.parse_args()
    args.load_start = os.getloadavg()[0]

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TABLOOP_NO_UPDATE_CHECK": "1"}
    project = make_project(work, args.family, env)
    tracking = f"sqlite:///{project / '.tabloop' / 'mlflow.db'}"
    model_uri = f"models:/{project.name}/1"
    py = sys.executable

    csv = work / f"in-{args.rows}.csv"
    make_csv(csv, args.rows)
    if args.dask_only:
        dask_runs(py, project, csv, work, env, args)
        return
    runs: dict[str, list[dict]] = {"tabloop": [], "mlflow": [], "tabloop_inner": []}
    for r in range(args.repeat):
        order = ["tabloop", "mlflow"] if r % 2 == 0 else ["mlflow", "tabloop"]
        for tool in order:
            if tool == "tabloop":
                runs["tabloop"].append(tabloop_run(py, project, csv, work / "out-tabloop.parquet", env))
            else:
                runs["mlflow"].append(measured([py, str(HERE / "mlflow_runner.py"), tracking, model_uri, str(csv),
                                                str(work / "out-mlflow.parquet")], env, cwd=project))
        runs["tabloop_inner"].append(measured([py, str(HERE / "tabloop_inner.py"), str(project), str(csv)], env))
    agreement = compare_outputs(work / "out-tabloop.parquet", work / "out-mlflow.parquet")
    csv.unlink()

    memory = [best(runs["tabloop"])]
    mlflow_big = None
    if args.big:
        free = shutil.disk_usage(work).free
        need = int(args.big * 110 * 1.5)  # about 110 bytes a row as CSV, and its Parquet output
        if free < need:
            raise SystemExit(f"{work}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed for {args.big:,} rows")
        big = work / f"in-{args.big}.csv"
        make_csv(big, args.big)
        try:
            memory.append(tabloop_run(py, project, big, work / "out-big.parquet", env))
            if args.mlflow_10m:
                mlflow_big = measured([py, str(HERE / "mlflow_runner.py"), tracking, model_uri, str(big),
                                       str(work / "out-big-mlflow.parquet")], env, cwd=project)
        finally:
            big.unlink(missing_ok=True)
            (work / "out-big.parquet").unlink(missing_ok=True)
            (work / "out-big-mlflow.parquet").unlink(missing_ok=True)
    write_results(args, runs, memory, mlflow_big, agreement)


def dask_runs(py: str, project: Path, csv: Path, work: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    """``tabloop predict --engine dask`` on a local cluster of 1, then 2 worker processes (and the local engine
    beside them): whole-process seconds, cluster start-up included."""
    rows_out = []
    for engine, workers in (("local", 1), ("dask", 1), ("dask", 2)):
        argv = [py, "-m", "tabloop", "predict", "-p", str(project), "-i", str(csv), "-o",
                str(work / "out-dask.parquet"), "--no-log", "--json", "--engine", engine, "--workers", str(workers)]
        run = measured(argv, env)
        rows_out.append({"engine": engine, "workers": workers if engine == "dask" else None, "wall_s": run["wall_s"],
                         "scoring_s": run["doc"]["seconds"], "rows_per_s": args.rows / run["wall_s"],
                         "scoring_rows_per_s": run["doc"]["rows_per_second"]})
    doc = {"benchmark": "batch-dask", "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "machine": {"cpus": os.cpu_count(), "load_1m": os.getloadavg()[0]}, "rows": args.rows, "runs": rows_out}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch-dask.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = ["# Batch scoring on Dask: 1 and 2 workers", "",
             f"{doc['when']}, {os.cpu_count()} CPUs (1-minute load {doc['machine']['load_1m']:.1f} at the end); "
             f"{args.rows:,} rows of CSV to Parquet; `python benchmarks/batch/run.py --dask-only`. Scoring seconds are "
             "the command's own (--json `seconds`: reading, scoring, writing; the cluster's start included for Dask).",
             "", "| engine | workers | whole process, s | scoring, s | scoring rows/s |", "|---|---|---|---|---|",
             *[f"| {r['engine']} | {r['workers'] or ''} | {r['wall_s']:.1f} | {r['scoring_s']:.1f} | "
               f"{r['scoring_rows_per_s']:,.0f} |" for r in rows_out]]
    (args.out / "batch-dask.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def make_project(work: Path, family: str, env: dict[str, str]) -> Path:
    project = work / "loans"
    if (project / ".tabloop" / "mlflow.db").exists():
        return project
    shutil.rmtree(project, ignore_errors=True)
    py = sys.executable
    data = work / "hmda.csv"
    subprocess.run([py, "-c", "from tabloop.cli._quickstart import bundled_table; import sys; "
                    f"bundled_table().to_csv({str(data)!r}, index=False)"], env=env, check=True)
    subprocess.run([py, "-m", "tabloop", "init", str(project), "--data", str(data), "--target", "deny",
                    "--exclude", "black"], env=env, check=True, capture_output=True)
    spec = project / "tabloop.yaml"
    text = re.sub(r"(?m)^(\s*)candidates: \[[^\]]*\]$", rf"\1candidates: [{family}]", spec.read_text())
    spec.write_text(re.sub(r"(?m)^(\s*)trials: null$", r"\1trials: 4", text))
    for argv in (["profile"], ["train"], ["promote", "1"]):
        subprocess.run([py, "-m", "tabloop", *argv, "-p", str(project), "--json"], env=env, check=True,
                       capture_output=True)
    return project


def make_csv(path: Path, rows: int, block: int = 1_000_000) -> None:
    """``rows`` rows drawn from the bundled table, written a block at a time."""
    if path.exists():
        return
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sys.path.insert(0, str(ROOT / "src"))
    from tabloop.cli._quickstart import bundled_table

    table = pa.Table.from_pandas(bundled_table(), preserve_index=False)
    rng = np.random.default_rng(18)
    tmp = path.with_suffix(".tmp")
    with pacsv.CSVWriter(str(tmp), table.schema) as writer:
        for start in range(0, rows, block):
            writer.write_table(table.take(rng.integers(0, table.num_rows, min(block, rows - start))))
    tmp.replace(path)


def tabloop_run(py: str, project: Path, csv: Path, out: Path, env: dict[str, str]) -> dict:
    run = measured([py, "-m", "tabloop", "predict", "-p", str(project), "-i", str(csv), "-o", str(out), "--no-log",
                    "--json"], env)
    run["result"] = json.loads(run["stdout"])
    return run


def measured(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> dict:
    """One process: wall seconds, CPU seconds, peak resident memory (its own ``ru_maxrss``, from ``os.wait4``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"{' '.join(argv)} failed ({code})")
    lines = out.decode().strip().splitlines()
    doc = json.loads(lines[-1]) if lines else {}
    return {"argv": [Path(a).name if "/" in a else a for a in argv[1:]], "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_bytes": usage.ru_maxrss * 1024, "stdout": out.decode(),
            "doc": doc}


def compare_outputs(ours: Path, theirs: Path) -> dict:
    import numpy as np
    import pandas as pd

    a, b = pd.read_parquet(ours), pd.read_parquet(theirs)
    cols = [c for c in b.columns if c.startswith("proba_")]
    diff = float(np.abs(a[cols].to_numpy() - b[cols].to_numpy()).max())
    return {"rows": len(a), "same_rows": len(a) == len(b), "same_labels": bool((a["prediction"] == b["prediction"]).all()),
            "max_abs_probability_difference": diff}


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["wall_s"])


def write_results(args: argparse.Namespace, runs: dict, memory: list[dict], mlflow_big: dict | None,
                  agreement: dict) -> None:
    ours, theirs = best(runs["tabloop"]), best(runs["mlflow"])
    inner = min(runs["tabloop_inner"], key=lambda r: r["doc"]["predict_s"])
    their_inner = min(r["doc"]["predict_s"] for r in runs["mlflow"])
    rows = args.rows
    whole = {"tabloop_s": ours["wall_s"], "mlflow_s": theirs["wall_s"], "tabloop_rows_per_s": rows / ours["wall_s"],
             "mlflow_rows_per_s": rows / theirs["wall_s"], "speed_up": theirs["wall_s"] / ours["wall_s"],
             "tabloop_max_rss_mb": ours["max_rss_bytes"] / 2**20, "mlflow_max_rss_mb": theirs["max_rss_bytes"] / 2**20,
             "tabloop_cpu_s": ours["cpu_s"], "mlflow_cpu_s": theirs["cpu_s"], "tabloop_threads": ours["result"]["threads"],
             "mlflow_steps_s": {k: v for k, v in theirs["doc"].items() if k.endswith("_s")}}
    inner_doc = {"tabloop_s": inner["doc"]["predict_s"], "mlflow_s": their_inner,
                 "tabloop_rows_per_s": rows / inner["doc"]["predict_s"], "mlflow_rows_per_s": rows / their_inner,
                 "speed_up": their_inner / inner["doc"]["predict_s"], "tabloop_runtime": inner["doc"]["runtime"],
                 "tabloop_threads": inner["doc"].get("threads", 1)}
    mem = [{"rows": m["result"]["rows_scored"] + m["result"]["rows_rejected"], "wall_s": m["wall_s"],
            "rows_per_s": (m["result"]["rows_scored"] + m["result"]["rows_rejected"]) / m["wall_s"],
            "max_rss_mb": m["max_rss_bytes"] / 2**20, "cpu_s": m["cpu_s"]} for m in memory]
    doc = {
        "benchmark": "batch", "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_1m_start": args.load_start,
                    "load_1m": os.getloadavg()[0]},
        "model": f"{args.family} (train.trials 4) on the bundled HMDA table, registered by tabloop; MLflow loads "
                 "that registered version", "rows": rows, "repeat": args.repeat,
        "whole_process": whole, "inner": inner_doc, "memory": mem,
        "mlflow_big": None if mlflow_big is None else {"wall_s": mlflow_big["wall_s"],
                                                        "max_rss_mb": mlflow_big["max_rss_bytes"] / 2**20},
        "agreement": agreement, "target_speed_up": SPEED_UP_TARGET,
        "all_runs": {k: [{"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "max_rss_mb": r["max_rss_bytes"] / 2**20,
                          "doc": r["doc"]} for r in v] for k, v in runs.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        "# Batch scoring: tabloop predict vs MLflow pyfunc predict", "",
        f"{doc['when']}, {os.cpu_count()} CPUs (shared; 1-minute load {args.load_start:.1f} at the start, "
        f"{doc['machine']['load_1m']:.1f} at the end), "
        f"Python {doc['machine']['python']}. Model: {doc['model']}. Input: {rows:,} rows of CSV (13 columns); "
        f"output Parquet. Best of {args.repeat} runs, order alternating. `python benchmarks/batch/run.py`.", "",
        "| measure | tabloop | MLflow pyfunc | tabloop / MLflow |", "|---|---|---|---|",
        f"| whole process, rows/s | {whole['tabloop_rows_per_s']:,.0f} | {whole['mlflow_rows_per_s']:,.0f} | "
        f"**{whole['speed_up']:.2f}x** |",
        f"| whole process, seconds | {whole['tabloop_s']:.1f} | {whole['mlflow_s']:.1f} | |",
        f"| whole process, peak RSS | {whole['tabloop_max_rss_mb']:,.0f} MB | {whole['mlflow_max_rss_mb']:,.0f} MB | |",
        f"| whole process, CPU seconds (user+sys) | {whole['tabloop_cpu_s']:.1f} | {whole['mlflow_cpu_s']:.1f} | "
        f"{whole['mlflow_cpu_s'] / whole['tabloop_cpu_s']:.2f}x |",
        f"| inner (scoring an in-memory DataFrame), rows/s | {inner_doc['tabloop_rows_per_s']:,.0f} | "
        f"{inner_doc['mlflow_rows_per_s']:,.0f} | **{inner_doc['speed_up']:.2f}x** |", "",
        "MLflow's process, step by step (s): " + ", ".join(f"{k[:-2]} {v:.2f}" for k, v in whole["mlflow_steps_s"].items())
        + f". tabloop's runtime: {inner_doc['tabloop_runtime']}, {whole['tabloop_threads']} scoring threads "
        "(`--threads`, default the CPUs available).", "",
        "Memory in the row count (tabloop predict, whole process):", "",
        "| rows | seconds | rows/s | CPU seconds | peak RSS |", "|---|---|---|---|---|",
        *[f"| {m['rows']:,} | {m['wall_s']:.1f} | {m['rows_per_s']:,.0f} | {m['cpu_s']:.1f} | {m['max_rss_mb']:,.0f} MB |"
          for m in mem],
        "",
        f"Agreement on the {agreement['rows']:,} rows: same rows {agreement['same_rows']}, same labels "
        f"{agreement['same_labels']}, largest probability difference {agreement['max_abs_probability_difference']:.2g} "
        "(tabloop scores with the ONNX graph in float32, whose parity was checked at registration; MLflow with the "
        "float64 pipeline).",
    ]
    if mlflow_big is not None:
        lines += ["", f"MLflow at {args.big:,} rows: {mlflow_big['wall_s']:.1f} s, peak RSS "
                      f"{mlflow_big['max_rss_bytes'] / 2**20:,.0f} MB."]
    (args.out / "batch.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

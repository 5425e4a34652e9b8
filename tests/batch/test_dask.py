"""The Dask engine gives the local engine's output and rejects, row for row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tabloop.batch import ChunkScorer, dask_results, local_results, open_sink, rejects_schema, write_scored
from tabloop.bundle import ModelBundle
from tabloop.data import read_chunks
from tabloop.errors import DataError


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A cluster of two single-threaded worker processes, reached by its address as a user's own cluster is."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _score(results: object, tmp_path: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    write_scored(results, open_sink(tmp_path / f"{name}.parquet"),  # type: ignore[arg-type]
                 open_sink(tmp_path / f"{name}.rejects.parquet", schema=rejects_schema()))
    return pd.read_parquet(tmp_path / f"{name}.parquet"), pd.read_parquet(tmp_path / f"{name}.rejects.parquet")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_dask_and_local_give_the_same_rows_and_rejects(
    fmt: str, onnx_bundle: ModelBundle, bad_csv: Path, hmda: pd.DataFrame, scheduler: str, tmp_path: Path
) -> None:
    source = bad_csv
    if fmt == "parquet":  # typed columns: a far value rejected, several row groups
        df = pd.concat([hmda.head(40)] * 3, ignore_index=True)
        df.loc[45, "dir"] = 1000.0
        source = tmp_path / "in.parquet"
        df.to_parquet(source, row_group_size=25)
    local = _score(local_results(ChunkScorer(onnx_bundle, request_id="r"),
                                 read_chunks(source, rows=7, numbers=onnx_bundle.contract.numeric)), tmp_path, "local")
    # small byte blocks: the CSV is split into several partitions, each scored in chunks of 4
    remote = _score(dask_results(ChunkScorer(onnx_bundle, request_id="r"), source, chunk_rows=4, chunk_bytes=900,
                                 scheduler=scheduler), tmp_path, "dask")
    pd.testing.assert_frame_equal(remote[0], local[0], check_exact=True)
    pd.testing.assert_frame_equal(remote[1], local[1])
    assert len(local[1]) == (2 if fmt == "csv" else 1)


def test_dask_names_a_file_it_cannot_read(onnx_bundle: ModelBundle, tmp_path: Path, scheduler: str) -> None:
    with pytest.raises(DataError, match="no such file"):
        list(dask_results(ChunkScorer(onnx_bundle, request_id="r"), tmp_path / "gone.csv", chunk_rows=4,
                          chunk_bytes=900, scheduler=scheduler))

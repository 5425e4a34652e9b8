"""Fixtures of the Dask tests (imported by each test module that uses them): a cluster of threads in this
process, quick to start, and the bundled table as four Parquet part files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tabloop.data import dask_client


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with dask_client(workers=2, processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory, hmda: pd.DataFrame) -> Path:
    folder = tmp_path_factory.mktemp("parts")
    for i in range(4):  # a table in several part files, as larger-than-memory data comes
        hmda.iloc[i::4].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder

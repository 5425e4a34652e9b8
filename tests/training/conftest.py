"""The bundled table's contract and a spec factory for the training tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from tabloop.data import Contract, infer_contract
from tabloop.spec import Spec, validate_spec


@pytest.fixture(scope="session")
def contract(hmda: pd.DataFrame) -> Contract:
    return infer_contract(hmda, target="deny", ignored=["black"])


@pytest.fixture(scope="session")
def make_spec() -> Callable[..., Spec]:
    def make(candidates: list[str], *, task: str = "binary", target: str = "deny", **over: Any) -> Spec:
        raw: dict[str, Any] = {
            "name": "t",
            "data": {"source": "x.csv", "target": target, "task": task, "exclude": ["black"]},
            # k-fold pinned: these tests are about the search, and auto would repeat the folds on their small samples
            "split": {"folds": 3, "validation": "kfold"},
            "train": {"candidates": candidates},
        }
        raw.update(over)
        return validate_spec(raw)

    return make

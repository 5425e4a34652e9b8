"""Spec objects for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tabloop.spec import Spec, validate_spec


@pytest.fixture(scope="session")
def make_spec() -> Callable[..., Spec]:
    """``make_spec(split={...}, seed=..., task=...)``: a valid spec for the HMDA table."""

    def make(*, task: str = "binary", target: str = "deny", **over: Any) -> Spec:
        raw: dict[str, Any] = {
            "name": "t",
            "data": {"source": "x.csv", "target": target, "task": task, "exclude": ["black"]},
        }
        raw.update(over)
        return validate_spec(raw)

    return make

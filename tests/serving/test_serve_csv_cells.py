"""A CSV body over HTTP: one bad cell of a number column is named alone (row, column, value), as in batch CSV files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tabloop.bundle import ModelBundle

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="module")
def client(bundle: ModelBundle) -> Iterator[TestClient]:
    with TestClient(app_for(bundle, max_rows=50)) as c:
        yield c


@pytest.mark.parametrize("engine", ["onnx", "sklearn"])
def test_a_bad_number_cell_in_a_csv_body_is_the_only_violation(
    bundle: ModelBundle, make_rows: Rows, engine: str
) -> None:
    from tabloop.serving import BundlePredictor

    rows = make_rows(4, start=10)
    frame = pd.DataFrame(rows)
    frame["ccs"] = frame["ccs"].astype(object)
    frame.loc[2, "ccs"] = "unknown"
    body = frame.to_csv(index=False)
    app = app_for(bundle, max_rows=50, **({"predictor": BundlePredictor} if engine == "sklearn" else {}))
    with TestClient(app) as client:
        r = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    # MLflow's dialect answers a broken contract 400 BAD_REQUEST, with tabloop's violations alongside
    assert r.status_code == 400, r.text
    violations = r.json()["violations"]
    assert [(v["column"], v["row"], v["value"], v["rule"]) for v in violations] == [("ccs", 2, "unknown", "type")]
    assert "1.0" not in r.json()["message"]  # the valid cells are not reported


def test_a_csv_body_of_good_cells_still_predicts(client: TestClient, make_rows: Rows) -> None:
    body = pd.DataFrame(make_rows(3, start=20)).to_csv(index=False)
    r = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 3


def test_a_csv_header_is_judged_as_sent_not_as_pandas_renames_it() -> None:
    from tabloop.errors import MalformedRequest
    from tabloop.serving._dialects import _csv_rows

    # a feature that pandas itself named (a training CSV's unnamed index) is a column like any other
    assert _csv_rows(b"Unnamed: 0,age\n1,30\n", numeric=["age"]) == [{"Unnamed: 0": 1, "age": 30.0}]
    for header in (b",age\n1,30\n", b"age,age\n1,30\n"):  # pandas would make these "Unnamed: 0" and "age.1"
        with pytest.raises(MalformedRequest, match="the CSV header must name every column once"):
            _csv_rows(header)
    # found by schemathesis: a bare carriage return in the header line crashed the header check (a 500);
    # such a body is read as pandas reads it, or refused as malformed, never an unexpected exception
    for odd in (b"a\rb\x00\n1\n", b'"a\n', b"a,b\r1,2\r"):
        try:
            assert isinstance(_csv_rows(odd), list)
        except MalformedRequest:
            pass


def test_a_csv_body_reads_each_number_as_the_double_nearest_its_text() -> None:
    # pandas' default parser reads this 17-digit text one unit in the last place high (...905); the
    # training file is read exactly (read_table), so a training maximum sent back in a CSV body must
    # come back as the same double, not as one just past the contract's range
    from tabloop.serving._dialects import _csv_rows

    text = "1.5193001324895903"
    assert pd.read_csv(__import__("io").StringIO(f"x\n{text}\n"))["x"][0] != float(text)  # the trap is real
    assert _csv_rows(f"x\n{text}\n".encode(), numeric=["x"]) == [{"x": float(text)}]

"""POST /predict answers the same through the HTTP app whichever engine scores: ONNX or the pipeline.

The fixture bundle carries an exported graph (as registration leaves it), so the
default ``FastPredictor`` answers from ONNX; ``BundlePredictor`` is the reference
(pandas + the scikit-learn pipeline). Same rows, same answers: labels equal,
probabilities within float32's reach, identical 4xx bodies.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tabloop.data import ContractPolicy
from tabloop.serving._predictor import BundlePredictor
from tabloop.bundle import ModelBundle

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]
RID = {"X-Request-ID": "same-id-for-both", "content-type": "application/json"}


#: the contract refusing unseen categories and letting far numbers through, so that the float32 fallback
#: and the overflow on the pipeline are reached; ``default_clients`` serve the default policies
EDGES = ContractPolicy(defaults={"far_range": "warn", "unseen_category": "reject"})


def _pair(bundle: ModelBundle) -> tuple[TestClient, TestClient]:
    assert bundle.onnx is not None and bundle.manifest.onnx["used"]
    return TestClient(app_for(bundle, max_rows=50)), TestClient(app_for(bundle, max_rows=50, predictor=BundlePredictor))


@pytest.fixture(scope="module")
def clients(bundle: ModelBundle) -> Iterator[tuple[TestClient, TestClient]]:
    onnx, sklearn = _pair(dataclasses.replace(bundle, contract=bundle.contract.with_policy(EDGES)))
    with onnx, sklearn:
        yield onnx, sklearn


@pytest.fixture(scope="module")
def default_clients(bundle: ModelBundle) -> Iterator[tuple[TestClient, TestClient]]:
    onnx, sklearn = _pair(bundle)
    with onnx, sklearn:
        yield onnx, sklearn


def test_each_app_says_which_engine_answers(clients: tuple[TestClient, TestClient]) -> None:
    onnx, sklearn = clients
    assert onnx.get("/metadata").json()["engine"] == "onnx"
    assert sklearn.get("/metadata").json()["engine"] == "sklearn"


def _with(rows: list[dict[str, Any]], i: int, **values: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(rows)
    out[i].update(values)
    return out


def _cases(make_rows: Rows) -> dict[str, list[dict[str, Any]]]:
    one, many = make_rows(1, start=7), make_rows(12, start=100)
    numeric = next(k for k, v in one[0].items() if isinstance(v, float))
    return {
        "one": one,
        "batch": many,
        "batch_beyond_the_small_feed": make_rows(40, start=300),
        "missing_numeric": _with(one, 0, **{numeric: None}),
        "missing_numeric_in_batch": _with(many, 5, **{numeric: None}),
        "numeric_key_absent": [{k: v for k, v in one[0].items() if k != numeric}],
        "int_for_float": _with(one, 0, **{numeric: 1}),
        # beyond float32: the ONNX engine hands these rows to the pipeline (float64), which scores them
        "huge_number": _with(one, 0, **{numeric: 1e300}),
        "huge_number_in_batch": _with(many, 2, **{numeric: -1e300}),
    }


def _same_answer(a: Any, b: Any) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    ja, jb = a.json(), b.json()
    if a.status_code != 200:
        assert ja == jb
        return
    assert ja.keys() == jb.keys()
    assert ja["request_id"] == jb["request_id"] and ja["model"] == jb["model"] and ja["variant"] == jb["variant"]
    assert len(ja["predictions"]) == len(jb["predictions"])
    assert ja.get("out_of_contract") == jb.get("out_of_contract")
    assert a.headers.get("x-out-of-contract-rows") == b.headers.get("x-out-of-contract-rows")
    for pa, pb in zip(ja["predictions"], jb["predictions"], strict=True):
        assert pa.get("contract") == pb.get("contract")
        assert pa["prediction"] == pb["prediction"]
        assert pa["probabilities"].keys() == pb["probabilities"].keys()
        for label, p in pb["probabilities"].items():
            assert pa["probabilities"][label] == pytest.approx(p, abs=1e-5)


@pytest.mark.parametrize(
    "case",
    ["one", "batch", "batch_beyond_the_small_feed", "missing_numeric", "missing_numeric_in_batch",
     "numeric_key_absent", "int_for_float", "huge_number", "huge_number_in_batch"],
)
def test_same_predictions(clients: tuple[TestClient, TestClient], make_rows: Rows, case: str) -> None:
    rows = _cases(make_rows)[case]
    onnx, sklearn = clients
    a = onnx.post("/predict", json=rows, headers=RID)
    b = sklearn.post("/predict", json=rows, headers=RID)
    _same_answer(a, b)


def _bad_cases(make_rows: Rows, bundle: ModelBundle) -> dict[str, bytes]:
    contract = bundle.contract
    cat = next(c.name for c in contract.columns if c.kind == "categorical")
    num = contract.numeric[0]
    not_null = next((c.name for c in contract.columns if not c.nullable), None)
    one, many = make_rows(1, start=3), make_rows(6, start=50)
    cases = {
        "unseen_category": _with(one, 0, **{cat: "never-seen"}),
        "unseen_category_in_batch": _with(many, 4, **{cat: "never-seen"}),
        # finite, but the pipeline's scaling overflows on it
        "overflowing_number": _with(one, 0, **{num: 1.7e308}),
        "overflowing_number_in_batch": _with(many, 2, **{num: -1.7e308}),
        "string_for_number": _with(one, 0, **{num: "abc"}),
        "unknown_column": _with(one, 0, surprise=1),
        "several_violations": _with(_with(many, 1, **{cat: "nope"}), 3, **{num: "x"}),
    }
    if not_null is not None:
        cases["null_where_not_allowed"] = _with(one, 0, **{not_null: None})
    return {k: orjson.dumps(v) for k, v in cases.items()} | {
        "not_json": b"[{",
        "empty": b"[]",
        "nan_literal": orjson.dumps(one).replace(f'"{num}":'.encode(), f'"{num}":NaN,"_x":'.encode(), 1),
    }


@pytest.mark.parametrize(
    "case",
    ["unseen_category", "unseen_category_in_batch", "overflowing_number", "overflowing_number_in_batch", "string_for_number",
     "unknown_column", "several_violations", "null_where_not_allowed", "not_json", "empty", "nan_literal"],
)
def test_same_errors(clients: tuple[TestClient, TestClient], make_rows: Rows, bundle: ModelBundle, case: str) -> None:
    cases = _bad_cases(make_rows, bundle)
    if case not in cases:
        pytest.skip("the contract has no such column")
    onnx, sklearn = clients
    a = onnx.post("/predict", content=cases[case], headers=RID)
    b = sklearn.post("/predict", content=cases[case], headers=RID)
    assert 400 <= a.status_code < 500, a.text
    _same_answer(a, b)


def _marked_cases(make_rows: Rows, bundle: ModelBundle) -> dict[str, list[dict[str, Any]]]:
    contract = bundle.contract
    cat = next(c.name for c in contract.columns if c.kind == "categorical")
    num = contract.column(contract.numeric[0])
    one, many = make_rows(1, start=11), make_rows(12, start=120)
    above = num.max + 0.1 * (num.max - num.min)
    return {
        "unseen_category": _with(one, 0, **{cat: "never-seen"}),
        "unseen_category_in_batch": _with(many, 4, **{cat: "never-seen"}),
        "a_little_out_of_range": _with(one, 0, **{num.name: above}),
        "out_of_range_and_unseen_in_batch": _with(_with(many, 2, **{num.name: above}), 7, **{cat: 3}),
        "far_out_of_range": _with(one, 0, **{num.name: 1000.0}),
        "enormous_in_batch": _with(many, 9, **{num.name: 1.8e19}),
    }


@pytest.mark.parametrize(
    "case",
    ["unseen_category", "unseen_category_in_batch", "a_little_out_of_range", "out_of_range_and_unseen_in_batch",
     "far_out_of_range", "enormous_in_batch"],
)
def test_default_policies_answer_the_same(
    default_clients: tuple[TestClient, TestClient], make_rows: Rows, bundle: ModelBundle, case: str
) -> None:
    """Marked rows (unseen categories as unknown, numbers a little outside) and refused ones alike."""
    rows = _marked_cases(make_rows, bundle)[case]
    onnx, sklearn = default_clients
    a = onnx.post("/predict", json=rows, headers=RID)
    b = sklearn.post("/predict", json=rows, headers=RID)
    assert a.status_code == (422 if case in ("far_out_of_range", "enormous_in_batch") else 200), a.text
    _same_answer(a, b)
    if a.status_code == 200:
        assert a.json()["out_of_contract"]


def test_overflow_on_onnx_is_named_by_column(clients: tuple[TestClient, TestClient], make_rows: Rows) -> None:
    r = clients[0].post("/predict", json=_with(make_rows(1), 0, dir=1.7e308))
    assert r.status_code == 422, r.text
    assert [(v["column"], v["rule"]) for v in r.json()["error"]["violations"]] == [("dir", "out_of_range")]


def test_fast_path_answers_as_the_routed_endpoint(bundle: ModelBundle, make_rows: Rows) -> None:
    """POST /predict skips FastAPI's router; without that shortcut the same endpoint answers the same."""
    from tabloop.serving._middleware import PredictFastPath as _PredictFastPath

    fast = app_for(bundle, max_rows=5)
    routed = app_for(bundle, max_rows=5)
    assert any(m.cls is _PredictFastPath for m in routed.user_middleware)
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not _PredictFastPath]
    bodies = [orjson.dumps(make_rows(2)), b"[{", b"[]", orjson.dumps(make_rows(6)),
              orjson.dumps(_with(make_rows(1), 0, dir="x"))]
    with TestClient(fast) as a, TestClient(routed) as b:
        for body in bodies:
            ra = a.post("/predict", content=body, headers=RID)
            rb = b.post("/predict", content=body, headers=RID)
            assert (ra.status_code, ra.content) == (rb.status_code, rb.content)
            assert {k: v for k, v in ra.headers.items() if k != "content-length"} == {
                k: v for k, v in rb.headers.items() if k != "content-length"
            }
        for c in (a, b):  # the shortcut counts what the route counts
            metrics = c.get("/metrics").text
            assert 'tabloop_requests_total{dialect="tabloop",model_version="1",variant="champion"} 1.0' in metrics
            assert c.get("/health").json()["requests"]["errors"] == {
                "malformed_request": 1, "contract_violation": 2, "payload_too_large": 1
            }
        assert a.get("/predict").status_code == 405  # anything but POST falls through to FastAPI
        assert "/predict" in a.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_gap_let_through_by_warn_is_answered_alike(bundle: ModelBundle, make_rows: Rows, kind: str) -> None:
    """not_null: warn hands the gap to the model's imputer, on the graph as in the pipeline."""
    contract = bundle.contract
    column = next(c.name for c in contract.columns if not c.nullable and c.kind == kind)
    warned = dataclasses.replace(bundle, contract=contract.with_policy(ContractPolicy(defaults={"not_null": "warn"})))
    rows = _with(make_rows(3, start=60), 1, **{column: None})
    onnx, sklearn = _pair(warned)
    with onnx, sklearn:
        a = onnx.post("/predict", json=rows, headers=RID)
        b = sklearn.post("/predict", json=rows, headers=RID)
    assert a.status_code == 200, a.text
    _same_answer(a, b)
    assert a.json()["predictions"][1]["contract"] == [{"column": column, "rule": "not_null", "policy": "warn"}]

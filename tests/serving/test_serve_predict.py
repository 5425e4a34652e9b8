"""POST /predict: answers, agreement with the bundle, request ids, and every way a request can be wrong."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tabloop.serving._http import MAX_BODY_BYTES
from tabloop.bundle import ModelBundle

from ._apps import app_for

Rows = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="module")
def client(bundle: ModelBundle) -> Iterator[TestClient]:
    with TestClient(app_for(bundle, max_rows=50)) as c:
        yield c


def _expected(bundle: ModelBundle, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return bundle.predict(pd.DataFrame.from_records(rows)).records()


def _assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["prediction"] == w["prediction"]
        assert g["probabilities"].keys() == w["probabilities"].keys()
        for k, p in w["probabilities"].items():
            assert g["probabilities"][k] == pytest.approx(p, abs=1e-5)  # the ONNX graph computes in float32


def test_single_row(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    rows = make_rows(1)
    r = client.post("/predict", json=rows)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert r.headers["x-request-id"] == body["request_id"]
    assert body["model"] == {"name": "hmda", "version": "1"}
    assert body["variant"] == "champion"
    [pred] = body["predictions"]
    assert pred["prediction"] in ("no", "yes")
    assert set(pred["probabilities"]) == {"no", "yes"}
    assert math.isclose(sum(pred["probabilities"].values()), 1.0, abs_tol=1e-6)  # float32 on ONNX
    # threshold 0.5 on P(yes) decides the label
    assert pred["prediction"] == ("yes" if pred["probabilities"]["yes"] >= 0.5 else "no")
    _assert_same(body["predictions"], _expected(bundle, rows))


def test_many_rows_match_bundle_in_both_body_shapes(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    rows = make_rows(50, start=100)
    want = _expected(bundle, rows)
    as_list = client.post("/predict", json=rows)
    as_object = client.post("/predict", json={"rows": rows})
    assert as_list.status_code == as_object.status_code == 200
    _assert_same(as_list.json()["predictions"], want)
    _assert_same(as_object.json()["predictions"], want)
    assert as_list.json()["request_id"] != as_object.json()["request_id"]
    # the fixture rows are not all one class, so a constant answer would be caught
    assert {p["prediction"] for p in want} == {"no", "yes"}


def test_single_row_requests_agree_with_one_batch(client: TestClient, make_rows: Rows) -> None:
    rows = make_rows(12, start=300)
    batch = client.post("/predict", json=rows).json()["predictions"]
    one_by_one = [client.post("/predict", json=[row]).json()["predictions"][0] for row in rows]
    _assert_same(one_by_one, batch)


def test_ignored_and_target_columns_are_accepted(client: TestClient, make_rows: Rows) -> None:
    rows = make_rows(2)
    assert "black" in rows[0]
    rows[0]["deny"] = "no"
    r = client.post("/predict", json=rows)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2


def test_client_request_id_round_trips(client: TestClient, make_rows: Rows) -> None:
    rid = "client-42.a:b_C"
    r = client.post("/predict", json=make_rows(1), headers={"X-Request-ID": rid})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == rid
    assert r.json()["request_id"] == rid


@pytest.mark.parametrize("rid", ["has space", "x" * 129, "", "semi;colon", "ünï"])
def test_bad_request_id_is_400(client: TestClient, make_rows: Rows, rid: str) -> None:
    r = client.post("/predict", json=make_rows(1), headers={"X-Request-ID": rid.encode()})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "malformed_request"
    assert "X-Request-ID" in err["message"]


def test_longest_allowed_request_id(client: TestClient, make_rows: Rows) -> None:
    rid = "a" * 128
    r = client.post("/predict", json=make_rows(1), headers={"X-Request-ID": rid})
    assert r.status_code == 200
    assert r.json()["request_id"] == rid


# -- rows that break the contract: 422, naming column, row and rule -----------------


def _violations(r: Any) -> list[dict[str, Any]]:
    body = r.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["violations"]


def _edit(rows: list[dict[str, Any]], i: int, **changes: Any) -> list[dict[str, Any]]:
    rows[i].update(changes)
    return rows


@pytest.mark.parametrize(
    ("change", "column", "row", "rule"),
    [
        (lambda rows: [{k: v for k, v in r.items() if k != "dir"} for r in rows], "dir", None, "missing_column"),
        (lambda rows: _edit(rows, 1, foo=1), "foo", None, "unexpected_column"),
        (lambda rows: _edit(rows, 1, dir="abc"), "dir", 1, "type"),
        (lambda rows: _edit(rows, 2, lvr=[1, 2]), "lvr", 2, "type"),
        (lambda rows: _edit(rows, 0, dmi={"a": 1}), "dmi", 0, "type"),
        (lambda rows: _edit(rows, 2, dir=None), "dir", 2, "not_null"),
        (lambda rows: _edit(rows, 0, single=None), "single", 0, "not_null"),
        (lambda rows: _edit(rows, 1, dir=1000.0), "dir", 1, "far_range"),
        (lambda rows: _edit(rows, 2, hir=1.8e19), "hir", 2, "far_range"),
        (lambda rows: _edit(rows, 0, dir="NaN"), "dir", 0, "type"),
        # nullable column left out of one row: not a silent null, a missing value
        (lambda rows: [rows[0], {k: v for k, v in rows[1].items() if k != "pbcr"}, rows[2]], "pbcr", 1, "missing_column"),
    ],
    ids=[
        "missing-column", "extra-column", "string-for-number", "list-for-number", "object-for-category",
        "null-number", "null-category", "far-out-of-range", "enormous-number", "nan-string", "key-left-out-of-one-row",
    ],
)
def test_contract_violations_are_422_naming_column_and_rule(
    client: TestClient, make_rows: Rows, change: Callable[..., list[dict[str, Any]]], column: str, row: int | None, rule: str
) -> None:
    r = client.post("/predict", json=change(make_rows(3)))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "contract_violation"
    hits = [v for v in _violations(r) if v["column"] == column and v["rule"] == rule]
    assert hits, _violations(r)
    assert hits[0].get("row") == row


def test_every_violation_in_a_request_is_listed(client: TestClient, make_rows: Rows) -> None:
    rows = make_rows(4)
    rows[0]["dir"] = "abc"
    rows[3]["lvr"] = 1000.0
    rows[2]["dmi"] = "maybe"  # answered as unknown by default: not a violation
    r = client.post("/predict", json=rows)
    assert r.status_code == 422
    found = {(v["column"], v.get("row"), v["rule"]) for v in _violations(r)}
    assert found == {("dir", 0, "type"), ("lvr", 3, "far_range")}


@pytest.mark.parametrize("body", [[], {"rows": []}], ids=["list", "object"])
def test_empty_rows_is_422_empty(client: TestClient, body: Any) -> None:
    r = client.post("/predict", json=body)
    assert r.status_code == 422
    assert [v["rule"] for v in _violations(r)] == ["empty"]


# -- requests of the wrong shape: 400 saying what shape is expected --------------------


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b'[{"dir": 0.3,', "malformed_json"),
        (b"", "malformed_json"),
        (b"NaN", "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"42", "shape"),
        (b'"hello"', "shape"),
        (b"null", "shape"),
        (b"true", "shape"),
        (b'{"rows": 5}', "shape"),
        (b'{"dir": 0.3, "hir": 0.2}', "shape"),
        (b'{"rows": [], "extra": 1}', "shape"),
        (b"[1, 2, 3]", "row_type"),
        (b'[{"dir": 1}, "x"]', "row_type"),
        (b"[[0.3, 0.2]]", "row_type"),
    ],
)
def test_wrong_shape_is_400(client: TestClient, raw: bytes, rule: str) -> None:
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "malformed_request"
    assert "list of row objects" in err["message"] + err.get("hint", "")
    assert rule in {v["rule"] for v in err["violations"]}


def test_non_object_rows_are_named_by_row(client: TestClient) -> None:
    r = client.post("/predict", content=b'[{"dir": 1}, 2, {"dir": 1}, "x"]', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert [(v["rule"], v["row"]) for v in _violations(r)] == [("row_type", 1), ("row_type", 3)]


def test_number_out_of_double_range_is_a_client_error(client: TestClient, make_rows: Rows) -> None:
    raw = orjson.dumps(make_rows(1)).replace(b'"dir":', b'"dir":1e400,"_":', 1)
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["violations"]


def test_too_many_rows_is_413(client: TestClient, make_rows: Rows) -> None:
    r = client.post("/predict", json=make_rows(51))
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err["code"] == "payload_too_large"
    assert [v["rule"] for v in err["violations"]] == ["max_rows"]
    assert "50" in err["message"]
    # exactly at the limit is fine
    assert client.post("/predict", json=make_rows(50)).status_code == 200


def test_body_over_10_mib_is_413(client: TestClient) -> None:
    raw = b"[" + b" " * MAX_BODY_BYTES + b"]"
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_chunked_body_over_10_mib_is_413(client: TestClient) -> None:
    # no Content-Length: the limit must hold while reading the stream
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(11):
            yield b" " * (1024 * 1024)
        yield b"]"

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_body_just_under_the_limit_is_read(client: TestClient, make_rows: Rows) -> None:
    raw = orjson.dumps(make_rows(2))
    raw = raw + b" " * (MAX_BODY_BYTES - len(raw))
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2


def test_server_still_answers_after_bad_requests(client: TestClient, bundle: ModelBundle, make_rows: Rows) -> None:
    bad = [b"{", b"[1]", orjson.dumps([{"dir": "abc"}]), b"[]"]
    for raw in bad:
        assert 400 <= client.post("/predict", content=raw, headers={"content-type": "application/json"}).status_code < 500
    rows = make_rows(3, start=7)
    r = client.post("/predict", json=rows)
    assert r.status_code == 200
    _assert_same(r.json()["predictions"], _expected(bundle, rows))


def test_error_answers_carry_the_request_id(client: TestClient) -> None:
    r = client.post("/predict", content=b"[1]", headers={"X-Request-ID": "err-1", **{"content-type": "application/json"}})
    assert r.status_code == 400
    assert r.headers["x-request-id"] == "err-1"


def test_unknown_route_and_method_answer_json_errors(client: TestClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = client.get("/predict")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"

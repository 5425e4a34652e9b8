"""OpenAPI text for /predict, built from the contract.

The route parses the raw body itself (speed), so FastAPI cannot see the request
shape; this module describes it so /docs still tells a client which columns to send.
"""

from __future__ import annotations

import math
from typing import Any

from tabloop.serving._errors import OUT_OF_CONTRACT_HEADER, REQUEST_ID_HEADER
from tabloop.bundle import ModelBundle


def row_schema(bundle: ModelBundle) -> dict[str, Any]:
    contract = bundle.contract
    props: dict[str, Any] = {}
    for col in contract.columns:
        if col.kind == "numeric":
            # integers were seen in training but any number passes the contract
            prop: dict[str, Any] = {"type": ["number"]}
            if col.min is not None and col.max is not None:
                prop["description"] = f"seen in training: [{col.min}, {col.max}]"
        else:
            prop = {"type": ["string"], "enum": list(col.categories or [])}
        if col.nullable:
            prop["type"] = [*prop["type"], "null"]
            if "enum" in prop:
                prop["enum"] = [*prop["enum"], None]
        props[col.name] = prop
    for name in contract.ignored:
        props[name] = {"description": "accepted and ignored"}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": contract.feature_names,
        "additionalProperties": False,
    }
    example = _example_row(bundle)
    if example:
        schema["example"] = example
    return schema


def _example_row(bundle: ModelBundle) -> dict[str, Any] | None:
    ref = bundle.reference
    names = [n for n in bundle.contract.feature_names if n in ref.columns]
    if len(ref) == 0 or len(names) != len(bundle.contract.feature_names):
        return None
    out: dict[str, Any] = {}
    for name, value in ref.iloc[0][names].items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[str(name)] = value
    return out


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "hint": {"type": "string"},
                "violations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "column": {"type": ["string", "null"]},
                            "rule": {"type": "string"},
                            "message": {"type": "string"},
                            "row": {"type": "integer"},
                            "value": {},
                        },
                    },
                },
            },
            "required": ["code", "message", "violations"],
        }
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


def predict_openapi(bundle: ModelBundle, *, max_rows: int) -> tuple[dict[str, Any], dict[int | str, dict[str, Any]]]:
    """(openapi_extra, responses) for the /predict route."""
    row = row_schema(bundle)
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows}
    extra = {
        "parameters": [
            {
                "name": REQUEST_ID_HEADER,
                "in": "header",
                "required": False,
                "description": "Your id for this request (1-128 of A-Z a-z 0-9 _ . : -); one is made up if absent.",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            rows,
                            {"type": "object", "properties": {"rows": rows}, "required": ["rows"], "additionalProperties": False},
                        ]
                    }
                }
            },
        },
    }
    prediction = {
        "type": "object",
        "properties": {
            "prediction": {},
            "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
            "contract": {
                "description": "Only on a row answered out of contract: each rule it broke that the contract's "
                "policy let through (warn: as sent; clip: to the trained range; unknown: an unseen category).",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"column": {"type": "string"}, "rule": {"type": "string"}, "policy": {"type": "string"}},
                    "required": ["column", "rule", "policy"],
                },
            },
        },
        "required": ["prediction"],
    }
    ok = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string"},
            "model": {
                "type": "object",
                "properties": {"name": {"type": ["string", "null"]}, "version": {"type": ["string", "null"]}},
            },
            "variant": {"type": "string"},
            "predictions": {"type": "array", "items": prediction},
            "out_of_contract": {
                "description": "Only when some rows were answered out of contract: those rows, from 0.",
                "type": "array", "items": {"type": "integer"},
            },
        },
        "required": ["request_id", "model", "variant", "predictions"],
    }
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "One prediction per row, in order.",
            "headers": {
                OUT_OF_CONTRACT_HEADER: {
                    "description": "Only when some rows were answered out of contract: those rows, comma-separated "
                    "(runs as ranges such as 0-999, and cut with '...' past 1 KB; the body has them all).",
                    "schema": {"type": "string"},
                },
                "X-Out-Of-Contract-Count": {
                    "description": "Only when some rows were answered out of contract: how many.",
                    "schema": {"type": "integer"},
                },
            },
            "content": {"application/json": {"schema": ok}},
        },
        400: _error("Not JSON, the wrong shape, rows that are not objects, or a bad X-Request-ID."),
        413: _error(f"Body over the byte limit, or more than {max_rows} rows."),
        422: _error("Rows break the data contract; every violation names its column, row and rule."),
    }
    return extra, responses


def _body(schema: dict[str, Any], *types: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {t: {"schema": schema} for t in types or ("application/json",)}}}


def invocations_openapi(bundle: ModelBundle, *, max_rows: int) -> dict[str, Any]:
    """The MLflow scoring request: one of dataframe_split, dataframe_records, instances, inputs."""
    row = row_schema(bundle)
    row.pop("example", None)
    records = {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows}
    names = bundle.contract.feature_names
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array"}, "minItems": 1, "maxItems": max_rows},
            "index": {"type": "array"},
        },
        "required": ["columns", "data"],
        "example": {"columns": names, "data": [[None] * len(names)]},
    }
    shapes = [
        {"type": "object", "properties": {key: value, "params": {"type": "object"}}, "required": [key], "additionalProperties": False}
        for key, value in (
            ("dataframe_split", split), ("dataframe_records", records), ("instances", records), ("inputs", records),
        )
    ]
    out = _body({"oneOf": shapes}, "application/json")
    out["requestBody"]["content"]["text/csv"] = {"schema": {"type": "string", "description": "CSV with a header row"}}
    return out


def infer_openapi(bundle: ModelBundle, *, max_rows: int) -> dict[str, Any]:
    """The V2 infer request: one input tensor per feature column."""
    tensors = []
    for col in bundle.contract.columns:
        value: dict[str, Any] = {"type": ["number"]} if col.kind == "numeric" else {"type": ["string"], "enum": list(col.categories or [])}
        tensors.append({
            "type": "object",
            "properties": {
                "name": {"const": col.name},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 2},
                "datatype": {"enum": ["FP64", "FP32", "INT64", "INT32"] if col.kind == "numeric" else ["BYTES"]},
                "data": {"type": "array", "items": value, "minItems": 1, "maxItems": max_rows},
            },
            "required": ["name", "shape", "datatype", "data"],
        })
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": {"oneOf": tensors} if tensors else {}, "minItems": 1},
            "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        },
        "required": ["inputs"],
    }
    out = _body(schema)
    out["responses"] = {"400": _error("Malformed request, or rows that break the contract ({\"error\": \"...\"}).")}
    return out


def feedback_openapi() -> dict[str, Any]:
    label = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
            "row": {"type": "integer", "minimum": 0},
            "label": {"type": ["string", "number", "boolean"]},
        },
        "required": ["request_id", "label"],
        "additionalProperties": False,
    }
    return _body({"oneOf": [label, {"type": "array", "items": label, "minItems": 1}]})


def control_openapi() -> dict[str, Any]:
    return _body({
        "type": "object",
        "properties": {
            "mode": {"enum": ["off", "shadow", "ab", "canary", "bandit"]},
            "share": {"type": "number", "minimum": 0, "maximum": 1},
            "key": {"type": ["string", "null"]},
            "floor": {"type": "number", "minimum": 0, "maximum": 1},
            "seed": {"type": ["integer", "null"]},
        },
        "additionalProperties": False,
    })

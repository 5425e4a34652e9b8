"""Request bodies of MLflow's scoring protocol and the Open Inference Protocol, as row objects.

Both end in the same list of row dicts that ``/predict`` gets, so every dialect is
checked by the same contract and answered by the same predictor.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from tabloop._plain import plain_records
from tabloop.data import Contract
from tabloop.errors import MalformedRequest, UnsupportedMediaType, Violation
from tabloop.serving._parse import check_rows
from tabloop.bundle import Predictions, proba_column

# -- MLflow: POST /invocations ---------------------------------------------------------

MLFLOW_SOURCE = "invocations body"
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MLFLOW_SHAPE = (
    'expected JSON with one of dataframe_split ({"columns": [...], "data": [[...]]}), dataframe_records '
    '([{"col": 1}]), instances or inputs (row objects, or {"col": [values]}), or a text/csv body'
)


def _bad(message: str, rule: str = "shape", column: str | None = None) -> MalformedRequest:
    return MalformedRequest(message, violations=[Violation(column, rule, message)], hint=MLFLOW_SHAPE)


def parse_invocations(
    body: bytes, content_type: str, *, max_rows: int, contract: Contract | None = None
) -> list[dict[str, Any]]:
    """Rows from an MLflow scoring request (JSON or CSV).

    A CSV body's cells are text: in a number column of ``contract`` that pandas left as
    text because some cells are not numbers, each cell is read on its own (as for a CSV
    file), so the contract check names only the cells that are not numbers.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        rows = _csv_rows(body, contract.numeric if contract is not None else ())
    elif kind in ("application/json", ""):
        rows = _json_rows(body)
    else:
        raise UnsupportedMediaType(
            f"Content-Type {kind!r} is not supported on /invocations; send application/json or text/csv",
            violations=[Violation(None, "content_type", f"got {kind!r}")],
        )
    return check_rows(rows, max_rows=max_rows, source=MLFLOW_SOURCE, expected=MLFLOW_SHAPE)


def _json_rows(body: bytes) -> Any:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"{MLFLOW_SOURCE} is not valid JSON: {exc}", "malformed_json") from None
    if not isinstance(payload, dict):
        raise _bad(f"{MLFLOW_SOURCE} must be a JSON object with one of {list(MLFLOW_KEYS)}")
    keys = [k for k in MLFLOW_KEYS if k in payload]
    unknown = sorted(set(payload) - set(MLFLOW_KEYS) - {"params"})
    if len(keys) != 1 or unknown:
        raise _bad(
            f"{MLFLOW_SOURCE} must hold exactly one of {list(MLFLOW_KEYS)} (and optionally 'params'); "
            f"got keys {sorted(payload)}"
        )
    key = keys[0]
    data = payload[key]
    if key == "dataframe_split":
        return _split_rows(data)
    if key == "dataframe_records":
        return data
    # instances / inputs: row objects, or one object of columns
    if isinstance(data, dict):
        return _columns_rows(data, key)
    if isinstance(data, list) and data and all(isinstance(r, list) for r in data):
        raise _bad(
            f"'{key}' holds lists without column names; this model needs named columns "
            "(send row objects, {\"col\": [values]}, or dataframe_split with 'columns')"
        )
    return data


def _split_rows(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) or not isinstance(split.get("data"), list):
        raise _bad("'dataframe_split' must be an object with a 'columns' list and a 'data' list of rows")
    unknown = sorted(set(split) - {"columns", "data", "index"})
    if unknown:
        raise _bad(f"'dataframe_split' has unknown key(s) {unknown}")
    columns = split["columns"]
    if not all(isinstance(c, str) for c in columns):
        raise _bad("'dataframe_split.columns' must be a list of column names (strings)")
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise MalformedRequest(
            f"'dataframe_split.columns' names {dup} more than once",
            violations=[Violation(c, "duplicate_column", "column named more than once") for c in dup],
        )
    rows: list[dict[str, Any]] = []
    for i, values in enumerate(split["data"]):
        if not isinstance(values, list) or len(values) != len(columns):
            raise MalformedRequest(
                f"'dataframe_split.data' row {i} must be a list of {len(columns)} values, one per column",
                violations=[Violation(None, "row_length", f"expected {len(columns)} values", row=i)],
            )
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def _columns_rows(columns: dict[str, Any], key: str) -> list[dict[str, Any]]:
    as_lists = [isinstance(v, list) for v in columns.values()]
    if not any(as_lists):
        return [columns]  # one row given as an object of scalars
    if not all(as_lists):
        raise _bad(f"'{key}' mixes lists and single values; send one list of values per column")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise _bad(f"'{key}' columns have different lengths {sorted(lengths)}; every column needs one value per row")
    n = lengths.pop()
    names = list(columns)
    return [{name: columns[name][i] for name in names} for i in range(n)]


def _csv_rows(body: bytes, numeric: Sequence[str] = ()) -> list[dict[str, Any]]:
    import pandas as pd

    from tabloop.data import parse_text_numbers

    # judged on the header as sent: pandas renames an empty name to "Unnamed: 0" and a repeated one
    # to "a.1", and a model may well have a feature called "Unnamed: 0" (a CSV's unnamed index)
    try:
        # the csv module reads the first record as pandas will (quoted line breaks, \r alone)
        header = next(csv.reader(io.StringIO(body.decode("utf-8-sig", errors="replace"), newline="")), [])
    except csv.Error as exc:
        raise _bad(f"{MLFLOW_SOURCE} is not readable CSV: {exc}", "malformed_csv") from None
    if len(set(header)) != len(header) or any(not name.strip() for name in header):
        raise _bad(f"{MLFLOW_SOURCE}: the CSV header must name every column once (got {header})", "malformed_csv")
    try:
        # round_trip: each number the double nearest its text, as read_table reads the training file;
        # pandas' default parser is one unit in the last place off on about 1 value in 8 of 17
        # digits, which could put a training maximum sent back out of range
        df = pd.read_csv(io.BytesIO(body), float_precision="round_trip")
    except Exception as exc:  # pandas raises several types for unreadable CSV
        raise _bad(f"{MLFLOW_SOURCE} is not readable CSV: {exc}", "malformed_csv") from None
    df = df.astype(object)
    for name in numeric:
        if name in df.columns:
            df[name] = parse_text_numbers(df[name].to_numpy(dtype=object))
    records: list[dict[str, Any]] = df.to_dict("records")
    return plain_records(records)


def mlflow_predictions(preds: Predictions) -> list[dict[str, Any]]:
    """What MLflow's scoring server answers for the pyfunc's DataFrame: one record per row."""
    out: list[dict[str, Any]] = []
    names = [proba_column(c) for c in preds.classes]
    proba = preds.proba.tolist() if preds.proba is not None else None
    for i, label in enumerate(preds.labels):
        rec: dict[str, Any] = {"prediction": label}
        if proba is not None:
            rec.update(zip(names, proba[i], strict=True))
        out.append(rec)
    return out


# -- Open Inference Protocol (KServe V2): POST /v2/models/{name}/infer -------------------

V2_SOURCE = "infer request"
_NUMPY = {
    "BOOL": np.dtype("?"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
DATATYPES = (*_NUMPY, "BYTES")
HEADER_LENGTH = "inference-header-content-length"


def _v2_bad(message: str, rule: str = "shape", column: str | None = None) -> MalformedRequest:
    return MalformedRequest(message, violations=[Violation(column, rule, message)])


def parse_infer(body: bytes, header_length: str | None, *, max_rows: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, request) from a V2 infer request: one input tensor per feature column.

    Binary tensor data (``Inference-Header-Content-Length``) is read as the
    extension describes: the JSON header first, then each input's raw bytes.
    """
    raw = body
    binary = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise _v2_bad(f"Inference-Header-Content-Length {header_length[:40]!r} is not a number") from None
        if not 0 <= n <= len(body):
            raise _v2_bad(f"Inference-Header-Content-Length {n} is outside the body of {len(body)} bytes")
        raw, binary = body[:n], body[n:]
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _v2_bad(f"{V2_SOURCE} is not valid JSON: {exc}", "malformed_json") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise _v2_bad(f"{V2_SOURCE} must be a JSON object with a non-empty 'inputs' list of tensors")
    columns: dict[str, list[Any]] = {}
    offset = 0
    for j, tensor in enumerate(request["inputs"]):
        name, values, used = _tensor(tensor, j, binary, offset)
        offset += used
        if name in columns:
            raise _v2_bad(f"input {name!r} is sent more than once", "duplicate_column", name)
        columns[name] = values
    if offset != len(binary):
        raise _v2_bad(f"{len(binary) - offset} byte(s) of binary data are not claimed by any input's binary_data_size")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise _v2_bad(f"inputs hold different numbers of rows {sorted(lengths)}; send one value per row in each input")
    n_rows = lengths.pop()
    if n_rows > max_rows:
        # refuse before building the rows
        check_rows([{}] * n_rows, max_rows=max_rows, source=V2_SOURCE)
    names = list(columns)
    rows = [{name: columns[name][i] for name in names} for i in range(n_rows)]
    return check_rows(rows, max_rows=max_rows, source=V2_SOURCE, expected="one input tensor per feature column"), request


def _tensor(tensor: Any, j: int, binary: bytes, offset: int) -> tuple[str, list[Any], int]:
    if not isinstance(tensor, dict):
        raise _v2_bad(f"input {j} must be an object with name, shape, datatype and data")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise _v2_bad(f"input {j} has no 'name'")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 2 or not all(type(d) is int and d >= 0 for d in shape):
        raise _v2_bad(f"input {name!r}: 'shape' must be [rows] or [rows, 1], got {shape!r}", column=name)
    if len(shape) == 2 and shape[1] != 1:
        raise _v2_bad(f"input {name!r}: one column per input, so the shape must be [rows, 1], got {shape!r}", column=name)
    if datatype not in DATATYPES:
        raise _v2_bad(f"input {name!r}: datatype {datatype!r} is not one of {list(DATATYPES)}", "datatype", name)
    n = shape[0]
    params = tensor.get("parameters") or {}
    if not isinstance(params, dict):
        raise _v2_bad(f"input {name!r}: 'parameters' must be an object", column=name)
    size = params.get("binary_data_size")
    if size is not None:
        if "data" in tensor:
            raise _v2_bad(f"input {name!r} has both 'data' and binary_data_size", column=name)
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise _v2_bad(f"input {name!r}: binary_data_size {size!r} is outside the binary data sent", column=name)
        values = _from_binary(binary[offset : offset + size], datatype, name)
        used = size
    else:
        if "data" not in tensor:
            raise _v2_bad(f"input {name!r} has no 'data'", column=name)
        values = _flatten(tensor["data"], name, depth=len(shape))
        used = 0
    if len(values) != n:
        raise _v2_bad(f"input {name!r}: shape {shape} says {n} value(s), data holds {len(values)}", column=name)
    return name, values, used


def _flatten(data: Any, name: str, *, depth: int) -> list[Any]:
    if not isinstance(data, list):
        raise _v2_bad(f"input {name!r}: 'data' must be a list", column=name)
    out: list[Any] = []
    for item in data:
        if isinstance(item, list):
            if depth < 2 or any(isinstance(x, (list, dict)) for x in item):
                raise _v2_bad(f"input {name!r}: 'data' is nested deeper than its shape", column=name)
            out.extend(item)
        else:
            out.append(item)
    return out


def _from_binary(raw: bytes, datatype: str, name: str) -> list[Any]:
    if datatype == "BYTES":
        out: list[Any] = []
        pos = 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise _v2_bad(f"input {name!r}: BYTES data ends inside a length prefix", column=name)
            length = int.from_bytes(raw[pos : pos + 4], "little")
            pos += 4
            if pos + length > len(raw):
                raise _v2_bad(f"input {name!r}: BYTES element runs past the data sent", column=name)
            chunk = raw[pos : pos + length]
            pos += length
            try:
                out.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                raise _v2_bad(f"input {name!r}: BYTES element is not UTF-8 text", "type", name) from None
        return out
    dtype = _NUMPY[datatype]
    if len(raw) % dtype.itemsize:
        raise _v2_bad(f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype} values", column=name)
    return np.frombuffer(raw, dtype=dtype).tolist()


def v2_outputs(preds: Predictions, requested: Any) -> list[dict[str, Any]]:
    """Output tensors ``prediction`` (and ``probabilities``, [rows, classes]), always as JSON data."""
    n = len(preds.labels)
    outputs: list[dict[str, Any]] = []
    if preds.proba is None:
        outputs.append({"name": "prediction", "shape": [n], "datatype": "FP64", "data": [float(v) for v in preds.labels]})
    else:
        outputs.append({"name": "prediction", "shape": [n], "datatype": "BYTES", "data": [str(v) for v in preds.labels]})
        k = len(preds.classes)
        outputs.append({
            "name": "probabilities", "shape": [n, k], "datatype": "FP64", "data": preds.proba.reshape(-1).tolist(),
            "parameters": {"classes": [str(c) for c in preds.classes]},
        })
    if isinstance(requested, list) and requested:
        wanted = [o.get("name") for o in requested if isinstance(o, dict)]
        known = {o["name"] for o in outputs}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise _v2_bad(f"unknown output(s) {unknown}; this model has {sorted(known)}", "output")
        outputs = [o for o in outputs if o["name"] in wanted]
    return outputs


def v2_tensors(contract: Contract) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "datatype": "FP64" if c.kind == "numeric" else "BYTES", "shape": [-1]}
        for c in contract.columns
    ]

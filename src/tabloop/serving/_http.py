"""Small HTTP helpers the routers share: JSON bodies, request ids, reading a body within its limit."""

from __future__ import annotations

import itertools
import re
import uuid
from importlib import metadata as importlib_metadata
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from tabloop.errors import ClientDisconnected, MalformedRequest, PayloadTooLarge
from tabloop.serving._errors import OUT_OF_CONTRACT_HEADER, REQUEST_ID_HEADER, without_paths

MAX_BODY_BYTES = 10 * 1024 * 1024
JSON = "application/json"
REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
#: the routes whose refusals the prediction log records (POST only)
PREDICTING = re.compile(r"/predict|/invocations|/v2/models/[^/]+(?:/versions/[^/]+)?/infer")

# a made-up request id is this process's random prefix and a counter: unique across processes and
# restarts like a uuid4, without a system call (and a GIL hand-off) per request
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
_OUT_OF_CONTRACT_KEY = OUT_OF_CONTRACT_HEADER.lower().encode("latin-1")
_OUT_OF_CONTRACT_COUNT_KEY = b"x-out-of-contract-count"


def dumps(payload: Any) -> bytes:
    """``payload`` as JSON bytes (numpy values included)."""
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(payload: Any, status_code: int = 200) -> Response:
    """A JSON answer, written with orjson."""
    return Response(dumps(payload), status_code=status_code, media_type=JSON)


def tabloop_version() -> str:
    """The installed tabloop's version ("0" when run from a source tree that is not installed)."""
    try:
        return importlib_metadata.version("tabloop")
    except importlib_metadata.PackageNotFoundError:
        return "0"


class Answer(Response):
    """A predicting route's 200: its JSON body and request id, the headers made as Starlette makes them, directly."""

    media_type = JSON

    def __init__(
        self, content: bytes, request_id: str, background: BackgroundTask | None = None,
        out_of_contract: list[int] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = background
        self.body = content
        self.raw_headers = [
            (_REQUEST_ID_KEY, request_id.encode("latin-1")),  # checked against REQUEST_ID: ASCII
            (b"content-length", str(len(content)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]
        if out_of_contract:
            # every dialect, MLflow's and V2's bodies included, can say it here without leaving its protocol
            self.raw_headers.append((_OUT_OF_CONTRACT_KEY, out_of_contract_header(out_of_contract).encode("latin-1")))
            self.raw_headers.append((_OUT_OF_CONTRACT_COUNT_KEY, str(len(out_of_contract)).encode("latin-1")))


#: the longest X-Out-Of-Contract-Rows value: proxies refuse long response headers (nginx's default
#: buffer for all of them is 4-8 KB) and would turn a marked answer into a 502
OUT_OF_CONTRACT_HEADER_BYTES = 1024


def out_of_contract_header(rows: list[int]) -> str:
    """The rows as ``X-Out-Of-Contract-Rows`` says them: ``1,3``; runs as ranges (``0-999``) when the plain
    list is too long; cut after a whole item and ended with ``...`` when even that is. The body (tabloop's
    dialect, V2's parameter) and ``X-Out-Of-Contract-Count`` always have them all."""
    plain = ",".join(map(str, rows))
    if len(plain) <= OUT_OF_CONTRACT_HEADER_BYTES:
        return plain
    items, start, prev = [], rows[0], rows[0]
    for r in [*rows[1:], None]:
        if r is not None and r == prev + 1:
            prev = r
            continue
        items.append(str(start) if start == prev else f"{start}-{prev}")
        if r is not None:
            start = prev = r
    out = ""
    for item in items:
        if len(out) + len(item) + 5 > OUT_OF_CONTRACT_HEADER_BYTES:
            return out + ",..."
        out = f"{out},{item}" if out else item
    return out


def new_request_id() -> str:
    """A fresh request id, unique across processes."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def request_id_of(request: Request) -> str:
    """The client's ``X-Request-ID`` when valid (400 when not), else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER)
    if given is None:
        return new_request_id()
    if not REQUEST_ID.fullmatch(given):
        raise MalformedRequest(
            f"the {REQUEST_ID_HEADER} header must be 1-128 characters of A-Z a-z 0-9 _ . : - (got {given[:40]!r})",
            hint=f"leave {REQUEST_ID_HEADER} out and the server makes one up",
        )
    return given


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing more than ``limit`` bytes before it is all in memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedRequest(f"Content-Length {declared[:40]!r} is not a number") from None
        if size > limit:
            raise PayloadTooLarge(_too_large(size, limit))
    chunks: list[bytes] = []
    size = 0
    # chunked uploads declare no length, so the limit is also enforced while reading
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(_too_large(size, limit, at_least=True))
            chunks.append(chunk)
    except ClientDisconnect:
        # not our failure and nobody to answer: a 499 for the access log and metrics, no traceback
        raise ClientDisconnected("the client closed the connection before its request body was read") from None
    return b"".join(chunks)


def _too_large(size: int, limit: int, *, at_least: bool = False) -> str:
    more = "at least " if at_least else ""
    return (
        f"request body is {more}{size} bytes; this server takes at most {limit} bytes "
        "(split the rows over several requests, or use batch scoring)"
    )


def public_status(status: dict[str, Any]) -> dict[str, Any]:
    """The models' status with the paths cut out of load failures (the server log has them whole)."""
    failures = {variant: {**f, "error": without_paths(str(f.get("error") or ""))}
                for variant, f in (status.get("failures") or {}).items()}
    return {**status, "failures": failures}

"""The Open Inference Protocol (KServe V2): ``/v2``, ``/v2/health/*``, ``/v2/models/{name}[/versions/{v}]/...``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tabloop.bundle import Predictions
from tabloop.errors import NotFound, TabloopError
from tabloop.serving._dialects import HEADER_LENGTH, parse_infer, v2_outputs, v2_tensors
from tabloop.serving._guard import refuse_simple_type
from tabloop.serving._http import dumps, json_response, tabloop_version
from tabloop.serving._predictor import Served
from tabloop.serving._schema import infer_openapi
from tabloop.serving._service import Probe, Service


def v2_router(service: Service, router: APIRouter | None = None) -> APIRouter:
    """The Open Inference Protocol's routes over ``service``.

    Added to ``router`` when given (the app passes its own), else to a new one.
    """
    router = router if router is not None else APIRouter()
    limits = service.limits
    models = service.models

    def v2_model(name: str, version: str | None) -> Served | None:
        champ = models.champion
        if name != (champ.name or "model"):
            raise NotFound(f"model {name!r} is not served here (serving {champ.name or 'model'!r})")
        if version is None:
            return None
        pinned = models.by_version(version)
        if pinned is None:
            served = [s.version for s in (models.champion, models.challenger) if s is not None]
            raise NotFound(f"model {name!r} version {version!r} is not served here (serving {served})")
        return pinned

    def ready_answer(payload: dict[str, Any]) -> Response:
        return json_response(payload, 200 if service.answering else 503)

    @router.get("/v2", summary="Server metadata (Open Inference Protocol)")
    async def v2_server() -> Response:
        return json_response({"name": "tabloop", "version": tabloop_version(), "extensions": ["binary_tensor_data"]})

    @router.get("/v2/health/live", summary="Server live (Open Inference Protocol)")
    async def v2_live() -> Response:
        return json_response({"live": True})

    @router.get("/v2/health/ready", summary="Server ready (Open Inference Protocol)")
    async def v2_ready() -> Response:
        return ready_answer({"ready": service.answering})

    async def v2_metadata(name: str, version: str | None) -> Response:
        pinned = v2_model(name, version)
        served = pinned or models.champion
        versions = [s.version for s in (models.champion, models.challenger) if s is not None and s.version]
        outputs = [{"name": "prediction", "datatype": "FP64" if served.bundle.task == "regression" else "BYTES", "shape": [-1]}]
        if served.bundle.task != "regression":
            outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(served.bundle.classes)]})
        return json_response(
            {
                "name": name,
                "versions": versions,
                "platform": "tabloop",
                "inputs": v2_tensors(served.bundle.contract),
                "outputs": outputs,
            }
        )

    async def v2_model_ready(name: str, version: str | None) -> Response:
        v2_model(name, version)
        return ready_answer({"name": name, "ready": service.answering})

    async def v2_infer(request: Request, name: str, version: str | None) -> Response:
        started = time.perf_counter()
        try:
            pinned = v2_model(name, version)
        except TabloopError:
            request.state.probe = Probe(started, None)  # for its error record: refused before any model
            raise
        # JSON, binary tensors (octet-stream) or none (tritonclient sends none): not what a web page posts freely
        refuse_simple_type(request)
        header_length = request.headers.get(HEADER_LENGTH)
        parsed: dict[str, Any] = {}

        def parse(body: bytes) -> list[dict[str, Any]]:
            rows, req = parse_infer(body, header_length, max_rows=limits.max_rows)
            parsed.update(req)
            return rows

        def render(rid: str, served: Served, preds: Predictions) -> tuple[bytes, None]:
            out: dict[str, Any] = {
                "model_name": name,
                "model_version": served.version,
                "outputs": v2_outputs(preds, parsed.get("outputs")),
                "parameters": {"request_id": rid, "variant": served.variant},
            }
            if preds.marks:  # a parameter is a scalar in the protocol: the rows as in the header
                out["parameters"]["out_of_contract"] = ",".join(map(str, preds.out_of_contract))
            if isinstance(parsed.get("id"), str):
                out["id"] = parsed["id"]
            return dumps(out), None

        return await service.answer(request, "v2", parse, render, pin=pinned, started=started)

    infer_extra = infer_openapi(service.models.champion.bundle, max_rows=limits.max_rows)

    @router.get("/v2/models/{name}", summary="Model metadata (Open Inference Protocol)")
    async def v2_meta(name: str) -> Response:
        return await v2_metadata(name, None)

    @router.get("/v2/models/{name}/versions/{version}", summary="Model version metadata (Open Inference Protocol)")
    async def v2_meta_version(name: str, version: str) -> Response:
        return await v2_metadata(name, version)

    @router.get("/v2/models/{name}/ready", summary="Model ready (Open Inference Protocol)")
    async def v2_ready_model(name: str) -> Response:
        return await v2_model_ready(name, None)

    @router.get("/v2/models/{name}/versions/{version}/ready", summary="Model version ready (Open Inference Protocol)")
    async def v2_ready_version(name: str, version: str) -> Response:
        return await v2_model_ready(name, version)

    @router.post("/v2/models/{name}/infer", summary="Infer (Open Inference Protocol)", response_class=Response,
                 openapi_extra=infer_extra)
    async def v2_infer_model(request: Request, name: str) -> Response:
        return await v2_infer(request, name, None)

    @router.post("/v2/models/{name}/versions/{version}/infer", summary="Infer on one version (Open Inference Protocol)",
                 response_class=Response, openapi_extra=infer_extra)
    async def v2_infer_version(request: Request, name: str, version: str) -> Response:
        return await v2_infer(request, name, version)

    return router

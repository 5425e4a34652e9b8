"""The yardstick: a FastAPI endpoint that reads the body and answers a constant, doing no work."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
_ANSWER = b'{"predictions": [{"prediction": "no"}]}'


@app.post("/predict")
async def predict(request: Request) -> Response:
    await request.body()
    return Response(_ANSWER, media_type="application/json")


@app.get("/health")
async def health() -> Response:
    return Response(b'{"status": "ok"}', media_type="application/json")

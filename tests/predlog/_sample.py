"""What the prediction log tests write and look for: one answered row, and the log's prediction files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabloop.predlog import PredictionLog, utc_now


def record(i: int, request_id: str = "r1", **extra: Any) -> dict[str, Any]:
    """A prediction record for row ``i`` of request ``request_id``; ``extra`` overrides or adds fields."""
    return {
        "request_id": request_id, "row": i, "ts": utc_now(), "source": "http", "model": "m", "version": "1",
        "variant": "champion", "inputs": {"lvr": 0.5 + i, "dmi": "no"}, "prediction": "no",
        "probabilities": {"no": 0.9, "yes": 0.1}, "latency_ms": 1.5, **extra,
    }


def files(log: PredictionLog) -> list[Path]:
    """The log's prediction files, in name order."""
    return sorted(log.directory.glob("predictions-*.jsonl"))


def victim_file(tmp_path: Path) -> tuple[Path, bytes]:
    """Somebody else's file, and its bytes: what a link planted in the log folder would point at."""
    path = tmp_path / "victim.txt"
    path.write_bytes(b"somebody else's file\n")
    return path, path.read_bytes()

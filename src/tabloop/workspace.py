"""Where a project's files live, and how they are written (atomically, never half)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabloop.errors import WorkspaceError
from tabloop.spec import SPEC_FILENAME, Spec, load_spec

__all__ = ["Workspace", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "file_sha256"]

WORKSPACE_DIRNAME = ".tabloop"


@dataclass(frozen=True)
class Workspace:
    """A project folder: ``tabloop.yaml`` plus the embedded ``.tabloop/`` workspace."""

    root: Path

    @classmethod
    def open(cls, project: str | Path | None = None) -> Workspace:
        """The project at ``project`` (default: ``TABLOOP_PROJECT`` or the current folder)."""
        root = Path(project or os.environ.get("TABLOOP_PROJECT") or ".").resolve()
        if root.is_file() and root.name == SPEC_FILENAME:
            root = root.parent
        if not (root / SPEC_FILENAME).exists():
            raise WorkspaceError(
                f"{root}: no {SPEC_FILENAME} here",
                hint="run 'tabloop init DIR --data PATH --target COL' first, or pass --project DIR",
            )
        return cls(root)

    @property
    def spec_path(self) -> Path:
        return self.root / SPEC_FILENAME

    def load_spec(self) -> Spec:
        return load_spec(self.spec_path)

    @property
    def home(self) -> Path:
        return self.root / WORKSPACE_DIRNAME

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def predlog(self) -> Path:
        return self.home / "predlog"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def contract_path(self) -> Path:
        return self.home / "contract.json"

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    def ensure(self) -> Workspace:
        for path in (self.home, self.artifacts, self.predlog, self.reports):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def tracking_uri(self, spec: Spec) -> str:
        """The spec's (or environment's) tracking URI, else the embedded SQLite store."""
        return self.resolve_url(spec.tracking.uri) if spec.tracking.uri else f"sqlite:///{self.mlflow_db}"

    def resolve_url(self, url: str) -> str:
        """A database URL from the spec: a relative SQLite file is relative to the project folder, not the shell's."""
        prefix = "sqlite:///"
        rest = url[len(prefix):] if url.startswith(prefix) else ""
        if not rest or rest.startswith(("/", "?", ":memory:")) or rest.startswith("file:"):
            return url
        return prefix + str(self.root / rest)

    def resolve(self, path: str | Path) -> Path:
        """A path from the spec, relative to the project folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.root / p)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, payload: Any) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

"""tabloop as a wheel, made from the code running now, for the image to install.

The image must run the tabloop that packaged (and can load) the model, which may be a
checkout with changes no index has. Building a wheel the usual way needs the source tree and
a build backend; this writes one straight from the installed package's files and its
distribution metadata (PEP 427: the files, ``METADATA``, ``WHEEL``, ``entry_points.txt`` and a
``RECORD`` of their hashes). Pure Python, so the tag is ``py3-none-any``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import zipfile
from pathlib import Path

from tabloop.errors import PackagingError

# compiled files are the interpreter's business; an editor's or a test run's leftovers are no part of tabloop
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}


def wheel_name(version: str, distribution: str = "tabloop") -> str:
    return f"{distribution}-{version}-py3-none-any.whl"


def build_wheel(package_dir: Path, directory: Path, *, distribution: str = "tabloop") -> Path:
    """Write ``distribution``'s wheel from the files of ``package_dir`` into ``directory``; returns its path."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as exc:
        raise PackagingError(f"{distribution} is not installed as a distribution, so its wheel cannot be made",
                             hint="install it (pip install -e . in a checkout) and run again") from exc
    version = dist.version
    meta = dist.read_text("METADATA")
    if not meta:
        raise PackagingError(f"{distribution} {version}: its installed METADATA cannot be read")
    info = f"{distribution}-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if path.is_dir() or path.is_symlink() or _SKIP_DIRS & set(rel.parts) or path.suffix in _SKIP_SUFFIXES:
            continue
        files.append((f"{package_dir.name}/{rel.as_posix()}", path.read_bytes()))
    files.append((f"{info}/METADATA", meta.encode()))
    files.append((f"{info}/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: tabloop package\nRoot-Is-Purelib: true\nTag: py3-none-any\n").encode()))
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        files.append((f"{info}/entry_points.txt", entry_points.encode()))
    record = "".join(f"{name},sha256={_digest(data)},{len(data)}\n" for name, data in files) + f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode()))
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / wheel_name(version, distribution)
    # a fixed date: the same code makes the same wheel, so an image layer is reused when nothing changed
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    return target


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

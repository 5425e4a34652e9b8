"""What `make demo` installs: the runtime dependencies, their lock, the install steps (issue #14)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _locked(lock: str) -> set[str]:
    return {m.group(1).lower() for m in re.finditer(r"(?m)^([A-Za-z0-9_.-]+)==", (ROOT / lock).read_text())}


def test_a_postgresql_url_works_after_the_runtime_install() -> None:
    """TABLOOP_TRACKING_URI=postgresql+psycopg://... needs psycopg from the runtime install, not the test extra."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"psycopg\[binary\]", d) for d in deps), deps
    for lock in ("requirements.lock", "requirements-dev.lock"):
        assert {"psycopg", "psycopg-binary"} <= _locked(lock), lock


def test_install_steps_compile_bytecode() -> None:
    """Bytecode compiled at install: the first command after `make demo` does not compile every module."""
    installs = [line for line in (ROOT / "Makefile").read_text().splitlines() if "pip install" in line and "$(UV)" in line]
    assert installs
    for line in installs:
        assert "--compile-bytecode" in line, line

"""Waiting for a server started by a test to answer, with its stderr in the failure."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest


def wait_until_answering(
    proc: subprocess.Popen[bytes], url: str, stderr: Path, *, probe: str = "/health", timeout_s: float = 120.0,
    poll_s: float = 0.1,
) -> None:
    """Poll ``url + probe`` until it answers 200; fail the test if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before answering:\n{stderr.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}{probe}", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server did not answer {probe} within {timeout_s:g} s:\n{stderr.read_text(errors='replace')}")
        time.sleep(poll_s)

"""Helpers the tests share: waiting for a condition, and a prediction-log disk that refuses writes."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, poll: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last answer, as a bool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return bool(predicate())


def broken_log_disk(monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOSPC) -> threading.Event:
    """Make the prediction log's writes fail with ``code`` (a full disk by default) while the event is set.

    The event starts set; ``clear()`` it to free the disk.
    """
    from tabloop.predlog import _store

    real_write = os.write
    broken = threading.Event()
    broken.set()

    def write(fd: int, data: Any) -> int:
        if broken.is_set():
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(_store.os, "write", write)
    return broken


def short_write_disk(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Make the prediction log's disk fill up after ``room`` more bytes: a write takes what fits, then ENOSPC.

    As a real full disk does: ``os.write`` returns fewer bytes than asked, and the next call raises.
    """
    from tabloop.predlog import _store

    real_write = os.write
    left = [room]

    def write(fd: int, data: Any) -> int:
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data)[: left[0]])
        left[0] -= n
        return n

    monkeypatch.setattr(_store.os, "write", write)

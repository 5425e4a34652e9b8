"""How many prediction rows each log file holds, kept on disk so that a restarted server need not count again.

``LogWindow`` needs the log's row count to place windows cut by rows, and counting means
reading every byte of every file once (about 8 s for 10M rows). The counts it made are
saved beside the files in ``.tabloop-row-counts.json`` (a hidden name no reader globs):
per file, its inode, the offset counted up to, the rows before it, and a digest of the
first and last ``CHECK_BYTES`` of that counted part. A saved count is used only when the
file still has that inode, is at least that long and its bytes there still give that
digest: a file removed and written again (even under a reused inode), cut short or
rewritten is counted afresh, so a count read back is the count a scan would give. The
file is a cache: one that is missing, damaged or unwritable costs a scan, never an answer.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tabloop.workspace import atomic_write_bytes

COUNTS_FILE = ".tabloop-row-counts.json"
#: how much of a counted part's start and of its end is digested to recognise the file it was counted in
CHECK_BYTES = 4096
#: a counts file larger than this is not read (a year of daily segments of a few workers is far below it)
_MAX_BYTES = 16 << 20
logger = logging.getLogger("tabloop.predlog")


@dataclass
class RowCount:
    """Prediction records in ``[0, offset)`` of the file with inode ``inode``."""

    inode: int
    offset: int  # counted up to here (just after a newline)
    rows: int
    #: ``prefix_check`` at ``checked_at``; worked out again only once the offset has moved
    check: str | None = None
    checked_at: int = -1


def prefix_check(path: Path, offset: int) -> str | None:
    """A digest of the first and last ``CHECK_BYTES`` of ``path`` before ``offset``; None if it cannot be read."""
    tail_start = max(0, offset - CHECK_BYTES)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        head = os.pread(fd, min(offset, CHECK_BYTES), 0)
        tail = os.pread(fd, offset - tail_start, tail_start)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(head) != min(offset, CHECK_BYTES) or len(tail) != offset - tail_start:
        return None  # shorter than the count says: not the file it was counted in
    digest = hashlib.blake2b(digest_size=16)
    for part in (str(offset).encode(), head, tail):
        digest.update(len(part).to_bytes(8, "little") + part)
    return digest.hexdigest()


def load_counts(directory: Path) -> dict[str, RowCount]:
    """The counts saved in ``directory``, by file name; empty when there are none or they cannot be read."""
    try:
        fd = os.open(directory / COUNTS_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        data = os.read(fd, _MAX_BYTES + 1)
    except OSError:
        return {}
    finally:
        os.close(fd)
    try:
        payload = orjson.loads(data) if len(data) <= _MAX_BYTES else None
    except orjson.JSONDecodeError:
        payload = None
    files = payload.get("files") if isinstance(payload, dict) else None
    if not isinstance(files, dict):
        return {}
    counts: dict[str, RowCount] = {}
    for name, entry in files.items():
        count = _parse(entry)
        if count is not None and isinstance(name, str):
            counts[name] = count
    return counts


def _parse(entry: Any) -> RowCount | None:
    if not isinstance(entry, dict):
        return None
    inode, offset, rows, check = (entry.get(k) for k in ("inode", "offset", "rows", "check"))
    numbers = (inode, offset, rows)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        return None
    if not isinstance(check, str) or rows > offset:
        return None
    return RowCount(inode, offset, rows, check, offset)


def trusted(path: Path, saved: RowCount, st: os.stat_result) -> bool:
    """Whether ``saved`` was counted in the file now at ``path`` (whose ``stat`` is ``st``)."""
    if saved.inode != st.st_ino or st.st_size < saved.offset:
        return False
    return saved.check is not None and prefix_check(path, saved.offset) == saved.check


def save_counts(directory: Path, counts: dict[Path, RowCount]) -> None:
    """Write ``counts`` (those of files in ``directory``) to its counts file, atomically; a failure is only logged."""
    files: dict[str, dict[str, Any]] = {}
    for path, count in counts.items():
        if count.checked_at != count.offset:
            count.check, count.checked_at = prefix_check(path, count.offset), count.offset
        if count.check is not None:
            files[path.name] = {"inode": count.inode, "offset": count.offset, "rows": count.rows,
                                "check": count.check}
    try:
        atomic_write_bytes(directory / COUNTS_FILE, orjson.dumps({"files": files}))
    except OSError as exc:
        logger.debug("%s: row counts not saved (%s); a restart counts again", directory, exc)

"""The C library's allocator for a command that holds a large table in memory."""

from __future__ import annotations

import sys

#: glibc's mallopt parameter: how many arenas (heaps) the threads of the process may spread over
M_ARENA_MAX = -8


def one_malloc_arena() -> bool:
    """Have every thread allocate from glibc's main heap (``mallopt(M_ARENA_MAX, 1)``); False where the C library
    has no such setting (not Linux, musl). Call it before the command starts its threads.

    Why: ``tabloop profile`` reads a CSV on arrow's threads and describes columns on its own, each thread taking
    its own arena by default; those arenas hand their freed megabytes back to the system and fault fresh,
    zero-filled pages in for the next column. One heap reuses them: on the benchmark table (1,000,000 x 20)
    system CPU fell from about 0.9-1.2 s to 0.55-0.75 s, page faults by a sixth and peak memory by 110 MiB. The
    big allocations (arrow's blocks, numpy's columns) take the heap's lock once per megabytes, so threads do not
    queue on it."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, 1))

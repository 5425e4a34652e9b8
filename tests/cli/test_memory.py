"""tabloop.cli._memory: the allocator setting profile starts with."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# threads that each allocate while the others do, then glibc's own account of its arenas (on stderr)
PROGRAM = textwrap.dedent("""
    import ctypes, sys, threading
    from tabloop.cli._memory import one_malloc_arena
    if sys.argv[1] == "one":
        assert one_malloc_arena()
    start = threading.Barrier(4)
    def work():
        start.wait()
        kept = [bytearray(4096) for _ in range(2000)]
        start.wait()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    ctypes.CDLL(None).malloc_stats()
""")


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_threads_share_the_main_heap_once_set() -> None:
    # asked in a child: setting it here would change this test process's own allocator
    probe = subprocess.run([sys.executable, "-c", "from tabloop.cli._memory import one_malloc_arena as f; "
                            "raise SystemExit(0 if f() else 3)"], check=False)
    if probe.returncode == 3:
        pytest.skip("this C library has no M_ARENA_MAX (not glibc)")
    assert _arenas("default") > 1  # glibc's default: a heap per thread, which the setting is there to avoid
    assert _arenas("one") == 1

"""BackgroundLogWriter: group commit off the request path, write-through, recovery and shutdown."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tabloop.errors import TabloopError
from tabloop.predlog import BackgroundLogWriter, PredictionLog, PredictionLogError

from .._faults import broken_log_disk, short_write_disk, wait_for
from ._sample import files, record, victim_file


# -- background writer -----------------------------------------------------------
def test_background_writer_drains_everything_on_close(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, max_batch=64)
    assert writer.alive
    threads = [
        threading.Thread(target=lambda k=k: writer.submit(record(i, f"t{k}") for i in range(250))) for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.close() is True
    assert not writer.alive
    assert writer.written == 1000 and writer.failed == 0 and writer.last_error is None
    df = log.read_predictions()
    assert len(df) == 1000
    for k in range(4):  # each producer's rows keep their order
        assert df.loc[df["request_id"] == f"t{k}", "row"].tolist() == list(range(250))


def test_background_writer_counts_failures_and_keeps_going(tmp_path: Path) -> None:
    blocker = tmp_path / "predlog"
    blocker.write_text("not a folder")
    writer = BackgroundLogWriter(PredictionLog(blocker))
    writer.submit([record(0), record(1), record(2)])
    writer.submit([record(3)])
    for _ in range(1000):  # wait for the thread to meet the failures
        if writer.failed == 4:
            break
        time.sleep(0.005)
    assert writer.alive  # a failed batch does not kill the writer
    assert writer.close() is False
    assert writer.failed == 4 and writer.written == 0
    assert writer.last_error is not None and str(blocker) in writer.last_error
    assert not writer.alive


def test_one_bad_record_fails_only_its_batch(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, max_batch=1)
    writer.submit([record(0), {"request_id": "x", "bad": object()}, record(1)])
    assert writer.close() is False
    assert (writer.written, writer.failed) == (2, 1)
    assert log.read_predictions()["row"].tolist() == [0, 1]


def test_a_bad_record_in_a_large_batch_costs_only_itself(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)  # default batch size: all three go in one batch
    writer.submit([record(0), {"request_id": "x", "bad": object()}, record(1)])
    assert writer.close() is False
    assert (writer.written, writer.failed) == (2, 1)
    assert "could not be written" in (writer.last_error or "")
    assert log.read_predictions()["row"].tolist() == [0, 1]


# -- group commit: acknowledged means fsynced -----------------------------------------
class _GatedFsync:
    """Stands in for os.fsync: records each call and holds it until released."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(10)
        self.real(fd)


def _log_with_gated_fsync(directory: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[PredictionLog, _GatedFsync]:
    """A log whose file for today exists (so no directory fsync follows), and every fdatasync gated."""
    import os

    from tabloop.predlog import _store

    log = PredictionLog(directory)
    log.append([record(0, "earlier")])
    fsync = _GatedFsync(os.fdatasync)
    monkeypatch.setattr(_store.os, "fdatasync", fsync)
    return log, fsync


def test_a_submission_resolves_only_after_the_fsync_of_its_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, fsync = _log_with_gated_fsync(tmp_path, monkeypatch)
    writer = BackgroundLogWriter(log)
    first = writer.submit([record(0, "a"), record(1, "a")])
    assert fsync.entered.wait(10)
    # the bytes are written but not yet fsynced: not acknowledged
    assert not first.done()
    later = [writer.submit([record(i, f"b{i}")]) for i in range(10)]
    assert not any(f.done() for f in later)
    fsync.gate.set()
    assert first.result(10) == 2
    assert [f.result(10) for f in later] == [1] * 10
    # the ten that queued behind the first fsync shared one: group commit
    assert fsync.calls == 2
    assert writer.close() is True
    assert len(log.read_predictions()) == 13


@pytest.mark.parametrize(
    ("code", "words"), [(28, "disk is full"), (30, "not writable")], ids=["ENOSPC", "EROFS"]
)
def test_a_failed_write_fails_its_futures_then_the_writer_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    from tabloop.predlog import PredictionLogError

    broken = broken_log_disk(monkeypatch, code)
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)
    fut = writer.submit([record(0, "lost"), record(1, "lost")])
    exc = fut.exception(10)
    assert isinstance(exc, PredictionLogError)
    assert exc.errno == code and "cannot write the prediction log" in str(exc) and words in (exc.hint or "")
    assert writer.ok is False and writer.failed == 2 and writer.failed_writes == 1
    assert writer.alive  # a failed write does not kill the writer
    broken.clear()  # the disk came back
    assert writer.submit([record(0, "kept")]).result(10) == 1
    assert writer.ok is True and writer.written == 1
    writer.close()
    assert log.read_predictions()["request_id"].tolist() == ["kept"]


def test_an_unencodable_record_fails_only_its_own_submission(tmp_path: Path) -> None:
    from tabloop.predlog import UnloggableRecords

    writer = BackgroundLogWriter(PredictionLog(tmp_path))
    bad = writer.submit([record(0, "x"), {"request_id": "x", "bad": object()}])
    good = writer.submit([record(0, "y")])
    assert isinstance(bad.exception(10), UnloggableRecords)
    assert good.result(10) == 1
    writer.close()


def test_submitting_after_close_fails_at_once_instead_of_hanging(tmp_path: Path) -> None:
    writer = BackgroundLogWriter(PredictionLog(tmp_path))
    assert writer.close() is True
    fut = writer.submit([record(0)])
    assert fut.done() and isinstance(fut.exception(), TabloopError)


def _count_commits(writer: BackgroundLogWriter) -> list[int]:
    sizes: list[int] = []
    inner = writer._commit

    def commit(items: Any) -> None:
        sizes.append(len(items))
        inner(items)

    writer._commit = commit  # type: ignore[method-assign]
    return sizes


def test_lingering_writer_shares_one_fsync_between_submissions_a_moment_apart(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, linger_s=0.5, linger_rows=3)
    sizes = _count_commits(writer)
    futures = []
    for i in range(3):
        futures.append(writer.submit([record(i, request_id=f"r{i}")]))
        time.sleep(0.01)
    assert [f.result(timeout=5) for f in futures] == [1, 1, 1]
    assert writer.close() is True
    assert sizes == [3]  # linger_rows reached: one write and fsync for all three, well before linger_s
    assert sorted(log.read_predictions()["request_id"]) == ["r0", "r1", "r2"]


def test_a_lone_record_is_not_held_without_linger(tmp_path: Path) -> None:
    writer = BackgroundLogWriter(PredictionLog(tmp_path))
    started = time.monotonic()
    assert writer.submit([record(0)]).result(timeout=5) == 1
    assert time.monotonic() - started < 5
    assert writer.close() is True


# -- post: no future; one hook call per fsynced batch ---------------------------------------
class _Hook:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], BaseException | None]] = []
        self.event = threading.Event()

    def __call__(self, tags: list[Any], error: BaseException | None) -> None:
        self.calls.append((list(tags), error))
        self.event.set()


def test_posts_held_for_a_wake_share_one_batch_and_one_hook_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, fsync = _log_with_gated_fsync(tmp_path, monkeypatch)
    fsync.gate.set()
    hook = _Hook()
    writer = BackgroundLogWriter(log, on_batch=hook)
    assert wait_for(lambda: writer._idle)
    assert writer.post([record(0, "a"), record(1, "a")], "tag-a", wake=False) == 2
    assert writer.post([record(0, "b")], "tag-b", wake=False) == 1
    writer.post([record(0, "untagged")], wake=False)
    time.sleep(0.1)
    assert fsync.calls == 0 and not hook.calls  # an idle writer is not woken by a held post
    writer.wake()
    assert hook.event.wait(10)
    assert hook.calls == [(["tag-a", "tag-b"], None)]  # once, after the fsync, untagged posts left out
    assert fsync.calls == 1
    assert writer.close() is True
    assert log.read_predictions()["request_id"].tolist() == ["earlier", "a", "a", "b", "untagged"]


def test_a_failed_batch_tells_the_hook_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tabloop.predlog import PredictionLogError

    broken_log_disk(monkeypatch)
    hook = _Hook()
    writer = BackgroundLogWriter(PredictionLog(tmp_path), on_batch=hook)
    writer.post([record(0, "lost")], "t")
    assert hook.event.wait(10)
    ((tags, error),) = hook.calls
    assert tags == ["t"] and isinstance(error, PredictionLogError)
    assert writer.failed == 1 and writer.ok is False
    writer.close()


def test_post_refuses_unencodable_records_at_once_and_keeps_the_others(tmp_path: Path) -> None:
    from tabloop.predlog import ServingClosed, UnloggableRecords

    log = PredictionLog(tmp_path)
    hook = _Hook()
    writer = BackgroundLogWriter(log, on_batch=hook)
    with pytest.raises(UnloggableRecords) as info:
        writer.post([record(0, "good"), {"request_id": "x", "bad": object()}], "t")
    assert (info.value.written, info.value.refused) == (1, 1)
    assert writer.close() is False  # one record was refused
    assert writer.failed == 1 and writer.written == 1
    assert not hook.calls  # the refused post's tag is never resolved as written
    assert log.read_predictions()["request_id"].tolist() == ["good"]
    with pytest.raises(ServingClosed):
        writer.post([record(0, "late")], "late")


# -- the writer's recovery and shutdown ------------------------------------------
def test_a_failed_writer_probes_the_disk_by_itself_and_turns_ok_without_new_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = broken_log_disk(monkeypatch)
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, retry_s=0.05)
    assert writer.submit([record(0, "lost")]).exception(10) is not None
    assert writer.ok is False
    time.sleep(0.2)  # probes while the disk is still full keep it not ok
    assert writer.ok is False and writer.failed == 1
    full.clear()  # space freed; nobody submits anything
    assert wait_for(lambda: writer.ok)
    # the probe wrote no line and counted nothing
    assert writer.written == 0 and writer.failed == 1
    assert writer.close() is False  # a row was lost before, so not everything handed over was written
    assert log.read_predictions().empty
    assert not list(tmp_path.glob(".*probe*"))  # the probe cleans up after itself


def test_an_invalid_descriptor_is_reopened_not_a_permanent_failure(tmp_path: Path) -> None:
    import os

    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)
    assert writer.submit([record(0, "a")]).result(10) == 1
    assert writer._fd is not None
    os.close(writer._fd)  # the kept descriptor goes bad under the writer (EBADF on fstat)
    assert writer.submit([record(0, "b")]).result(10) == 1
    assert writer.submit([record(0, "c")]).result(10) == 1
    assert writer.ok is True and writer.failed == 0
    assert writer.close() is True
    assert log.read_predictions()["request_id"].tolist() == ["a", "b", "c"]


def test_close_that_times_out_counts_and_reports_the_queued_rows_as_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tabloop.predlog import _store

    entered, release = threading.Event(), threading.Event()
    real = PredictionLog.write_fd

    def stalled(fd: int, path: Path, lines: list[bytes]) -> None:
        entered.set()
        release.wait(30)
        real(fd, path, lines)

    monkeypatch.setattr(_store.PredictionLog, "write_fd", staticmethod(stalled))
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log)
    first = writer.submit([record(0, "in-write")])
    assert entered.wait(10)  # the thread is stuck in the first write
    queued = [writer.submit([record(0, "q1"), record(1, "q1")]), writer.submit([record(0, "q2")])]
    try:
        with caplog.at_level(logging.ERROR, logger="tabloop.predlog"):
            assert writer.close(timeout=0.2) is False
        assert writer.failed == 3  # the three queued rows, counted as lost
        assert all(isinstance(f.exception(5), TabloopError) for f in queued)
        assert "3 row(s)" in caplog.text and "lost" in caplog.text
    finally:
        release.set()
    assert first.result(10) == 1  # the batch already being written still lands
    assert wait_for(lambda: not writer.alive)
    assert log.read_predictions()["request_id"].tolist() == ["in-write"]


# -- write-through: written in the caller's thread, fsynced by the writer's within an interval ----
class _CountingFsync:
    def __init__(self, real: Any, error: OSError | None = None) -> None:
        self.real, self.error = real, error
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        self.real(fd)


def _counting_fsync(monkeypatch: pytest.MonkeyPatch, error: OSError | None = None) -> _CountingFsync:
    import os

    from tabloop.predlog import _store

    fsync = _CountingFsync(os.fdatasync, error)
    monkeypatch.setattr(_store.os, "fdatasync", fsync)
    return fsync


def test_append_now_has_the_lines_in_the_file_before_it_returns_and_fsyncs_them_shortly_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path)
    log.append([record(0, "earlier")])  # today's file exists: no directory fsync below
    fsync = _counting_fsync(monkeypatch)
    writer = BackgroundLogWriter(log, sync_interval_s=0.05)
    (path,) = files(log)
    for i in range(50):
        assert writer.append_now([record(0, f"w{i}")]) == 1
        # in the file (the operating system has it) the moment append_now returns
        assert path.read_bytes().count(b"\n") == 2 + i
    assert writer.written == 50 and writer.ok
    assert wait_for(lambda: fsync.calls >= 1)
    time.sleep(0.2)  # past the interval: whatever was written is synced by now
    calls = fsync.calls
    # fsynced by the writer's thread, a few times for all fifty (not once per append)
    assert 1 <= calls <= 5
    time.sleep(0.2)  # nothing written since: no more syncs
    assert fsync.calls == calls
    assert writer.close() is True
    assert len(log.read_predictions()) == 51


def test_close_fsyncs_what_was_written_through_however_long_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path)
    log.append([record(0, "earlier")])
    writer = BackgroundLogWriter(log, sync_interval_s=3600.0)
    fsync = _counting_fsync(monkeypatch)
    writer.append_now([record(0, "last")])
    writer.append_now([record(0, "lastbut")])
    assert writer.close() is True
    assert fsync.calls == 1  # the two rows, fsynced once, at close
    assert log.read_predictions()["request_id"].tolist() == ["earlier", "last", "lastbut"]


def test_append_now_on_a_full_disk_raises_counts_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tabloop.predlog import PredictionLogError

    full = broken_log_disk(monkeypatch)
    log = PredictionLog(tmp_path)
    writer = BackgroundLogWriter(log, sync_interval_s=0.01)
    with pytest.raises(PredictionLogError, match="disk is full|No space"):
        writer.append_now([record(0, "lost"), record(1, "lost")])
    assert writer.ok is False and writer.failed == 2 and writer.failed_writes == 1 and writer.written == 0
    full.clear()
    assert writer.append_now([record(0, "kept")]) == 1
    assert writer.ok is True and writer.written == 1
    assert writer.close() is False  # two rows were lost on the way
    assert log.read_predictions()["request_id"].tolist() == ["kept"]


def test_a_failed_fsync_of_written_through_rows_counts_them_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    log = PredictionLog(tmp_path)
    log.append([record(0, "earlier")])
    writer = BackgroundLogWriter(log, sync_interval_s=0.01)
    _counting_fsync(monkeypatch, OSError(errno.EIO, "Input/output error"))
    writer.append_now([record(0, "a"), record(1, "a")])
    assert wait_for(lambda: not writer.ok)
    assert writer.failed == 2 and writer.failed_writes == 1
    assert "Input/output error" in (writer.last_error or "")
    writer.close()


def test_append_now_needs_an_interval_and_refuses_after_close(tmp_path: Path) -> None:
    from tabloop.predlog import ServingClosed, UnloggableRecords

    plain = BackgroundLogWriter(PredictionLog(tmp_path / "a"))
    with pytest.raises(ValueError, match="sync_interval_s"):
        plain.append_now([record(0)])
    plain.close()
    with pytest.raises(ValueError, match="positive"):
        BackgroundLogWriter(PredictionLog(tmp_path / "b"), sync_interval_s=0)
    writer = BackgroundLogWriter(PredictionLog(tmp_path / "c"), sync_interval_s=0.01)
    with pytest.raises(UnloggableRecords):
        writer.append_now([record(0, "ok"), record(1, "bad", inputs={"x": object()})])
    assert writer.written == 1 and writer.failed == 1
    writer.close()
    with pytest.raises(ServingClosed):
        writer.append_now([record(0, "late")])
    assert PredictionLog(tmp_path / "c").read_predictions()["request_id"].tolist() == ["ok"]


def test_a_written_through_batch_cut_short_is_cut_back_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = PredictionLog(tmp_path / "predlog")
    writer = BackgroundLogWriter(log, sync_interval_s=0.05)
    writer.append_now([record(0)])
    (path,) = files(log)
    size = path.stat().st_size
    short_write_disk(monkeypatch, room=40)
    with pytest.raises(PredictionLogError):
        writer.append_now([record(1), record(2)])
    assert path.stat().st_size == size and writer.failed == 2
    monkeypatch.undo()
    writer.append_now([record(3)])
    assert writer.close() is False  # two rows were lost on the way
    assert log.read_predictions()["row"].tolist() == [0, 3]


def test_the_probe_never_truncates_an_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from tabloop.predlog import _store

    victim, content = victim_file(tmp_path)
    log = PredictionLog(tmp_path / "predlog")
    log.append([record(0), record(1)])
    (segment,) = files(log)
    written = segment.read_bytes()
    # the name the probe used to write to (and truncate) whatever it found there
    (log.directory / f".tabloop-write-probe-{os.getpid()}").symlink_to(victim)
    opened: list[int] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(flags)
        return real_open(path, flags, *args, **kwargs)

    full = broken_log_disk(monkeypatch)
    writer = BackgroundLogWriter(log, retry_s=0.02)
    assert writer.submit([record(2)]).exception(10) is not None
    monkeypatch.setattr(_store.os, "open", spy)
    full.clear()
    assert wait_for(lambda: writer.ok)
    writer.close()
    assert opened and not any(flags & os.O_TRUNC for flags in opened)
    assert victim.read_bytes() == content
    assert segment.read_bytes() == written
    assert [p.name for p in log.directory.iterdir() if "probe" in p.name] == [f".tabloop-write-probe-{os.getpid()}"]

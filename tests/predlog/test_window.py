"""LogWindow's row counts saved beside the log: a restarted window trusts them only where the files still match."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tabloop.predlog import LogWindow, PredictionLog, error_record
from tabloop.predlog._row_counts import COUNTS_FILE
from tabloop.spec import TimelineSpec

from ._sample import files, record

TIMELINE = TimelineSpec(by="rows", rows=7, max_windows=3)


def _log(directory: Path) -> PredictionLog:
    """Two workers' segments of one day, with error records among the rows."""
    log_a, log_b = PredictionLog(directory, segment="a"), PredictionLog(directory, segment="b")
    for i in range(40):
        (log_a if i % 3 else log_b).append([record(0, f"q{i}"), record(1, f"q{i}")])
        if i % 9 == 4:
            log_a.append([error_record(request_id=f"e{i}", status=422, code="contract_violation", message="bad",
                                       dialect="tabloop")])
    return log_a


def _same(got: tuple[pd.DataFrame, ...], expected: tuple[pd.DataFrame, ...]) -> None:
    for g, e in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(g, e)


def _uncached(log: PredictionLog) -> tuple[pd.DataFrame, ...]:
    """What a window that trusts no saved count reads."""
    saved = log.directory / COUNTS_FILE
    kept = saved.read_bytes() if saved.exists() else None
    saved.unlink(missing_ok=True)
    try:
        return LogWindow(log).read(TIMELINE)
    finally:
        saved.unlink(missing_ok=True)  # what that window saved
        if kept is not None:
            saved.write_bytes(kept)


def test_a_restarted_window_does_not_count_the_log_again(tmp_path: Path) -> None:
    log = _log(tmp_path)
    first = LogWindow(log)
    expected = first.read(TIMELINE)
    assert first.stats.scanned_bytes == sum(p.stat().st_size for p in files(log))
    assert (tmp_path / COUNTS_FILE).exists()
    assert [p.name for p in files(log)] == [p.name for p in files(PredictionLog(tmp_path))]  # not a log file
    restarted = LogWindow(log)
    _same(restarted.read(TIMELINE), expected)
    assert restarted.stats.scanned_bytes == 0 and restarted.stats.scanned_files == set()


def test_a_restarted_window_counts_only_what_was_appended_since_the_counts_were_saved(tmp_path: Path) -> None:
    log = _log(tmp_path)
    LogWindow(log).read(TIMELINE)
    segment = files(log)[0]
    size = segment.stat().st_size
    PredictionLog(tmp_path, segment=segment.stem.rsplit("-", 1)[1]).append([record(0, "late"), record(1, "late")])
    restarted = LogWindow(log)
    got = restarted.read(TIMELINE)
    assert restarted.stats.scanned_bytes == segment.stat().st_size - size
    _same(got, _uncached(log))


@pytest.mark.parametrize("change", ["rewritten in place", "removed and written again", "cut short"])
def test_a_saved_count_is_not_trusted_for_a_file_that_changed(tmp_path: Path, change: str) -> None:
    log = _log(tmp_path)
    LogWindow(log).read(TIMELINE)
    segment = files(log)[0]
    lines = segment.read_bytes().splitlines(keepends=True)
    if change == "rewritten in place":  # same inode, same size: only the bytes differ
        with segment.open("r+b") as fh:
            fh.write(lines[1] + lines[0])
    elif change == "removed and written again":  # a new file, which may get the old one's inode
        segment.unlink()
        segment.write_bytes(b"".join(lines[:3] + lines[:3] + lines[3:]))
    else:
        segment.write_bytes(b"".join(lines[:-4]))
    restarted = LogWindow(log)
    got = restarted.read(TIMELINE)
    assert segment.name in restarted.stats.scanned_files
    _same(got, _uncached(log))


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'{"files": {"x": {"inode": -1}}}', b'{"files": 3}'])
def test_a_damaged_counts_file_costs_a_count_not_an_answer(tmp_path: Path, content: bytes) -> None:
    log = _log(tmp_path)
    expected = LogWindow(log).read(TIMELINE)
    (tmp_path / COUNTS_FILE).write_bytes(content)
    restarted = LogWindow(log)
    _same(restarted.read(TIMELINE), expected)
    assert restarted.stats.scanned_bytes == sum(p.stat().st_size for p in files(log))


def test_an_unwritable_log_folder_still_gives_the_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tabloop.predlog import _row_counts

    def refuse(path: Path, data: bytes) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    log = _log(tmp_path)
    expected = _uncached(log)
    monkeypatch.setattr(_row_counts, "atomic_write_bytes", refuse)
    _same(LogWindow(log).read(TIMELINE), expected)
    assert not (tmp_path / COUNTS_FILE).exists()

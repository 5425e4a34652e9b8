"""The log sinks: one per log_sync mode, chosen and validated once; acknowledgements of fsynced batches."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from tabloop.errors import ServingError
from tabloop.predlog import (
    AckSink,
    BackgroundSink,
    LogSink,
    PredictionLog,
    WriteSink,
    check_log_policy,
    make_sink,
)
from tabloop.predlog._sink import _Acks


def _record(i: int) -> dict[str, Any]:
    return {"request_id": f"r-{i}", "row": 0, "ts": "2026-01-01T00:00:00Z", "source": "http", "model": "m",
            "version": "1", "variant": "champion", "inputs": {"x": i}, "prediction": 1, "probabilities": None,
            "latency_ms": 1.0}


@pytest.mark.parametrize(("mode", "kind", "waits"), [("ack", AckSink, True), ("write", WriteSink, True),
                                                     ("background", BackgroundSink, False)])
def test_make_sink_chooses_once_by_mode(tmp_path: Path, mode: str, kind: type[LogSink], waits: bool) -> None:
    sink = make_sink(mode, PredictionLog(tmp_path))
    assert type(sink) is kind and sink.mode == mode and sink.waits is waits
    assert sink.status() == {"sync": mode, "ok": True, "written": 0, "failed": 0, "failed_writes": 0,
                             "last_error": None}


@pytest.mark.parametrize(
    ("mode", "timings", "match"),
    [("sometimes", {}, "log_sync must be"), ("ack", {"retry_s": 0.0}, "log_retry_s"),
     ("write", {"sync_interval_s": -1.0}, "log_sync_interval_s")],
)
def test_the_policy_is_checked_in_one_place(tmp_path: Path, mode: str, timings: dict[str, float], match: str) -> None:
    with pytest.raises(ServingError, match=match):
        check_log_policy(mode, **timings)
    with pytest.raises(ServingError, match=match):
        make_sink(mode, PredictionLog(tmp_path), **timings)


@pytest.mark.parametrize("mode", ["ack", "write", "background"])
def test_every_sink_logs_an_answer_and_what_nobody_waits_for(tmp_path: Path, mode: str) -> None:
    """The caller writes the same way whatever the sink; only what it awaits differs."""
    log = PredictionLog(tmp_path)
    sink = make_sink(mode, log)
    sink.open()

    async def answer() -> None:
        waiter = sink.write([_record(0)], asyncio.get_running_loop())
        assert (waiter is not None) is (mode == "ack")
        if waiter is not None:
            await sink.wait(waiter, 10)

    asyncio.run(answer())
    sink.hand_over([_record(1)])  # from a thread without a loop, as shadow scoring does
    writer = sink.close(10)
    assert writer is not None and writer.failed == 0
    assert sorted(log.read_predictions()["request_id"]) == ["r-0", "r-1"]


def test_a_sink_not_opened_takes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ServingError, match="not open"):
        make_sink("write", PredictionLog(tmp_path)).hand_over([_record(0)])


# -- B9: acknowledgements wake the loop each waiter belongs to ---------------------------------


def test_acks_wake_the_loop_of_each_waiter() -> None:
    waiting = threading.Event()
    mine: list[asyncio.Future[None]] = []
    got: list[Any] = []

    def loop_one() -> None:
        async def wait() -> str:
            waiter = asyncio.get_running_loop().create_future()
            mine.append(waiter)
            waiting.set()
            await _Acks.wait(waiter, 10)
            return "acked"

        try:
            got.append(asyncio.run(wait()))
        except Exception as exc:
            got.append(exc)

    thread = threading.Thread(target=loop_one)
    thread.start()
    assert waiting.wait(10)
    other = asyncio.new_event_loop()  # a second loop has a waiter in the same batch, and is not running
    stranger = other.create_future()
    _Acks.on_batch([mine[0], stranger], None)  # as the writer calls it, from another thread
    thread.join(20)
    assert got == ["acked"]
    assert not stranger.done()  # resolved only when its own loop runs
    other.run_until_complete(asyncio.sleep(0))
    assert stranger.done() and stranger.result() is None
    other.close()


def test_acks_of_a_closed_loop_are_dropped_and_others_still_resolve() -> None:
    closed = asyncio.new_event_loop()
    orphan = closed.create_future()
    closed.close()

    async def later() -> None:
        waiter = asyncio.get_running_loop().create_future()
        threading.Thread(target=_Acks.on_batch, args=([orphan, waiter], None)).start()
        await _Acks.wait(waiter, 5)

    asyncio.run(later())  # the closed loop's waiter is skipped; this one is woken


def test_an_ack_carries_the_batch_error_and_times_out_when_none_comes() -> None:
    async def failed() -> None:
        waiter = asyncio.get_running_loop().create_future()
        threading.Thread(target=_Acks.on_batch, args=([waiter], OSError(28, "No space left on device"))).start()
        await _Acks.wait(waiter, 5)

    with pytest.raises(OSError, match="No space"):
        asyncio.run(failed())

    async def silent() -> None:
        await _Acks.wait(asyncio.get_running_loop().create_future(), 0.05)

    with pytest.raises(TimeoutError):
        asyncio.run(silent())

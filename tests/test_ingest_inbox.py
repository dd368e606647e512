"""The ingest's inbox: an alarm jumps a backlog of readings and never waits for a batch to
fill; readings keep their order; the stop comes after every alarm waiting (issue 18)."""

from __future__ import annotations

import asyncio

from hub.ingest.inbox import Inbox

READINGS, ALARMS = "voyant/v1/s/r/readings", "voyant/v1/s/r/alarms"


def test_an_alarm_jumps_the_backlog_and_the_stop_waits_for_it() -> None:
    async def play() -> list[tuple[list[str], bool]]:
        inbox = Inbox()
        for n in range(5):
            inbox.put(READINGS, str(n).encode(), 0.0)
        inbox.put(ALARMS, b"a1", 0.0)
        inbox.put(READINGS, b"5", 0.0)
        inbox.put(ALARMS, b"a2", 0.0)
        inbox.stop()
        out = []
        more = True
        while more:
            batch, more = await inbox.next_batch(3, 10.0)  # a long wait: never waited here
            out.append(([p.decode() for _, p, _ in batch], more))
        return out

    batches = asyncio.run(asyncio.wait_for(play(), 5.0))
    assert batches[0] == (["a1", "a2"], True)  # both alarms, before any reading
    readings = [p for batch, _ in batches[1:] for p in batch]
    assert readings == ["0", "1", "2", "3", "4", "5"]
    assert batches[-1][1] is False


def test_an_alarm_arriving_while_a_batch_fills_closes_it() -> None:
    async def play() -> tuple[list[str], list[str], float]:
        inbox = Inbox()
        loop = asyncio.get_running_loop()
        inbox.put(READINGS, b"0", 0.0)
        loop.call_later(0.05, inbox.put, ALARMS, b"a", 0.0)
        start = loop.time()
        first, _ = await inbox.next_batch(100, 30.0)  # would wait 30 s to fill
        second, _ = await inbox.next_batch(100, 30.0)
        return ([p.decode() for _, p, _ in first], [p.decode() for _, p, _ in second],
                loop.time() - start)

    first, second, took = asyncio.run(asyncio.wait_for(play(), 10.0))
    assert (first, second) == (["0"], ["a"])
    assert took < 5.0


def test_a_batch_of_readings_stops_at_its_bytes_bound() -> None:
    async def play() -> list[list[str]]:
        inbox = Inbox()
        for n in range(7):
            inbox.put(READINGS, b"%d" % n + b"x" * 99, 0.0)  # 100 bytes each
        inbox.stop()
        out, more = [], True
        while more:
            batch, more = await inbox.next_batch(100, 10.0, bytes_max=250)
            out += [[p[:1].decode() for _, p, _ in batch]] if batch else []
        return out

    batches = asyncio.run(asyncio.wait_for(play(), 5.0))
    assert batches == [["0", "1", "2"], ["3", "4", "5"], ["6"]]  # the bound, then one more

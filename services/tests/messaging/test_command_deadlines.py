"""The command producer's deadlines: one timer for all commands (issue 16), each command still
answered exactly once, `timed_out` when not acked within the send timeout. No Kafka: nothing is fed
to a producer here, acks are simulated."""

from __future__ import annotations

import asyncio
from unittest import mock

from parley.socket.commands import TIMED_OUT, CommandProducer
from parley.testing.waiting import eventually


async def test_unacked_commands_time_out_each_at_its_deadline_with_one_timer() -> None:
    # A send timeout of a second: the asserts below leave the loop that much room to be late.
    producer = CommandProducer("127.0.0.1:1", "commands", client_id="t", send_timeout=1.0)
    loop = asyncio.get_running_loop()
    answers: dict[str, list[tuple[str | None, float]]] = {}

    def answer(name: str):  # type: ignore[no-untyped-def]
        def record(outcome: str | None) -> None:
            answers.setdefault(name, []).append((outcome, loop.time()))

        return record

    with mock.patch.object(CommandProducer, "connected", new_callable=mock.PropertyMock, return_value=True):
        began = loop.time()
        producer.submit(b"k", b"a", answer("a"))
        producer.submit(b"k", b"b", answer("b"))
        timer = producer._timer
        await asyncio.sleep(0.1)
        c_began = loop.time()
        producer.submit(b"k", b"c", answer("c"))
        assert producer._timer is timer  # still the one timer, for the oldest command
        # Kafka acks b (the feeder took the queue): answered now, and never again.
        queued = list(producer._queue)
        queued[1].finish(None)
        await eventually(lambda: answers, lambda seen: "c" in seen, within=10)
    assert [outcome for outcome, _ in answers["a"]] == [TIMED_OUT]
    assert [outcome for outcome, _ in answers["b"]] == [None]
    assert [outcome for outcome, _ in answers["c"]] == [TIMED_OUT]
    # Each at its own deadline: not before it, and a (the older) first.
    assert 0.99 <= answers["a"][0][1] - began < 3
    assert 0.99 <= answers["c"][0][1] - c_began < 3
    assert answers["a"][0][1] < answers["c"][0][1]
    assert producer._timer is None and not producer._deadlines
    await producer.kafka.stop()


async def test_commands_acked_in_time_leave_no_timer_behind() -> None:
    producer = CommandProducer("127.0.0.1:1", "commands", client_id="t", send_timeout=0.1)
    outcomes: list[str | None] = []
    with mock.patch.object(CommandProducer, "connected", new_callable=mock.PropertyMock, return_value=True):
        for i in range(100):
            producer.submit(b"k", b"%d" % i, outcomes.append)
        for pending in list(producer._queue):
            pending.finish(None)
        await asyncio.sleep(0.2)
    assert outcomes == [None] * 100
    assert producer._timer is None and not producer._deadlines
    await producer.kafka.stop()

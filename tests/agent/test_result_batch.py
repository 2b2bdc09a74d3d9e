"""Results go out in small batches: those finished in the same turn of the loop, in one publish."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from pipeline.agent.agent import Agent
from pipeline.agent.batch import ResultBatch
from pipeline.transport.base import PipeKind
from pipeline.transport.memory import MemoryTransport
from tests.agent.support import Pipe, settings


class CountingTransport(MemoryTransport):
    """The embedded transport, keeping the size of each batch handed to it; it can be made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.failing: Exception | None = None

    async def publish_many(self, pipe: str, bodies: list[bytes], kind: PipeKind = "direct") -> None:
        if self.failing is not None:
            raise self.failing
        self.batches.append(len(bodies))
        await super().publish_many(pipe, bodies, kind)


async def test_results_finished_in_the_same_turn_go_out_in_one_publish_in_order() -> None:
    transport, counts = CountingTransport(), Counter[str]()
    results = await Pipe.open(transport, "results")
    batch = ResultBatch(transport, "results", counts)
    await asyncio.gather(*(batch.publish(b'{"n": %d}' % i) for i in range(10)))
    await batch.publish(b'{"n": 10}')
    assert transport.batches == [10, 1]
    assert [(await results.next())["n"] for _ in range(11)] == list(range(11))
    assert (counts["results"], counts["result_batches"]) == (11, 2)


async def test_a_batch_is_at_most_max_batch_results() -> None:
    transport = CountingTransport()
    batch = ResultBatch(transport, "results", Counter(), max_batch=100)
    await asyncio.gather(*(batch.publish(b"{}") for _ in range(250)))
    assert transport.batches == [100, 100, 50]


async def test_a_failed_publish_fails_every_run_of_its_batch_and_the_next_batch_goes_out() -> None:
    transport, counts = CountingTransport(), Counter[str]()
    batch = ResultBatch(transport, "results", counts)
    transport.failing = ConnectionError("broker gone")
    outcomes = await asyncio.gather(*(batch.publish(b"{}") for _ in range(3)), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ConnectionError] * 3
    transport.failing = None
    await batch.publish(b"{}")
    assert transport.batches == [1] and counts["results"] == 1


async def test_a_cancelled_run_still_has_its_result_published_with_its_batch() -> None:
    transport = CountingTransport()
    results = await Pipe.open(transport, "results")
    batch = ResultBatch(transport, "results", Counter())
    kept = asyncio.create_task(batch.publish(b'{"n": 1}'))
    cancelled = asyncio.create_task(batch.publish(b'{"n": 2}'))
    await asyncio.sleep(0)
    cancelled.cancel()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert [(await results.next())["n"] for _ in range(2)] == [1, 2]


async def test_an_agent_publishes_checks_that_finish_together_in_fewer_batches_than_results() -> None:
    transport = CountingTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings(), transport, env={})
    now = [{"name": f"c{i}", "command": f"echo {i}", "output": f"{i}\n", "status": 0} for i in range(20)]
    await asyncio.gather(*(client.publish_result(check) for check in now))
    got = [await results.next() for _ in range(20)]
    assert [m["check"]["name"] for m in got] == [f"c{i}" for i in range(20)]
    assert {m["client"] for m in got} == {"web-1"}
    assert client.counts["results"] == 20 and transport.batches == [20]

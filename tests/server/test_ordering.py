"""Results of one client and check are processed in arrival order; other keys run alongside."""

import asyncio

from pipeline.config.load import settings_of
from pipeline.server.ordering import KeyedOrder


async def test_work_for_one_key_runs_in_arrival_order_while_other_keys_proceed():
    order = KeyedOrder()
    seen: list[str] = []
    gate = asyncio.Event()

    async def work(key: str, label: str, wait: bool = False) -> None:
        async with order.hold(key):
            if wait:
                await gate.wait()
            seen.append(label)

    first = asyncio.create_task(work("a", "a1", wait=True))
    await asyncio.sleep(0)
    second = asyncio.create_task(work("a", "a2"))
    other = asyncio.create_task(work("b", "b1"))
    await other
    assert seen == ["b1"], "a2 must wait for a1; b1 must not"
    gate.set()
    await asyncio.gather(first, second)
    assert seen == ["b1", "a1", "a2"]


async def test_a_cancelled_waiter_does_not_let_its_successor_overtake():
    order = KeyedOrder()
    seen: list[str] = []
    gate = asyncio.Event()

    async def work(label: str, wait: bool = False) -> None:
        async with order.hold("k"):
            if wait:
                await gate.wait()
            seen.append(label)

    first = asyncio.create_task(work("1", wait=True))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(work("2"))
    await asyncio.sleep(0)
    third = asyncio.create_task(work("3"))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.sleep(0.01)
    assert seen == [], "3 must still wait for 1"
    gate.set()
    await asyncio.gather(first, third)
    assert seen == ["1", "3"]


async def test_results_of_one_check_reach_the_handlers_in_arrival_order_even_when_processed_concurrently():
    import json

    from pipeline.server.results import ResultProcessor
    from pipeline.store.memory import MemoryStore

    class SlowFirstEngine:
        """Admits the create slowly (as a publish to a busy handler's queue takes a round trip)."""

        def __init__(self) -> None:
            self.admitted: list[str] = []

        async def process(self, event, status=True, admitted=None):
            if event["check"]["status"] == 2:
                await asyncio.sleep(0.05)  # the create takes longer than the resolve behind it
            self.admitted.append(event["action"])
            if admitted is not None:
                admitted()

    engine = SlowFirstEngine()
    processor = ResultProcessor(settings_of({}), MemoryStore(), engine)

    def body(status: int) -> bytes:
        return json.dumps({"client": "web1", "check": {"name": "disk", "output": "x", "status": status}}).encode()

    await asyncio.gather(processor.process_message(body(2)), processor.process_message(body(0)))
    assert engine.admitted == ["create", "resolve"]


async def test_the_next_result_of_a_check_goes_ahead_once_the_event_is_admitted_not_when_handled():
    import json

    from pipeline.server.results import ResultProcessor
    from pipeline.store.memory import MemoryStore

    release = asyncio.Event()

    class HangingEngine:
        """Admits each event at once, then its handler hangs until released."""

        def __init__(self) -> None:
            self.admitted: list[str] = []

        async def process(self, event, status=True, admitted=None):
            self.admitted.append(event["check"]["output"])
            if admitted is not None:
                admitted()
            await release.wait()

    engine = HangingEngine()
    store = MemoryStore()
    processor = ResultProcessor(settings_of({}), store, engine)

    def body(n: int) -> bytes:
        return json.dumps({"client": "web1", "check": {"name": "disk", "output": f"run {n}", "status": 2}}).encode()

    running = [asyncio.create_task(processor.process_message(body(n))) for n in range(1, 4)]
    for _ in range(50):
        await asyncio.sleep(0)
    # All three recorded and handed on while the first one's handler still hangs.
    assert engine.admitted == ["run 1", "run 2", "run 3"]
    assert (await store.get_result("web1", "disk") or {})["output"] == "run 3"
    assert not any(task.done() for task in running), "a result is done only when its handlers are"
    release.set()
    await asyncio.gather(*running)

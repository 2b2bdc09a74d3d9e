"""Turns per key under cancellation: a turn is never lost, and a key never stays taken."""

import asyncio

from pipeline.server.ordering import KeyedOrder


async def test_a_waiter_cancelled_just_as_its_turn_comes_passes_the_turn_on():
    order = KeyedOrder()
    seen: list[str] = []
    tasks: dict[str, asyncio.Task[None]] = {}

    async def first() -> None:
        async with order.hold("k"):
            await asyncio.sleep(0.01)
            seen.append("1")
        # The turn is second's now, but second has not run yet: cancel it right there.
        tasks["2"].cancel()

    async def later(label: str) -> None:
        async with order.hold("k"):
            seen.append(label)

    tasks["1"] = asyncio.create_task(first())
    await asyncio.sleep(0)
    tasks["2"] = asyncio.create_task(later("2"))
    await asyncio.sleep(0)
    tasks["3"] = asyncio.create_task(later("3"))
    await asyncio.wait_for(asyncio.gather(tasks["1"], tasks["3"]), timeout=1)
    assert seen == ["1", "3"]
    assert tasks["2"].cancelled()


async def test_a_key_is_free_again_once_its_work_and_its_cancelled_waiters_are_gone():
    order = KeyedOrder()
    gate = asyncio.Event()

    async def hold_until_gate() -> None:
        async with order.hold("k"):
            await gate.wait()

    async def hold_briefly() -> None:
        async with order.hold("k"):
            pass

    holder = asyncio.create_task(hold_until_gate())
    await asyncio.sleep(0)
    doomed = [asyncio.create_task(hold_briefly()) for _ in range(3)]
    await asyncio.sleep(0)
    for task in doomed:
        task.cancel()
    gate.set()
    await holder
    await asyncio.gather(*doomed, return_exceptions=True)
    await asyncio.wait_for(hold_briefly(), timeout=1)


async def test_an_error_in_the_work_frees_the_key_for_the_next_result():
    order = KeyedOrder()

    async def failing() -> None:
        async with order.hold("k"):
            raise ValueError("bad")

    results = await asyncio.gather(failing(), failing(), return_exceptions=True)
    assert [type(r) for r in results] == [ValueError, ValueError]
    async with order.hold("k"):
        pass

"""`Engine.reload` (SIGHUP): new events take the new routes, events in flight finish on the old ones."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from tests.chain.recording import BlockedHandler, RecordHandler, chain_registry
from tests.helpers import make_event

closed: list[str] = []


class OldHandler(BlockedHandler):
    async def close(self) -> None:
        closed.append("old")


class NewHandler(RecordHandler):
    async def close(self) -> None:
        closed.append("new")


async def test_a_reload_lets_events_in_flight_finish_on_the_old_handler_and_closes_it_after_them() -> None:
    closed.clear()
    registry = chain_registry()
    registry.register("handlers", "old", OldHandler)
    registry.register("handlers", "new", NewHandler)
    entries: list[Any] = []
    release = asyncio.Event()
    old: dict[str, Any] = {"record": entries, "release": release, "handlers": {"ops": {"type": "old"}}}
    new: dict[str, Any] = {"record": entries, "handlers": {"ops": {"type": "new"}, "more": {"type": "new"}}}
    engine = Engine(settings_of(old), Context(settings=settings_of(old)), registry)

    in_flight = asyncio.create_task(engine.process(make_event("before", handler="ops")))
    while ("started", "ops") not in entries:
        await asyncio.sleep(0)
    engine.reload(settings_of(new), Context(settings=settings_of(new)))
    await engine.process(make_event("after", handlers=["ops", "more"]))
    assert [e[1:3] for e in entries if e[0] == "handled"] == [("ops", "after"), ("more", "after")]
    assert closed == [], "the old handler still has an event"

    release.set()
    await in_flight
    assert [e[1:3] for e in entries if e[0] == "handled"][-1] == ("ops", "before")
    for _ in range(10):
        await asyncio.sleep(0)
    assert closed == ["old"]
    await engine.close()
    assert closed == ["old", "new", "new"]

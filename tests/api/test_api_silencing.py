"""Silencing end to end on the server side: entries made through the API, results through the
result processor, events through the engine to a recording handler.

A silence on a subscription, a check, or one client (`client:NAME`) marks matching events
`silenced` with `silenced_by`, so the handler is skipped; `expire` removes the entry,
`expire_on_resolve` removes it when the event resolves, a future `begin` waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context, Handler
from pipeline.model import Event
from pipeline.registry import Registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from tests.api.support import START, FakeClock, Harness, client_doc, start_harness

HANDLED: list[tuple[str, str, str]] = []


class RecordHandler(Handler):
    """Records (client, check, action) of every event it is given."""

    async def handle(self, event: Event, payload: bytes) -> None:
        HANDLED.append((event["client"]["name"], event["check"]["name"], event["action"]))


SETTINGS: dict[str, Any] = {
    "handlers": {"record": {"type": "record"}},
    "checks": {"disk": {"command": "check-disk", "subscribers": ["linux"], "interval": 60, "handlers": ["record"]}},
}


@dataclass
class Server:
    api: Harness
    processor: ResultProcessor
    events: list[Event] = field(default_factory=list)

    async def result(self, client: str, check: str, status: int, **extra: Any) -> Event | None:
        body = {"client": client, "check": {"name": check, "output": f"{check} {status}", "status": status,
                                            "handlers": ["record"], "executed": int(self.api.clock()), **extra}}
        return await self.processor.process_result(body)

    async def consume_results(self) -> list[Event | None]:
        """Process every message the API published to `results` so far."""
        processed = []
        for _, _, body in self.api.transport.sent:
            processed.append(await self.processor.process_result(body))
        self.api.transport.sent.clear()
        return processed

    async def silence(self, **body: Any) -> None:
        reply = await self.api.call("POST", "/silenced", body)
        assert reply.status == 201, reply.text

    async def silenced_ids(self) -> list[str]:
        return [entry["id"] for entry in (await self.api.call("GET", "/silenced")).json]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    HANDLED.clear()
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    api = await start_harness(store, clock, SETTINGS)
    registry = Registry(use_entry_points=False)
    registry.register("handlers", "record", RecordHandler)
    engine = Engine(settings_of(SETTINGS), Context(settings=settings_of(SETTINGS), store=store, clock=clock), registry)
    await store.put_client(client_doc("web-01", ("linux",)))
    await store.put_client(client_doc("web-02", ("linux",)))
    yield Server(api, ResultProcessor(settings_of(SETTINGS), store, engine, clock=clock))
    await engine.close()
    await api.client.close()


async def test_a_silenced_client_check_is_marked_and_not_handled_while_others_are(server: Server) -> None:
    await server.silence(subscription="client:web-01", check="disk")
    event = await server.result("web-01", "disk", 2)
    assert event is not None and event["silenced"] is True
    assert event["silenced_by"] == ["client:web-01:disk"]
    stored = await server.api.store.get_event("web-01", "disk")
    assert stored is not None and stored["silenced"] is True
    await server.result("web-02", "disk", 2)
    await server.result("web-01", "load", 2)
    assert HANDLED == [("web-02", "disk", "create"), ("web-01", "load", "create")]


async def test_a_subscription_silence_covers_every_client_and_check_in_it(server: Server) -> None:
    await server.silence(subscription="linux")
    first = await server.result("web-01", "disk", 1)
    second = await server.result("web-02", "load", 2)
    assert first is not None and first["silenced_by"] == ["linux:*"]
    assert second is not None and second["silenced_by"] == ["linux:*"]
    assert HANDLED == []


async def test_a_check_silence_covers_that_check_on_every_client(server: Server) -> None:
    await server.silence(check="disk")
    event = await server.result("web-02", "disk", 2)
    assert event is not None and event["silenced_by"] == ["*:disk"]
    await server.result("web-02", "load", 2)
    assert HANDLED == [("web-02", "load", "create")]


async def test_expire_removes_the_entry_and_the_next_failure_is_handled(server: Server) -> None:
    await server.silence(subscription="client:web-01", expire=60)
    await server.result("web-01", "disk", 2)
    assert HANDLED == []
    server.api.clock.advance(61)
    assert await server.silenced_ids() == []
    event = await server.result("web-01", "disk", 2)
    assert event is not None and event["silenced"] is False
    assert HANDLED == [("web-01", "disk", "create")]


async def test_a_future_begin_waits_then_silences(server: Server) -> None:
    await server.silence(check="disk", begin=int(START) + 300, expire=600)
    before = await server.result("web-01", "disk", 2)
    assert before is not None and before["silenced"] is False
    server.api.clock.advance(300)
    after = await server.result("web-01", "disk", 2)
    assert after is not None and after["silenced_by"] == ["*:disk"]
    server.api.clock.advance(599)
    assert await server.silenced_ids() == ["*:disk"]
    server.api.clock.advance(2)
    assert await server.silenced_ids() == []
    assert HANDLED == [("web-01", "disk", "create")]


async def test_expire_on_resolve_removes_the_entry_when_an_api_resolve_is_processed(server: Server) -> None:
    await server.silence(subscription="client:web-01", check="disk", expire_on_resolve=True)
    await server.result("web-01", "disk", 2)
    assert HANDLED == []
    reply = await server.api.call("POST", "/resolve", {"client": "web-01", "check": "disk"})
    assert reply.status == 202
    [resolved] = await server.consume_results()
    assert resolved is not None and resolved["action"] == "resolve"
    assert await server.silenced_ids() == []
    assert await server.api.store.get_event("web-01", "disk") is None
    assert HANDLED == [("web-01", "disk", "resolve")]


async def test_a_result_posted_to_the_api_for_a_silenced_proxy_client_is_silenced(server: Server) -> None:
    await server.silence(subscription="client:switch-1")
    reply = await server.api.call("POST", "/results", {"name": "port-3", "output": "link down", "status": 2,
                                                       "source": "switch-1", "handlers": ["record"]})
    assert reply.status == 202
    [event] = await server.consume_results()
    assert event is not None and event["client"]["name"] == "switch-1"
    assert event["silenced_by"] == ["client:switch-1:*"]
    assert HANDLED == []


async def test_a_silenced_event_is_still_handled_by_a_handler_with_handle_silenced() -> None:
    HANDLED.clear()
    settings = {**SETTINGS, "handlers": {"record": {"type": "record", "handle_silenced": True}}}
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    api = await start_harness(store, clock, settings)
    registry = Registry(use_entry_points=False)
    registry.register("handlers", "record", RecordHandler)
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, clock=clock), registry)
    try:
        assert (await api.call("POST", "/silenced", {"check": "disk"})).status == 201
        event = await ResultProcessor(settings_of(settings), store, engine, clock=clock).process_result(
            {"client": "web-01", "check": {"name": "disk", "output": "x", "status": 2, "handlers": ["record"]}})
        assert event is not None and event["silenced"] is True
        await asyncio.sleep(0)
        assert HANDLED == [("web-01", "disk", "create")]
    finally:
        await engine.close()
        await api.client.close()

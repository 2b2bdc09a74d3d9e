"""/clients, /clients/:name, /clients/:name/history (reference §7)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipeline.api.events import RESOLVE_OUTPUT
from pipeline.config.load import settings_of
from pipeline.model import Event
from pipeline.server.keepalives import KeepaliveConsumer
from pipeline.server.results import ResultProcessor
from pipeline.store.base import INVALIDATED, Store
from tests.api.support import START, Harness, client_doc, result_doc, seed


class Recorder:
    """An engine that keeps the events it is given."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def process(self, event: Event, *_: Any) -> None:
        self.events.append(event)



async def test_the_client_list_holds_every_client_in_name_order(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/clients")
    assert reply.status == 200
    assert [c["name"] for c in reply.json] == ["db-01", "web-01"]
    assert reply.json[1]["subscriptions"] == ["linux", "web", "client:web-01"]


async def test_an_empty_registry_lists_no_clients(api: Harness) -> None:
    reply = await api.call("GET", "/clients")
    assert (reply.status, reply.json) == (200, [])


async def test_a_posted_client_is_created_with_keepalives_off_and_its_own_subscription(api: Harness) -> None:
    reply = await api.call("POST", "/clients", {"name": "router-1", "address": "10.1.1.1",
                                                "subscriptions": ["snmp"], "environment": "prod"})
    assert (reply.status, reply.json) == (201, {"name": "router-1"})
    stored = await api.store.get_client("router-1")
    assert stored == {"name": "router-1", "address": "10.1.1.1", "subscriptions": ["snmp", "client:router-1"],
                      "environment": "prod", "keepalives": False, "version": "1.9.0", "timestamp": int(START)}


async def test_a_posted_client_may_ask_for_keepalives(api: Harness) -> None:
    await api.call("POST", "/clients", {"name": "router-1", "address": "10.1.1.1", "keepalives": True})
    assert (await api.store.get_client("router-1") or {})["keepalives"] is True


async def test_a_posted_client_without_address_or_with_a_bad_name_is_refused(api: Harness) -> None:
    no_address = await api.call("POST", "/clients", {"name": "router-1"})
    assert no_address.status == 400 and "address" in no_address.json["error"]
    bad_name = await api.call("POST", "/clients", {"name": "router 1", "address": "x"})
    assert bad_name.status == 400 and "'name'" in bad_name.json["error"]
    bad_subscriptions = await api.call("POST", "/clients", {"name": "r", "address": "x", "subscriptions": "linux"})
    assert bad_subscriptions.status == 400 and "subscriptions" in bad_subscriptions.json["error"]
    bad_keepalives = await api.call("POST", "/clients", {"name": "r", "address": "x", "keepalives": "yes"})
    assert bad_keepalives.status == 400 and "keepalives" in bad_keepalives.json["error"]
    assert await api.store.list_clients() == []


async def test_one_client_is_returned_by_name_and_an_unknown_one_is_404(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/clients/web-01")
    assert reply.status == 200 and reply.json == client_doc("web-01", ("linux", "web"))
    missing = await api.call("GET", "/clients/nope")
    assert missing.status == 404 and missing.json == {"error": "client nope not found"}


async def test_a_bad_client_name_in_the_path_is_a_400_naming_it(api: Harness) -> None:
    reply = await api.call("GET", "/clients/we%20b")
    assert reply.status == 400 and '"we b"' in reply.json["error"]


async def test_deleting_a_client_resolves_its_events_then_deletes_it_with_its_results(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("DELETE", "/clients/web-01")
    assert (reply.status, reply.json) == (202, {"issued": int(START)})
    resolves = api.transport.bodies("results")
    assert len(resolves) == 1
    assert resolves[0]["client"] == "web-01"
    check = resolves[0]["check"]
    assert (check["name"], check["status"], check["output"], check["force_resolve"]) == (
        "disk", 0, RESOLVE_OUTPUT, True)
    assert "history" not in check
    await api.drain()
    assert await api.store.get_client("web-01") is None
    assert await api.store.list_results("web-01") == []
    assert await api.store.list_events("web-01") == []
    assert await api.store.get_client("db-01") is not None


async def test_a_deleted_client_waits_for_its_resolves_to_be_processed(api: Harness) -> None:
    await seed(api.store)
    seen: list[Event] = []

    class Engine:
        async def process(self, event: Event, *_: Any) -> None:
            seen.append(event)

    processor = ResultProcessor(settings_of({}), api.store, Engine(), clock=api.clock)
    subscription = await api.transport.subscribe("results")
    await api.call("DELETE", "/clients/web-01")

    async def consume() -> None:
        async for message in subscription:
            async with message.process():
                await processor.process_message(message.body)
            return

    await asyncio.wait_for(consume(), 5)
    await api.drain()
    assert [(e["action"], e["check"]["output"]) for e in seen] == [("resolve", RESOLVE_OUTPUT)]
    assert await api.store.get_client("web-01") is None
    await subscription.close()


async def test_deleting_an_unknown_client_is_404_and_publishes_nothing(api: Harness) -> None:
    reply = await api.call("DELETE", "/clients/nope")
    assert reply.status == 404
    assert api.transport.sent == []


async def test_invalidate_parameters_are_checked_before_anything_happens(api: Harness) -> None:
    await seed(api.store)
    bad = await api.call("DELETE", "/clients/web-01?invalidate=maybe")
    assert bad.status == 400 and "invalidate" in bad.json["error"]
    lonely = await api.call("DELETE", "/clients/web-01?invalidate_expire=60")
    assert lonely.status == 400 and "invalidate=true" in lonely.json["error"]
    negative = await api.call("DELETE", "/clients/web-01?invalidate=true&invalidate_expire=-5")
    assert negative.status == 400
    assert api.transport.sent == [] and await api.store.get_client("web-01") is not None


def keepalive(name: str, **extra: Any) -> bytes:
    return json.dumps({"name": name, "address": "10.0.0.1", "subscriptions": ["linux"], **extra}).encode()


async def test_an_invalidated_client_keepalives_are_dropped_until_it_is_deleted(api: Harness) -> None:
    await seed(api.store)
    keepalives = KeepaliveConsumer(settings_of({}), api.store, api.transport, clock=api.clock)
    assert await keepalives.receive(keepalive("web-01", signature="s3cret")) is not None
    reply = await api.call("DELETE", "/clients/web-01?invalidate=true")
    assert reply.status == 202
    assert await api.store.get_signature("web-01") == INVALIDATED
    # Meanwhile the client cannot register again, not even with the signature it had.
    assert await keepalives.receive(keepalive("web-01", signature="s3cret")) is None
    assert keepalives.rejected.labels("bad_signature")._value.get() == 1
    await api.drain()
    assert await api.store.get_client("web-01") is None
    # Without invalidate_expire the key went with the client: the name is free again.
    assert await api.store.get_signature("web-01") is None
    assert await keepalives.receive(keepalive("web-01", signature="new")) is not None
    assert await api.store.get_signature("web-01") == "new"


async def test_with_invalidate_expire_a_deleted_client_stays_locked_out(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("DELETE", "/clients/web-01?invalidate=true&invalidate_expire=3600")
    assert reply.status == 202
    await api.drain()
    assert await api.store.get_client("web-01") is None
    assert await api.store.get_signature("web-01") == INVALIDATED
    keepalives = KeepaliveConsumer(settings_of({}), api.store, api.transport, clock=api.clock)
    assert await keepalives.receive(keepalive("web-01")) is None
    processor = ResultProcessor(settings_of({}), api.store, Recorder(), clock=api.clock)
    result = {"client": "web-01", "check": result_doc("disk", 2)}
    assert await processor.process_result(result) is None
    assert processor.rejected.labels("bad_signature")._value.get() == 1
    assert await api.store.get_client("web-01") is None and await api.store.list_results("web-01") == []


async def test_invalidating_a_client_without_signature_also_blocks_it(memory_api: Harness) -> None:
    await seed(memory_api.store)
    await memory_api.call("DELETE", "/clients/web-01?invalidate=true&invalidate_expire=60")
    await memory_api.drain()
    processor = ResultProcessor(settings_of({}), memory_api.store, Recorder(), clock=memory_api.clock)
    assert await processor.process_result({"client": "web-01", "check": result_doc("disk", 2)}) is None
    memory_api.clock.advance(60)
    assert await processor.process_result({"client": "web-01", "check": result_doc("disk", 2)}) is not None
    assert await memory_api.store.get_client("web-01") is not None, "a result re-creates it once the lock expired"


async def test_a_client_history_lists_each_check_with_integer_statuses(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/clients/web-01/history")
    assert reply.status == 200
    by_check = {item["check"]: item for item in reply.json}
    assert set(by_check) == {"disk", "ntp"}
    disk = by_check["disk"]
    assert disk["history"] == [0, 2]
    assert (disk["last_status"], disk["last_execution"]) == (2, int(START))
    assert disk["last_result"]["output"] == "DISK CRITICAL: / 95%"


async def test_an_unknown_client_has_an_empty_history(api: Harness) -> None:
    reply = await api.call("GET", "/clients/nobody/history")
    assert (reply.status, reply.json) == (200, [])


async def test_the_client_list_is_paginated_with_an_x_pagination_header(api: Harness, store: Store) -> None:
    for i in range(5):
        await store.put_client(client_doc(f"c{i}"))
    reply = await api.call("GET", "/clients?limit=2&offset=1")
    assert [c["name"] for c in reply.json] == ["c1", "c2"]
    assert reply.headers["X-Pagination"] == '{"limit":2,"offset":1,"total":5}'
    unpaged = await api.call("GET", "/clients?offset=3")
    assert len(unpaged.json) == 5 and "X-Pagination" not in unpaged.headers

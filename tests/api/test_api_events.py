"""/events (/incidents)[/:client[/:check]] and /resolve (reference §7)."""

from __future__ import annotations

import json

import pytest

from pipeline.api.events import RESOLVE_OUTPUT
from pipeline.store.memory import MemoryStore
from tests.api.support import (
    START,
    FakeClock,
    Harness,
    client_doc,
    event_doc,
    result_doc,
    seed,
    start_harness,
)


@pytest.mark.parametrize("base", ["/events", "/incidents"])
async def test_every_open_event_is_listed(api: Harness, base: str) -> None:
    await seed(api.store)
    reply = await api.call("GET", base)
    assert reply.status == 200
    assert [(e["client"]["name"], e["check"]["name"]) for e in reply.json] == [("web-01", "disk")]


async def test_events_are_listed_per_client_and_an_unknown_client_has_none(api: Harness) -> None:
    await seed(api.store)
    assert len((await api.call("GET", "/events/web-01")).json) == 1
    reply = await api.call("GET", "/events/db-01")
    assert (reply.status, reply.json) == (200, [])


async def test_one_event_is_returned_and_a_missing_one_is_404(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/incidents/web-01/disk")
    assert reply.status == 200 and reply.json["check"]["output"] == "DISK CRITICAL: / 95%"
    missing = await api.call("GET", "/events/web-01/ntp")
    assert missing.status == 404 and missing.json == {"error": "no event for client web-01 and check ntp"}


async def test_events_can_be_filtered_by_any_attribute_path(api: Harness) -> None:
    await seed(api.store)
    db01 = client_doc("db-01")
    await api.store.put_event(event_doc(db01, result_doc("load", 1), "7c9a1d2e-0000-4000-8000-000000000002"))
    critical = await api.call("GET", "/events?filter.check.status=2")
    assert [e["client"]["name"] for e in critical.json] == ["web-01"]
    both = await api.call("GET", "/events?filter.check.status=1&filter.client.name=db-01")
    assert [e["check"]["name"] for e in both.json] == ["load"]
    assert (await api.call("GET", "/events?filter.check.nothing=1")).json == []
    paged = await api.call("GET", "/events?filter.silenced=false&limit=1")
    assert paged.headers["X-Pagination"] == '{"limit":1,"offset":0,"total":2}'


async def test_deleting_an_event_publishes_a_forced_ok_result_and_changes_nothing_yet(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("DELETE", "/events/web-01/disk")
    assert (reply.status, reply.json) == (202, {"issued": int(START)})
    [(pipe, kind, payload)] = api.transport.sent
    assert (pipe, kind, payload["client"]) == ("results", "direct", "web-01")
    check = payload["check"]
    assert (check["status"], check["output"], check["force_resolve"]) == (0, RESOLVE_OUTPUT, True)
    assert (check["issued"], check["executed"]) == (int(START), int(START))
    assert await api.store.get_event("web-01", "disk") is not None


async def test_a_resolve_of_a_signed_client_carries_its_signature(api: Harness) -> None:
    await seed(api.store)
    await api.store.put_client(client_doc("web-01", ("linux", "web"), signature="s3cret"))
    await api.call("POST", "/resolve", {"client": "web-01", "check": "disk"})
    assert api.transport.bodies("results")[0]["signature"] == "s3cret"


async def test_deleting_a_missing_event_is_404(api: Harness) -> None:
    assert (await api.call("DELETE", "/events/web-01/disk")).status == 404
    assert api.transport.sent == []


async def test_deleting_all_events_of_a_client_at_once_is_not_an_endpoint(api: Harness) -> None:
    reply = await api.call("DELETE", "/events/web-01")
    assert reply.status == 405 and "GET" in reply.headers["Allow"]


async def test_resolve_publishes_the_ok_and_answers_202(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("POST", "/resolve", {"client": "web-01", "check": "disk"})
    assert (reply.status, reply.json) == (202, {"issued": int(START)})
    assert api.transport.bodies("results")[0]["check"]["output"] == RESOLVE_OUTPUT


async def test_resolving_a_missing_event_is_404_and_a_malformed_body_400(api: Harness) -> None:
    await seed(api.store)
    assert (await api.call("POST", "/resolve", {"client": "web-01", "check": "ntp"})).status == 404
    reply = await api.call("POST", "/resolve", {"client": "web-01"})
    assert reply.status == 400 and "'check'" in reply.json["error"]
    assert (await api.call("POST", "/resolve", raw="{not json")).status == 400
    assert api.transport.sent == []


class JsonListingStore(MemoryStore):
    """A store that also hands events over as JSON text (the API's fast path for listings)."""

    json_listings = 0

    async def list_events_json(self, client: str | None = None) -> list[bytes]:
        self.json_listings += 1
        return [json.dumps(event).encode() for event in await self.list_events(client)]


async def test_a_store_giving_events_as_json_text_lists_the_same_events_and_pages() -> None:
    clock = FakeClock()
    plain, fast = MemoryStore(clock=clock), JsonListingStore(clock=clock)
    for store in (plain, fast):
        await seed(store)
        await store.put_event(event_doc(client_doc("db-01"), result_doc("load", 1), "7c9a1d2e-0000-4000-8000-000000000002"))
    apps = [await start_harness(plain, clock), await start_harness(fast, clock)]
    try:
        for target in ["/events", "/events?limit=1&offset=1", "/events/db-01", "/events?filter.check.status=1"]:
            replies = [await app.call("GET", target) for app in apps]
            assert replies[0].json == replies[1].json, target
            assert replies[0].headers.get("X-Pagination") == replies[1].headers.get("X-Pagination"), target
        assert fast.json_listings == 3  # every listing but the filtered one took the fast path
    finally:
        for app in apps:
            await app.client.close()

"""`GET /events` says whether a silence covers an event now, not only at its last result.

A pushed result with no interval has no next result to bring the news: after a silence is
added (or cleared, or its `begin` comes) the stored event would say the old answer for ever.
Runs on the memory and the Redis store (the `api` fixture).
"""

from __future__ import annotations

from typing import Any

from tests.api.support import Harness, client_doc, event_doc, result_doc, seed

WEB01 = client_doc("web-01", ("linux", "web"))


async def silence(api: Harness, **body: Any) -> None:
    reply = await api.call("POST", "/silenced", body)
    assert reply.status == 201, reply.text


async def web01_disk(api: Harness, path: str = "/events") -> dict[str, Any]:
    reply = await api.call("GET", path)
    assert reply.status == 200, reply.text
    events = reply.json if isinstance(reply.json, list) else [reply.json]
    found = [e for e in events if (e["client"]["name"], e["check"]["name"]) == ("web-01", "disk")]
    assert len(found) == 1
    return {"silenced": found[0]["silenced"], "silenced_by": found[0]["silenced_by"]}


NOT_SILENCED = {"silenced": False, "silenced_by": []}


async def test_a_silence_added_after_the_last_result_shows_on_every_events_route(api: Harness) -> None:
    await seed(api.store)
    assert await web01_disk(api) == NOT_SILENCED
    await silence(api, subscription="client:web-01", check="disk")
    covered = {"silenced": True, "silenced_by": ["client:web-01:disk"]}
    for path in ("/events", "/incidents", "/events/web-01", "/events/web-01/disk", "/events?filter.check.name=disk"):
        assert await web01_disk(api, path) == covered, path


async def test_subscription_check_and_everything_entries_cover_in_sensu_s_lookup_order(api: Harness) -> None:
    await seed(api.store)
    await silence(api, check="disk")  # *:disk
    await silence(api, subscription="web")  # web:*
    await silence(api, subscription="db")  # another subscription: not web-01's
    assert await web01_disk(api) == {"silenced": True, "silenced_by": ["web:*", "*:disk"]}


async def test_a_cleared_silence_no_longer_covers_the_stored_event(api: Harness) -> None:
    await seed(api.store)
    # The event was stored silenced (its last result came while a silence was live).
    await api.store.put_event(event_doc(WEB01, result_doc("disk", 2, "DISK CRITICAL: / 95%"),
                                        silenced=True, silenced_by=["web:*"]))
    assert await web01_disk(api) == NOT_SILENCED
    await silence(api, subscription="web")
    assert await web01_disk(api) == {"silenced": True, "silenced_by": ["web:*"]}
    reply = await api.call("POST", "/silenced/clear", {"id": "web:*"})
    assert reply.status == 204, reply.text
    assert await web01_disk(api) == NOT_SILENCED


async def test_a_silence_covers_only_once_its_begin_has_come(api: Harness) -> None:
    await seed(api.store)
    await silence(api, check="disk", begin=int(api.clock()) + 600)
    assert await web01_disk(api) == NOT_SILENCED
    api.clock.advance(600)
    assert await web01_disk(api) == {"silenced": True, "silenced_by": ["*:disk"]}


async def test_a_silence_of_another_check_or_client_leaves_the_event_alone(api: Harness) -> None:
    await seed(api.store)
    await silence(api, check="ntp")
    await silence(api, subscription="client:db-01")
    assert await web01_disk(api) == NOT_SILENCED
    assert await web01_disk(api, "/events/web-01/disk") == NOT_SILENCED

"""/silenced, /silenced/{ids,subscriptions,checks}/..., /silenced/clear (reference §7, §3)."""

from __future__ import annotations

import pytest

from tests.api.support import START, Harness

NOW = int(START)


async def test_a_silence_is_created_with_sensus_fields_and_listed(api: Harness) -> None:
    reply = await api.call("POST", "/silenced", {"subscription": "client:web-01", "check": "disk",
                                                 "reason": "maintenance", "creator": "ops", "expire": 3600,
                                                 "expire_on_resolve": True})
    assert (reply.status, reply.text) == (201, "")
    listed = await api.call("GET", "/silenced")
    assert listed.status == 200
    assert listed.json == [{"id": "client:web-01:disk", "subscription": "client:web-01", "check": "disk",
                            "reason": "maintenance", "creator": "ops", "expire_on_resolve": True,
                            "timestamp": NOW, "begin": None, "expire": 3600}]


async def test_a_silence_of_a_subscription_or_a_check_alone_gets_a_star_in_its_id(api: Harness) -> None:
    await api.call("POST", "/silenced", {"subscription": "linux"})
    await api.call("POST", "/silenced", {"check": "ntp"})
    ids = [entry["id"] for entry in (await api.call("GET", "/silenced")).json]
    assert sorted(ids) == ["*:ntp", "linux:*"]
    assert {e["id"]: e["expire"] for e in (await api.call("GET", "/silenced")).json} == {"*:ntp": -1, "linux:*": -1}


async def test_the_listing_shows_the_seconds_left(memory_api: Harness) -> None:
    await memory_api.call("POST", "/silenced", {"check": "ntp", "expire": 100})
    memory_api.clock.advance(30)
    assert (await memory_api.call("GET", "/silenced/ids/*:ntp")).json["expire"] == 70
    memory_api.clock.advance(71)
    assert (await memory_api.call("GET", "/silenced")).json == []


async def test_a_future_begin_extends_the_expiry_so_the_silence_lasts_expire_once_begun(memory_api: Harness) -> None:
    await memory_api.call("POST", "/silenced", {"check": "ntp", "begin": NOW + 600, "expire": 60})
    entry = (await memory_api.call("GET", "/silenced/ids/*:ntp")).json
    assert (entry["begin"], entry["expire"]) == (NOW + 600, 660)
    memory_api.clock.advance(650)
    assert (await memory_api.call("GET", "/silenced/ids/*:ntp")).status == 200
    memory_api.clock.advance(11)
    assert (await memory_api.call("GET", "/silenced/ids/*:ntp")).status == 404


@pytest.mark.parametrize(("body", "message"), [
    ({}, "needs a 'subscription', a 'check'"),
    ({"reason": "x"}, "needs a 'subscription', a 'check'"),
    ({"subscription": "*"}, "'*:*'"),
    ({"check": "*"}, "'check'"),
    ({"check": "bad name"}, "'check'"),
    ({"subscription": "with space"}, "'subscription'"),
    ({"subscription": "a/b"}, "'subscription'"),
    ({"subscription": 5}, "'subscription'"),
    ({"check": "ntp", "expire": -60}, "'expire'"),
    ({"check": "ntp", "expire": 0}, "'expire'"),
    ({"check": "ntp", "expire": "1h"}, "'expire'"),
    ({"check": "ntp", "expire": 2**40}, "'expire'"),
    ({"check": "ntp", "begin": -1}, "'begin'"),
    ({"check": "ntp", "begin": "tomorrow"}, "'begin'"),
    ({"check": "ntp", "expire_on_resolve": "yes"}, "'expire_on_resolve'"),
    ({"check": "ntp", "reason": ["a"]}, "'reason'"),
    ({"check": "ntp", "creator": {}}, "'creator'"),
])
async def test_a_bad_silence_is_400_naming_what_was_wrong(api: Harness, body: dict[str, object], message: str) -> None:
    reply = await api.call("POST", "/silenced", body)
    assert reply.status == 400 and message in reply.json["error"], reply.text
    assert await api.store.list_silences() == []


async def test_entries_are_found_by_id_subscription_and_check(api: Harness) -> None:
    for body in ({"subscription": "client:web-01", "check": "disk"}, {"subscription": "client:web-01"},
                 {"subscription": "client", "check": "load"}, {"check": "disk"}):
        assert (await api.call("POST", "/silenced", body)).status == 201
    one = await api.call("GET", "/silenced/ids/client:web-01:disk")
    assert one.status == 200 and one.json["id"] == "client:web-01:disk"
    assert (await api.call("GET", "/silenced/ids/client:web-01:ntp")).status == 404
    by_sub = await api.call("GET", "/silenced/subscriptions/client:web-01")
    assert sorted(e["id"] for e in by_sub.json) == ["client:web-01:*", "client:web-01:disk"]
    by_check = await api.call("GET", "/silenced/checks/disk")
    assert sorted(e["id"] for e in by_check.json) == ["*:disk", "client:web-01:disk"]
    assert (await api.call("GET", "/silenced/subscriptions/nobody")).json == []


async def test_a_silence_is_cleared_by_id_or_by_its_parts(api: Harness) -> None:
    await api.call("POST", "/silenced", {"subscription": "linux", "check": "disk"})
    await api.call("POST", "/silenced", {"check": "ntp"})
    by_id = await api.call("POST", "/silenced/clear", {"id": "linux:disk"})
    assert (by_id.status, by_id.text) == (204, "")
    by_parts = await api.call("POST", "/silenced/clear", {"check": "ntp"})
    assert by_parts.status == 204
    assert await api.store.list_silences() == []


async def test_clearing_a_missing_silence_is_404_and_an_empty_request_400(api: Harness) -> None:
    assert (await api.call("POST", "/silenced/clear", {"id": "linux:disk"})).status == 404
    empty = await api.call("POST", "/silenced/clear", {})
    assert empty.status == 400 and "'id'" in empty.json["error"]
    assert (await api.call("POST", "/silenced/clear", {"id": 5})).status == 400


async def test_posting_the_same_silence_again_replaces_it(api: Harness) -> None:
    await api.call("POST", "/silenced", {"check": "ntp", "reason": "first"})
    await api.call("POST", "/silenced", {"check": "ntp", "reason": "second"})
    assert [e["reason"] for e in (await api.call("GET", "/silenced")).json] == ["second"]

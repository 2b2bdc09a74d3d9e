"""The Store contract for `record_checked`: lookup, signature rule and record in one call.

The Redis store does all three in one Lua script (one round trip per result); the memory store
in two steps. Both must refuse exactly what `signature_refusal` refuses, write nothing for a
refused result, and keep the proxy version of a check only for a proxy client.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.store.base import INVALIDATED, Store, signature_refusal


def check(**extra: Any) -> dict[str, Any]:
    return {"name": "disk", "status": 2, "output": "full", "executed": 1000, "command": "check-disk web1", **extra}


async def setup(store: Store, client: dict[str, Any] | None, key: str | None) -> None:
    if client is not None:
        await store.put_client(client)
    if key == INVALIDATED:
        await store.invalidate_client("web1")
    elif key is not None:
        await store.claim_signature("web1", key)


# (client registered, signature key, signature the result carries, refused?)
CASES = [
    (None, None, None, False),
    (None, None, "abc", False),
    ({"name": "web1"}, None, None, False),
    ({"name": "web1"}, None, "anything", False),
    ({"name": "web1", "signature": "abc"}, None, "abc", False),
    ({"name": "web1", "signature": "abc"}, None, "xyz", True),
    ({"name": "web1", "signature": "abc"}, None, None, True),
    ({"name": "web1", "signature": ""}, None, None, True),
    ({"name": "web1", "signature": ""}, None, "", False),
    ({"name": "web1", "signature": None}, None, "xyz", False),
    ({"name": "web1", "signature": False}, None, "xyz", False),
    ({"name": "web1", "signature": 5}, None, "5", True),
    ({"name": "web1", "signature": 5}, None, 5, False),
    ({"name": "web1", "signature": "abc"}, INVALIDATED, "abc", False),  # the client's own wins
    (None, "abc", "abc", False),
    (None, "abc", "xyz", True),
    (None, "abc", None, True),
    (None, "", None, False),
    (None, "", "xyz", False),
    (None, INVALIDATED, None, True),
    (None, INVALIDATED, INVALIDATED, True),
    (None, "abc", 7, True),
]


@pytest.mark.parametrize(("client", "key", "sent", "refused"), CASES)
async def test_a_result_is_refused_exactly_as_the_signature_rule_says_and_then_nothing_is_written(
    store: Store, client: dict[str, Any] | None, key: str | None, sent: Any, refused: bool,
) -> None:
    await setup(store, client, key)
    stored_key = await store.get_signature("web1")
    expected = signature_refusal(client, stored_key, sent)
    assert (expected is not None) == refused

    checked = await store.record_checked("web1", sent, check(), check(), [])

    assert checked.client == client
    assert checked.refusal == expected
    if refused:
        assert checked.recorded is None
        assert await store.get_history("web1", "disk") == []
        assert await store.get_result("web1", "disk") is None
    else:
        assert checked.recorded is not None and checked.recorded.history == ["2"]
        assert await store.get_result("web1", "disk") == check()


async def test_the_open_event_and_last_ok_come_back_with_the_recorded_history(store: Store) -> None:
    await store.put_client({"name": "web1"})
    await store.record_checked("web1", None, check(status=0), check(status=0), [])
    open_event = {"id": "e1", "client": {"name": "web1"}, "check": {"name": "disk", "status": 2}}
    await store.put_event(open_event)
    checked = await store.record_checked("web1", None, check(), check(), ["disks"])
    assert checked.recorded is not None
    assert checked.recorded.history == ["0", "2"]
    assert checked.recorded.last_ok == 1000
    assert checked.recorded.event == open_event
    assert await store.aggregate_members("disks") == ["web1:disk"]


@pytest.mark.parametrize(("client", "source_given", "proxy"), [
    ({"name": "web1", "type": "proxy"}, False, True),
    ({"name": "web1"}, True, False),
    (None, True, True),
    (None, False, False),
])
async def test_the_proxy_version_is_kept_only_for_a_proxy_client(
    store: Store, client: dict[str, Any] | None, source_given: bool, proxy: bool,
) -> None:
    await setup(store, client, None)
    plain = check(output="x" * 10)
    as_proxy = {**plain, "command": "check-disk :::name:::"}
    checked = await store.record_checked("web1", None, plain, plain, [], as_proxy, source_given=source_given)
    assert checked.proxy is proxy
    assert await store.get_result("web1", "disk") == (as_proxy if proxy else plain)

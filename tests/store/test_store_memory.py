"""The embedded store keeps Sensu's Redis semantics (reference §1, §3.5)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.store.memory import MemoryStore
from tests.helpers import FakeClock, make_result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock=clock)



def event(client: str, check: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"{client}-{check}", "client": {"name": client}, "check": {"name": check, "status": 2}, **extra}


async def test_a_client_reads_back_as_stored_and_is_listed_by_name(store: MemoryStore) -> None:
    await store.put_client({"name": "b", "address": "10.0.0.2", "custom": {"team": "ops"}})
    await store.put_client({"name": "a", "address": "10.0.0.1"})
    assert await store.get_client("b") == {"name": "b", "address": "10.0.0.2", "custom": {"team": "ops"}}
    assert [c["name"] for c in await store.list_clients()] == ["a", "b"]
    assert await store.get_client("missing") is None


async def test_a_client_put_again_replaces_the_old_one(store: MemoryStore) -> None:
    await store.put_client({"name": "a", "address": "old", "extra": 1})
    await store.put_client({"name": "a", "address": "new"})
    assert await store.get_client("a") == {"name": "a", "address": "new"}


async def test_callers_never_share_state_with_the_store(store: MemoryStore) -> None:
    subscriptions = ["web"]
    await store.put_client({"name": "a", "subscriptions": subscriptions})
    subscriptions.append("changed-after-put")
    read = await store.get_client("a")
    assert read is not None
    read["subscriptions"].append("changed-after-get")
    assert await store.get_client("a") == {"name": "a", "subscriptions": ["web"]}

    stored_event = event("a", "disk")
    await store.put_event(stored_event)
    stored_event["check"]["status"] = 0
    recorded = await store.record_result("a", make_result(2), make_result(2), [])
    assert recorded.event is not None and recorded.event["check"]["status"] == 2
    recorded.history.append("9")
    assert await store.get_history("a", "disk") == ["2"]


async def test_recording_results_keeps_the_last_21_statuses_as_strings(store: MemoryStore) -> None:
    for i in range(25):
        recorded = await store.record_result("a", make_result(i % 4), make_result(i % 4), [])
    expected = [str(i % 4) for i in range(4, 25)]
    assert recorded.history == expected
    assert await store.get_history("a", "disk") == expected


async def test_last_ok_is_the_executed_time_of_the_latest_ok(store: MemoryStore, clock: FakeClock) -> None:
    first = await store.record_result("a", make_result(2), make_result(2), [])
    assert first.last_ok is None
    ok = await store.record_result("a", make_result(0, executed=1500), make_result(0), [])
    assert ok.last_ok == 1500
    failing = await store.record_result("a", make_result(2, executed=1600), make_result(2), [])
    assert failing.last_ok == 1500
    no_time = {"name": "disk", "status": 0, "output": ""}
    assert (await store.record_result("a", no_time, no_time, [])).last_ok == int(clock.now)


async def test_the_stored_result_is_the_copy_given_not_the_full_check(store: MemoryStore) -> None:
    full = make_result(0, output="a 1 1\nb 2 1", type="metric")
    kept = {**full, "output": "a 1 1\n..."}
    await store.record_result("a", full, kept, [])
    assert await store.get_result("a", "disk") == kept
    assert await store.get_result("a", "other") is None


async def test_results_are_listed_per_client_or_for_all(store: MemoryStore) -> None:
    for client, check in [("b", "disk"), ("a", "load"), ("a", "disk")]:
        await store.record_result(client, make_result(0, name=check), make_result(0, name=check), [])
    assert [(c, r["name"]) for c, r in await store.list_results()] == [("a", "disk"), ("a", "load"), ("b", "disk")]
    assert [(c, r["name"]) for c, r in await store.list_results("a")] == [("a", "disk"), ("a", "load")]
    assert await store.list_results("nobody") == []


async def test_a_check_with_a_ttl_joins_the_ttl_index(store: MemoryStore) -> None:
    await store.record_result("a", make_result(0, ttl=120), make_result(0), [])
    await store.record_result("a", make_result(0, name="load"), make_result(0, name="load"), [])
    await store.record_result("a", make_result(0, name="nope", ttl=False), make_result(0, name="nope"), [])
    assert await store.list_ttl() == ["a:disk"]
    await store.delete_result("a", "disk")
    assert await store.list_ttl() == []


async def test_results_join_every_named_aggregate(store: MemoryStore) -> None:
    await store.record_result("a", make_result(0), make_result(0), ["web", "disk"])
    await store.record_result("b", make_result(1), make_result(1), ["web"])
    await store.record_result("b", make_result(1), make_result(1), ["web"])
    assert await store.list_aggregates() == ["disk", "web"]
    assert await store.aggregate_members("web") == ["a:disk", "b:disk"]
    assert await store.aggregate_members("none") == []


async def test_recording_returns_the_event_open_before_the_result(store: MemoryStore) -> None:
    assert (await store.record_result("a", make_result(2), make_result(2), [])).event is None
    await store.put_event(event("a", "disk", occurrences=1))
    recorded = await store.record_result("a", make_result(2), make_result(2), [])
    assert recorded.event is not None and recorded.event["occurrences"] == 1


async def test_a_value_json_cannot_hold_is_kept_as_its_string_form(store: MemoryStore) -> None:
    odd = make_result(2, extra={1, 2})
    await store.record_result("a", odd, odd, ["agg"])
    kept = await store.get_result("a", "disk")
    assert kept is not None and kept["extra"] == str({1, 2})
    assert await store.get_history("a", "disk") == ["2"]


async def test_events_are_stored_per_client_and_check(store: MemoryStore) -> None:
    await store.put_event(event("b", "disk"))
    await store.put_event(event("a", "load"))
    await store.put_event(event("a", "disk"))
    assert [e["id"] for e in await store.list_events()] == ["a-disk", "a-load", "b-disk"]
    assert [e["id"] for e in await store.list_events("a")] == ["a-disk", "a-load"]
    await store.put_event(event("a", "disk", occurrences=5))
    stored = await store.get_event("a", "disk")
    assert stored is not None and stored["occurrences"] == 5
    await store.delete_event("a", "disk")
    await store.delete_event("a", "never-there")
    assert await store.get_event("a", "disk") is None
    assert [e["id"] for e in await store.list_events()] == ["a-load", "b-disk"]


async def test_deleting_a_client_removes_its_results_history_and_events(store: MemoryStore) -> None:
    await store.put_client({"name": "a"})
    await store.put_client({"name": "b"})
    await store.record_result("a", make_result(2, ttl=60), make_result(2), [])
    await store.record_result("b", make_result(2), make_result(2), [])
    await store.put_event(event("a", "disk"))
    await store.delete_client("a")
    assert await store.get_client("a") is None
    assert await store.get_result("a", "disk") is None and await store.get_history("a", "disk") == []
    assert await store.list_events("a") == [] and await store.list_ttl() == []
    assert (await store.record_result("a", make_result(0), make_result(0), [])).history == ["0"]
    assert await store.get_history("b", "disk") == ["2"]


async def test_deleting_a_result_forgets_its_history(store: MemoryStore) -> None:
    await store.record_result("a", make_result(2), make_result(2), [])
    await store.delete_result("a", "disk")
    assert await store.get_result("a", "disk") is None
    assert (await store.record_result("a", make_result(1), make_result(1), [])).history == ["1"]


async def test_silences_are_read_in_the_order_asked_with_none_for_missing(store: MemoryStore) -> None:
    await store.put_silence({"id": "web:*", "reason": "deploy"})
    await store.put_silence({"id": "*:disk"})
    found = await store.get_silences(["client:a:*", "web:*", "*:disk"])
    assert found == [None, {"id": "web:*", "reason": "deploy", "expire": -1}, {"id": "*:disk", "expire": -1}]
    assert [s["id"] for s in await store.list_silences()] == ["*:disk", "web:*"]
    await store.delete_silence("web:*")
    assert await store.get_silences(["web:*"]) == [None]


async def test_a_silence_with_an_expiry_disappears_when_it_runs_out(store: MemoryStore, clock: FakeClock) -> None:
    await store.put_silence({"id": "web:*"}, expire=60)
    await store.put_silence({"id": "db:*"})
    clock.now += 59
    assert await store.get_silences(["web:*"]) == [{"id": "web:*", "expire": 1}]
    clock.now += 1
    assert await store.get_silences(["web:*", "db:*"]) == [None, {"id": "db:*", "expire": -1}]
    assert [s["id"] for s in await store.list_silences()] == ["db:*"]


async def test_a_silence_with_no_time_left_is_not_stored(store: MemoryStore) -> None:
    await store.put_silence({"id": "web:*"})
    await store.put_silence({"id": "web:*"}, expire=0)
    assert await store.list_silences() == []


async def test_keepalive_times_are_the_servers_receipt_times_and_go_with_the_client(store: MemoryStore) -> None:
    await store.record_keepalive({"name": "web1", "timestamp": 1}, received=1000.5)
    assert await store.keepalive_times() == {"web1": 1000.5}
    assert (await store.get_client("web1")) == {"name": "web1", "timestamp": 1}
    await store.delete_client("web1")
    assert await store.keepalive_times() == {}


async def test_a_removed_ttl_member_is_no_longer_listed(store: MemoryStore) -> None:
    await store.record_result("a", make_result(2, ttl=60), make_result(2, ttl=60), [])
    await store.remove_ttl("a:disk")
    assert await store.list_ttl() == []


async def test_series_keep_their_last_value_until_they_expire() -> None:
    from pipeline.store.base import SeriesSample

    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    await store.put_series({"load1{client=a}": SeriesSample(0.5, 1000.0, 1030.0)})
    await store.put_series({"load1{client=a}": SeriesSample(0.7, 1010.0, 1040.0)})
    assert await store.list_series() == {"load1{client=a}": SeriesSample(0.7, 1010.0, 1040.0)}
    now[0] = 1040.0
    assert await store.list_series() == {}


async def test_stashes_keep_their_content_and_report_the_seconds_left() -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    await store.put_stash("silence/web1", {"reason": "maintenance"}, expire=60)
    await store.put_stash("notes", {"text": "hello"})
    assert await store.get_stash("silence/web1") == {"reason": "maintenance"}
    now[0] = 1030.0
    assert await store.list_stashes() == [
        {"path": "notes", "content": {"text": "hello"}, "expire": -1},
        {"path": "silence/web1", "content": {"reason": "maintenance"}, "expire": 30},
    ]
    now[0] = 1060.0
    assert await store.get_stash("silence/web1") is None
    await store.delete_stash("notes")
    assert await store.list_stashes() == []


async def test_a_deleted_aggregate_is_no_longer_listed(store: MemoryStore) -> None:
    await store.record_result("a", make_result(2, aggregate=True), make_result(2), ["disk"])
    await store.delete_aggregate("disk")
    assert await store.list_aggregates() == [] and await store.aggregate_members("disk") == []

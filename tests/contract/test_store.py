"""The Store contract: what the server, the monitors and the API rely on, for every backend.

Each test runs against the embedded MemoryStore and the RedisStore (the `store` fixture of tests/conftest.py),
so `ogi run` and a distributed ogi cannot drift apart. Clients are registered before their
results and events are listed, as the result processor always does.
"""

from __future__ import annotations

from typing import Any

from pipeline import jsoncodec
from pipeline.store.base import INVALIDATED, SeriesSample, Store
from tests.contract import Backend, FakeClock
from tests.helpers import make_result


def event(client: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"{client}-{name}", "client": {"name": client}, "check": {"name": name, "status": 2}, **extra}


async def record(store: Store, client: str, result: dict[str, Any], aggregates: list[str] | None = None) -> Any:
    return await store.record_result(client, result, result, aggregates or [])


# -- clients ------------------------------------------------------------------------------


async def test_clients_read_back_as_stored_and_are_listed_by_name(store: Store) -> None:
    await store.put_client({"name": "web2", "address": "10.0.0.2", "custom": {"team": "ops", "tags": ["a", "é"]}})
    await store.put_client({"name": "web1", "address": "10.0.0.1"})
    assert await store.get_client("web2") == {"name": "web2", "address": "10.0.0.2",
                                              "custom": {"team": "ops", "tags": ["a", "é"]}}
    assert [client["name"] for client in await store.list_clients()] == ["web1", "web2"]
    assert await store.get_client("missing") is None


async def test_a_client_put_again_replaces_the_old_definition(store: Store) -> None:
    await store.put_client({"name": "web1", "address": "old", "extra": 1})
    await store.put_client({"name": "web1", "address": "new"})
    assert await store.get_client("web1") == {"name": "web1", "address": "new"}
    assert len(await store.list_clients()) == 1


async def test_changing_a_dict_after_put_or_get_changes_nothing_stored(store: Store) -> None:
    subscriptions = ["web"]
    await store.put_client({"name": "web1", "subscriptions": subscriptions})
    subscriptions.append("after-put")
    read = await store.get_client("web1")
    assert read is not None
    read["subscriptions"].append("after-get")
    assert await store.get_client("web1") == {"name": "web1", "subscriptions": ["web"]}


async def test_deleting_a_client_removes_its_results_history_events_ttl_and_keepalive(store: Store) -> None:
    for name in ("web1", "web2"):
        await store.record_keepalive({"name": name}, received=1.0)
        await record(store, name, make_result(2, ttl=60))
        await store.put_event(event(name, "disk"))
    await store.delete_client("web1")
    assert await store.get_client("web1") is None
    assert await store.get_result("web1", "disk") is None
    assert await store.get_history("web1", "disk") == []
    assert await store.get_event("web1", "disk") is None
    assert await store.list_results("web1") == []
    assert await store.list_ttl() == ["web2:disk"]
    assert await store.keepalive_times() == {"web2": 1.0}
    assert [e["client"]["name"] for e in await store.list_events()] == ["web2"]
    # A result arriving later starts a fresh history.
    recorded = await record(store, "web1", make_result(0))
    assert recorded.history == ["0"] and recorded.event is None


# -- signatures -------------------------------------------------------------------------------


async def test_the_first_keepalive_claims_the_signature_and_later_claims_get_it_back(store: Store) -> None:
    assert await store.get_signature("web1") is None
    assert await store.claim_signature("web1", "s3cret") == "s3cret"
    assert await store.claim_signature("web1", "forged") == "s3cret"
    assert await store.claim_signature("web1", None) == "s3cret"
    assert await store.get_signature("web1") == "s3cret"


async def test_an_unsigned_client_leaves_an_empty_signature_that_a_later_signature_takes(store: Store) -> None:
    assert await store.claim_signature("web1", None) == ""
    assert await store.get_signature("web1") == ""
    assert await store.claim_signature("web1", "s3cret") == "s3cret"
    assert await store.claim_signature("web1", "other") == "s3cret"


async def test_an_invalidated_client_matches_no_claim_until_it_is_deleted(store: Store) -> None:
    await store.put_client({"name": "web1"})
    await store.claim_signature("web1", "s3cret")
    await store.invalidate_client("web1")
    assert await store.claim_signature("web1", "s3cret") == INVALIDATED
    assert await store.claim_signature("web1", None) == INVALIDATED
    await store.delete_client("web1")
    assert await store.get_signature("web1") is None
    assert await store.claim_signature("web1", "new") == "new"


async def test_an_invalidation_kept_past_the_deletion_lasts_its_expire(backend: Backend) -> None:
    store = backend.store
    await store.put_client({"name": "web1"})
    await store.claim_signature("web1", "s3cret")
    await store.invalidate_client("web1")
    await store.delete_client("web1", keep_signature=True)
    await store.invalidate_client("web1", expire=1)
    assert await store.get_client("web1") is None
    assert await store.get_signature("web1") == INVALIDATED
    await backend.elapse(1)
    assert await store.get_signature("web1") is None
    assert await store.claim_signature("web1", "s3cret") == "s3cret"


async def test_a_lookup_gives_the_client_and_its_signature_together(store: Store) -> None:
    assert await store.lookup_client("web1") == (None, None)
    await store.claim_signature("web1", "s3cret")
    assert await store.lookup_client("web1") == (None, "s3cret")
    await store.put_client({"name": "web1", "signature": "s3cret"})
    assert await store.lookup_client("web1") == ({"name": "web1", "signature": "s3cret"}, "s3cret")


# -- results and history --------------------------------------------------------------------


async def test_history_keeps_the_last_21_statuses_as_strings_oldest_first(store: Store) -> None:
    statuses = [0, 1, 2, 3] * 6
    for status in statuses[:-1]:
        await record(store, "web1", make_result(status))
    recorded = await record(store, "web1", make_result(statuses[-1]))
    expected = [str(status) for status in statuses[-21:]]
    assert recorded.history == expected
    assert await store.get_history("web1", "disk") == expected


async def test_last_ok_is_the_executed_time_of_the_latest_ok_and_survives_failures(store: Store) -> None:
    first = await record(store, "web1", make_result(2))
    assert first.last_ok is None
    await record(store, "web1", make_result(0, executed=1500))
    later = await record(store, "web1", make_result(2, executed=1600))
    assert later.last_ok == 1500
    assert (await record(store, "web1", make_result(0, executed=1700))).last_ok == 1700


async def test_an_ok_without_executed_counts_the_stores_clock_as_its_time(store: Store, clock: FakeClock) -> None:
    result = {"name": "disk", "status": 0, "output": "fine"}
    assert (await record(store, "web1", result)).last_ok == int(clock.now)


async def test_recording_returns_the_event_open_before_the_result(store: Store) -> None:
    assert (await record(store, "web1", make_result(2))).event is None
    await store.put_event(event("web1", "disk", occurrences=3))
    recorded = await record(store, "web1", make_result(0))
    assert recorded.event == event("web1", "disk", occurrences=3)
    assert (await record(store, "web1", make_result(2, name="other"))).event is None


async def test_the_stored_result_is_the_copy_given_not_the_full_check(store: Store) -> None:
    full = make_result(2, output="line one\nline two")
    await store.record_result("web1", full, {**full, "output": "line one\n..."}, [])
    assert await store.get_result("web1", "disk") == {**full, "output": "line one\n..."}
    assert await store.get_result("web1", "nothing") is None


async def test_results_are_listed_per_client_or_for_all_by_client_then_check(store: Store) -> None:
    for name in ("web2", "web1"):
        await store.put_client({"name": name})
    await record(store, "web2", make_result(0, name="load"))
    await record(store, "web1", make_result(1, name="load"))
    await record(store, "web1", make_result(2, name="disk"))
    everything = await store.list_results()
    assert [(client, result["name"], result["status"]) for client, result in everything] == [
        ("web1", "disk", 2), ("web1", "load", 1), ("web2", "load", 0),
    ]
    assert [result["name"] for _, result in await store.list_results("web2")] == ["load"]
    assert await store.list_results("nobody") == []


async def test_deleting_a_result_forgets_its_history_last_ok_and_ttl_but_not_its_siblings(store: Store) -> None:
    await record(store, "web1", make_result(0, ttl=60))
    await record(store, "web1", make_result(0, name="load", ttl=60))
    await store.delete_result("web1", "disk")
    assert await store.get_result("web1", "disk") is None
    assert await store.get_history("web1", "disk") == []
    assert await store.list_ttl() == ["web1:load"]
    assert [result["name"] for _, result in await store.list_results("web1")] == ["load"]
    assert (await record(store, "web1", make_result(2))).last_ok is None


async def test_a_value_json_cannot_hold_is_kept_as_its_string_form(store: Store) -> None:
    await record(store, "web1", make_result(0, tags={"a", "b"} - {"b"}))
    stored = await store.get_result("web1", "disk")
    assert stored is not None and stored["tags"] == "{'a'}"


# -- ttl index and aggregates ---------------------------------------------------------------


async def test_only_checks_with_a_ttl_join_the_ttl_index_and_removal_drops_them(store: Store) -> None:
    await record(store, "web1", make_result(0, ttl=60))
    await record(store, "web2", make_result(0, ttl=60))
    await record(store, "web1", make_result(0, name="load"))
    assert await store.list_ttl() == ["web1:disk", "web2:disk"]
    await store.remove_ttl("web1:disk")
    await store.remove_ttl("never:there")
    assert await store.list_ttl() == ["web2:disk"]


async def test_results_join_every_named_aggregate_once(store: Store) -> None:
    await record(store, "web1", make_result(0), ["disk", "prod"])
    await record(store, "web1", make_result(2), ["disk"])
    await record(store, "web2", make_result(0), ["disk"])
    assert await store.list_aggregates() == ["disk", "prod"]
    assert await store.aggregate_members("disk") == ["web1:disk", "web2:disk"]
    assert await store.aggregate_members("prod") == ["web1:disk"]
    assert await store.aggregate_members("none") == []


async def test_a_deleted_aggregate_is_no_longer_listed_and_has_no_members(store: Store) -> None:
    await record(store, "web1", make_result(0), ["disk", "prod"])
    await store.delete_aggregate("disk")
    assert await store.list_aggregates() == ["prod"]
    assert await store.aggregate_members("disk") == []


# -- events -----------------------------------------------------------------------------------


async def test_events_are_stored_per_client_and_check_and_listed_in_that_order(store: Store) -> None:
    for name in ("web2", "web1"):
        await store.put_client({"name": name})
    await store.put_event(event("web2", "load"))
    await store.put_event(event("web1", "load"))
    await store.put_event(event("web1", "disk", occurrences=1))
    await store.put_event(event("web1", "disk", occurrences=2))
    assert await store.get_event("web1", "disk") == event("web1", "disk", occurrences=2)
    assert [(e["client"]["name"], e["check"]["name"]) for e in await store.list_events()] == [
        ("web1", "disk"), ("web1", "load"), ("web2", "load"),
    ]
    assert [e["check"]["name"] for e in await store.list_events("web2")] == ["load"]
    assert await store.get_event("web3", "disk") is None


async def test_events_as_json_text_are_the_listed_events_clients_in_name_order(store: Store) -> None:
    for name in ("web2", "web1", "db1"):
        await store.put_client({"name": name})
    await store.put_event(event("web2", "load"))
    await store.put_event(event("web1", "load", output="é ✓"))
    await store.put_event(event("web1", "disk"))
    texts = await store.list_events_json()
    assert all(isinstance(text, bytes) for text in texts)
    parsed = [jsoncodec.loads(text) for text in texts]
    assert [e["client"]["name"] for e in parsed] == ["web1", "web1", "web2"]
    key = lambda e: (e["client"]["name"], e["check"]["name"])  # noqa: E731
    assert sorted(parsed, key=key) == sorted(await store.list_events(), key=key)
    assert sorted(jsoncodec.loads(t)["check"]["name"] for t in await store.list_events_json("web1")) == ["disk", "load"]
    assert await store.list_events_json("db1") == [] and await store.list_events_json("nobody") == []
    assert await store.list_events_json() == texts, "the order holds while nothing changes"


async def test_a_deleted_event_is_gone_and_deleting_a_missing_one_is_harmless(store: Store) -> None:
    await store.put_client({"name": "web1"})
    await store.put_event(event("web1", "disk"))
    await store.delete_event("web1", "disk")
    await store.delete_event("web1", "disk")
    await store.delete_event("nobody", "disk")
    assert await store.get_event("web1", "disk") is None
    assert await store.list_events() == []
    assert await store.list_events("web1") == []


# -- keepalives and series --------------------------------------------------------------------


async def test_a_keepalive_stores_the_client_and_the_servers_receipt_time(store: Store) -> None:
    await store.record_keepalive({"name": "web1", "timestamp": 5}, received=1_700_000_000.25)
    await store.record_keepalive({"name": "web2"}, received=1_700_000_001.5)
    await store.record_keepalive({"name": "web1", "timestamp": 6}, received=1_700_000_002.75)
    assert await store.keepalive_times() == {"web1": 1_700_000_002.75, "web2": 1_700_000_001.5}
    assert await store.get_client("web1") == {"name": "web1", "timestamp": 6}
    assert [client["name"] for client in await store.list_clients()] == ["web1", "web2"]


async def test_series_keep_their_last_value_until_they_expire(store: Store, clock: FakeClock) -> None:
    now = clock.now
    await store.put_series({"a": SeriesSample(1.0, now, now + 60), "b": SeriesSample(2.0, now, now + 10)})
    await store.put_series({"a": SeriesSample(1.5, now + 1, now + 61)})
    assert await store.list_series() == {"a": SeriesSample(1.5, now + 1, now + 61), "b": SeriesSample(2.0, now, now + 10)}
    clock.now = now + 10
    assert await store.list_series() == {"a": SeriesSample(1.5, now + 1, now + 61)}
    clock.now = now + 5  # an expired series is forgotten, not hidden
    assert set(await store.list_series()) == {"a"}
    await store.put_series({})
    assert set(await store.list_series()) == {"a"}


# -- stashes ----------------------------------------------------------------------------------


async def test_stashes_read_back_and_list_with_seconds_left_or_minus_one(store: Store) -> None:
    await store.put_stash("silence/web1", {"reason": "maintenance"})
    await store.put_stash("deploy/web1/app", {"version": "1.2"}, expire=60)
    assert await store.get_stash("silence/web1") == {"reason": "maintenance"}
    listed = await store.list_stashes()
    assert [entry["path"] for entry in listed] == ["deploy/web1/app", "silence/web1"]
    assert listed[1] == {"path": "silence/web1", "content": {"reason": "maintenance"}, "expire": -1}
    assert listed[0]["content"] == {"version": "1.2"} and 0 < listed[0]["expire"] <= 60
    await store.delete_stash("silence/web1")
    await store.delete_stash("never/there")
    assert await store.get_stash("silence/web1") is None
    assert [entry["path"] for entry in await store.list_stashes()] == ["deploy/web1/app"]


async def test_a_stash_put_again_without_expire_stays_and_one_with_no_time_left_is_gone(store: Store) -> None:
    await store.put_stash("a", {"n": 1}, expire=60)
    await store.put_stash("a", {"n": 2})
    await store.put_stash("b", {"n": 3}, expire=0)
    assert await store.list_stashes() == [{"path": "a", "content": {"n": 2}, "expire": -1}]
    assert await store.get_stash("b") is None


async def test_stashes_and_silences_disappear_when_their_expire_has_passed(backend: Backend) -> None:
    store = backend.store
    await store.put_stash("short", {"n": 1}, expire=1)
    await store.put_stash("long", {"n": 2}, expire=600)
    await store.put_silence({"id": "web:*", "subscription": "web"}, expire=1)
    await store.put_silence({"id": "*:disk", "check": "disk"}, expire=600)
    await backend.elapse(1)
    assert await store.get_stash("short") is None
    assert [entry["path"] for entry in await store.list_stashes()] == ["long"]
    short, long = await store.get_silences(["web:*", "*:disk"])
    assert short is None and long is not None and long["id"] == "*:disk" and 598 <= long["expire"] <= 599
    assert [entry["id"] for entry in await store.list_silences()] == ["*:disk"]


# -- silences ---------------------------------------------------------------------------------


async def test_silences_are_read_in_the_order_asked_with_none_for_missing(store: Store) -> None:
    await store.put_silence({"id": "web:*", "subscription": "web", "reason": "deploy"})
    await store.put_silence({"id": "*:disk", "check": "disk"})
    assert await store.get_silences(["*:disk", "nope:*", "web:*"]) == [
        {"id": "*:disk", "check": "disk", "expire": -1}, None,
        {"id": "web:*", "subscription": "web", "reason": "deploy", "expire": -1},
    ]
    assert await store.get_silences([]) == []
    assert [entry["id"] for entry in await store.list_silences()] == ["*:disk", "web:*"]


async def test_silences_show_the_seconds_they_have_left_not_the_expire_they_were_given(backend: Backend) -> None:
    store = backend.store
    await store.put_silence({"id": "web:*", "expire": 600, "timestamp": 1}, expire=600)
    await store.put_silence({"id": "*:disk", "expire": 60}, expire=None)
    await backend.elapse(1)
    listed = {entry["id"]: entry["expire"] for entry in await store.list_silences()}
    assert 598 <= listed["web:*"] <= 599 and listed["*:disk"] == -1
    found = await store.get_silences(["web:*"])
    assert found[0] is not None and found[0]["expire"] == listed["web:*"]
    assert await store.get_silences(["web:*"], seconds_left=False) == [{"id": "web:*", "expire": 600, "timestamp": 1}]


async def test_a_deleted_silence_is_gone_and_one_with_no_time_left_is_not_stored(store: Store) -> None:
    await store.put_silence({"id": "web:*"})
    await store.put_silence({"id": "client:web1:*"}, expire=0)
    await store.delete_silence("web:*")
    await store.delete_silence("never:there")
    assert await store.get_silences(["web:*", "client:web1:*"]) == [None, None]
    assert await store.list_silences() == []


# -- server tasks -----------------------------------------------------------------------------


async def test_a_free_task_goes_to_the_first_server_asking_and_not_to_a_second(store: Store, clock: FakeClock) -> None:
    assert await store.acquire_task("client_monitor", "a", clock.now)
    assert not await store.acquire_task("client_monitor", "b", clock.now + 1)
    assert await store.task_owner("client_monitor") == "a"
    assert await store.acquire_task("client_monitor", "a", clock.now + 2), "the holder asking again keeps it"
    assert await store.acquire_task("check_result_monitor", "b", clock.now)
    assert await store.task_owner("check_request_publisher") is None


async def test_a_refreshed_lock_is_never_taken_and_a_stale_one_is_taken_over(store: Store, clock: FakeClock) -> None:
    start = clock.now
    assert await store.acquire_task("client_monitor", "a", start)
    assert await store.refresh_task("client_monitor", "a", start + 20)
    assert not await store.acquire_task("client_monitor", "b", start + 49), "refreshed 29 s ago"
    assert await store.acquire_task("client_monitor", "b", start + 50), "refreshed 30 s ago: stale"
    assert await store.task_owner("client_monitor") == "b"
    assert not await store.refresh_task("client_monitor", "a", start + 51), "the old holder learns it lost"
    assert await store.refresh_task("client_monitor", "b", start + 51)


async def test_a_server_that_never_held_a_task_cannot_refresh_or_release_it(store: Store, clock: FakeClock) -> None:
    assert not await store.refresh_task("client_monitor", "a", clock.now)
    assert await store.acquire_task("client_monitor", "a", clock.now)
    await store.release_task("client_monitor", "b")
    assert await store.task_owner("client_monitor") == "a"
    assert not await store.acquire_task("client_monitor", "b", clock.now + 1)


async def test_a_released_task_can_be_taken_at_once(store: Store, clock: FakeClock) -> None:
    assert await store.acquire_task("client_monitor", "a", clock.now)
    await store.release_task("client_monitor", "a")
    assert await store.task_owner("client_monitor") is None
    assert not await store.refresh_task("client_monitor", "a", clock.now + 1)
    assert await store.acquire_task("client_monitor", "b", clock.now + 1)


async def test_registered_servers_are_listed_by_id_until_unregistered_or_expired(backend: Backend) -> None:
    store, now = backend.store, backend.clock.now
    await store.register_server({"id": "s2", "hostname": "h2", "tasks": [], "timestamp": int(now)}, expire=600)
    await store.register_server({"id": "s1", "hostname": "h1", "tasks": ["client_monitor"], "timestamp": int(now)})
    await store.register_server({"id": "s3", "hostname": "h3", "tasks": [], "timestamp": int(now)}, expire=1)
    assert [server["id"] for server in await store.list_servers()] == ["s1", "s2", "s3"]
    assert (await store.list_servers())[0]["tasks"] == ["client_monitor"]
    await store.unregister_server("s2")
    await backend.elapse(1)
    assert [server["id"] for server in await store.list_servers()] == ["s1"]

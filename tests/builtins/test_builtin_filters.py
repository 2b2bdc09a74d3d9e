"""The built-in filters: occurrences, check_dependencies, is_incident, has_metrics, not_silenced."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from filters.check_dependencies import CheckDependenciesFilter
from pipeline.extension import Context, Filter
from pipeline.model import Event
from pipeline.registry import default_registry
from pipeline.store.memory import MemoryStore
from tests.helpers import make_event


def builtin(name: str, context: Context | None = None) -> Filter:
    cls = default_registry.get("filters", name)
    instance = cls(name, {}, context or Context())
    assert isinstance(instance, Filter)
    return instance


@pytest.mark.parametrize(
    "name", ["occurrences", "check_dependencies", "is_incident", "has_metrics", "not_silenced"]
)
def test_each_builtin_filter_is_found_by_its_sensu_name(name: str) -> None:
    assert builtin(name).name == name


# -- occurrences --------------------------------------------------------------------------------------
async def passing_occurrences(up_to: int, **check: Any) -> list[int]:
    f = builtin("occurrences")
    passed = []
    for n in range(1, up_to + 1):
        event = make_event("http", occurrences=n)
        event["check"].update(check)
        if await f.allows(event):
            passed.append(n)
    return passed


async def test_occurrences_three_with_a_half_hour_refresh_every_minute_passes_at_3_33_and_63() -> None:
    assert await passing_occurrences(70, occurrences=3, refresh=1800, interval=60) == [3, 33, 63]


async def test_without_settings_the_first_occurrence_and_every_thirtieth_after_it_pass() -> None:
    assert await passing_occurrences(65) == [1, 31, 61]


async def test_a_refresh_shorter_than_the_interval_lets_every_occurrence_past_the_threshold_pass() -> None:
    assert await passing_occurrences(8, occurrences=3, refresh=30, interval=60) == [3, 4, 5, 6, 7, 8]


async def test_a_refresh_equal_to_the_interval_passes_every_occurrence() -> None:
    assert await passing_occurrences(5, occurrences=2, refresh=60, interval=60) == [2, 3, 4, 5]


async def test_the_repeat_spacing_rounds_down() -> None:
    # 100 / 30 = 3.33 -> every 3rd occurrence after the threshold
    assert await passing_occurrences(10, occurrences=1, refresh=100, interval=30) == [1, 4, 7, 10]


@pytest.mark.parametrize(
    ("action", "occ", "watermark", "check", "passes"),
    [
        ("create", 2, None, {"occurrences": 3}, False),
        ("create", 3, None, {"occurrences": 3}, True),
        ("resolve", 1, 3, {"occurrences": 3}, True),
        ("resolve", 2, 2, {"occurrences": 3}, False),
        ("resolve", 7, 7, {"occurrences": 3}, True),
        ("resolve", 1, 1, {}, True),
        ("flapping", 5, None, {"occurrences": 3, "refresh": 120, "interval": 60}, True),
        ("flapping", 6, None, {"occurrences": 3, "refresh": 120, "interval": 60}, False),
        ("flapping", 2, None, {"occurrences": 3}, False),
        ("create", 2, None, {"occurrences": "3"}, False),
        ("create", 4, None, {"occurrences": 3, "interval": 0}, True),
    ],
    ids=[
        "a create below the threshold is dropped",
        "a create at the threshold passes",
        "a resolve passes when the watermark reached the threshold",
        "a resolve is dropped when the watermark stayed below the threshold",
        "a resolve passes past the threshold whatever the refresh spacing",
        "a resolve passes with the default threshold of one",
        "a flapping event on a refresh boundary passes",
        "a flapping event between refreshes is dropped",
        "a flapping event below the threshold is dropped",
        "a threshold given as a string still counts",
        "an interval of zero passes every occurrence past the threshold",
    ],
)
async def test_occurrences_rules(action: str, occ: int, watermark: int | None, check: dict[str, Any],
                                 passes: bool) -> None:
    event = make_event("http", action=action, occurrences=occ, watermark=watermark)
    event["check"].update(check)
    assert await builtin("occurrences").allows(event) is passes


# -- check_dependencies -------------------------------------------------------------------------------
def open_event(client: str, check: str, subscriptions: list[str] | None = None) -> Event:
    return {
        "id": f"{client}-{check}", "action": "create", "occurrences": 1,
        "client": {"name": client, "subscriptions": subscriptions or [f"client:{client}"]},
        "check": {"name": check, "status": 2},
    }


@pytest.fixture
async def store() -> MemoryStore:
    s = MemoryStore()
    await s.put_event(open_event("web-1", "nginx"))
    await s.put_event(open_event("router-1", "ping", ["network", "client:router-1"]))
    await s.put_event(open_event("db-2", "mysql", ["db", "client:db-2"]))
    return s


DEPENDENCIES: list[tuple[str, list[Any], bool]] = [
    ("a check of the same client with an open event drops it", ["nginx"], False),
    ("a check of the same client without an event lets it pass", ["haproxy"], True),
    ("a client/check with an open event drops it", ["router-1/ping"], False),
    ("a client/check of another client without that event lets it pass", ["router-1/nginx"], True),
    ("a subscription/check with an open event on a subscriber drops it", ["subscription:network/ping"], False),
    ("a subscription/check whose event is on a non-subscriber lets it pass", ["subscription:web/ping"], True),
    ("a subscription/check of another check lets it pass", ["subscription:db/ping"], True),
    ("the client: subscription names one client", ["subscription:client:db-2/mysql"], False),
    ("any one open dependency drops it", ["haproxy", "subscription:db/mysql"], False),
    ("no dependency open lets it pass", ["haproxy", "router-1/dns", "subscription:db/disk"], True),
    ("an empty list lets it pass", [], True),
    ("entries that are not strings are ignored", [None, 3, "", "haproxy"], True),
]


@pytest.mark.parametrize(("dependencies", "passes"), [d[1:] for d in DEPENDENCIES], ids=[d[0] for d in DEPENDENCIES])
async def test_check_dependencies(store: MemoryStore, dependencies: list[Any], passes: bool) -> None:
    f = builtin("check_dependencies", Context(store=store))
    event = make_event("http", dependencies=dependencies)
    assert await f.allows(event) is passes


async def test_an_event_passes_again_once_its_dependency_resolved(store: MemoryStore) -> None:
    f = builtin("check_dependencies", Context(store=store))
    event = make_event("http", dependencies=["router-1/ping"])
    assert await f.allows(event) is False
    await store.delete_event("router-1", "ping")
    assert await f.allows(event) is True


class BrokenStore(MemoryStore):
    """The real memory store, with its event lookups failing as a lost connection would."""

    async def get_event(self, client: str, check: str) -> Event | None:
        raise ConnectionError("store went away")

    async def list_events(self, client: str | None = None) -> list[Event]:
        raise ConnectionError("store went away")


class StuckStore(MemoryStore):
    """The real memory store, with lookups that never answer."""

    async def get_event(self, client: str, check: str) -> Event | None:
        await asyncio.Event().wait()
        return None


@pytest.mark.parametrize(
    ("context", "reason"),
    [(Context(), "no store"), (Context(store=BrokenStore()), "store went away"),
     (Context(store=StuckStore()), "TimeoutError")],
    ids=["without a store", "with a failing store", "with a store that does not answer"],
)
async def test_without_a_working_store_events_pass_and_it_is_logged_once(
    context: Context, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    f = CheckDependenciesFilter("check_dependencies", {}, context)
    f.timeout = 0.05
    with caplog.at_level(logging.ERROR, logger="ogi"):
        for _ in range(3):
            assert await f.allows(make_event("http", dependencies=["nginx", "subscription:db/mysql"])) is True
    records = [r for r in caplog.records if r.name == "ogi"]
    assert len(records) == 1
    assert reason in records[0].fields["reason"]  # type: ignore[attr-defined]


async def test_an_event_without_dependencies_never_asks_the_store() -> None:
    assert await builtin("check_dependencies", Context(store=BrokenStore())).allows(make_event("http")) is True


# -- is_incident, has_metrics, not_silenced -----------------------------------------------------------
def event_with(action: str = "create", silenced: bool = False, **check: Any) -> Event:
    event = make_event("http", action=action)
    event["check"].update(check)
    event["silenced"] = silenced
    return event


SIMPLE: list[tuple[str, str, Event, bool]] = [
    ("is_incident", "a critical event is an incident", event_with(status=2), True),
    ("is_incident", "a warning is an incident", event_with(status=1), True),
    ("is_incident", "an unknown status is an incident", event_with(status=3), True),
    ("is_incident", "a resolve is an incident's end and passes", event_with("resolve", status=0), True),
    ("is_incident", "an OK that resolves nothing is dropped", event_with(status=0), False),
    ("is_incident", "a flapping OK is dropped", event_with("flapping", status=0), False),
    ("has_metrics", "a metric check passes", event_with(type="metric", status=0), True),
    ("has_metrics", "an output_metric_format passes", event_with(output_metric_format="graphite_plaintext"), True),
    ("has_metrics", "a standard check is dropped", event_with(type="standard"), False),
    ("has_metrics", "a check without a type is dropped", event_with(), False),
    ("has_metrics", "an empty output_metric_format is dropped", event_with(output_metric_format=""), False),
    ("not_silenced", "an event that is not silenced passes", event_with(), True),
    ("not_silenced", "a silenced event is dropped", event_with(silenced=True), False),
]


@pytest.mark.parametrize(("name", "event", "passes"), [s[0:1] + s[2:] for s in SIMPLE], ids=[s[1] for s in SIMPLE])
async def test_simple_builtin_filters(name: str, event: Event, passes: bool) -> None:
    assert await builtin(name).allows(event) is passes

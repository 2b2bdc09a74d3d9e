"""A check result from the `results` pipe to the engine (reference §3), bad input included."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from pipeline import SENSU_COMPAT_VERSION
from pipeline.config.load import settings_of
from pipeline.model import Event
from pipeline.server.results import REJECT_REASONS, ResultProcessor
from pipeline.store.memory import MemoryStore
from tests.helpers import FakeClock, RecordingEngine

ROOT = Path(__file__).resolve().parents[2]
START = 1_700_000_000.0
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")






class Server:
    def __init__(self, settings: dict[str, Any] | None = None, max_message_size: int = 2 * 1024 * 1024) -> None:
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock)
        self.engine = RecordingEngine()
        self.registry = CollectorRegistry()
        self.seen: list[Event] = []
        self.processor = ResultProcessor(
            settings_of(settings or {}), self.store, self.engine, clock=self.clock, metrics=self.registry,
            max_message_size=max_message_size, on_event=self.on_event,
        )

    def on_event(self, event: Event) -> None:
        # on_event runs before the engine sees the event.
        assert event not in self.engine.events
        self.seen.append(event)

    async def send(self, client: str = "web-1", **check: Any) -> Event | None:
        check.setdefault("name", "disk")
        check.setdefault("output", "out")
        check.setdefault("status", 0)
        self.clock.now += 10
        return await self.processor.process_message(json.dumps({"client": client, "check": check}).encode())

    def rejected(self, reason: str) -> float | None:
        return self.registry.get_sample_value("ogi_results_rejected_total", {"reason": reason})

    def accepted(self) -> float | None:
        return self.registry.get_sample_value("ogi_results_total")


@pytest.fixture
def server() -> Server:
    return Server()


# -- bad input -------------------------------------------------------------------------


def body(result: Any) -> bytes:
    return json.dumps(result).encode()


GOOD_CHECK = {"name": "disk", "output": "ok", "status": 0}

REJECTIONS = [
    ("too_large", body({"client": "web-1", "check": {**GOOD_CHECK, "output": "x" * 400_000}})),
    ("not_json", b"{not json"),
    ("not_json", b"\xff\xfe\x00garbage"),
    ("not_json", b'{"client": "a", "check": {"name": "d", "output": "", "status": NaN}}'),
    ("not_json", b"[" * 200_000),
    ("not_json", b""),
    ("not_object", b"[1, 2]"),
    ("not_object", b'"a string"'),
    ("no_client", body({"check": GOOD_CHECK})),
    ("no_client", body({"client": 5, "check": GOOD_CHECK})),
    ("no_client", body({"client": "", "check": GOOD_CHECK})),
    ("bad_client_name", body({"client": "web 1", "check": GOOD_CHECK})),
    ("no_check", body({"client": "web-1"})),
    ("no_check", body({"client": "web-1", "check": "disk"})),
    ("bad_check_name", body({"client": "web-1", "check": {"output": "", "status": 0}})),
    ("bad_check_name", body({"client": "web-1", "check": {**GOOD_CHECK, "name": "disk check"}})),
    ("bad_check_name", body({"client": "web-1", "check": {**GOOD_CHECK, "name": 7}})),
    ("no_output", body({"client": "web-1", "check": {"name": "disk", "status": 0}})),
    ("no_output", body({"client": "web-1", "check": {**GOOD_CHECK, "output": None}})),
    ("no_output", body({"client": "web-1", "check": {**GOOD_CHECK, "output": ["a"]}})),
    ("bad_status", body({"client": "web-1", "check": {"name": "disk", "output": ""}})),
    ("bad_status", body({"client": "web-1", "check": {**GOOD_CHECK, "status": "2"}})),
    ("bad_status", body({"client": "web-1", "check": {**GOOD_CHECK, "status": 2.0}})),
    ("bad_status", body({"client": "web-1", "check": {**GOOD_CHECK, "status": True}})),
    ("bad_status", body({"client": "web-1", "check": {**GOOD_CHECK, "status": None}})),
    ("bad_source", body({"client": "web-1", "check": {**GOOD_CHECK, "source": "my switch"}})),
    ("bad_source", body({"client": "web-1", "check": {**GOOD_CHECK, "source": ""}})),
]


@pytest.mark.parametrize(("reason", "message"), REJECTIONS, ids=[
    "a message over max_message_size", "broken JSON", "bytes that are not text", "NaN, which JSON lacks",
    "nesting too deep to parse", "an empty message", "a JSON array", "a JSON string", "no client",
    "a client that is not a string", "an empty client name", "a client name with a space", "no check",
    "a check that is not an object", "a check without a name", "a check name with a space",
    "a check name that is a number", "no output", "a null output", "an output that is a list", "no status",
    "a status that is a string", "a status that is a float", "a status that is a boolean", "a null status",
    "a source with a space", "an empty source",
])
async def test_a_bad_result_is_dropped_logged_once_and_counted_by_reason(
    reason: str, message: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(max_message_size=300_000)
    with caplog.at_level(logging.DEBUG, logger="ogi"):
        assert await server.processor.process_message(message) is None
    records = [r for r in caplog.records if r.name == "ogi"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert records[0].fields["reason"] == reason  # type: ignore[attr-defined]
    assert "\n" not in records[0].getMessage()
    assert server.rejected(reason) == 1
    assert all(server.rejected(r) == 0 for r in REJECT_REASONS if r != reason)
    assert server.accepted() == 0
    assert server.engine.events == [] and await server.store.list_clients() == []


async def test_a_message_exactly_at_the_size_limit_is_accepted() -> None:
    message = body({"client": "web-1", "check": {**GOOD_CHECK, "status": 2}})
    server = Server(max_message_size=len(message))
    assert await server.processor.process_message(message) is not None
    assert server.rejected("too_large") == 0 and server.accepted() == 1


@pytest.mark.parametrize("status", [-1, 4, 127, 255, 256, 10**12], ids=str)
async def test_any_integer_status_is_accepted_as_sensu_does(server: Server, status: int) -> None:
    event = await server.send(status=status)
    assert event is not None and event["check"]["status"] == status
    assert event["check"]["history"] == [str(status)]


async def test_processing_goes_on_after_bad_input(server: Server) -> None:
    await server.processor.process_message(b"garbage")
    assert await server.send(status=2) is not None
    assert server.rejected("not_json") == 1 and server.accepted() == 1


async def test_a_result_whose_signature_does_not_match_the_clients_is_dropped(server: Server) -> None:
    await server.store.put_client({"name": "web-1", "subscriptions": ["client:web-1"], "signature": "s3cret"})
    check = {**GOOD_CHECK, "status": 2}
    assert await server.processor.process_result({"client": "web-1", "check": check, "signature": "wrong"}) is None
    assert await server.processor.process_result({"client": "web-1", "check": check}) is None
    assert server.rejected("bad_signature") == 2 and server.engine.events == []
    assert await server.store.get_history("web-1", "disk") == []
    ok = await server.processor.process_result({"client": "web-1", "check": check, "signature": "s3cret"})
    assert ok is not None and server.accepted() == 1


@settings(max_examples=150, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["client", "check", "name", "output", "status", "source", "signature", "type",
                         "aggregate", "aggregates", "truncate_output", "truncate_output_length", "executed",
                         "ttl", "low_flap_threshold", "high_flap_threshold", "standalone", "x"]),
        inner, max_size=6),
    max_leaves=15,
))
def test_no_json_value_makes_the_processor_raise(value: Any) -> None:
    server = Server(settings={"checks": {"disk": {"command": "true", "aggregate": True}}})
    asyncio.run(server.processor.process_message(json.dumps(value).encode()))
    candidates = [value, {"client": "web-1", "check": value},
                  {"client": "web-1", "check": {"name": "disk", "output": "o", "status": 2, "x": value}}]
    if isinstance(value, dict):
        candidates.append({"client": "web-1", "check": {"name": "disk", "output": "o", "status": 1, **value}})
    for candidate in candidates:
        asyncio.run(server.processor.process_message(json.dumps(candidate).encode()))


# -- clients ---------------------------------------------------------------------------


async def test_a_result_from_an_unknown_client_creates_that_client(server: Server) -> None:
    event = await server.send(client="web-1", status=2)
    expected = {"name": "web-1", "address": "unknown", "subscriptions": ["client:web-1"], "keepalives": False,
                "version": SENSU_COMPAT_VERSION, "timestamp": int(START) + 10}
    assert await server.store.get_client("web-1") == expected
    assert event is not None and event["client"] == expected


async def test_a_known_client_is_used_as_stored(server: Server) -> None:
    client = {"name": "web-1", "address": "10.0.0.1", "subscriptions": ["web", "client:web-1"], "team": "ops"}
    await server.store.put_client(client)
    event = await server.send(status=2)
    assert event is not None and event["client"] == client


async def test_a_result_with_a_source_goes_to_a_proxy_client(server: Server) -> None:
    event = await server.send(client="poller-1", source="switch-7", status=2)
    assert event is not None
    assert event["client"]["name"] == "switch-7" and event["client"]["type"] == "proxy"
    assert event["check"]["origin"] == "poller-1"
    assert await server.store.get_client("poller-1") is None
    assert [e["client"]["name"] for e in await server.store.list_events()] == ["switch-7"]


# -- the check ---------------------------------------------------------------------------

DEFINITIONS = {"checks": {"disk": {"command": "check-disk -w :::disk.warn|80:::", "handlers": ["mail"],
                                   "interval": 60, "subscribers": ["web"], "team": "ops", "output": "def"}}}


async def test_the_servers_definition_is_merged_under_the_result() -> None:
    server = Server(DEFINITIONS)
    event = await server.send(status=2, output="disk full", team="dba")
    assert event is not None
    check = event["check"]
    assert check["handlers"] == ["mail"] and check["interval"] == 60 and check["subscribers"] == ["web"]
    assert check["team"] == "dba" and check["output"] == "disk full"
    assert check["type"] == "standard"


async def test_a_standalone_result_is_not_merged() -> None:
    server = Server(DEFINITIONS)
    event = await server.send(status=2, standalone=True)
    assert event is not None and "handlers" not in event["check"] and event["check"]["type"] == "standard"


async def test_a_proxy_client_gets_the_definitions_unsubstituted_command() -> None:
    server = Server(DEFINITIONS)
    event = await server.send(client="poller-1", source="switch-7", status=2, command="check-disk -w 90")
    assert event is not None and event["check"]["command"] == "check-disk -w :::disk.warn|80:::"
    event = await server.send(client="web-1", status=2, command="check-disk -w 90")
    assert event is not None and event["check"]["command"] == "check-disk -w 90"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({}, []),
        ({"aggregate": False}, []),
        ({"aggregate": True}, ["disk"]),
        ({"aggregate": "web_disks"}, ["web_disks"]),
        ({"aggregates": ["web_disks", "all_disks"]}, ["all_disks", "web_disks"]),
        ({"aggregate": "ignored", "aggregates": ["listed"]}, ["listed"]),
    ],
    ids=["a check without aggregate joins none", "aggregate false joins none",
         "aggregate true joins the aggregate named after the check", "an aggregate string names the aggregate",
         "an aggregates list joins each", "an aggregates list wins over aggregate"],
)
async def test_aggregate_membership(server: Server, attributes: dict[str, Any], expected: list[str]) -> None:
    await server.send(client="web-1", **attributes)
    await server.send(client="web-2", **attributes)
    assert await server.store.list_aggregates() == expected
    for name in expected:
        assert await server.store.aggregate_members(name) == ["web-1:disk", "web-2:disk"]


async def test_a_metric_result_is_stored_truncated_and_handled_in_full(server: Server) -> None:
    output = "cpu.user 1 1700000000\ncpu.system 2 1700000000\n"
    event = await server.send(type="metric", output=output)
    assert event is not None and event["check"]["output"] == output
    stored = await server.store.get_result("web-1", "disk")
    assert stored is not None and stored["output"] == "cpu.user 1 1700000000\n..."
    assert "history" not in stored


# -- the event and the registry --------------------------------------------------------


async def test_a_failure_is_stored_handled_and_resolved_by_the_next_ok(server: Server) -> None:
    created = await server.send(status=2, executed=100)
    assert created is not None and created["action"] == "create" and UUID.match(created["id"])
    assert await server.store.get_event("web-1", "disk") == created
    resolved = await server.send(status=0)
    assert resolved is not None and resolved["action"] == "resolve" and resolved["id"] == created["id"]
    assert await server.store.get_event("web-1", "disk") is None
    assert await server.send(status=0) is None
    assert server.engine.events == [created, resolved] and server.seen == [created, resolved]
    assert (await server.store.get_history("web-1", "disk")) == ["2", "0", "0"]


async def test_an_ok_under_auto_resolve_false_leaves_the_event_open(server: Server) -> None:
    created = await server.send(status=2, auto_resolve=False)
    assert await server.send(status=0, auto_resolve=False) is None
    assert server.engine.events == [created]
    assert await server.store.get_event("web-1", "disk") == created


async def test_an_api_style_force_resolve_closes_an_auto_resolve_false_event(server: Server) -> None:
    await server.send(status=2, auto_resolve=False)
    resolved = await server.send(status=0, auto_resolve=False, force_resolve=True,
                                 output="Resolving on request of the API")
    assert resolved is not None and resolved["action"] == "resolve"
    assert await server.store.list_events() == []


async def test_a_metric_check_is_handled_on_every_result_and_never_stored_when_ok(server: Server) -> None:
    for _ in range(3):
        assert await server.send(type="metric", output="a 1 1") is not None
    assert [e["action"] for e in server.engine.events] == ["create"] * 3
    assert await server.store.list_events() == []


async def test_flapping_results_keep_one_stored_flapping_event() -> None:
    server = Server({"checks": {"disk": {"command": "x", "low_flap_threshold": 20, "high_flap_threshold": 40}}})
    for status in [1, 0] * 10 + [1, 0]:
        last = await server.send(status=status)
    assert last is not None and last["action"] == "flapping" and last["check"]["total_state_change"] == 101
    assert await server.store.get_event("web-1", "disk") == last


# -- silencing ---------------------------------------------------------------------------


async def test_silence_entries_mark_the_event_in_lookup_order(server: Server) -> None:
    await server.store.put_silence({"id": "*:disk", "begin": None})
    await server.store.put_silence({"id": "client:web-1:*"})
    event = await server.send(status=2)
    assert event is not None and event["silenced"] is True
    assert event["silenced_by"] == ["client:web-1:*", "*:disk"]
    assert (await server.store.get_event("web-1", "disk") or {})["silenced_by"] == ["client:web-1:*", "*:disk"]


async def test_a_silence_that_begins_in_the_future_does_not_silence_yet(server: Server) -> None:
    await server.store.put_silence({"id": "client:web-1:disk", "begin": int(START) + 1000})
    early = await server.send(status=2)
    assert early is not None and early["silenced"] is False and early["silenced_by"] == []
    server.clock.now = START + 1000
    late = await server.send(status=2)
    assert late is not None and late["silenced_by"] == ["client:web-1:disk"]


async def test_an_expire_on_resolve_silence_is_removed_by_the_resolve(server: Server) -> None:
    await server.store.put_silence({"id": "client:web-1:disk", "expire_on_resolve": True})
    await server.store.put_silence({"id": "*:disk"})
    assert (await server.send(status=2) or {})["silenced_by"] == ["client:web-1:disk", "*:disk"]
    resolved = await server.send(status=0)
    assert resolved is not None and resolved["silenced_by"] == ["*:disk"]
    assert [s["id"] for s in await server.store.list_silences()] == ["*:disk"]


async def test_an_ok_that_creates_nothing_is_not_checked_for_silences(server: Server) -> None:
    await server.store.put_silence({"id": "*:disk"})
    event = await server.send(type="metric", output="a 1 1")
    assert event is not None and event["silenced"] is False and event["silenced_by"] == []


# -- the documented event ------------------------------------------------------------------


def documented_event() -> dict[str, Any]:
    text = (ROOT / "docs" / "events.md").read_text()
    block = re.search(r"```json\n(.*?)\n```", text, re.S)
    assert block, "docs/events.md has no ```json example"
    return dict(json.loads(block.group(1)))


def keys(value: Any, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return set()
    found = set()
    for key, inner in value.items():
        found.add(prefix + key)
        found |= keys(inner, prefix + key + ".")
    return found


async def test_the_event_example_in_the_docs_is_what_a_handler_receives() -> None:
    # The example in docs/events.md is this run: a definition, a client that sent keepalives,
    # two critical results; only the random id differs.
    server = Server({"checks": {"disk": {"command": "check-disk -w 80 -c 90", "subscribers": ["web"],
                                         "interval": 60, "handlers": ["mail"], "team": "ops"}}})
    server.clock.now = 1460172600.0
    await server.store.put_client({"name": "web-1", "address": "10.0.0.5", "subscriptions": ["web", "client:web-1"],
                                   "version": SENSU_COMPAT_VERSION, "timestamp": 1460172590})
    await server.store.put_silence({"id": "web:disk", "reason": "disk replacement"})
    for status, output in [(0, "DISK OK"), (2, "DISK CRITICAL: / 95%"), (2, "DISK CRITICAL: / 96%")]:
        event = await server.processor.process_result({"client": "web-1", "check": {
            "name": "disk", "issued": int(server.clock.now), "executed": int(server.clock.now) + 1,
            "duration": 0.042, "output": output, "status": status}})
        server.clock.now += 60
    assert event is not None
    doc = documented_event()
    assert keys(doc) == keys(event)
    assert {**doc, "id": event["id"]} == event

"""The server's tasks: check requests, keepalives (consumer and monitor), TTLs; docs/scheduling.md."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.model import Event
from pipeline.registry import Registry
from pipeline.schedule.timing import first_tick
from pipeline.server.keepalives import KeepaliveConsumer, KeepaliveMonitor, keepalive_definition
from pipeline.server.monitors import TtlMonitor
from pipeline.server.publisher import CheckRequestPublisher
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from pipeline.transport.base import PipeKind, Subscription
from pipeline.transport.memory import MemoryTransport
from tests.helpers import FakeClock, RecordingEngine

ROOT = Path(__file__).resolve().parents[2]
T = 1_700_000_000.0






async def take(
    transport: MemoryTransport, pipe: str, kind: PipeKind = "direct", subscription: Subscription | None = None
) -> list[dict[str, Any]]:
    """Every message waiting on a pipe, acked; a fanout pipe is read through the test's `subscription`."""
    count = transport.depth(pipe, kind)
    reader = subscription if subscription is not None else await transport.subscribe(pipe, kind)
    messages = aiter(reader)
    out = []
    for _ in range(count):
        message = await anext(messages)
        async with message.process():
            out.append(json.loads(message.body))
    if subscription is None:
        await reader.close()
    return out


class FlakyStore(MemoryStore):
    """A memory store whose client listing fails once, as a store that lost its connection."""

    failures = 1

    async def list_clients(self) -> list[dict[str, Any]]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store went away")
        return await super().list_clients()


class Server:
    """A store, a transport, a result processor and the monitors, on one fake clock."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings = settings_of(settings or {})
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock)
        self.transport = MemoryTransport()
        self.engine = RecordingEngine()
        self.metrics = CollectorRegistry()
        self.processor = ResultProcessor(self.settings, self.store, self.engine, clock=self.clock)
        self.keepalives = KeepaliveConsumer(self.settings, self.store, self.transport, self.clock, self.metrics)
        self.keepalive_monitor = KeepaliveMonitor(self.settings, self.store, self.transport, self.clock)
        self.ttl_monitor = TtlMonitor(self.settings, self.store, self.transport, self.clock)

    async def keepalive(self, name: str = "web-1", at: float | None = None, **attributes: Any) -> None:
        if at is not None:
            self.clock.now = at
        client = {"name": name, "address": "10.0.0.1", "subscriptions": ["web"], "timestamp": int(self.clock.now),
                  **attributes}
        assert await self.keepalives.receive(json.dumps(client).encode()) is not None

    async def results(self) -> list[Event | None]:
        """Process every result waiting on the results pipe, as the server's consumer would."""
        return [await self.processor.process_result(r) for r in await take(self.transport, "results")]

    def rejected(self, reason: str) -> float | None:
        return self.metrics.get_sample_value("ogi_keepalives_rejected_total", {"reason": reason})


# -- check request publisher -------------------------------------------------------------------------
CPU = {"command": "check-cpu.sh", "subscribers": ["linux", "roundrobin:pool", "client:db-1"], "interval": 60,
       "handlers": ["mail"], "team": {"name": "ops"}}


async def test_a_request_is_the_definition_without_subscribers_and_interval_on_each_subscription_pipe() -> None:
    transport = MemoryTransport()
    linux = await transport.subscribe("linux", "fanout")
    db1 = await transport.subscribe("client:db-1", "fanout")
    publisher = CheckRequestPublisher(settings_of({"checks": {"cpu": CPU}}), transport)
    publisher.start(T)
    tick = first_tick("cpu", 60, T)
    assert await publisher.publish_due(tick - 0.001) == []
    sent = await publisher.publish_due(tick)
    assert [(r.pipe, r.kind) for r in sent] == [("linux", "fanout"), ("roundrobin:pool", "direct"),
                                               ("client:db-1", "fanout")]
    expected = {"command": "check-cpu.sh", "handlers": ["mail"], "team": {"name": "ops"}, "name": "cpu",
                "issued": int(tick)}
    assert await take(transport, "linux", "fanout", linux) == [expected]
    assert await take(transport, "client:db-1", "fanout", db1) == [expected]
    assert await take(transport, "roundrobin:pool") == [expected]
    assert await publisher.publish_due(tick + 59) == []
    assert len(await publisher.publish_due(tick + 60)) == 3


async def test_only_scheduled_subscription_checks_that_are_not_subdued_are_published() -> None:
    always = {"days": {"all": [{"begin": "00:00", "end": "23:59:59"}]}}
    checks = {
        "cpu": {"command": "c", "subscribers": ["linux"], "interval": 10},
        "local": {"command": "c", "standalone": True, "subscribers": ["linux"], "interval": 10},
        "manual": {"command": "c", "subscribers": ["linux"], "interval": 10, "publish": False},
        "quiet": {"command": "c", "subscribers": ["linux"], "interval": 10, "subdue": always},
        "nobody": {"command": "c", "subscribers": [], "interval": 10},
        "broken": {"command": "c", "subscribers": ["linux"], "cron": "61 * * * *"},
    }
    metrics = CollectorRegistry()
    publisher = CheckRequestPublisher(settings_of({"checks": checks}), MemoryTransport(), metrics=metrics)
    published: set[str] = set()
    for second in range(0, 31):
        published |= {r.check for r in await publisher.publish_due(T + second)}
    assert published == {"cpu"}
    assert metrics.get_sample_value("ogi_check_requests_total", {"outcome": "published"}) == 3
    assert metrics.get_sample_value("ogi_check_requests_total", {"outcome": "subdued"}) == 3


async def test_a_cron_check_is_requested_at_its_cron_times() -> None:
    transport = MemoryTransport()
    publisher = CheckRequestPublisher(
        settings_of({"checks": {"backup": {"command": "b", "subscribers": ["roundrobin:backup"], "cron": "*/15 * * * *"}}}),
        transport,
    )
    start = 1_700_000_100.0  # 22:15:00 UTC, a multiple of 15 minutes
    publisher.start(start)
    assert await publisher.publish_due(start + 899) == []
    assert [r.payload["issued"] for r in await publisher.publish_due(start + 900)] == [int(start + 900)]


async def test_the_publisher_loop_keeps_the_phase_when_it_wakes_late() -> None:
    clock = FakeClock()
    woken = 0

    async def late_sleep(seconds: float) -> None:
        nonlocal woken
        woken += 1
        if woken > 5:
            raise asyncio.CancelledError
        clock.now += seconds + 0.25  # every wake-up is a quarter second late

    transport = MemoryTransport()
    checks = {"cpu": {"command": "c", "subscribers": ["roundrobin:x"], "interval": 60}}
    publisher = CheckRequestPublisher(settings_of({"checks": checks}), transport, clock=clock, sleep=late_sleep)
    with pytest.raises(asyncio.CancelledError):
        await publisher.run()
    first = first_tick("cpu", 60, T)
    issued = [m["issued"] for m in await take(transport, "roundrobin:x")]
    assert issued == [int(first + 60 * k + 0.25) for k in range(5)]
    assert publisher.next_wake() == pytest.approx(first + 300, abs=1e-6)


# -- keepalive consumer ------------------------------------------------------------------------------
async def test_a_keepalive_stores_the_client_with_its_own_subscription_and_the_server_receipt_time() -> None:
    server = Server()
    await server.keepalive("web-1", at=T + 5, timestamp=int(T) - 3600)
    client = await server.store.get_client("web-1")
    assert client is not None and client["subscriptions"] == ["web", "client:web-1"]
    assert client["timestamp"] == int(T) - 3600, "the client's own timestamp is kept as sent"
    assert await server.store.keepalive_times() == {"web-1": T + 5}
    await server.keepalive("web-1", subscriptions=["web", "client:web-1"])
    client = await server.store.get_client("web-1")
    assert client is not None and client["subscriptions"] == ["web", "client:web-1"]


BAD_KEEPALIVES = [
    ("not JSON", b"{nope", "not_json"),
    ("an array", b"[1]", "not_object"),
    ("no name", b'{"address": "x"}', "bad_name"),
    ("a name with a space", b'{"name": "web 1"}', "bad_name"),
    ("subscriptions that are not a list", b'{"name": "web-1", "subscriptions": "web"}', "bad_subscriptions"),
]


@pytest.mark.parametrize(("body", "reason"), [b[1:] for b in BAD_KEEPALIVES], ids=[b[0] for b in BAD_KEEPALIVES])
async def test_a_bad_keepalive_is_counted_and_changes_nothing(body: bytes, reason: str) -> None:
    server = Server()
    assert await server.keepalives.receive(body) is None
    assert server.rejected(reason) == 1
    assert await server.store.list_clients() == []


async def test_a_keepalive_with_the_wrong_signature_is_dropped() -> None:
    server = Server()
    await server.keepalive("web-1", signature="s3cret")
    assert await server.keepalives.receive(b'{"name": "web-1", "signature": "other"}') is None
    assert server.rejected("bad_signature") == 1


async def test_the_consumer_reads_keepalives_from_the_keepalives_pipe() -> None:
    server = Server()
    await server.transport.publish("keepalives", json.dumps({"name": "web-1"}).encode())
    await server.transport.publish("keepalives", b"garbage")
    consuming = asyncio.create_task(server.keepalives.run())
    while server.transport.depth("keepalives") or await server.store.get_client("web-1") is None:
        await asyncio.sleep(0)
    consuming.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consuming
    assert await server.store.keepalive_times() == {"web-1": T}
    assert server.rejected("not_json") == 1


# -- keepalive monitor -------------------------------------------------------------------------------
AGES = [
    ("119 seconds is ok", 119, 0, "Keepalive sent from client 119 seconds ago"),
    ("120 seconds is a warning", 120, 1, "No keepalive sent from client for 120 seconds (>=120)"),
    ("179 seconds is a warning", 179, 1, "No keepalive sent from client for 179 seconds (>=120)"),
    ("180 seconds is critical", 180, 2, "No keepalive sent from client for 180 seconds (>=180)"),
]


@pytest.mark.parametrize(("age", "status", "output"), [a[1:] for a in AGES], ids=[a[0] for a in AGES])
async def test_keepalive_age_is_judged_from_the_server_receipt_time(age: int, status: int, output: str) -> None:
    server = Server()
    # The client's clock is an hour behind; only when the server received the keepalive counts.
    await server.keepalive("web-1", at=T, timestamp=int(T) - 3600)
    [payload] = await server.keepalive_monitor.tick(T + age)
    assert payload["client"] == "web-1"
    check = payload["check"]
    assert (check["name"], check["status"], check["output"]) == ("keepalive", status, output)
    assert check["issued"] == check["executed"] == int(T + age)
    assert check["thresholds"] == {"warning": 120, "critical": 180}
    assert await take(server.transport, "results") == [payload]


async def test_a_client_whose_clock_runs_an_hour_ahead_is_still_ok() -> None:
    server = Server()
    await server.keepalive("web-1", at=T, timestamp=int(T) + 3600)
    [payload] = await server.keepalive_monitor.tick(T + 10)
    assert payload["check"]["status"] == 0


async def test_clients_without_keepalive_monitoring_or_without_keepalives_are_skipped() -> None:
    server = Server()
    await server.keepalive("quiet", at=T, keepalives=False)
    await server.keepalive("web-1", at=T)
    await server.processor.process_result({"client": "proxy-only", "check": {"name": "x", "output": "", "status": 0}})
    assert [p["client"] for p in await server.keepalive_monitor.tick(T + 500)] == ["web-1"]


async def test_per_client_thresholds_and_handlers_merge_over_the_server_settings() -> None:
    server = Server({"sensu": {"keepalives": {"thresholds": {"critical": 100}, "handlers": ["ops"]}},
                     "handlers": {"keepalive": {"type": "pipe", "command": "cat"}}})
    await server.keepalive("db-1", at=T, keepalive={"thresholds": {"warning": 30}, "handlers": ["pager"]})
    await server.keepalive("web-1", at=T)
    db, web = await server.keepalive_monitor.tick(T + 40)
    assert db["check"]["status"] == 1 and db["check"]["output"].endswith("(>=30)")
    assert db["check"]["thresholds"] == {"warning": 30, "critical": 100}
    assert db["check"]["handlers"] == ["ops", "pager"] and db["check"]["handler"] == "keepalive"
    assert web["check"]["status"] == 0 and web["check"]["handlers"] == ["ops"]


def test_keepalive_events_go_to_the_keepalive_handler_only_when_one_is_defined() -> None:
    assert "handler" not in keepalive_definition(settings_of({}), {"name": "web-1"})
    with_handler = {"handlers": {"keepalive": {"type": "pipe", "command": "cat"}}}
    assert keepalive_definition(settings_of(with_handler), {"name": "web-1"})["handler"] == "keepalive"


async def test_a_silent_client_raises_a_keepalive_event_and_resolves_it_when_it_returns() -> None:
    server = Server()
    await server.keepalive("web-1", at=T)
    await server.keepalive_monitor.tick(T + 200)
    [created] = await server.results()
    assert created is not None and created["action"] == "create" and created["check"]["status"] == 2
    assert await server.store.get_event("web-1", "keepalive") is not None

    await server.keepalive("web-1", at=T + 210)
    await server.keepalive_monitor.tick(T + 230)
    [resolved] = await server.results()
    assert resolved is not None and resolved["action"] == "resolve"
    assert resolved["check"]["output"] == "Keepalive sent from client 20 seconds ago"
    assert [e["action"] for e in server.engine.events] == ["create", "resolve"]
    assert await server.store.get_event("web-1", "keepalive") is None


async def test_a_signed_client_keepalive_result_carries_its_signature_and_is_processed() -> None:
    server = Server()
    await server.keepalive("web-1", at=T, signature="s3cret")
    await server.keepalive_monitor.tick(T + 200)
    [event] = await server.results()
    assert event is not None and event["check"]["status"] == 2


async def test_the_monitor_loop_first_ticks_one_interval_after_it_starts_and_survives_errors() -> None:
    clock = FakeClock()
    store, transport = FlakyStore(clock=clock), MemoryTransport()
    await store.record_keepalive({"name": "web-1"}, received=T)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 3:
            raise asyncio.CancelledError
        clock.now += seconds

    monitor = KeepaliveMonitor(settings_of({}), store, transport, clock, interval=30, sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await monitor.run()
    assert slept == [30, 30, 30, 30]
    # The tick at 30 s failed (store unreachable); the next ones ran on time.
    outputs = [m["check"]["output"] for m in await take(transport, "results")]
    assert outputs == ["Keepalive sent from client 60 seconds ago", "Keepalive sent from client 90 seconds ago"]


# -- TTL monitor -------------------------------------------------------------------------------------
async def ttl_server(**check: Any) -> Server:
    server = Server()
    await server.keepalive("web-1", at=T)
    result = {"name": "backup", "output": "backup ok", "status": 0, "ttl": 60, "executed": int(T), **check}
    await server.processor.process_result({"client": "web-1", "check": result})
    return server


async def test_a_check_whose_results_stop_raises_a_ttl_event() -> None:
    server = await ttl_server()
    assert await server.store.list_ttl() == ["web-1:backup"]
    assert await server.ttl_monitor.tick(T + 59) == []
    [payload] = await server.ttl_monitor.tick(T + 60)
    check = payload["check"]
    assert (check["status"], check["output"], check["interval"]) == (1, "Last check execution was 60 seconds ago", 30)
    assert check["ttl"] == 60 and check["executed"] == int(T)
    [event] = await server.results()
    assert event is not None and event["action"] == "create" and event["check"]["status"] == 1


async def test_ttl_status_sets_the_status_of_a_ttl_event() -> None:
    server = await ttl_server(ttl_status=2)
    [payload] = await server.ttl_monitor.tick(T + 100)
    assert payload["check"]["status"] == 2


async def test_no_ttl_event_while_the_client_keepalive_event_is_open() -> None:
    server = await ttl_server()
    await server.keepalive_monitor.tick(T + 200)
    await server.results()
    assert await server.store.get_event("web-1", "keepalive") is not None
    assert await server.ttl_monitor.tick(T + 200) == []


async def test_force_resolve_results_are_not_judged_by_ttl() -> None:
    server = await ttl_server(force_resolve=True)
    assert await server.ttl_monitor.tick(T + 1000) == []


async def test_a_ttl_member_without_a_result_leaves_the_watch_list() -> None:
    server = await ttl_server()
    server.store._ttl.add("web-1:gone")  # an index entry whose result was removed behind its back
    await server.ttl_monitor.tick(T + 10)
    assert await server.store.list_ttl() == ["web-1:backup"]


# -- docs/scheduling.md ------------------------------------------------------------------------------
DOC_BLOCKS = re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "scheduling.md").read_text(), re.S)


def test_the_scheduling_page_has_examples() -> None:
    assert len(DOC_BLOCKS) >= 6


@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[f"example {i + 1}" for i in range(len(DOC_BLOCKS))])
def test_every_example_on_the_scheduling_page_is_a_valid_config(block: str) -> None:
    errors, _warnings = validate(json.loads(block), Registry(use_entry_points=False))
    assert errors == [], "\n".join(map(str, errors))


async def test_the_keepalive_example_on_the_scheduling_page_behaves_as_described() -> None:
    [config] = [json.loads(b) for b in DOC_BLOCKS if '"keepalives"' in b]
    server = Server(config)
    await server.keepalive(at=T, **config["client"])
    await server.keepalive("web-1", at=T)

    async def status(age: float) -> list[dict[str, Any]]:
        return await server.keepalive_monitor.tick(T + age)

    db, web = await status(60)
    assert (db["check"]["status"], web["check"]["status"]) == (1, 1)
    assert db["check"]["handlers"] == ["ops", "pager"] and web["check"]["handlers"] == ["ops"]
    db, web = await status(120)
    assert (db["check"]["status"], web["check"]["status"]) == (1, 2)
    db, web = await status(300)
    assert db["check"]["status"] == 2

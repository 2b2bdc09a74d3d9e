"""/info, /health and /settings (reference §7)."""

from __future__ import annotations

from typing import Any

from pipeline.api.system import settings_digest
from pipeline.store.memory import MemoryStore
from tests.api.support import CHECKS, FakeClock, Harness, RecordingTransport, start_harness


async def test_info_gives_versions_the_settings_digest_queues_and_connections(api: Harness) -> None:
    reply = await api.call("GET", "/info")
    assert reply.status == 200
    info = reply.json
    assert info["sensu"] == {"version": "1.9.0", "settings": {"hexdigest": settings_digest({"checks": CHECKS})}}
    assert info["transport"]["name"] == "memory" and info["transport"]["connected"] is True
    assert info["transport"]["keepalives"] == {"messages": 0, "consumers": 0}
    assert info["redis"] == {"connected": True}
    assert isinstance(info["servers"], list)


async def test_info_counts_the_results_waiting_in_the_queue(api: Harness) -> None:
    await api.call("POST", "/results", {"name": "a", "output": "x"})
    await api.call("POST", "/results", {"name": "b", "output": "y"})
    assert (await api.call("GET", "/info")).json["transport"]["results"]["messages"] == 2


async def test_the_settings_digest_changes_with_the_settings_and_not_with_key_order() -> None:
    assert settings_digest({"a": 1, "b": 2}) == settings_digest({"b": 2, "a": 1})
    assert settings_digest({"a": 1}) != settings_digest({"a": 2})


async def test_health_is_204_without_thresholds(api: Harness) -> None:
    reply = await api.call("GET", "/health")
    assert (reply.status, reply.text) == (204, "")


async def test_health_is_412_with_reasons_when_messages_pile_up(api: Harness) -> None:
    for name in ("a", "b", "c"):
        await api.call("POST", "/results", {"name": name, "output": "x"})
    assert (await api.call("GET", "/health?messages=3")).status == 204
    reply = await api.call("GET", "/health?messages=2")
    assert reply.status == 412
    assert reply.json == ["result messages (3) greater than max_messages (2)"]


async def test_health_counts_the_consumers_of_the_memory_transport(api: Harness) -> None:
    reply = await api.call("GET", "/health?consumers=1")
    assert reply.status == 412
    assert reply.json == ["keepalive consumers (0) less than min_consumers (1)",
                          "result consumers (0) less than min_consumers (1)"]
    subscriptions = [await api.transport.subscribe(pipe) for pipe in ("keepalives", "results")]
    try:
        assert (await api.call("GET", "/health?consumers=1")).status == 204
    finally:
        for subscription in subscriptions:
            await subscription.close()


class DepthOnlyTransport(RecordingTransport):
    """A transport that counts messages but not consumers."""

    queue_stats = None


async def test_health_with_a_consumer_threshold_the_transport_cannot_report_is_412_saying_so() -> None:
    clock = FakeClock()
    harness = await start_harness(MemoryStore(clock=clock), clock, transport=DepthOnlyTransport())
    try:
        reply = await harness.call("GET", "/health?consumers=1")
        assert reply.status == 412
        assert reply.json == ["keepalive consumers unknown: the transport does not report them",
                              "result consumers unknown: the transport does not report them"]
    finally:
        await harness.client.close()


class CountingTransport(RecordingTransport):
    """A transport that reports queue figures, as the RabbitMQ one can."""

    def __init__(self, figures: dict[str, tuple[int, int]]) -> None:
        super().__init__()
        self.figures = figures

    async def queue_stats(self, pipe: str) -> tuple[int, int]:
        return self.figures[pipe]


async def test_health_compares_consumers_and_messages_when_the_transport_reports_them() -> None:
    clock = FakeClock()
    transport = CountingTransport({"keepalives": (0, 2), "results": (50, 1)})
    harness = await start_harness(MemoryStore(clock=clock), clock, transport=transport)
    try:
        assert (await harness.call("GET", "/health?consumers=1&messages=50")).status == 204
        reply = await harness.call("GET", "/health?consumers=2&messages=10")
        assert reply.status == 412
        assert reply.json == ["result consumers (1) less than min_consumers (2)",
                              "result messages (50) greater than max_messages (10)"]
        info = (await harness.call("GET", "/info")).json
        assert info["transport"]["results"] == {"messages": 50, "consumers": 1}
    finally:
        await harness.client.close()


async def test_health_is_412_when_the_store_does_not_answer() -> None:
    class DownStore(MemoryStore):
        async def ping(self) -> bool:
            return False

    clock = FakeClock()
    harness = await start_harness(DownStore(clock=clock), clock)
    try:
        reply = await harness.call("GET", "/health")
        assert (reply.status, reply.json) == (412, ["not connected to the store"])
        assert (await harness.call("GET", "/info")).json["redis"] == {"connected": False}
    finally:
        await harness.client.close()


async def test_a_bad_health_threshold_is_400(api: Harness) -> None:
    reply = await api.call("GET", "/health?consumers=-1")
    assert reply.status == 400 and "consumers" in reply.json["error"]


SECRET_SETTINGS: dict[str, Any] = {
    "api": {"user": "admin", "password": "hunter2"},
    "rabbitmq": {"host": "mq", "password": "guest"},
    "handlers": {"slack": {"type": "pipe", "command": "notify", "webhook_url": "https://hooks/x"}},
}


async def test_settings_are_redacted_by_default_and_plain_with_redacted_false() -> None:
    clock = FakeClock()
    harness = await start_harness(MemoryStore(clock=clock), clock, SECRET_SETTINGS)
    auth = {"Authorization": "Basic YWRtaW46aHVudGVyMg=="}
    try:
        redacted = (await harness.call("GET", "/settings", headers=auth)).json
        assert redacted["api"]["password"] == "REDACTED" and redacted["rabbitmq"]["password"] == "REDACTED"
        assert redacted["handlers"]["slack"]["webhook_url"] == "REDACTED"
        assert redacted["rabbitmq"]["host"] == "mq"
        plain = (await harness.call("GET", "/settings?redacted=false", headers=auth)).json
        assert plain == SECRET_SETTINGS
        bad = await harness.call("GET", "/settings?redacted=no", headers=auth)
        assert bad.status == 400
    finally:
        await harness.client.close()

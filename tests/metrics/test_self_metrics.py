"""ogi's own health, scraped as Prometheus does: transport counters, store round trip, the client's page."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.agent.agent import Agent
from pipeline.config.load import settings_of
from pipeline.config.validate import check
from pipeline.registry import default_registry
from pipeline.server.server import Server
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from tests.helpers import free_port


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
async def transport() -> AsyncIterator[MemoryTransport]:
    transport = MemoryTransport()
    yield transport
    await transport.close()


async def test_the_server_page_shows_transport_counters_buffer_and_store_round_trip(
        transport: MemoryTransport) -> None:
    port = free_port()
    server = Server(settings_of({"metrics": {"bind": "127.0.0.1", "port": port}}), MemoryStore(), transport,
                    elect=False, run_tasks=False)
    await server.start()
    try:
        transport.counts["dead_lettered"] += 2
        transport.counts["retried"] += 5
        first = await scrape(f"http://127.0.0.1:{port}/metrics")
        page = await scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        await server.stop()
    assert page[("ogi_transport_events_total", (("event", "dead_lettered"),))] == 2
    assert page[("ogi_transport_events_total", (("event", "retried"),))] == 5
    assert page[("ogi_transport_events_total", (("event", "disconnects"),))] == 0
    assert page[("ogi_transport_publish_buffer", ())] == 0
    assert first[("ogi_store_round_trip_seconds_count", ())] == 1
    assert page[("ogi_store_round_trip_seconds_count", ())] == 2, "one store ping per scrape"


async def test_the_client_serves_its_own_metrics_when_asked(transport: MemoryTransport) -> None:
    port = free_port()
    raw: dict[str, Any] = {"client": {"name": "web-01", "socket": {"enabled": False},
                                      "http_socket": {"enabled": False},
                                      "metrics": {"bind": "127.0.0.1", "port": port},
                                      "statsd": {"port": 0, "flush_interval": 3600}}}
    agent = Agent(settings_of(raw), transport, env={})
    await agent.start()
    try:
        assert agent.statsd is not None and agent.statsd.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"a:1|c\nbroken", ("127.0.0.1", agent.statsd.port))
        page = await scrape(f"http://127.0.0.1:{port}/metrics")
        while page[("ogi_client_statsd_total", (("event", "lines"),))] < 2:
            page = await scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        await agent.stop()
    assert page[("ogi_client_events_total", (("event", "keepalives"),))] == 1
    assert page[("ogi_client_statsd_total", (("event", "malformed"),))] == 1
    assert ("ogi_transport_events_total", (("event", "dead_lettered"),)) in page
    assert not any(name.startswith("ogi_check") for name, _ in page), "a client keeps no check series"


async def test_the_client_page_is_off_by_default(transport: MemoryTransport) -> None:
    agent = Agent(settings_of({"client": {"name": "a", "socket": {"enabled": False},
                                          "http_socket": {"enabled": False}}}), transport, env={})
    await agent.start()
    try:
        assert agent.metrics_page is None
    finally:
        await agent.stop()


def test_check_config_names_a_wrong_client_metrics_key() -> None:
    _typed, errors, _ = check({"client": {"name": "a", "metrics": {"port": "x", "colour": 1}}},
                              default_registry, "client")
    assert sorted(e.path for e in errors) == ["client.metrics.colour", "client.metrics.port"]


def test_the_prometheus_docs_client_example_turns_the_page_on_where_it_says() -> None:
    import json
    import re

    from tests.helpers import ROOT

    text = (ROOT / "docs" / "prometheus.md").read_text()
    block = re.findall(r"```json\n(.*?)```", text.split("### The client's own page", 1)[1], re.S)[0]
    typed, errors, _ = check(json.loads(block), default_registry, "client")
    assert errors == [] and typed is not None and typed.client_metrics is not None
    assert typed.client_metrics[:2] == ("127.0.0.1", 9128)


async def test_a_redis_transport_with_redis_away_shows_its_buffer_on_the_page() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from pipeline.metrics.self_metrics import register, transport_collector
    from pipeline.transport.redis import RedisTransport

    transport = RedisTransport({"redis": {"host": "127.0.0.1", "port": free_port()},
                                "transport": {"reconnect_interval": 5}})
    registry = CollectorRegistry()
    register(registry, transport_collector(transport))
    try:
        await transport.publish("results", b'{"client": "a"}')
        await transport.publish("results", b'{"client": "b"}')
        page = {(s.name, tuple(s.labels.items())): s.value
                for f in text_string_to_metric_families(generate_latest(registry).decode()) for s in f.samples}
    finally:
        await transport.close()
    assert page[("ogi_transport_publish_buffer", ())] == 2
    assert page[("ogi_transport_events_total", (("event", "buffer_dropped"),))] == 0

"""StatsD on a running agent: real UDP datagrams in, a `statsd` metric result on the results pipe."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pipeline.agent.agent import Agent
from pipeline.cli.run import AllInOne
from pipeline.config.load import settings_of
from pipeline.config.settings import Settings
from pipeline.config.validate import check
from pipeline.registry import default_registry
from pipeline.transport.memory import MemoryTransport
from tests.helpers import ROOT, free_port

NOW = 1_700_000_000.0


def settings(statsd: dict[str, Any]) -> Settings:
    return settings_of({"client": {"name": "web-01", "socket": {"enabled": False}, "statsd": statsd}})


def send(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, ("127.0.0.1", port))


async def next_result(subscription: Any, timeout: float = 20) -> dict[str, Any]:
    message = await asyncio.wait_for(subscription.__aiter__().__anext__(), timeout)
    async with message.process():
        return dict(json.loads(message.body))


async def until(predicate: Any, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
async def transport() -> AsyncIterator[MemoryTransport]:
    transport = MemoryTransport()
    yield transport
    await transport.close()


async def test_lines_sent_to_the_agent_arrive_as_one_metric_result_of_the_client(transport: MemoryTransport) -> None:
    results = await transport.subscribe("results", "direct")
    agent = Agent(settings({"port": 0, "flush_interval": 3600, "handlers": ["graphite"]}), transport,
                  clock=lambda: NOW, env={})
    await agent.start()
    assert agent.statsd is not None and agent.statsd.port
    send(agent.statsd.port, b"api.hits:1|c\napi.hits:1|c|@0.5", b"queue:7|g\nqueue:-2|g",
         b"api.latency:20|ms\napi.latency:40|ms", b"users:ann|s\nusers:bob|s")
    await until(lambda: agent.statsd is not None and agent.statsd.stats["lines"] == 8)
    await agent.stop()  # the last interval is flushed on stop
    result = await next_result(results)
    assert result["client"] == "web-01"
    flushed = result["check"]
    assert flushed["name"] == "statsd" and flushed["type"] == "metric" and flushed["status"] == 0
    assert flushed["handlers"] == ["graphite"]
    assert flushed["output_metric_format"] == "graphite_plaintext"
    stamp = str(int(NOW))
    assert sorted(flushed["output"].splitlines()) == sorted(f"{line} {stamp}" for line in [
        "api.hits.count 3", "api.hits.rate 0.000833", "queue 5",
        "api.latency.count 2", "api.latency.mean 30", "api.latency.p50 20", "api.latency.p90 40",
        "api.latency.p99 40", "api.latency.max 40", "users.count 2"])


async def test_the_agent_flushes_every_flush_interval_by_itself(transport: MemoryTransport) -> None:
    results = await transport.subscribe("results", "direct")
    agent = Agent(settings({"port": 0, "flush_interval": 0.05}), transport, env={})
    await agent.start()
    try:
        assert agent.statsd is not None and agent.statsd.port
        send(agent.statsd.port, b"jobs:3|c")
        result = await next_result(results)
        while result["check"].get("name") != "statsd":
            result = await next_result(results)
        assert "jobs.count 3" in result["check"]["output"]
        assert result["check"]["handlers"] == ["default"]
    finally:
        await agent.stop()


async def test_malformed_lines_are_counted_and_the_listener_goes_on(transport: MemoryTransport) -> None:
    results = await transport.subscribe("results", "direct")
    agent = Agent(settings({"port": 0, "flush_interval": 3600}), transport, clock=lambda: NOW, env={})
    await agent.start()
    assert agent.statsd is not None and agent.statsd.port
    send(agent.statsd.port, b"garbage", b"\x00\xff\xfe", b"x:1|c|@7\nok:1|c")
    await until(lambda: agent.statsd is not None and agent.statsd.stats["datagrams"] == 3)
    assert agent.statsd.stats["malformed"] == 3
    await agent.stop()
    result = await next_result(results)
    assert result["check"]["output"].splitlines()[0] == f"ok.count 1 {int(NOW)}"


async def test_a_port_in_use_is_logged_and_counted_and_the_agent_runs_on(transport: MemoryTransport) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        agent = Agent(settings({"port": taken.getsockname()[1]}), transport, env={})
        await agent.start()
        try:
            assert agent.statsd is None
            assert agent.counts["statsd_unavailable"] == 1
            assert agent.counts["keepalives"] == 1
        finally:
            await agent.stop()


def test_without_client_statsd_no_listener_is_configured() -> None:
    assert settings_of({"client": {"name": "a"}}).client_statsd is None
    assert settings_of({"client": {"statsd": {"enabled": False}}}).client_statsd is None
    defaults = settings_of({"client": {"statsd": {}}}).client_statsd
    assert defaults is not None
    assert (defaults.bind, defaults.port, defaults.flush_interval, defaults.handlers) == (
        "127.0.0.1", 8125, 10.0, ("default",))


@pytest.mark.parametrize(("statsd", "path"), [
    ({"port": 70000}, "client.statsd.port"),
    ({"port": "8125"}, "client.statsd.port"),
    ({"flush_interval": 0}, "client.statsd.flush_interval"),
    ({"handlers": "graphite"}, "client.statsd.handlers"),
    ({"bind": ""}, "client.statsd.bind"),
    ({"enabled": "yes"}, "client.statsd.enabled"),
    ({"flush": 10}, "client.statsd.flush"),
    ("on", "client.statsd"),
])
def test_check_config_names_each_wrong_statsd_setting(statsd: Any, path: str) -> None:
    _typed, errors, _warnings = check({"client": {"name": "a", "statsd": statsd}}, default_registry, "client")
    assert [e.path for e in errors] == [path]


def points(lines: list[str]) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in lines if len(line.split()) == 3}


def doc_example() -> dict[str, Any]:
    text = (ROOT / "docs" / "client.md").read_text()
    section = text.split("## StatsD", 1)[1]
    return dict(json.loads(re.findall(r"```json\n(.*?)```", section, re.S)[0]))


def test_the_docs_example_is_a_valid_configuration_with_those_settings() -> None:
    typed, errors, _warnings = check(doc_example(), default_registry, "server")
    assert errors == [] and typed is not None and typed.client_statsd is not None
    assert (typed.client_statsd.port, typed.client_statsd.flush_interval, typed.client_statsd.handlers) == (
        8125, 10.0, ("graphite",))


async def test_the_docs_example_puts_a_statsd_counter_in_graphite_under_the_client_name() -> None:
    received: list[str] = []

    async def carbon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            received.append(line.decode().strip())
        writer.close()

    listener = await asyncio.start_server(carbon, "127.0.0.1", 0)
    raw = doc_example()
    raw["client"]["statsd"].update(port=0, flush_interval=0.2)
    raw["client"].update(socket={"enabled": False}, http_socket={"enabled": False})
    raw["handlers"]["graphite"]["port"] = listener.sockets[0].getsockname()[1]
    raw["api"] = {"port": free_port()}
    everything = AllInOne(settings_of(raw), quiet=True)
    await everything.start()
    try:
        statsd = everything.client.statsd
        assert statsd is not None and statsd.port
        send(statsd.port, b"api.hits:1|c\napi.hits:1|c")
        await until(lambda: "ogi.web-1.api.hits.count" in points(received))
        assert float(points(received)["ogi.web-1.api.hits.count"]) == 2
    finally:
        await everything.stop()
        listener.close()

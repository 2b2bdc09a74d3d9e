"""Proxy check requests: one request per matching client, tokens filled in from it, `source` set, splayed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipeline.config.load import settings_of
from pipeline.server.proxy import ProxyRequests, matching_clients, splay_step
from pipeline.server.publisher import CheckRequestPublisher
from pipeline.store.base import Store
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport

NOW = 1_700_000_000.0
SWITCHES = [
    {"name": "switch-1", "address": "10.1.0.1", "device": {"kind": "switch", "ports": 48}, "keepalives": False},
    {"name": "switch-2", "address": "10.1.0.2", "device": {"kind": "switch", "ports": 24}, "keepalives": False},
    {"name": "router-1", "address": "10.1.0.9", "device": {"kind": "router", "ports": 4}, "keepalives": False},
    {"name": "web-1", "address": "10.0.0.5"},
]
CHECK = {"command": "check_snmp -H :::address::: -p :::device.ports:::", "interval": 60, "subscribers": ["snmp"],
         "proxy_requests": {"client_attributes": {"keepalives": False, "device": {"kind": "switch"}}}}


def test_client_attributes_match_as_filters_do_and_an_empty_set_matches_nothing() -> None:
    names = [c["name"] for c in matching_clients(SWITCHES, {"device": {"kind": "switch"}})]
    assert names == ["switch-1", "switch-2"]
    names = [c["name"] for c in matching_clients(SWITCHES, {"device": {"ports": "eval: value >= 24"}})]
    assert names == ["switch-1", "switch-2"]
    assert [c["name"] for c in matching_clients(SWITCHES, {"keepalives": "false"})] == [
        "switch-1", "switch-2", "router-1"], "Ruby to_s equality, as filters"
    assert matching_clients(SWITCHES, {}) == []


async def take(subscription: Any, count: int) -> list[dict[str, Any]]:
    out = []
    messages = subscription.__aiter__()
    for _ in range(count):
        message = await asyncio.wait_for(messages.__anext__(), 10)
        async with message.process():
            out.append(json.loads(message.body))
    return out


async def test_the_scheduler_publishes_one_request_per_matching_client_with_its_tokens_and_source(
        store: Store) -> None:
    for client in SWITCHES:
        await store.put_client(client)
    transport = MemoryTransport()
    subscription = await transport.subscribe("snmp", "fanout", "poller")
    publisher = CheckRequestPublisher(settings_of({"checks": {"ports": CHECK}}), transport, clock=lambda: NOW)
    publisher.proxy = ProxyRequests(store, transport)
    publisher.start(NOW)
    assert "ports" in publisher.schedules  # type: ignore[operator]
    assert await publisher.publish("ports", CHECK, NOW) == []
    got = sorted(await take(subscription, 2), key=lambda r: r["source"])
    assert [(r["source"], r["command"]) for r in got] == [
        ("switch-1", "check_snmp -H 10.1.0.1 -p 48"), ("switch-2", "check_snmp -H 10.1.0.2 -p 24")]
    assert all(r["name"] == "ports" and r["issued"] == int(NOW) and "proxy_requests" in r for r in got)
    await publisher.proxy.close()
    assert publisher.proxy.published == 2


async def test_a_client_missing_a_token_is_skipped_and_a_check_source_is_kept() -> None:
    store = MemoryStore()
    for client in SWITCHES:
        await store.put_client(client)
    await store.put_client({"name": "switch-3", "device": {"kind": "switch"}, "keepalives": False})  # no ports
    transport = MemoryTransport()
    subscription = await transport.subscribe("snmp", "fanout", "poller")
    check = {**CHECK, "source": "sw-:::name:::"}
    sent = await ProxyRequests(store, transport).publish_all(check, {**check, "name": "ports"})
    assert sent == 2
    assert sorted(r["source"] for r in await take(subscription, 2)) == ["sw-switch-1", "sw-switch-2"]


def test_the_splay_spreads_the_requests_over_coverage_of_the_interval() -> None:
    splayed = {**CHECK, "proxy_requests": {"client_attributes": {"a": 1}, "splay": True, "splay_coverage": 50}}
    assert splay_step(splayed, 100) == 60 * 0.5 / 100
    assert splay_step({**splayed, "interval": None}, 60) == 60 * 0.5 / 60, "a cron check: over 60 s"
    assert splay_step(CHECK, 100) == 0.0, "no splay unless asked"


async def test_ten_thousand_matching_clients_are_published_splayed_while_other_work_goes_on() -> None:
    store = MemoryStore()
    for n in range(10_000):
        await store.put_client({"name": f"dev-{n}", "address": f"10.{n // 256}.{n % 256}.1", "proxied": True})
    transport = MemoryTransport()
    subscription = await transport.subscribe("snmp", "fanout", "poller")
    waits: list[float] = []
    other_work: list[int] = []

    async def sleep(seconds: float) -> None:  # the splay's waits, recorded; each lets the loop run
        waits.append(seconds)
        await asyncio.sleep(0)

    check = {**CHECK, "command": "poll :::address:::", "interval": 300,
             "proxy_requests": {"client_attributes": {"proxied": True}, "splay": True}}
    proxies = ProxyRequests(store, transport, sleep=sleep)
    task = proxies.publish(check, {**check, "name": "poll"})

    async def other() -> None:
        while not task.done():
            other_work.append(len(waits))
            await asyncio.sleep(0)

    await asyncio.gather(task, other())
    assert task.result() == 10_000
    assert len(waits) == 9_999 and waits[0] == 300 * 0.9 / 10_000, "spread over 90% of the interval"
    assert len(set(other_work)) > 1_000, "other tasks ran between the requests"
    received = await take(subscription, 10_000)
    assert len({r["source"] for r in received}) == 10_000


async def test_without_splay_publishing_still_yields_to_other_work() -> None:
    store = MemoryStore()
    for n in range(1_000):
        await store.put_client({"name": f"dev-{n}", "proxied": True})
    transport = MemoryTransport()
    await transport.subscribe("snmp", "fanout", "poller")
    check = {**CHECK, "command": "poll", "proxy_requests": {"client_attributes": {"proxied": True}}}
    proxies = ProxyRequests(store, transport)
    task = proxies.publish(check, {**check, "name": "poll"})
    turns = 0
    while not task.done():
        turns += 1
        await asyncio.sleep(0)
    assert task.result() == 1_000 and turns >= 1_000 // 100

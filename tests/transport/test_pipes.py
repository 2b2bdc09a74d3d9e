"""Pipe names: the agent, the server and the API read them from one place.

`sensu.server.results_pipe` and `keepalives_pipe` rename Sensu's `results` and `keepalives`
pipes; given the same settings, a client and a server must still meet on them.
"""

from __future__ import annotations

import asyncio

import pytest

from pipeline.agent.agent import Agent
from pipeline.config.load import settings_of
from pipeline.errors import ConfigErrors
from pipeline.server.server import Server
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from pipeline.transport.pipes import request_pipe


def pipes(raw: dict) -> tuple[str, str]:
    limits = settings_of(raw).limits
    return limits.results_pipe, limits.keepalives_pipe


def test_sensus_names_unless_renamed() -> None:
    assert pipes({}) == ("results", "keepalives")
    assert pipes({"sensu": {"server": {"results_pipe": "r2", "keepalives_pipe": "k2"}}}) == ("r2", "k2")


def test_an_empty_pipe_name_is_refused_with_its_path() -> None:
    with pytest.raises(ConfigErrors) as refused:
        settings_of({"sensu": {"server": {"results_pipe": ""}}})
    assert [e.path for e in refused.value.errors] == ["sensu.server.results_pipe"]


def test_check_requests_go_to_one_pipe_per_subscription() -> None:
    assert request_pipe("linux") == ("linux", "fanout")
    assert request_pipe("client:db-1") == ("client:db-1", "fanout")
    assert request_pipe("roundrobin:pool") == ("roundrobin:pool", "direct")
    assert request_pipe("direct:pool") == ("direct:pool", "direct")
    assert request_pipe("team:web") == ("team:web", "fanout")


async def test_with_renamed_pipes_a_clients_result_and_keepalive_still_reach_the_server() -> None:
    settings = settings_of({
        "sensu": {"server": {"results_pipe": "ogi_results", "keepalives_pipe": "ogi_keepalives"}},
        "client": {"name": "web-1", "address": "10.0.0.1", "subscriptions": []},
    })
    transport, store = MemoryTransport(), MemoryStore()
    server = Server(settings, store, transport, elect=False, run_tasks=False, serve_metrics=False)
    await server.start()
    client = Agent(settings, transport, env={})
    await client.start()  # sends its first keepalive
    try:
        await client.run_check({"name": "disk", "command": "echo DISK CRITICAL; exit 2"})
        for _ in range(200):
            if await store.get_event("web-1", "disk") and await store.get_client("web-1"):
                break
            await asyncio.sleep(0.05)
    finally:
        await client.stop()
        await server.stop()
    event = await store.get_event("web-1", "disk")
    assert event is not None and event["check"]["output"] == "DISK CRITICAL\n"
    registered = await store.get_client("web-1")
    assert registered is not None and registered["address"] == "10.0.0.1"


def test_the_rabbitmq_doc_example_renames_both_pipes() -> None:
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "rabbitmq.md").read_text()
    [block] = [b for b in re.findall(r"```json\n(.*?)```", text, re.S) if "results_pipe" in b]
    assert pipes(json.loads(block)) == ("ogi_results", "ogi_keepalives")

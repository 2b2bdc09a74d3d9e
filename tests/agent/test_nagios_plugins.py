"""Real Nagios plugins (Debian's monitoring-plugins-basic) run unchanged through the client.

Each check is requested on a subscription, as a server would, and the test reads what arrives
on the `results` pipe.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
from typing import Any

import pytest

from pipeline.agent.agent import Agent
from pipeline.config.load import settings_of
from pipeline.transport.memory import MemoryTransport
from tests.helpers import require_service

PLUGINS = "/usr/lib/nagios/plugins"


@pytest.fixture(autouse=True)
def plugins_installed() -> None:
    require_service("monitoring-plugins", available=os.path.exists(f"{PLUGINS}/check_dummy"))


async def through_the_client(checks: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Request each check (name -> command) on a subscription; the results by check name."""
    transport = MemoryTransport()
    results = await transport.subscribe("results")
    settings = {"client": {"name": "nagios-host", "subscriptions": ["nagios"], "socket": {"enabled": False}}}
    client = Agent(settings_of(settings), transport, env={})
    await client.start()
    received: dict[str, dict[str, Any]] = {}
    try:
        for name, command in checks.items():
            await transport.publish("nagios", json.dumps({"name": name, "command": command, "issued": 1}).encode(),
                                    "fanout")
        messages = results.__aiter__()
        while len(received) < len(checks):
            message = await asyncio.wait_for(messages.__anext__(), 30)
            async with message.process():
                result = json.loads(message.body)
            assert result["client"] == "nagios-host"
            received[result["check"]["name"]] = result["check"]
    finally:
        await client.stop()
        await results.close()
    return received


async def test_check_dummy_gives_each_nagios_state_its_status_and_text() -> None:
    got = await through_the_client({
        f"dummy{code}": f"{PLUGINS}/check_dummy {code} 'state {code}'" for code in range(4)
    })
    assert {name: (r["status"], r["output"]) for name, r in got.items()} == {
        "dummy0": (0, "OK: state 0\n"),
        "dummy1": (1, "WARNING: state 1\n"),
        "dummy2": (2, "CRITICAL: state 2\n"),
        "dummy3": (3, "UNKNOWN: state 3\n"),
    }


async def test_check_load_reports_ok_with_its_performance_data() -> None:
    got = await through_the_client({"load": f"{PLUGINS}/check_load -w 1000,1000,1000 -c 2000,2000,2000"})
    assert got["load"]["status"] == 0
    assert re.match(r"LOAD OK - total load average: [\d.]+, [\d.]+, [\d.]+\|load1=[\d.]+;1000\.000;2000\.000;0; ",
                    got["load"]["output"])


async def test_check_tcp_sees_a_listening_port_as_ok_and_a_closed_one_as_critical() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    open_port = server.sockets[0].getsockname()[1]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]  # bound but not listening: connections are refused
        try:
            got = await through_the_client({
                "tcp_open": f"{PLUGINS}/check_tcp -H 127.0.0.1 -p {open_port}",
                "tcp_closed": f"{PLUGINS}/check_tcp -H 127.0.0.1 -p {closed_port}",
            })
        finally:
            server.close()
    assert got["tcp_open"]["status"] == 0
    assert re.match(rf"TCP OK - [\d.]+ second response time on 127\.0\.0\.1 port {open_port}\|time=",
                    got["tcp_open"]["output"])
    assert got["tcp_closed"]["status"] == 2
    assert got["tcp_closed"]["output"] == f"connect to address 127.0.0.1 and port {closed_port}: Connection refused\n"

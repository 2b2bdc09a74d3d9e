"""The local input socket over real TCP and UDP sockets: ok, invalid, ping, arrays, stalls."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.agent.agent import Agent
from pipeline.agent.socket_input import WATCHDOG_DELAY, SocketInput
from pipeline.config.load import settings_of
from pipeline.model import MAX_MESSAGE_SIZE
from pipeline.transport.memory import MemoryTransport
from tests.helpers import require_service

NOW = 1_700_000_000.0


class Collected:
    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def publish(self, check: dict[str, Any]) -> None:
        self.results.append(check)
        self.arrived.set()


@pytest.fixture
async def server() -> AsyncIterator[tuple[SocketInput, Collected]]:
    collected = Collected()
    listener = SocketInput(collected.publish, "127.0.0.1", 0, clock=lambda: NOW, watchdog=0.2)
    await listener.start()
    try:
        yield listener, collected
    finally:
        await listener.stop()


async def exchange(port: int, *chunks: bytes, close_write: bool = False) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
    if close_write:
        writer.write_eof()
    reply = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return reply.decode()


def port_of(listener: SocketInput) -> int:
    assert listener.tcp_port is not None
    return listener.tcp_port


async def test_a_result_gets_ok_and_is_published_with_sensus_defaults(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    reply = await exchange(port_of(listener), b'{"name":"app","output":"db down"}')
    assert reply == "ok"
    assert collected.results == [{"name": "app", "output": "db down", "status": 0, "executed": int(NOW)}]


async def test_check_attributes_travel_with_the_result(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    result = {"name": "queue", "output": "q 5 1", "status": 2, "handlers": ["mail"], "type": "metric",
              "occurrences": 3, "team": {"name": "db"}, "executed": 1600000000, "source": "db-1"}
    assert await exchange(port_of(listener), json.dumps(result).encode()) == "ok"
    assert collected.results == [result]


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ({"output": "x"}, "check name must be a string"),
        ({"name": "bad name", "output": "x"}, "check name cannot contain spaces or special characters"),
        ({"name": "a", "output": 5}, "check output must be a string"),
        ({"name": "a"}, "check output must be a string"),
        ({"name": "a", "output": "x", "status": 256}, "check status must be an integer from 0 to 255"),
        ({"name": "a", "output": "x", "status": -1}, "check status must be an integer from 0 to 255"),
        ({"name": "a", "output": "x", "status": "1"}, "check status must be an integer from 0 to 255"),
        ({"name": "a", "output": "x", "status": True}, "check status must be an integer from 0 to 255"),
        ({"name": "a", "output": "x", "source": "a b"}, "check source must be a string without spaces or special characters"),
        ({"name": "a", "output": "x", "executed": "now"}, "check executed timestamp must be an integer"),
        ({"name": "a", "output": "x", "handlers": "mail"}, "check handlers must be an array of strings"),
        ({"name": "a", "output": "x", "ttl": 0}, "check ttl must be an integer greater than 0"),
        ("just a string", "a check result must be a JSON object"),
    ],
)
async def test_an_invalid_result_gets_invalid_with_the_reason_and_nothing_is_published(
    server: tuple[SocketInput, Collected], result: Any, reason: str
) -> None:
    listener, collected = server
    assert await exchange(port_of(listener), json.dumps(result).encode()) == f"invalid: {reason}"
    assert collected.results == []
    assert listener.counts["invalid"] == 1


async def test_an_array_of_results_is_published_whole(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    batch = [{"name": "a", "output": "1"}, {"name": "b", "output": "2", "status": 1}]
    assert await exchange(port_of(listener), json.dumps(batch).encode()) == "ok"
    assert [(r["name"], r["status"]) for r in collected.results] == [("a", 0), ("b", 1)]


async def test_an_array_with_one_invalid_result_is_refused_whole_naming_it(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    batch = [{"name": "a", "output": "1"}, {"name": "b"}]
    reply = await exchange(port_of(listener), json.dumps(batch).encode())
    assert reply == "invalid: result [1]: check output must be a string"
    assert collected.results == []


async def test_ping_gets_pong(server: tuple[SocketInput, Collected]) -> None:
    listener, _ = server
    assert await exchange(port_of(listener), b"ping\n") == "pong"
    assert await exchange(port_of(listener), b"pi", b"ng") == "pong"


async def test_a_message_sent_in_pieces_is_put_together(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    reply = await exchange(port_of(listener), b'{"name":"app",', b'"output":"in pieces"', b"}\n")
    assert reply == "ok"
    assert collected.results[0]["output"] == "in pieces"


async def test_not_json_gets_invalid_when_the_sender_closes_its_side(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    reply = await exchange(port_of(listener), b"hello there", close_write=True)
    assert reply.startswith("invalid: not JSON")
    assert collected.results == []


async def test_a_connection_closed_without_data_does_no_harm(server: tuple[SocketInput, Collected]) -> None:
    listener, _ = server
    assert await exchange(port_of(listener), close_write=True) == "invalid: no data"
    assert await exchange(port_of(listener), b'{"name":"a","output":"x"}') == "ok"


async def test_a_stalled_sender_is_cut_off_without_holding_up_others(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(listener))
    writer.write(b'{"name":"stalled","output":"never fin')
    await writer.drain()
    # While that sender stalls, another one is served.
    assert await exchange(port_of(listener), b'{"name":"quick","output":"x"}') == "ok"
    reply = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    assert reply.startswith("invalid: incomplete message after 0.2 s without data")
    assert [r["name"] for r in collected.results] == ["quick"]


def test_the_default_watchdog_is_sensus_half_second() -> None:
    assert WATCHDOG_DELAY == 0.5


async def test_a_message_over_the_size_limit_is_refused(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    huge = b'{"name":"big","output":"' + b"x" * (MAX_MESSAGE_SIZE + 10) + b'"}'
    reply = await exchange(port_of(listener), huge)
    assert reply == f"invalid: message larger than {MAX_MESSAGE_SIZE} bytes"
    assert collected.results == []


async def test_a_udp_datagram_is_published_and_an_invalid_one_is_dropped(server: tuple[SocketInput, Collected]) -> None:
    listener, collected = server
    assert listener.udp_port == listener.tcp_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"not json", ("127.0.0.1", port_of(listener)))
        udp.sendto(b'{"name":"bad name","output":"x"}', ("127.0.0.1", port_of(listener)))
        udp.sendto(b"ping", ("127.0.0.1", port_of(listener)))
        udp.sendto(b'[{"name":"udp","output":"by datagram","status":1}]', ("127.0.0.1", port_of(listener)))
    await asyncio.wait_for(collected.arrived.wait(), 10)
    assert collected.results == [{"name": "udp", "output": "by datagram", "status": 1, "executed": int(NOW)}]
    assert listener.counts["invalid"] == 2


async def test_through_the_client_a_pushed_result_becomes_the_clients_own_on_the_results_pipe() -> None:
    transport = MemoryTransport()
    results = await transport.subscribe("results")
    settings = {"client": {"name": "web-1", "address": "127.0.0.1", "socket": {"bind": "127.0.0.1", "port": 0}}}
    client = Agent(settings_of(settings), transport, clock=lambda: NOW, env={})
    await client.start()
    try:
        assert client.socket is not None and client.socket.tcp_port is not None
        reply = await exchange(client.socket.tcp_port, b'{"name":"app","output":"db down","status":2}')
        message = await asyncio.wait_for(results.__aiter__().__anext__(), 10)
        async with message.process():
            published = json.loads(message.body)
    finally:
        await client.stop()
        await results.close()
    assert reply == "ok"
    assert published == {"client": "web-1", "check": {"name": "app", "output": "db down", "status": 2,
                                                      "executed": int(NOW), "issued": int(NOW)}}


async def test_a_client_whose_socket_port_is_taken_keeps_running_without_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = {"client": {"name": "web-1", "socket": {"port": port}}}
        client = Agent(settings_of(settings), MemoryTransport(), env={})
        await client.start()
        try:
            assert client.socket is None
            assert client.counts["socket_unavailable"] == 1
            assert await client.run_check({"name": "still", "command": "echo works"}) is not None
        finally:
            await client.stop()


async def test_the_docs_netcat_line_pushes_a_result_through_the_client() -> None:
    require_service("netcat-openbsd", available=shutil.which("nc") is not None)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text()
    line = next(line.strip() for line in doc.splitlines() if "| nc " in line)
    transport = MemoryTransport()
    results = await transport.subscribe("results")
    settings = {"client": {"name": "web-1", "socket": {"port": 0}}}
    client = Agent(settings_of(settings), transport, env={})
    await client.start()
    try:
        assert client.socket is not None
        command = line.replace(" 3030", f" {client.socket.tcp_port}")
        process = await asyncio.create_subprocess_shell(command, stdout=asyncio.subprocess.PIPE)
        reply, _ = await asyncio.wait_for(process.communicate(), 20)
        message = await asyncio.wait_for(results.__aiter__().__anext__(), 10)
        async with message.process():
            published = json.loads(message.body)
    finally:
        await client.stop()
        await results.close()
    assert reply == b"ok"
    assert (published["check"]["name"], published["check"]["output"], published["check"]["status"]) == (
        "app", "db down", 2)

"""What a web page in the operator's browser, or a slow client, can do to the API: nothing.

A real `ogi api`-style listener (start_api) on a real port, real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from pipeline.api.app import ApiRunner, start_api
from pipeline.config.load import settings_of
from pipeline.store.memory import MemoryStore
from tests.api.support import RecordingTransport
from tests.helpers import FakeClock

SILENCE = json.dumps({"subscription": "linux", "reason": "from a web page"})


async def started(api: dict[str, Any]) -> ApiRunner:
    return await start_api(settings_of({"api": {"port": 0, **api}}), MemoryStore(clock=FakeClock()), RecordingTransport())


@pytest.fixture
async def running() -> AsyncIterator[ApiRunner]:
    runner = await started({})
    try:
        yield runner
    finally:
        await runner.stop()


async def test_a_text_plain_body_from_a_page_is_refused_415_and_creates_nothing(running: ApiRunner) -> None:
    async with aiohttp.ClientSession() as session:
        # What a form or fetch() may send to any origin without a CORS preflight.
        async with session.post(f"{running.url}/silenced", data=SILENCE,
                                headers={"Content-Type": "text/plain", "Origin": "https://evil.example"}) as reply:
            assert reply.status == 415
            assert "Content-Type: application/json" in (await reply.json())["error"]
            assert "Access-Control-Allow-Origin" not in reply.headers
        async with session.get(f"{running.url}/silenced") as listed:
            assert await listed.json() == []
        async with session.post(f"{running.url}/silenced", data=SILENCE,
                                headers={"Content-Type": "application/json"}) as reply:
            assert reply.status == 201


async def test_a_rebound_host_name_is_refused_421(running: ApiRunner) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{running.url}/settings", headers={"Host": "evil.example:4567"}) as reply:
            assert reply.status == 421 and "api.hosts" in (await reply.json())["error"]
        async with session.get(f"{running.url}/info", headers={"Host": f"localhost:{running.port}"}) as reply:
            assert reply.status == 200


async def test_a_host_named_in_api_hosts_is_answered() -> None:
    runner = await started({"hosts": ["monitoring.example.com"]})
    try:
        async with aiohttp.ClientSession() as session, session.get(
                f"{runner.url}/info", headers={"Host": "Monitoring.Example.com"}) as reply:
            assert reply.status == 200
    finally:
        await runner.stop()


async def _slow_header(port: int, stop: asyncio.Event) -> bool:
    """One connection sending a header line every 0.5 s; True if the server closed it."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.write(b"GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        while not stop.is_set():
            writer.write(b"X-Slow: 1\r\n")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(100), 0.5) == b"":
                    return True
            except TimeoutError:
                continue
        return False
    except (ConnectionError, OSError):
        return True
    finally:
        writer.close()


async def test_300_slow_header_connections_do_not_stop_the_api_and_are_cut_at_the_header_deadline() -> None:
    runner = await started({"max_connections": 100, "header_timeout": 2})
    stop = asyncio.Event()
    slow = [asyncio.create_task(_slow_header(runner.port, stop)) for _ in range(300)]
    try:
        await asyncio.sleep(1)
        async with aiohttp.ClientSession() as session:
            # The cap refuses the connections past it; the deadline frees places for real clients.
            for _ in range(20):
                try:
                    async with session.get(f"{runner.url}/info", timeout=aiohttp.ClientTimeout(total=2)) as reply:
                        if reply.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.2)
            else:
                pytest.fail("the API did not answer while slow clients held connections")
        closed = await asyncio.wait_for(asyncio.gather(*slow), 10)
        assert all(closed), "a slow-header connection was held past the deadline"
    finally:
        stop.set()
        await asyncio.gather(*slow, return_exceptions=True)
        await runner.stop()
    assert runner.guard is not None
    assert runner.guard.refusals.counts["header_timeout"] >= 1


async def test_a_client_named_dot_or_dot_dot_is_refused(running: ApiRunner) -> None:
    async with aiohttp.ClientSession() as session:
        for name in (".", ".."):
            async with session.post(f"{running.url}/clients", json={"name": name, "address": "10.0.0.1"}) as reply:
                assert reply.status == 400, name


async def test_the_longest_stash_path_the_api_takes_can_be_read_back_by_its_url(running: ApiRunner) -> None:
    # 1,024 four-byte characters: 12,288 bytes percent-encoded, over aiohttp's default 8,190-byte
    # request line, which answered 400 in text/plain to a path POST /stashes had just accepted.
    path = "\U0001f60d" * 1024
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/stashes", json={"path": path, "content": {"a": 1}}) as stored:
        assert stored.status == 201
    # the request in one write, as most clients send it (aiohttp's own client splits it up)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(f"GET /stashes/{quote(path)} HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\n"
                 "Connection: close\r\n\r\n".encode())
    reply = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b'{"a":1}'), reply[:300]

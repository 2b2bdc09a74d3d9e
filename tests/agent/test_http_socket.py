"""The client HTTP socket (3031) as Sensu 1.x's: /info, /results (validated as on 3030), /settings redacted, auth."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from pipeline.agent.agent import Agent
from pipeline.config.load import settings_of
from pipeline.transport.memory import MemoryTransport
from tests.helpers import free_port


class Running:
    def __init__(self, agent: Agent, transport: MemoryTransport, results: Any) -> None:
        self.agent, self.transport, self.results = agent, transport, results
        assert agent.http is not None and agent.http.port is not None
        self.url = f"http://127.0.0.1:{agent.http.port}"

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   content_type: str = "application/json", auth: tuple[str, str] | None = None
                   ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": content_type}
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        async with aiohttp.ClientSession() as session, session.request(
                method, self.url + path, data=data, headers=headers) as reply:
            return reply.status, json.loads(await reply.read())

    async def next_result(self) -> dict[str, Any]:
        message = await asyncio.wait_for(self.results.__aiter__().__anext__(), 10)
        async with message.process():
            return dict(json.loads(message.body))


async def running(http_socket: dict[str, Any] | None = None, **client: Any) -> AsyncIterator[Running]:
    transport = MemoryTransport()
    results = await transport.subscribe("results", "direct")
    settings = {"client": {"name": "web-1", "address": "10.0.0.5", "socket": {"enabled": False},
                           "http_socket": {"port": free_port(), **(http_socket or {})}, **client},
                "checks": {}, "rabbitmq": {"password": "hunter2"}}
    agent = Agent(settings_of(settings), transport, env={})
    await agent.start()
    try:
        yield Running(agent, transport, results)
    finally:
        await agent.stop()


@pytest.fixture
async def client() -> AsyncIterator[Running]:
    async for one in running():
        yield one


@pytest.fixture
async def guarded() -> AsyncIterator[Running]:
    async for one in running({"user": "ops", "password": "s3cret"}):
        yield one


async def test_a_posted_result_is_published_as_the_clients_own(client: Running) -> None:
    status, body = await client.call("POST", "/results", {"name": "backup", "output": "done", "status": 1})
    assert (status, body) == (202, {"response": "ok"})
    published = await client.next_result()
    assert published["client"] == "web-1"
    assert (published["check"]["name"], published["check"]["output"], published["check"]["status"]) == (
        "backup", "done", 1)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{not json", "body is not JSON"),
    (b'{"name": "bad name!", "output": "x"}', "check name cannot contain spaces or special characters"),
    (b'{"name": "x", "output": 5}', "check output must be a string"),
    (b'[{"name": "x", "output": "ok"}, {"name": "y"}]', "result [1]: check output must be a string"),
])
async def test_a_malformed_body_is_400_with_the_reason_and_nothing_is_published(
        client: Running, raw: bytes, reason: str) -> None:
    status, body = await client.call("POST", "/results", raw=raw)
    assert status == 400 and body["response"] == "invalid" and body["reason"].startswith(reason), body
    assert client.agent.counts["results"] == 0


async def test_a_body_not_sent_as_json_is_415(client: Running) -> None:
    status, _ = await client.call("POST", "/results", raw=b"name=x", content_type="application/x-www-form-urlencoded")
    assert status == 415


async def test_info_names_the_client_and_settings_are_redacted(client: Running) -> None:
    status, info = await client.call("GET", "/info")
    assert status == 200 and info["client"]["name"] == "web-1" and info["sensu"]["version"].startswith("1.")
    status, settings = await client.call("GET", "/settings")
    assert status == 200 and settings["rabbitmq"]["password"] == "REDACTED"
    assert settings["client"]["name"] == "web-1"


async def test_with_a_user_and_password_settings_needs_basic_auth(guarded: Running) -> None:
    assert (await guarded.call("GET", "/settings"))[0] == 401
    assert (await guarded.call("GET", "/settings", auth=("ops", "wrong")))[0] == 401
    status, settings = await guarded.call("GET", "/settings", auth=("ops", "s3cret"))
    assert status == 200 and settings["client"]["http_socket"]["password"] == "REDACTED"
    assert (await guarded.call("GET", "/info"))[0] == 200, "only /settings unless protect_all_endpoints"


async def test_protect_all_endpoints_guards_results_too() -> None:
    async for one in running({"user": "ops", "password": "s3cret", "protect_all_endpoints": True}):
        assert (await one.call("POST", "/results", {"name": "x", "output": "y"}))[0] == 401
        status, _ = await one.call("POST", "/results", {"name": "x", "output": "y"},
                                   auth=("ops", "s3cret"))
        assert status == 202


async def test_a_disabled_socket_does_not_listen() -> None:
    transport = MemoryTransport()
    agent = Agent(settings_of({"client": {"name": "a", "socket": {"enabled": False}, "http_socket": {"enabled": False}}}),
                  transport, env={})
    await agent.start()
    try:
        assert agent.http is None
    finally:
        await agent.stop()


async def test_a_taken_port_is_logged_and_the_client_runs_on(client: Running) -> None:
    port = client.agent.http.port  # type: ignore[union-attr]
    other = Agent(settings_of({"client": {"name": "b", "socket": {"enabled": False}, "http_socket": {"port": port}}}),
                  MemoryTransport(), env={})
    await other.start()
    try:
        assert other.http is None and other.counts["http_socket_unavailable"] == 1
    finally:
        await other.stop()

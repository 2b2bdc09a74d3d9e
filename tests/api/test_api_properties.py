"""Property tests: random JSON bodies, query strings and path parameters at every endpoint.

Whatever comes in: never a 5xx, every error is `{"error": "..."}` (but /health's 412, a list
of reasons), every status is one
/openapi.json lists for the operation (or the router's 404/405/308), and a request that is
refused leaves the store as it was and publishes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.api import ROUTES, build_app
from pipeline.api.http import API
from pipeline.api.openapi import document
from pipeline.config.load import settings_of
from pipeline.store.memory import MemoryStore
from tests.api.support import CHECKS, FakeClock, RecordingTransport, seed, snapshot

DOC = document()
ROUTER_STATUSES = {308, 404, 405}

FIELDS = ["name", "address", "subscriptions", "keepalives", "check", "client", "subscribers", "reason",
          "creator", "path", "content", "expire", "begin", "subscription", "id", "expire_on_resolve", "output",
          "status", "source", "ttl", "handlers", "signature", "interval"]
QUERY_KEYS = ["limit", "offset", "max_age", "consumers", "messages", "redacted", "invalidate",
              "invalidate_expire", "filter.check.status", "filter.client.name", "filter.", "filter..x", "other"]
NAMES = ["web-01", "db-01", "disk", "ntp", "linux", "client:web-01", "*", "a/b", "..", ".", "", "a b", "\x00",
         "\u00e9", "%2F", "critical", "warning", "ok", "linux:*", "*:ntp", "x" * 300]

scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
field_values = json_values | st.sampled_from(NAMES) | st.integers(-5, 5) | st.lists(st.sampled_from(NAMES), max_size=3)
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), field_values, max_size=6)
bodies = (objects.map(lambda o: json.dumps(o).encode()) | json_values.map(lambda v: json.dumps(v).encode())
          | st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
queries = st.dictionaries(st.sampled_from(QUERY_KEYS) | st.text(max_size=6),
                          st.sampled_from(["1", "0", "-1", "10", "abc", "true", "false", "", "2", "99999999999999"])
                          | st.text(max_size=6), max_size=3)
params = st.sampled_from(NAMES) | st.text(max_size=12)


def operations() -> list[tuple[str, str]]:
    return sorted({(method, re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)) for method, path, _ in ROUTES})


def fill(template: str, values: list[str]) -> str:
    found = iter(values)
    return re.sub(r"\{\w+\}", lambda _: quote(next(found, "x"), safe=""), template)


class Running:
    """An app over a seeded MemoryStore on a private event loop, for synchronous hypothesis tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock)
        self.transport = RecordingTransport()
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        await seed(self.store)
        await self.store.put_stash("keep/me", {"a": 1})
        await self.store.put_silence({"id": "linux:*", "subscription": "linux", "check": None,
                                      "timestamp": int(self.clock())})
        app = build_app(settings_of({"checks": CHECKS}), self.store, self.transport, self.clock, delete_poll_interval=0)
        self.app: web.Application = app
        self.client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
        await self.client.start_server()

    async def _call(self, method: str, path: str, body: bytes | None) -> tuple[int, str]:
        async with self.client.request(method, path, data=body, allow_redirects=False,
                                       headers={"Content-Type": "application/json"}) as response:
            return response.status, await response.text()

    async def _settled(self) -> Any:
        # A client deletion finishes after its 202: let it, so the snapshot holds still.
        await self.app[API].drain()
        return await snapshot(self.store)

    def check(self, method: str, template: str, path: str, body: bytes | None) -> None:
        before = self.loop.run_until_complete(self._settled())
        sent = len(self.transport.sent)
        status, text = self.loop.run_until_complete(self._call(method, path, body))
        assert status < 500, (method, path, body, status, text)
        operation = DOC["paths"][template][method.lower()]
        assert str(status) in operation["responses"] or status in ROUTER_STATUSES, (method, path, status, text)
        if status >= 400:
            error = json.loads(text)
            if status != 412:  # /health's 412 is Sensu's list of reasons
                assert isinstance(error, dict) and isinstance(error.get("error"), str) and error["error"], text
            assert self.loop.run_until_complete(self._settled()) == before, (method, path, body, text)
            assert len(self.transport.sent) == sent, (method, path, body, text)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    server = Running()
    yield server
    server.close()


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POSTS = [op for op in operations() if op[0] == "POST"]
READS = [op for op in operations() if op[0] in ("GET", "DELETE")]


@PROPERTY_SETTINGS
@given(st.sampled_from(POSTS), st.lists(params, min_size=1, max_size=2), bodies, queries)
def test_random_bodies_at_every_post_endpoint_never_5xx_and_a_refusal_changes_nothing(
    running: Running, operation: tuple[str, str], values: list[str], body: bytes, query: dict[str, str],
) -> None:
    method, template = operation
    path = fill(template, values) + ("?" + urlencode(query) if query else "")
    running.check(method, template, path, body)


@PROPERTY_SETTINGS
@given(st.sampled_from(READS), st.lists(params, min_size=3, max_size=3), queries)
def test_random_paths_and_query_strings_at_every_get_and_delete_never_5xx(
    running: Running, operation: tuple[str, str], values: list[str], query: dict[str, str],
) -> None:
    method, template = operation
    path = fill(template, values) + ("?" + urlencode(query) if query else "")
    running.check(method, template, path, None)


VALID: dict[str, dict[str, Any]] = {
    "/clients": {"name": "new-1", "address": "10.0.0.9", "subscriptions": ["linux"], "keepalives": True},
    "/request": {"check": "disk", "subscribers": ["linux"], "reason": "r", "creator": "c"},
    "/resolve": {"client": "web-01", "check": "disk"},
    "/results": {"name": "x", "output": "o", "status": 1, "source": "sw-1", "ttl": 60},
    "/stashes": {"path": "p/q", "content": {"a": 1}, "expire": 60},
    "/stashes/{path}": {"a": 1},
    "/silenced": {"subscription": "linux", "check": "disk", "begin": 1_700_000_100, "expire": 60, "reason": "r",
                  "creator": "c", "expire_on_resolve": True},
    "/silenced/clear": {"id": "linux:*"},
}


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid body for a POST endpoint with one field changed to anything, or removed."""
    template = draw(st.sampled_from(sorted(VALID)))
    body = dict(VALID[template])
    key = draw(st.sampled_from(sorted(body)))
    if draw(st.booleans()):
        del body[key]
    else:
        body[key] = draw(field_values)
    return template, body


@PROPERTY_SETTINGS
@given(near_valid())
def test_a_valid_body_with_one_field_changed_lands_whole_or_changes_nothing(
    running: Running, case: tuple[str, dict[str, Any]],
) -> None:
    template, body = case
    running.check("POST", template, fill(template, ["notes"]), json.dumps(body).encode())


@PROPERTY_SETTINGS
@given(objects)
def test_random_silences_either_land_whole_or_change_nothing(running: Running, body: dict[str, Any]) -> None:
    running.check("POST", "/silenced", "/silenced", json.dumps(body).encode())

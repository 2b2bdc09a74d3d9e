"""What every endpoint shares (reference §7 conventions): request ids, CORS, HEAD, OPTIONS, 404 and
405, trailing slashes, errors as JSON, the body cap, and odd paths sent byte for byte."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp import web

from pipeline.api import ROUTES, build_app
from pipeline.config.load import settings_of
from pipeline.store import base as store_base
from pipeline.store.memory import MemoryStore
from tests.api.support import FakeClock, Harness, RecordingTransport, seed, snapshot, start_harness

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Allow-Headers": "Origin, X-Requested-With, Content-Type, Accept, Authorization",
}


async def test_every_response_has_a_request_id_and_no_cors_headers_by_default(api: Harness) -> None:
    for method, path in [("GET", "/clients"), ("GET", "/nope"), ("PUT", "/clients"), ("POST", "/clients")]:
        reply = await api.call(method, path)
        assert UUID.match(reply.headers["X-Request-ID"]), (method, path)
        assert not [h for h in reply.headers if h.startswith("Access-Control-")], (method, path)


async def test_a_sane_request_id_from_the_caller_is_kept_and_a_strange_one_replaced(api: Harness) -> None:
    kept = await api.call("GET", "/clients", headers={"X-Request-ID": "lb-1234.abc"})
    assert kept.headers["X-Request-ID"] == "lb-1234.abc"
    replaced = await api.call("GET", "/clients", headers={"X-Request-ID": "a b <script>"})
    assert UUID.match(replaced.headers["X-Request-ID"])


async def test_connections_stay_open_unless_close_connections_is_set() -> None:
    clock = FakeClock()
    default = await start_harness(MemoryStore(clock=clock), clock, {})
    closing = await start_harness(MemoryStore(clock=clock), clock, {"api": {"close_connections": True}})
    try:
        assert "Connection" not in (await default.call("GET", "/clients")).headers
        assert (await closing.call("GET", "/clients")).headers["Connection"] == "close"
    finally:
        await default.client.close()
        await closing.client.close()


async def test_options_answers_200_on_any_path_with_cors_when_an_origin_is_allowed(api: Harness) -> None:
    reply = await api.call("OPTIONS", "/clients/web-01")
    assert (reply.status, reply.text) == (200, "")
    clock = FakeClock()
    allowed = await start_harness(MemoryStore(clock=clock), clock, {"api": {"cors": {"origin": "https://dash"}}})
    try:
        reply = await allowed.call("OPTIONS", "/clients/web-01")
        assert reply.headers["Access-Control-Allow-Origin"] == "https://dash"
        assert reply.headers["Access-Control-Allow-Methods"] == CORS["Access-Control-Allow-Methods"]
    finally:
        await allowed.client.close()


async def test_cors_headers_follow_the_api_cors_settings() -> None:
    clock = FakeClock()
    harness = await start_harness(MemoryStore(clock=clock), clock, {"api": {"cors": {"Origin": "https://dash"}}})
    try:
        reply = await harness.call("GET", "/clients")
        assert reply.headers["Access-Control-Allow-Origin"] == "https://dash"
        assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    finally:
        await harness.client.close()


async def test_head_works_wherever_get_does_with_the_same_status_and_no_body(api: Harness) -> None:
    await seed(api.store)
    for path in ["/info", "/clients", "/clients/web-01", "/clients/nope", "/events/web-01/disk", "/openapi.json"]:
        get = await api.call("GET", path)
        head = await api.call("HEAD", path)
        assert (head.status, head.text) == (get.status, ""), path
    get_routes = {path for method, path, _ in ROUTES if method == "GET"}
    # `/ui...` is the dashboard's page and its helpers (docs/dashboard.md, tests/ui/), not the API.
    head_routes = {r.resource.canonical for r in api.app.router.routes()
                   if r.method == "HEAD" and r.resource and not r.resource.canonical.startswith("/ui")}
    assert head_routes == {re.sub(r"\{(\w+):[^}]*\}", r"{\1}", p) for p in get_routes}


async def test_an_unknown_route_is_404_and_a_wrong_method_405_both_as_json(api: Harness) -> None:
    missing = await api.call("GET", "/nothing/here")
    assert (missing.status, missing.json) == (404, {"error": "no such endpoint: GET /nothing/here"})
    wrong = await api.call("PATCH", "/clients")
    assert wrong.status == 405 and wrong.json["error"].startswith("PATCH is not allowed on /clients")
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}


async def test_a_trailing_slash_is_redirected_to_the_path_without_it(api: Harness) -> None:
    reply = await api.call("GET", "/clients/")
    assert (reply.status, reply.headers["Location"]) == (308, "/clients")


async def test_an_unexpected_failure_is_a_500_naming_the_request_id_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenStore(MemoryStore):
        async def list_clients(self) -> list[Any]:
            raise RuntimeError("disk on fire at /var/lib/secret")

    clock = FakeClock()
    harness = await start_harness(BrokenStore(clock=clock), clock)
    try:
        reply = await harness.call("GET", "/clients")
        assert reply.status == 500
        assert reply.headers["X-Request-ID"] in reply.json["error"]
        assert "fire" not in reply.text and "Traceback" not in reply.text
        assert any("disk on fire" in (r.exc_text or "") for r in caplog.records)
    finally:
        await harness.client.close()


async def test_an_unavailable_store_is_a_503() -> None:
    found = getattr(store_base, "StoreUnavailable", None)
    if found is None:
        pytest.skip("the store has no StoreUnavailable yet")
    unavailable: type[Exception] = found

    class DownStore(MemoryStore):
        async def list_events_json(self, client: str | None = None) -> list[bytes]:
            raise unavailable("redis at 127.0.0.1:6379: connection refused")

    clock = FakeClock()
    harness = await start_harness(DownStore(clock=clock), clock)
    try:
        reply = await harness.call("GET", "/events")
        assert reply.status == 503 and "connection refused" in reply.json["error"]
    finally:
        await harness.client.close()


async def test_a_body_over_the_cap_is_413_whether_declared_or_streamed(memory_api: Harness) -> None:
    before = await snapshot(memory_api.store)
    big = b'{"path": "a", "content": {"x": "' + b"y" * (1024 * 1024) + b'"}}'
    declared = await memory_api.call("POST", "/stashes", raw=big)
    assert declared.status == 413 and "exceeds 1048576 bytes" in declared.json["error"]

    async def chunks() -> Any:
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]

    async with memory_api.client.post("/stashes", data=chunks(),
                                      headers={"Content-Type": "application/json"}) as response:
        assert response.status == 413
        assert "exceeds 1048576 bytes" in (await response.json())["error"]
    assert await snapshot(memory_api.store) == before


async def test_the_body_cap_follows_max_body_size() -> None:
    clock = FakeClock()
    harness = await start_harness(MemoryStore(clock=clock), clock, {"api": {"max_body_size": 100}})
    try:
        small = await harness.call("POST", "/stashes", {"path": "a", "content": {}})
        assert small.status == 201
        large = await harness.call("POST", "/stashes", {"path": "a", "content": {"x": "y" * 100}})
        assert large.status == 413
    finally:
        await harness.client.close()


@pytest.mark.parametrize("body", [b"", b"   ", b"{", b"[1,2]", b"null", b'"text"', b"NaN", b'{"a": 1e999}',
                                  b"\xff\xfe", b'{"path": "\\ud800"}', b"[" * 2000])
async def test_a_malformed_body_is_400_with_a_json_message(memory_api: Harness, body: bytes) -> None:
    for path in ("/clients", "/stashes", "/silenced", "/results", "/request", "/resolve", "/silenced/clear",
                 "/stashes/a"):
        reply = await memory_api.call("POST", path, raw=body)
        assert reply.status == 400, (path, body, reply.text)
        assert reply.json["error"].startswith("the request body")
    assert memory_api.transport.sent == []


async def raw_get(port: int, target: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode("latin-1"))
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize(("target", "message"), [
    ("/clients/a%2Fb", "encoded '/'"),
    ("/stashes/a%2fb", "encoded '/'"),
    ("/stashes/a%5Cb", "encoded '/' or '\\\\'"),
    ("/clients/a%00b", "control character"),
    ("/stashes/x%0Ay", "control character"),
    ("/stashes/a/../b", "'..' segment"),
    ("/clients/..", "'..' segment"),
    ("/clients/%2e%2E", "'..' segment"),
    ("/stashes/./a", "'..' segment"),
    ("/clients/%FF", "not UTF-8"),
    ("/clients/a%ZZ", "client name"),
    ("/events/web%20one/disk", "client name"),
    ("/events/web-01/di%3Bsk", "check name"),
])
async def test_odd_paths_sent_byte_for_byte_are_400_with_a_json_message(target: str, message: str) -> None:
    app = build_app(settings_of({}), MemoryStore(), RecordingTransport())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        status, body = await raw_get(runner.addresses[0][1], target)
        assert status == 400
        assert message in body.decode(), body
        assert body.startswith(b'{"error":')
    finally:
        await runner.cleanup()

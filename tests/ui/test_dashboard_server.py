"""The dashboard's server side without a browser: settings checked with their JSON path, the page's
security headers, auth, the proxy to `dashboard.apis`, and the graph of the series ogi holds."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.api import build_app
from pipeline.api.ui.static import STATIC
from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.model import JSON
from pipeline.registry import Registry
from pipeline.store.base import SeriesSample
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from tests.helpers import free_port

PAGE_CALL = {"X-Requested-With": "ogi-dashboard", "Content-Type": "application/json"}


async def serve(settings: JSON, store: MemoryStore | None = None) -> TestClient[web.Request, web.Application]:
    client: TestClient[web.Request, web.Application] = TestClient(
        TestServer(build_app(settings_of(settings), store or MemoryStore(), MemoryTransport())))
    await client.start_server()
    return client


@pytest.fixture
async def remote() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    store = MemoryStore()
    await store.put_event({"id": "1", "client": {"name": "db-east"}, "check": {"name": "replication", "status": 2},
                           "occurrences": 1, "action": "create"})
    client = await serve({"api": {"user": "admin", "password": "east-secret"}}, store)
    yield client
    await client.close()


def errors_of(settings: JSON) -> dict[str, str]:
    found, _ = validate(settings, Registry())
    return {error.path: error.message for error in found if error.path.startswith("dashboard")}


def test_bad_dashboard_settings_are_config_errors_naming_their_json_path():
    assert errors_of({"dashboard": []}) == {"dashboard": "must be an object"}
    wrong = errors_of({"dashboard": {
        "refresh": 0, "graphite_url": "carbon:8080", "colour": "red",
        "apis": [{"name": "local", "url": "http://x"}, {"name": "east", "url": "ftp://east", "user": "a"},
                 {"name": "west", "url": "http://west:4567", "timeout": -1}, "nope"],
    }})
    assert set(wrong) == {
        "dashboard.refresh", "dashboard.graphite_url", "dashboard.colour", "dashboard.apis[0].name",
        "dashboard.apis[1].url", "dashboard.apis[1]", "dashboard.apis[2].timeout", "dashboard.apis[3]",
    }
    assert "user and password go together" in wrong["dashboard.apis[1]"]
    assert errors_of({"dashboard": {"refresh": 10, "prometheus_url": "http://127.0.0.1:9090",
                                    "apis": [{"name": "east", "url": "https://east:4567", "user": "a", "password": "b"}]}}) == {}


async def test_the_page_and_its_assets_forbid_inline_script_and_framing():
    client = await serve({})
    try:
        page = await client.get("/ui/")
        html = await page.text()
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        # Every script is a file of its own: nothing inline that the policy would have to allow.
        assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="static/app.js">']
        assert " style=" not in html and "<style" not in html
        for name in sorted(p.name for p in STATIC.iterdir() if p.suffix in (".js", ".css")):
            asset = await client.get(f"/ui/static/{name}")
            assert asset.status == 200 and asset.headers["X-Content-Type-Options"] == "nosniff", name
            unsafe = re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|eval\(", await asset.text())
            assert unsafe is None, f"{name} must build the page with textContent"
        assert (await client.get("/ui/static/app.js")).headers["Content-Type"].startswith("text/javascript")
        assert (await client.get("/ui/static/missing.js")).status == 404
        moved = await client.get("/ui", allow_redirects=False)
        assert moved.status == 308 and moved.headers["Location"] == "ui/"
    finally:
        await client.close()


async def test_the_dashboard_sits_behind_the_api_auth_and_can_be_turned_off():
    client = await serve({"api": {"user": "admin", "password": "pw"}})
    try:
        assert (await client.get("/ui/")).status == 401
        token = base64.b64encode(b"admin:pw").decode()
        assert (await client.get("/ui/", headers={"Authorization": f"Basic {token}"})).status == 200
    finally:
        await client.close()
    off = await serve({"dashboard": {"enabled": False}})
    try:
        assert (await off.get("/ui/")).status == 404
        assert (await off.get("/events")).status == 200
    finally:
        await off.close()


async def test_the_proxy_adds_the_site_credentials_and_keeps_them_from_the_browser(remote):
    url = str(remote.make_url("")).rstrip("/")
    client = await serve({"dashboard": {"apis": [{"name": "east", "url": url, "user": "admin", "password": "east-secret"}]}})
    try:
        shown = await (await client.get("/ui/settings.json")).json()
        assert shown["sites"] == ["local", "east"] and "east-secret" not in str(shown) and url not in str(shown)
        assert (await (await client.get("/settings")).json())["dashboard"]["apis"][0]["password"] == "REDACTED"
        events = await client.get("/ui/sites/east/events")
        assert events.status == 200
        assert [e["check"]["name"] for e in await events.json()] == ["replication"]
        body = '{"subscription": "client:db-east", "check": "replication"}'
        refused = await client.post("/ui/sites/east/silenced", data=body, headers={"Content-Type": "application/json"})
        assert refused.status == 403 and "X-Requested-With" in (await refused.json())["error"]
        as_form = await client.post("/ui/sites/east/silenced", data=body,
                                    headers={"X-Requested-With": "x", "Content-Type": "text/plain"})
        assert as_form.status == 415
        created = await client.post("/ui/sites/east/silenced", data=body, headers=PAGE_CALL)
        assert created.status == 201, await created.text()
        listed = await (await remote.get("/silenced", headers={"Authorization": "Basic " + base64.b64encode(b"admin:east-secret").decode()})).json()
        assert [s["id"] for s in listed] == ["client:db-east:replication"]
        assert (await client.get("/ui/sites/west/events")).status == 404
    finally:
        await client.close()


async def test_a_site_that_is_down_or_silent_is_an_error_naming_it():
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    client = await serve({"dashboard": {"apis": [
        {"name": "down", "url": f"http://127.0.0.1:{free_port()}"},
        {"name": "silent", "url": f"http://127.0.0.1:{port}", "timeout": 0.5},
    ]}})
    try:
        down = await client.get("/ui/sites/down/events")
        assert down.status == 502 and "site down is unreachable" in (await down.json())["error"]
        late = await client.get("/ui/sites/silent/events")
        assert late.status == 504 and "site silent did not answer" in (await late.json())["error"]
        assert (await client.get("/events")).status == 200  # the local API goes on
    finally:
        await client.close()
        silent.close()


async def test_the_graph_without_graphite_or_prometheus_draws_the_series_ogi_holds_and_the_history():
    store = MemoryStore()
    check: dict[str, Any] = {"name": "load", "status": 0, "executed": 1000, "interval": 10, "output": ""}
    await store.record_result("web-1", check, check, [])
    await store.put_series({
        'load_load1{check="load",client="web-1"}': SeriesSample(0.5, 1000.0, 9e9),
        'load_load1{check="load",client="web-2"}': SeriesSample(9.0, 1000.0, 9e9),
    })
    client = await serve({}, store)
    try:
        graph = await (await client.get("/ui/graph", params={"client": "web-1", "check": "load"})).json()
        assert graph["source"] == "ogi"
        assert graph["series"] == [{"name": "load_load1", "points": [[1000.0, 0.5]]}]
        assert graph["history"] == {"statuses": [0], "executed": 1000, "interval": 10}
        assert (await client.get("/ui/graph")).status == 400
    finally:
        await client.close()

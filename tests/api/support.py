"""Shared harness for the API tests (no tests here): a seeded app on a test server, snapshots.

The `store`, `api` and `memory_api` fixtures that use it are in tests/conftest.py: every
endpoint test taking `api` runs against the memory store and the Redis store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from pipeline.api import build_app
from pipeline.api.http import API
from pipeline.config.load import settings_of
from pipeline.model import JSON
from pipeline.store.base import Store
from pipeline.transport.base import PipeKind
from pipeline.transport.memory import MemoryTransport
from tests.helpers import FakeClock

START = 1_700_000_000.0

CHECKS: JSON = {
    "disk": {"command": "check-disk -w 80", "subscribers": ["linux"], "interval": 60, "handlers": ["default"]},
    "ntp": {"command": "check-ntp", "subscribers": ["roundrobin:infra"], "interval": 300},
    "backup": {"command": "check-backup", "standalone": True, "interval": 3600},
}


class RecordingTransport(MemoryTransport):
    """The memory transport, keeping a copy of every published message for the test to read."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, PipeKind, Any]] = []

    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None:
        self.sent.append((pipe, kind, json.loads(body)))
        await super().publish(pipe, body, kind)

    def bodies(self, pipe: str) -> list[Any]:
        return [body for sent_pipe, _, body in self.sent if sent_pipe == pipe]


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Harness:
    """An API app on a test server, with its store, transport and clock."""

    client: TestClient[web.Request, web.Application]
    store: Store
    transport: RecordingTransport
    clock: FakeClock
    app: web.Application
    settings: JSON = field(default_factory=dict)

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | str | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        if data is not None:  # as a user's client sends it; a test of another type says so in `headers`
            headers = {"Content-Type": "application/json", **(headers or {})}
        async with self.client.request(method, path, data=data, headers=headers, allow_redirects=False) as response:
            return Reply(response.status, response.headers, await response.text())

    async def drain(self) -> None:
        await self.app[API].drain()


async def start_harness(store: Store, clock: FakeClock, settings: JSON | None = None,
                        transport: RecordingTransport | None = None) -> Harness:
    settings = {"checks": CHECKS} if settings is None else settings
    transport = transport or RecordingTransport()
    app = build_app(settings_of(settings), store, transport, clock, delete_poll_interval=0.01)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    return Harness(client, store, transport, clock, app, settings)


# -- seeding ------------------------------------------------------------------------------------

def client_doc(name: str, subscriptions: tuple[str, ...] = ("linux",), **extra: Any) -> JSON:
    return {"name": name, "address": "10.0.0.1", "subscriptions": [*subscriptions, f"client:{name}"],
            "version": "1.9.0", "timestamp": int(START), **extra}


def result_doc(name: str, status: int, output: str = "", executed: int = int(START), **extra: Any) -> JSON:
    return {"name": name, "command": f"check-{name}", "output": output or f"{name} status {status}",
            "status": status, "issued": executed, "executed": executed, "duration": 0.1, "type": "standard", **extra}


def event_doc(client: JSON, check: JSON, event_id: str = "7c9a1d2e-0000-4000-8000-000000000001",
              **extra: Any) -> JSON:
    return {"id": event_id, "action": "create", "timestamp": int(START), "occurrences": 1,
            "occurrences_watermark": 1, "last_ok": None, "last_state_change": int(START), "silenced": False,
            "silenced_by": [], "client": client, "check": {**check, "history": [str(check["status"])],
                                                             "total_state_change": 0}, **extra}


async def seed_result(store: Store, client: str, check: JSON, aggregates: tuple[str, ...] = ()) -> None:
    await store.record_result(client, check, check, list(aggregates))


async def seed(store: Store) -> None:
    """Two clients; web-01 with a failing disk (open event) and an OK ntp; db-01 with a warning disk."""
    web01 = client_doc("web-01", ("linux", "web"))
    db01 = client_doc("db-01", ("linux",))
    await store.put_client(web01)
    await store.put_client(db01)
    disk_fail = result_doc("disk", 2, "DISK CRITICAL: / 95%")
    await seed_result(store, "web-01", result_doc("disk", 0, "DISK OK", int(START) - 60), ("disk",))
    await seed_result(store, "web-01", disk_fail, ("disk",))
    await seed_result(store, "web-01", result_doc("ntp", 0, "NTP OK"), ("ntp",))
    await seed_result(store, "db-01", result_doc("disk", 1, "DISK WARNING: / 85%", int(START) - 600), ("disk",))
    await store.put_event(event_doc(web01, disk_fail))


async def snapshot(store: Store) -> Any:
    """Everything the API can change, in a comparable form."""
    aggregates = await store.list_aggregates()
    return {
        "clients": await store.list_clients(),
        "results": await store.list_results(),
        "history": [await store.get_history(c, str(r.get("name"))) for c, r in await store.list_results()],
        "events": await store.list_events(),
        "aggregates": {name: await store.aggregate_members(name) for name in aggregates},
        "stashes": await store.list_stashes(),
        "silences": await store.list_silences(),
    }

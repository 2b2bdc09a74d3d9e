"""Registration and deregistration events by Sensu 1.x's rules, over the memory and the Redis store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.agent.deregistration import deregistration_check
from pipeline.config.load import settings_of
from pipeline.server.registration import registration_check
from pipeline.server.server import Server
from pipeline.store.base import Store
from pipeline.transport.memory import MemoryTransport
from tests.helpers import events_in

NOW = 1_700_000_000


def recorder(path: Path, code: int = 0) -> dict[str, Any]:
    return {"type": "pipe", "command": f"cat >> {path}; echo >> {path}; exit {code}"}


def server(store: Store, handlers: dict[str, Any]) -> Server:
    return Server(settings_of({"handlers": handlers}), store, MemoryTransport(), elect=False, run_tasks=False,
                  serve_metrics=False)


async def keepalive(srv: Server, **client: Any) -> None:
    await srv.keepalives.receive(json.dumps({"name": "web-1", "address": "10.0.0.5", "subscriptions": [],
                                             "version": "1.9.0", "timestamp": NOW, **client}).encode())


async def settle(srv: Server) -> None:
    await srv.registrations.close(30)


def test_the_registration_check_is_sensus_defaults_under_the_clients_own() -> None:
    assert registration_check({}, {"name": "a"}, NOW) is None, "nothing handles it"
    check = registration_check({"handlers": {"registration": {}}}, {"name": "a"}, NOW)
    assert check == {"handler": "registration", "status": 1, "name": "registration",
                     "output": "new client registration", "issued": NOW, "executed": NOW}
    own = registration_check({}, {"name": "a", "registration": {"handler": "cmdb", "status": 2, "name": "x",
                                                               "team": "ops"}}, NOW)
    assert own is not None and (own["handler"], own["status"], own["name"], own["team"]) == (
        "cmdb", 2, "registration", "ops")


async def test_the_first_keepalive_raises_one_registration_event_and_later_ones_none(
        store: Store, tmp_path: Path) -> None:
    srv = server(store, {"registration": recorder(tmp_path / "reg")})
    await keepalive(srv)
    await keepalive(srv)
    await settle(srv)
    await keepalive(srv)
    await settle(srv)
    events = events_in(tmp_path / "reg")
    assert len(events) == 1
    event = events[0]
    assert (event["check"]["name"], event["check"]["status"], event["action"]) == ("registration", 1, "create")
    assert event["client"]["name"] == "web-1"
    assert await store.get_event("web-1", "registration") is None, "a registration event is not stored"


async def test_the_clients_registration_handler_is_used(store: Store, tmp_path: Path) -> None:
    srv = server(store, {"registration": recorder(tmp_path / "reg"), "cmdb": recorder(tmp_path / "cmdb")})
    await keepalive(srv, registration={"handler": "cmdb"})
    await settle(srv)
    assert not (tmp_path / "reg").exists()
    assert events_in(tmp_path / "cmdb")[0]["check"]["handler"] == "cmdb"


async def test_a_failing_registration_handler_does_not_stop_the_registration(store: Store, tmp_path: Path) -> None:
    srv = server(store, {"registration": recorder(tmp_path / "reg", code=1)})
    await keepalive(srv)
    await settle(srv)
    assert events_in(tmp_path / "reg"), "the handler ran"
    assert (await store.get_client("web-1") or {}).get("address") == "10.0.0.5"


async def test_a_client_seen_only_through_results_registers_at_its_first_keepalive(
        store: Store, tmp_path: Path) -> None:
    srv = server(store, {"registration": recorder(tmp_path / "reg")})
    await srv.processor.process_result({"client": "web-1", "check": {"name": "disk", "output": "", "status": 0}})
    await keepalive(srv)
    await settle(srv)
    assert len(events_in(tmp_path / "reg")) == 1


async def test_a_deregistration_is_handled_then_the_client_and_its_state_are_gone(
        store: Store, tmp_path: Path) -> None:
    srv = server(store, {"deregistration": recorder(tmp_path / "dereg"), "default": recorder(tmp_path / "d")})
    await keepalive(srv, deregister=True)
    await srv.processor.process_result({"client": "web-1", "check": {"name": "disk", "output": "full", "status": 2}})
    assert await store.get_event("web-1", "disk") is not None
    check = deregistration_check({"name": "web-1", "deregister": True}, NOW)
    assert check is not None
    await srv.processor.process_result({"client": "web-1", "check": check})
    handled = events_in(tmp_path / "dereg")
    assert [(e["check"]["name"], e["check"]["output"]) for e in handled] == [
        ("deregistration", "client initiated deregistration")]
    assert await store.get_client("web-1") is None
    assert await store.list_events("web-1") == [] and await store.list_results("web-1") == []
    assert "web-1" not in await store.keepalive_times()
    await keepalive(srv)  # the same host back: registered afresh
    assert await store.get_client("web-1") is not None


def test_the_deregistration_check_takes_the_clients_handler_and_only_with_deregister() -> None:
    assert deregistration_check({"name": "a"}, NOW) is None
    check = deregistration_check({"name": "a", "deregister": True,
                                  "deregistration": {"handler": "cmdb_remove", "status": 2}}, NOW)
    assert check is not None and (check["handler"], check["status"], check["name"]) == (
        "cmdb_remove", 2, "deregistration")


async def test_a_registration_handler_that_hangs_does_not_hold_up_keepalives(store: Store, tmp_path: Path) -> None:
    srv = server(store, {"registration": {"type": "pipe", "command": "sleep 600"}})
    await keepalive(srv)
    await keepalive(srv, name="web-2")
    assert {c["name"] for c in await store.list_clients()} == {"web-1", "web-2"}
    assert len(srv.registrations._tasks) == 2, "both registrations still in their handlers"
    await srv.registrations.close(0.1)
    assert not srv.registrations._tasks

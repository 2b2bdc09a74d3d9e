"""/results[/:client[/:check]] (reference §7)."""

from __future__ import annotations

from typing import Any

from pipeline.config.load import settings_of
from pipeline.model import Event
from pipeline.server.results import ResultProcessor
from tests.api.support import START, Harness, seed


async def test_a_posted_result_is_published_as_client_sensu_api_with_issued_and_executed(api: Harness) -> None:
    reply = await api.call("POST", "/results", {"name": "backup", "output": "backup failed", "status": 2,
                                                "team": "ops"})
    assert (reply.status, reply.json) == (202, {"issued": int(START)})
    assert api.transport.sent == [("results", "direct", {"client": "sensu-api", "check": {
        "name": "backup", "output": "backup failed", "status": 2, "team": "ops",
        "issued": int(START), "executed": int(START)}})]


async def test_a_posted_result_without_status_is_ok_and_one_with_source_belongs_to_that_client(
    api: Harness,
) -> None:
    await api.call("POST", "/results", {"name": "ping", "output": "PING OK", "source": "switch-1"})
    payload = api.transport.bodies("results")[0]
    assert payload["client"] == "sensu-api" and payload["check"]["status"] == 0

    class Engine:
        events: list[Event] = []

        async def process(self, event: Event, *_: Any) -> None:
            self.events.append(event)

    processor = ResultProcessor(settings_of({}), api.store, Engine(), clock=api.clock)
    await processor.process_result(payload)
    proxy = await api.store.get_client("switch-1")
    assert proxy is not None and proxy["type"] == "proxy"
    assert (await api.store.get_result("switch-1", "ping") or {})["output"] == "PING OK"


async def test_a_posted_result_with_a_wrong_field_is_400_and_not_published(api: Harness) -> None:
    cases = [
        ({"output": "x"}, "'name'"),
        ({"name": "bad name", "output": "x"}, "'name'"),
        ({"name": "a", "output": 3}, "'output'"),
        ({"name": "a", "output": "x", "status": "2"}, "'status'"),
        ({"name": "a", "output": "x", "status": True}, "'status'"),
        ({"name": "a", "output": "x", "source": "a b"}, "'source'"),
        ({"name": "a", "output": "x", "ttl": -1}, "'ttl'"),
        ({"name": "a", "output": "x", "handlers": "default"}, "'handlers'"),
    ]
    for body, field in cases:
        reply = await api.call("POST", "/results", body)
        assert reply.status == 400 and field in reply.json["error"], (body, reply.text)
    assert api.transport.sent == []


async def test_every_last_result_is_listed_with_its_history_as_integers(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/results")
    assert reply.status == 200
    summary = [(r["client"], r["check"]["name"], r["check"]["history"]) for r in reply.json]
    assert summary == [("db-01", "disk", [1]), ("web-01", "disk", [0, 2]), ("web-01", "ntp", [0])]


async def test_one_clients_results_are_listed_and_a_client_without_results_is_404(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/results/web-01")
    assert [r["check"]["name"] for r in reply.json] == ["disk", "ntp"]
    assert (await api.call("GET", "/results/nobody")).status == 404


async def test_one_result_is_returned_and_a_missing_one_is_404(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/results/db-01/disk")
    assert reply.status == 200
    assert reply.json["client"] == "db-01" and reply.json["check"]["output"] == "DISK WARNING: / 85%"
    assert (await api.call("GET", "/results/db-01/ntp")).status == 404


async def test_deleting_a_result_forgets_it_and_its_history_with_204(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("DELETE", "/results/web-01/ntp")
    assert (reply.status, reply.text) == (204, "")
    assert await api.store.get_result("web-01", "ntp") is None
    assert await api.store.get_history("web-01", "ntp") == []
    assert (await api.call("DELETE", "/results/web-01/ntp")).status == 404

"""A client cannot grow the server's state without bound with made-up check names (issue 13, finding 5)."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.config.load import settings_of
from pipeline.config.settings import limits
from pipeline.errors import ConfigErrors
from pipeline.server.aging import ResultAging
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore


class Recording:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def process(self, event: dict[str, Any], *_: Any) -> None:
        self.events.append(event)


def result(client: str, check: str, status: int = 2) -> bytes:
    return json.dumps({"client": client, "check": {"name": check, "output": "x", "status": status}}).encode()


async def test_results_for_check_names_past_the_cap_are_rejected_and_counted_while_known_ones_go_on() -> None:
    store, engine, registry = MemoryStore(), Recording(), CollectorRegistry()
    processor = ResultProcessor(settings_of({"sensu": {"limits": {"checks_per_client": 3}}}), store, engine, metrics=registry)
    for n in range(10):
        await processor.process_message(result("web-01", f"made-up-{n}"))
    assert sorted(check["name"] for _, check in await store.list_results("web-01")) == [
        "made-up-0", "made-up-1", "made-up-2"]
    assert registry.get_sample_value("ogi_results_rejected_total", {"reason": "too_many_checks"}) == 7
    # the checks it has keep working, and another client has its own room
    assert await processor.process_message(result("web-01", "made-up-1", 0)) is not None
    assert await processor.process_message(result("db-01", "made-up-9")) is not None


async def test_the_cap_counts_the_names_already_in_the_store() -> None:
    store = MemoryStore()
    first = ResultProcessor(settings_of({"sensu": {"limits": {"checks_per_client": 2}}}), store, Recording())
    for name in ("a", "b"):
        await first.process_message(result("web-01", name))
    restarted = ResultProcessor(settings_of({"sensu": {"limits": {"checks_per_client": 2}}}), store, Recording())
    assert await restarted.process_message(result("web-01", "c")) is None
    assert await restarted.process_message(result("web-01", "a")) is not None


def test_the_limits_have_defaults_and_refuse_wrong_values_by_path() -> None:
    found = limits({})
    assert (found.checks_per_client, found.result_max_age, found.handler_share) == (10_000, 604_800, 0.5)
    try:
        limits({"sensu": {"limits": {"checks_per_client": 0, "result_max_age": -1}, "handlers": {"share": 2}}})
    except ConfigErrors as wrong:
        assert sorted(e.path for e in wrong.errors) == [
            "sensu.handlers.share", "sensu.limits.checks_per_client", "sensu.limits.result_max_age"]
    else:
        raise AssertionError("wrong limits accepted")


async def test_results_of_checks_that_stopped_reporting_age_out_unless_their_event_is_open() -> None:
    now = [1_700_000_000.0]
    store = MemoryStore(clock=lambda: now[0])
    processor = ResultProcessor(settings_of({}), store, Recording(), clock=lambda: now[0])
    for name, status in (("renamed", 0), ("failing", 2)):
        await processor.process_result({"client": "web-01", "check": {
            "name": name, "output": "x", "status": status, "executed": int(now[0])}})
    aging = ResultAging(store, max_age=3600, clock=lambda: now[0])
    assert await aging.tick() == []
    now[0] += 3601
    assert await aging.tick() == [("web-01", "renamed")]
    assert [check["name"] for _, check in await store.list_results()] == ["failing"]
    assert await ResultAging(store, max_age=0, clock=lambda: now[0] + 10**9).tick() == []


def test_the_limits_example_in_the_events_doc_is_valid_and_sets_both_bounds() -> None:
    import re
    from pathlib import Path

    from pipeline.config.validate import validate
    from pipeline.registry import default_registry

    text = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    block = next(b for b in re.findall(r"```json\n(.*?)```", text, re.S) if '"limits"' in b)
    settings = json.loads(block)
    assert validate(settings, default_registry)[0] == []
    assert (limits(settings).checks_per_client, limits(settings).result_max_age) == (2000, 86400)

"""What a result leaves behind besides its event: the counter, the event id, the settings unchanged."""

from __future__ import annotations

import json
import re
import uuid

from prometheus_client import CollectorRegistry, Counter, generate_latest

from pipeline.config.load import settings_of
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from tests.helpers import FakeClock, RecordingEngine


def exposition(registry: CollectorRegistry) -> str:
    # The creation time differs between two counters; everything else must not.
    return re.sub(r"(ogi_results_created) \S+", r"\1 T", generate_latest(registry).decode())


async def test_accepted_results_are_exposed_with_a_counters_names_help_type_and_value() -> None:
    registry = CollectorRegistry()
    processor = ResultProcessor(settings_of({}), MemoryStore(clock=FakeClock()), RecordingEngine(), metrics=registry)
    for status in (0, 2, 2):
        body = {"client": "web1", "check": {"name": "disk", "output": "x", "status": status}}
        await processor.process_message(json.dumps(body).encode())
    await processor.process_message(b"not json")

    reference = CollectorRegistry()
    Counter("ogi_results", "Check results accepted for processing", registry=reference).inc(3)
    ours = "\n".join(line for line in exposition(registry).splitlines() if "ogi_results_rejected" not in line)
    assert ours.strip() == exposition(reference).strip()
    assert registry.get_sample_value("ogi_results_total") == 3


async def test_event_ids_are_distinct_random_uuids() -> None:
    engine = RecordingEngine()
    processor = ResultProcessor(settings_of({}), MemoryStore(clock=FakeClock()), engine)
    for i in range(200):
        body = {"client": f"web{i}", "check": {"name": "disk", "output": "x", "status": 2}}
        await processor.process_message(json.dumps(body).encode())
    ids = [event["id"] for event in engine.events]
    assert len(set(ids)) == 200
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


async def test_changing_an_events_check_leaves_the_check_definition_as_configured() -> None:
    definition = {"command": "check-disk", "handlers": ["mail"], "subscribers": ["web"],
                  "labels": {"team": {"name": "ops"}}, "interval": 60}
    settings = {"checks": {"disk": json.loads(json.dumps(definition))}}
    engine = RecordingEngine()
    processor = ResultProcessor(settings_of(settings), MemoryStore(clock=FakeClock()), engine)
    body = {"client": "web1", "check": {"name": "disk", "output": "full", "status": 2, "subscribers": ["db"]}}
    await processor.process_message(json.dumps(body).encode())
    (event,) = engine.events
    check = event["check"]
    assert check["handlers"] == ["mail"] and check["labels"] == {"team": {"name": "ops"}}
    assert check["subscribers"] == ["db"]
    check["handlers"].append("pager")
    check["labels"]["team"]["name"] = "dba"
    check["command"] = "changed"
    assert settings["checks"]["disk"] == definition

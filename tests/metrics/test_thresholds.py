"""`output_metric_thresholds`: a check's status and output set from its points before the event is built."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.config.load import settings_of
from pipeline.config.validate import check as validate_check
from pipeline.registry import Registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from tests.helpers import RecordingEngine

RULES = [{"name": "load1", "null_status": 3,
          "thresholds": [{"max": 10, "status": 2}, {"max": "5", "status": 1}, {"min": "0.01", "status": 1}]}]
PERFDATA = "OK - load average: {v}, 0.20, 0.30|load1={v};;;0; load5=0.2;;;0;"


async def run(outputs: list[str], **check: Any) -> tuple[RecordingEngine, ResultProcessor]:
    engine = RecordingEngine()
    settings: dict[str, Any] = {"checks": {}}
    processor = ResultProcessor(settings_of(settings), MemoryStore(), engine, metrics=CollectorRegistry())
    for output in outputs:
        result = {"client": "web-01", "check": {"name": "load", "status": 0, "output": output,
                                                 "output_metric_format": "nagios_perfdata",
                                                 "output_metric_thresholds": RULES, **check}}
        await processor.process_result(result)
    return engine, processor


async def test_a_point_above_a_max_sets_the_status_and_says_why_in_the_output() -> None:
    engine, processor = await run([PERFDATA.format(v="12.5"), PERFDATA.format(v="7"), PERFDATA.format(v="1")])
    assert [(e["action"], e["check"]["status"]) for e in engine.events] == [("create", 2), ("create", 1),
                                                                            ("resolve", 0)]
    assert engine.events[0]["check"]["output"].endswith("THRESHOLD load1 = 12.5 > max 10 (status 2)\n")
    assert engine.events[1]["check"]["output"].endswith("THRESHOLD load1 = 7 > max 5 (status 1)\n")
    assert engine.events[2]["check"]["output"] == PERFDATA.format(v="1"), "no breach, output untouched"
    assert await processor.store.get_event("web-01", "load") is None


async def test_a_point_below_a_min_breaks_its_threshold() -> None:
    engine, _ = await run([PERFDATA.format(v="0")])
    assert engine.events[0]["check"]["status"] == 1
    assert "load1 = 0 < min 0.01" in engine.events[0]["check"]["output"]


async def test_a_metric_that_is_absent_takes_null_status() -> None:
    engine, _ = await run(["OK - no perfdata at all"])
    assert engine.events[0]["check"]["status"] == 3
    assert "load1: no point (null_status 3)" in engine.events[0]["check"]["output"]


async def test_the_check_own_worse_status_is_kept() -> None:
    engine, _ = await run([PERFDATA.format(v="7")], status=2)
    assert engine.events[0]["check"]["status"] == 2


async def test_tags_narrow_the_points_a_rule_reads() -> None:
    rules = [{"name": "disk.used", "tags": [{"name": "path", "value": "/var"}], "thresholds": [{"max": 90, "status": 2}]}]
    output = "disk,path=/ used=95\ndisk,path=/var used=50\n"
    engine, _ = await run([output], output_metric_format="influxdb_line", output_metric_thresholds=rules)
    assert engine.events == [], "/ is over 90 but the rule reads /var only: an OK, no event"


def test_bad_threshold_rules_are_check_config_errors_at_their_paths() -> None:
    rules = [{"thresholds": [{"status": 2}, {"max": "ten", "status": "2"}]}, "x", {"name": "a", "null_status": "1"}]
    settings = {"checks": {"load": {"command": "check_load", "interval": 60, "subscribers": ["linux"], "handlers": [],
                                    "output_metric_format": "nagios_perfdata", "output_metric_thresholds": rules}}}
    _typed, errors, _ = validate_check(settings, Registry(use_entry_points=False))
    base = "checks.load.output_metric_thresholds"
    assert sorted(e.path for e in errors) == sorted([
        f"{base}[0].name", f"{base}[0].thresholds[0]", f"{base}[0].thresholds[1].status",
        f"{base}[0].thresholds[1].max", f"{base}[1]", f"{base}[2].null_status"])

"""The engine runs each event through gates -> filters -> mutator -> handler for every handler.

Most tests use the recording extensions of tests/chain/recording.py in a fresh Registry; each appends what
it saw to `settings["record"]`, so a test reads back exactly what happened and in which order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.registry import Registry
from tests.chain.recording import (
    JsonMutator,
    RecordHandler,
    chain_registry,
)
from tests.helpers import make_event


def make_engine(settings: dict[str, Any], **kwargs: Any) -> tuple[Engine, CollectorRegistry]:
    metrics = CollectorRegistry()
    return Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=metrics), chain_registry(), **kwargs), metrics


def handled(settings: dict[str, Any]) -> list[str]:
    return [entry[1] for entry in settings.get("record", []) if entry[0] == "handled"]


def sample(metrics: CollectorRegistry, metric: str, **labels: str) -> float:
    return metrics.get_sample_value(metric, labels) or 0.0


# --- handler resolution ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"handlers": ["a", "b"], "handler": "c"}, ["a", "b"]),
        ({"handler": "c"}, ["c"]),
        ({}, ["default"]),
        ({"handlers": []}, []),
    ],
)
async def test_handlers_come_from_check_handlers_else_check_handler_else_default(check, expected):
    settings = {"handlers": {n: {"type": "record"} for n in ("a", "b", "c", "default")}}
    engine, _ = make_engine(settings)
    await engine.process(make_event(**check))
    assert handled(settings) == expected


async def test_nested_sets_are_flattened_and_each_handler_gets_the_event_once():
    settings = {
        "handlers": {
            "default": {"type": "set", "handlers": ["ops", "mail", "everyone"]},
            "ops": {"type": "set", "handlers": ["mail", "pager"]},
            "everyone": {"type": "set", "handlers": ["ops", "chat", "pager"]},
            "mail": {"type": "record"}, "pager": {"type": "record"}, "chat": {"type": "record"},
        }
    }
    engine, _ = make_engine(settings)
    await engine.process(make_event(handlers=["default", "mail"]))
    assert handled(settings) == ["mail", "pager", "chat"]
    assert engine.handlers_for(("default",)) == ["mail", "pager", "chat"]


async def test_a_set_containing_itself_does_not_hang():
    settings = {
        "handlers": {
            "loop": {"type": "set", "handlers": ["loop", "inner", "mail"]},
            "inner": {"type": "set", "handlers": ["loop", "mail"]},
            "mail": {"type": "record"},
        }
    }
    engine, _ = make_engine(settings)
    await engine.process(make_event(handler="loop"))
    assert handled(settings) == ["mail"]


async def test_an_unknown_handler_is_logged_once_and_the_others_still_run(caplog):
    settings = {"handlers": {"mail": {"type": "record"}}}
    engine, _ = make_engine(settings)
    with caplog.at_level(logging.ERROR, logger="ogi"):
        await engine.process(make_event(handlers=["nosuch", "mail"]))
        await engine.process(make_event(handlers=["nosuch", "mail"]))
    assert handled(settings) == ["mail", "mail"]
    unknown = [r for r in caplog.records if getattr(r, "fields", {}).get("handler") == "nosuch"]
    assert [r.getMessage() for r in unknown] == ["unknown handler"]


async def test_without_a_default_handler_an_event_without_handlers_goes_nowhere():
    settings = {"handlers": {"mail": {"type": "record"}}}
    engine, metrics = make_engine(settings)
    await engine.process(make_event())
    assert handled(settings) == []
    assert sample(metrics, "ogi_events_processed_total") == 1


async def test_a_handler_named_after_a_registry_type_runs_like_a_sensu_extension():
    settings: dict[str, Any] = {}
    engine, _ = make_engine(settings)
    await engine.process(make_event(handler="record"))
    assert handled(settings) == ["record"]


# --- gates, filters, mutators ---------------------------------------------------------------


async def test_a_gate_stops_the_event_before_any_filter_runs():
    settings = {"handlers": {"mail": {"type": "record", "filters": ["keep"]}}}
    engine, metrics = make_engine(settings)
    await engine.process(make_event(handler="mail", handle=False))
    assert settings.get("record", []) == []
    assert sample(metrics, "ogi_stage_total", stage="gate", name="handle", outcome="dropped") == 1


async def test_severities_gate_uses_the_handler_definition():
    settings = {"handlers": {"mail": {"type": "record", "severities": ["critical"]},
                             "chat": {"type": "record"}}}
    engine, _ = make_engine(settings)
    await engine.process(make_event(status=1, handlers=["mail", "chat"]))
    assert handled(settings) == ["chat"]


async def test_filters_run_in_order_and_the_first_drop_stops_the_rest():
    settings = {"handlers": {"mail": {"type": "record", "filters": ["keep", "drop", "broken"]}}}
    engine, metrics = make_engine(settings)
    await engine.process(make_event(handler="mail"))
    assert settings["record"] == [("filtered", "keep"), ("filtered", "drop")]
    assert sample(metrics, "ogi_stage_total", stage="filter", name="drop", outcome="dropped") == 1
    assert sample(metrics, "ogi_stage_total", stage="filter", name="keep", outcome="passed") == 1


async def test_a_single_filter_key_works_like_a_list_of_one():
    settings = {"handlers": {"mail": {"type": "record", "filter": "drop"}, "chat": {"type": "record"}}}
    engine, _ = make_engine(settings)
    await engine.process(make_event(handlers=["mail", "chat"]))
    assert handled(settings) == ["chat"]


async def test_a_failing_filter_lets_the_event_pass_as_in_sensu():
    settings = {"handlers": {"mail": {"type": "record", "filters": ["broken"]}}}
    engine, metrics = make_engine(settings)
    await engine.process(make_event(handler="mail"))
    assert handled(settings) == ["mail"]
    assert sample(metrics, "ogi_stage_total", stage="filter", name="broken", outcome="error") == 1


async def test_a_settings_filter_is_an_attribute_filter():
    settings = {
        "handlers": {"mail": {"type": "record", "filters": ["production"]}},
        "filters": {"production": {"attributes": {"client": {"environment": "production"}}}},
    }
    engine, _ = make_engine(settings)
    event = make_event(handler="mail")
    await engine.process(event)
    event["client"]["environment"] = "production"
    await engine.process(event)
    assert handled(settings) == ["mail"]


async def test_the_json_mutator_is_the_default():
    settings = {"handlers": {"mail": {"type": "record"}}}
    engine, _ = make_engine(settings)
    event = make_event(handler="mail")
    await engine.process(event)
    payload = settings["record"][-1][3]
    assert json.loads(payload)["check"]["name"] == "disk"


async def test_two_handlers_with_the_same_mutator_mutate_the_event_once():
    settings = {
        "handlers": {"mail": {"type": "record", "mutator": "upper"}, "chat": {"type": "record", "mutator": "upper"},
                     "raw": {"type": "record"}},
        "mutators": {"upper": {"command": "UP"}},
    }
    engine, metrics = make_engine(settings)
    await engine.process(make_event(handlers=["mail", "chat", "raw"]))
    mutations = [e[1] for e in settings["record"] if e[0] == "mutated"]
    assert sorted(mutations) == ["json", "upper"]
    payloads = {e[1]: e[3] for e in settings["record"] if e[0] == "handled"}
    assert payloads["mail"] == payloads["chat"] == b"UP:disk"
    assert sample(metrics, "ogi_stage_total", stage="mutator", name="upper", outcome="ok") == 1


async def test_handlers_sharing_an_inline_mutator_get_one_payload_even_when_one_times_out():
    settings = {
        "handlers": {"graphite": {"type": "record", "mutator": "loud"}, "slow": {"type": "hanging", "mutator": "loud",
                                                                                  "timeout": 0.05},
                     "tcp": {"type": "record", "mutator": "loud"}},
    }
    engine, metrics = make_engine(settings, timeout_grace=0)
    await asyncio.wait_for(engine.process(make_event(handlers=["graphite", "slow", "tcp"])), 5)
    assert [e for e in settings["record"] if e[0] == "mutated"] == [("mutated", "loud")]
    payloads = {e[1]: e[3] for e in settings["record"] if e[0] == "handled"}
    assert payloads == {"graphite": b"CRITICAL: FULL", "tcp": b"CRITICAL: FULL"}
    assert sample(metrics, "ogi_stage_total", stage="mutator", name="loud", outcome="ok") == 1
    assert sample(metrics, "ogi_handler_timeouts_total", handler="slow") == 1


async def test_a_failing_inline_mutator_is_counted_once_and_drops_the_event_for_each_of_its_handlers(caplog):
    settings = {
        "handlers": {"mail": {"type": "record", "mutator": "bad"}, "chat": {"type": "record", "mutator": "bad"},
                     "raw": {"type": "record"}},
    }
    engine, metrics = make_engine(settings)
    with caplog.at_level(logging.ERROR):
        await engine.process(make_event(handlers=["mail", "chat", "raw"]))
    assert handled(settings) == ["raw"]
    assert sample(metrics, "ogi_stage_total", stage="mutator", name="bad", outcome="error") == 1
    assert [r.getMessage() for r in caplog.records].count("mutator failed, event dropped") == 1


async def test_a_failing_mutator_drops_only_its_handlers_event():
    settings = {
        "handlers": {"mail": {"type": "record", "mutator": "broken"}, "chat": {"type": "record", "mutator": "fine"}},
        "mutators": {"broken": {"command": "fail"}, "fine": {"command": "OK"}},
    }
    engine, metrics = make_engine(settings)
    await engine.process(make_event(handlers=["mail", "chat"]))
    assert handled(settings) == ["chat"]
    assert sample(metrics, "ogi_stage_total", stage="mutator", name="broken", outcome="error") == 1
    assert sample(metrics, "ogi_handler_failures_total", handler="mail") == 0


async def test_a_mutator_returning_nothing_drops_the_event_for_that_handler():
    settings = {
        "handlers": {"mail": {"type": "record", "mutator": "quiet"}},
        "mutators": {"quiet": {"command": "drop"}},
    }
    engine, metrics = make_engine(settings)
    await engine.process(make_event(handler="mail"))
    assert handled(settings) == []
    assert sample(metrics, "ogi_stage_total", stage="mutator", name="quiet", outcome="dropped") == 1


# --- concurrency, failures, timeouts --------------------------------------------------------


async def test_handlers_run_concurrently_and_process_waits_for_all():
    release = asyncio.Event()
    settings: dict[str, Any] = {
        "release": release,
        "handlers": {"slow": {"type": "blocked", "timeout": 1}, "fast": {"type": "record"}},
    }
    engine, _ = make_engine(settings)
    processing = asyncio.create_task(engine.process(make_event(handlers=["slow", "fast"])))
    for _ in range(20):  # let both routes start; the slow one then waits for `release`
        await asyncio.sleep(0)
    assert ("started", "slow") in settings["record"]
    assert handled(settings) == ["fast"]
    assert not processing.done()
    release.set()
    await asyncio.wait_for(processing, 5)
    assert handled(settings) == ["fast", "slow"]


async def test_a_raising_handler_is_counted_and_does_not_affect_the_others():
    settings = {"handlers": {"bad": {"type": "raising"}, "good": {"type": "record"}}}
    engine, metrics = make_engine(settings)
    await engine.process(make_event(handlers=["bad", "good"]))
    await engine.process(make_event(handler="bad"))
    assert handled(settings) == ["good"]
    assert sample(metrics, "ogi_handler_failures_total", handler="bad") == 2
    assert sample(metrics, "ogi_handler_failures_total", handler="good") == 0
    assert sample(metrics, "ogi_stage_total", stage="handler", name="bad", outcome="error") == 2


async def test_a_handler_past_its_timeout_is_counted_and_the_others_finish():
    settings = {"handlers": {"stuck": {"type": "hanging", "timeout": 0.05}, "good": {"type": "record"}}}
    engine, metrics = make_engine(settings, timeout_grace=0.0)
    await asyncio.wait_for(engine.process(make_event(handlers=["stuck", "good"])), 10)
    await asyncio.wait_for(engine.process(make_event(handler="stuck")), 10)
    assert handled(settings) == ["good"]
    assert sample(metrics, "ogi_handler_timeouts_total", handler="stuck") == 2
    assert sample(metrics, "ogi_stage_total", stage="handler", name="stuck", outcome="timeout") == 2


async def test_in_process_handlers_share_a_bounded_pool_that_command_handlers_do_not_use():
    release = asyncio.Event()
    settings: dict[str, Any] = {
        "release": release,
        "sensu": {"handlers": {"concurrency": 2}},
        "handlers": {**{f"b{i}": {"type": "blocked"} for i in range(3)}, "cmd": {"type": "pipe"}},
    }
    engine, _ = make_engine(settings)
    processing = asyncio.create_task(engine.process(make_event(handlers=["b0", "b1", "b2", "cmd"])))
    for _ in range(20):
        await asyncio.sleep(0)
    started = [e[1] for e in settings["record"] if e[0] == "started"]
    assert len(started) == 2
    assert handled(settings) == ["cmd"]
    release.set()
    await asyncio.wait_for(processing, 5)
    assert sorted(handled(settings)) == ["b0", "b1", "b2", "cmd"]


# --- metrics and shutdown -------------------------------------------------------------------


async def test_stage_metrics_are_readable_from_the_registry_passed_in():
    settings = {"handlers": {"mail": {"type": "record", "filters": ["keep"]}}}
    engine, metrics = make_engine(settings)
    for _ in range(3):
        await engine.process(make_event(handler="mail"))
    assert sample(metrics, "ogi_events_processed_total") == 3
    assert sample(metrics, "ogi_stage_total", stage="gate", name="all", outcome="passed") == 3
    assert sample(metrics, "ogi_stage_total", stage="handler", name="mail", outcome="ok") == 3
    assert sample(metrics, "ogi_stage_seconds_count", stage="filter", name="keep") == 3
    assert sample(metrics, "ogi_stage_seconds_count", stage="mutator", name="json") == 3
    assert sample(metrics, "ogi_stage_seconds_sum", stage="handler", name="mail") >= 0
    assert REGISTRY.get_sample_value("ogi_events_processed_total") is None


async def test_close_closes_each_shared_instance_once():
    closed: list[str] = []

    class Closing(RecordHandler):
        async def close(self) -> None:
            closed.append(self.name)

    class ClosingMutator(JsonMutator):
        async def close(self) -> None:
            closed.append("mutator:" + self.name)

    settings = {"handlers": {"a": {"type": "closing"}, "b": {"type": "closing"},
                             "both": {"type": "set", "handlers": ["a", "b"]}}}
    registry = chain_registry()
    registry.register("handlers", "closing", Closing)
    registry.register("mutators", "json", ClosingMutator)
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings)), registry)
    await engine.process(make_event(handler="both"))
    await engine.close()
    await engine.close()
    assert sorted(closed) == ["a", "b", "mutator:json"]


async def test_cancelling_process_from_outside_is_not_mistaken_for_a_timeout():
    release = asyncio.Event()
    settings: dict[str, Any] = {"release": release, "handlers": {"slow": {"type": "blocked"}}}
    engine, metrics = make_engine(settings)
    processing = asyncio.create_task(engine.process(make_event(handler="slow")))
    for _ in range(5):
        await asyncio.sleep(0)
    processing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await processing
    assert sample(metrics, "ogi_handler_timeouts_total", handler="slow") == 0


async def test_an_event_waiting_for_a_pool_slot_can_be_cancelled_without_losing_the_slot():
    release = asyncio.Event()
    settings: dict[str, Any] = {
        "release": release, "sensu": {"handlers": {"concurrency": 1}},
        "handlers": {"slow": {"type": "blocked"}, "mail": {"type": "record"}},
    }
    engine, _ = make_engine(settings)
    holding = asyncio.create_task(engine.process(make_event(handler="slow")))
    waiting = asyncio.create_task(engine.process(make_event(handler="mail")))
    for _ in range(5):
        await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await asyncio.wait_for(holding, 5)
    await asyncio.wait_for(engine.process(make_event(handler="mail")), 5)
    assert handled(settings) == ["slow", "mail"]


# --- with the real built-in types -----------------------------------------------------------


async def test_a_real_pipe_handler_receives_the_event_json_on_stdin(tmp_path):
    out = tmp_path / "event.json"
    settings = {"handlers": {"file": {"type": "pipe", "command": f"cat > {shlex.quote(str(out))}", "timeout": 10}}}
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=CollectorRegistry()), Registry())
    await engine.process(make_event(handler="file"))
    await engine.close()
    event = json.loads(out.read_text())
    assert (event["client"]["name"], event["check"]["name"], event["check"]["status"]) == ("web-1", "disk", 2)


async def test_a_failing_command_mutator_drops_only_its_handlers_event_with_real_commands(tmp_path):
    def writer(name: str) -> str:
        return f"cat > {shlex.quote(str(tmp_path / name))}"

    settings = {
        "handlers": {
            "broken": {"type": "pipe", "command": writer("broken"), "mutator": "fails"},
            "upper": {"type": "pipe", "command": writer("upper"), "mutator": "shout"},
            "output": {"type": "pipe", "command": writer("output"), "mutator": "only_check_output"},
        },
        "mutators": {"fails": {"command": "exit 1"}, "shout": {"command": "tr a-z A-Z", "timeout": 10}},
    }
    metrics = CollectorRegistry()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=metrics), Registry())
    await engine.process(make_event(handlers=["broken", "upper", "output"]))
    await engine.close()
    assert not (tmp_path / "broken").exists()
    assert '"NAME":"DISK"' in (tmp_path / "upper").read_text().replace(" ", "")
    assert (tmp_path / "output").read_text() == "CRITICAL: full"
    assert sample(metrics, "ogi_stage_total", stage="handler", name="upper", outcome="ok") == 1
    assert sample(metrics, "ogi_handler_failures_total", handler="broken") == 0


async def test_a_real_pipe_handler_that_exits_non_zero_is_counted_as_a_failure():
    settings = {"handlers": {"bad": {"type": "pipe", "command": "cat >/dev/null; exit 2"}}}
    metrics = CollectorRegistry()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=metrics), Registry())
    await engine.process(make_event(handler="bad"))
    await engine.close()
    assert sample(metrics, "ogi_handler_failures_total", handler="bad") == 1

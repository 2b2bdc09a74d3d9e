"""The `prometheus` handler: names, labels, mappings, expiry and counts of what it cannot export."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from handlers.prometheus import PrometheusHandler
from pipeline.config.load import settings_of
from pipeline.extension import Context, DefinitionError, Handler
from pipeline.metrics.graphite_mapping import (
    DROPPED,
    Mapper,
    compile_rules,
    parse_series_id,
    sanitize_label_name,
    sanitize_metric_name,
    series_id,
)
from pipeline.registry import default_registry
from pipeline.store.base import SeriesSample
from pipeline.store.memory import MemoryStore
from tests.helpers import ROOT, FakeClock, free_port

NOW = 1_800_000_000.0



class CountingStore(MemoryStore):
    """A memory store that also tells how often series were written."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.puts = 0

    async def put_series(self, samples: dict[str, SeriesSample]) -> None:
        self.puts += 1
        await super().put_series(samples)


def make(definition: dict[str, Any] | None = None, name: str = "prom") -> tuple[PrometheusHandler, CountingStore, FakeClock,
                                                                               CollectorRegistry]:
    clock = FakeClock(NOW)
    store = CountingStore(clock)
    registry = CollectorRegistry()
    context = Context(settings=settings_of({}), store=store, clock=clock, metrics=registry)
    handler = PrometheusHandler(name, {"type": "prometheus", **(definition or {})}, context)
    return handler, store, clock, registry


def event(output: str, client: str = "web01", check: str = "metrics_cpu", **extra: Any) -> dict[str, Any]:
    return {
        "client": {"name": client, "address": "10.0.0.1", "subscriptions": []},
        "check": {"name": check, "type": "metric", "status": 0, "executed": int(NOW), "output": output, **extra},
        "action": "create", "occurrences": 1,
    }


async def stored(store: MemoryStore) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for sid, sample in (await store.list_series()).items():
        name, labels = parse_series_id(sid)
        found[(name, tuple(sorted(labels.items())))] = sample.value
    return found


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


async def test_a_mapping_rule_names_the_series_and_takes_labels_from_the_matched_nodes() -> None:
    handler, store, _, _ = make(
        {"mappings": [{"match": "*.cpu.*.user", "name": "cpu_user_jiffies", "labels": {"host": "${1}", "cpu": "${2}"}}]}
    )
    await handler.handle(event(f"web01.cpu.cpu0.user 1234 {int(NOW)}\nweb01.cpu.total.user 5000 {int(NOW)}\n"), b"")
    assert await stored(store) == {
        ("cpu_user_jiffies", labels(host="web01", cpu="cpu0", client="web01", check="metrics_cpu")): 1234.0,
        ("cpu_user_jiffies", labels(host="web01", cpu="total", client="web01", check="metrics_cpu")): 5000.0,
    }


async def test_the_first_matching_rule_wins() -> None:
    handler, store, _, _ = make({"mappings": [
        {"match": "*.load.load1", "name": "load1"},
        {"match": "*.load.*", "name": "load", "labels": {"window": "${2}"}},
    ]})
    await handler.handle(event("web01.load.load1 0.5\nweb01.load.load5 0.25\n"), b"")
    assert await stored(store) == {
        ("load1", labels(client="web01", check="metrics_cpu")): 0.5,
        ("load", labels(window="load5", client="web01", check="metrics_cpu")): 0.25,
    }


async def test_a_matched_part_that_is_not_a_name_is_sanitised_in_the_metric_name() -> None:
    handler, store, _, _ = make({"mappings": [{"match": "*.disk.*.used", "name": "disk_${2}_used"}]})
    await handler.handle(event("web01.disk.sda-1.used 7\n"), b"")
    assert await stored(store) == {("disk_sda_1_used", labels(client="web01", check="metrics_cpu")): 7.0}


async def test_without_a_rule_the_path_is_sanitised_and_the_client_node_dropped() -> None:
    handler, store, _, _ = make()
    await handler.handle(event("web-01_example_com.cpu.total.user 3\nother.disk-io.sda 4\n9lives.x 5\n",
                               client="web-01.example.com"), b"")
    assert await stored(store) == {
        ("cpu_total_user", labels(client="web-01.example.com", check="metrics_cpu")): 3.0,
        ("other_disk_io_sda", labels(client="web-01.example.com", check="metrics_cpu")): 4.0,
        ("_9lives_x", labels(client="web-01.example.com", check="metrics_cpu")): 5.0,
    }


async def test_a_drop_rule_leaves_the_series_out_and_counts_it() -> None:
    handler, store, _, registry = make({"mappings": [{"match": "*.cpu.*.idle", "action": "drop"}]})
    await handler.handle(event("web01.cpu.total.idle 9\nweb01.cpu.total.user 1\n"), b"")
    assert await stored(store) == {("cpu_total_user", labels(client="web01", check="metrics_cpu")): 1.0}
    assert registry.get_sample_value("ogi_prometheus_series_skipped_total", {"handler": "prom"}) == 1.0


def test_a_path_with_nothing_left_to_name_is_not_exported() -> None:
    mapper = Mapper(compile_rules([{"match": "*.x", "action": "drop"}]))
    assert mapper.series_id("web01", "metrics", "") is None
    assert mapper.series_id("web01", "metrics", "web01.x") == DROPPED
    assert sanitize_metric_name("") is None
    assert sanitize_label_name("__reserved") is None
    assert sanitize_label_name("") is None


def test_tags_become_labels_and_client_and_check_stay_ogis() -> None:
    mapper = Mapper([])
    sid = mapper.series_id("web01", "metrics", "web01.requests", (("client", "spoofed"), ("status-code", "200"), ("__x", "1")))
    assert sid is not None
    assert parse_series_id(sid) == ("requests", {"client": "web01", "check": "metrics", "status_code": "200"})


async def test_one_event_writes_its_series_to_the_store_in_one_call() -> None:
    handler, store, _, _ = make()
    await handler.handle(event("".join(f"web01.cpu.cpu{n}.user {n}\n" for n in range(50))), b"")
    assert store.puts == 1
    assert len(await store.list_series()) == 50


async def test_output_without_points_writes_nothing_and_garbage_lines_are_counted() -> None:
    handler, store, _, registry = make()
    await handler.handle(event("this is not a metric at all\n"), b"")
    assert store.puts == 0
    assert registry.get_sample_value("ogi_prometheus_lines_skipped_total", {"handler": "prom"}) == 1.0


async def test_the_last_value_of_a_series_wins() -> None:
    handler, store, clock, _ = make()
    await handler.handle(event("web01.load 1\n"), b"")
    clock.now += 10
    await handler.handle(event("web01.load 2\n"), b"")
    [sample] = (await store.list_series()).values()
    assert (sample.value, sample.updated) == (2.0, NOW + 10)


@pytest.mark.parametrize(
    ("definition", "check", "lives"),
    [
        ({}, {"interval": 10}, 30.0),
        ({}, {}, 180.0),
        ({}, {"interval": "often"}, 180.0),
        ({"expire_after": 45}, {"interval": 10}, 45.0),
    ],
)
async def test_a_series_expires_after_expire_after_or_three_check_intervals(
    definition: dict[str, Any], check: dict[str, Any], lives: float
) -> None:
    handler, store, clock, _ = make(definition)
    await handler.handle(event("web01.load 1\n", **check), b"")
    clock.now = NOW + lives - 0.5
    assert len(await store.list_series()) == 1
    clock.now = NOW + lives
    assert await store.list_series() == {}


async def test_handlers_sharing_a_registry_count_separately() -> None:
    clock = FakeClock(NOW)
    registry = CollectorRegistry()
    context = Context(store=MemoryStore(clock), clock=clock, metrics=registry)
    rules = {"mappings": [{"match": "*.x", "action": "drop"}]}
    one = PrometheusHandler("one", {"type": "prometheus", **rules}, context)
    two = PrometheusHandler("two", {"type": "prometheus", **rules}, context)
    await one.handle(event("web01.x 1\n"), b"")
    await two.handle(event("web01.x 1\nweb01.x 2\n"), b"")
    assert registry.get_sample_value("ogi_prometheus_series_skipped_total", {"handler": "one"}) == 1.0
    assert registry.get_sample_value("ogi_prometheus_series_skipped_total", {"handler": "two"}) == 2.0


def test_series_ids_escape_label_values_and_parse_back() -> None:
    values = {"path": "C:\\dir", "msg": 'line1\nline2 "q"', "client": "h", "check": "c,d=e}"}
    sid = series_id("esc_test", values)
    assert sid == 'esc_test{check="c,d=e}",client="h",msg="line1\\nline2 \\"q\\"",path="C:\\\\dir"}'
    assert parse_series_id(sid) == ("esc_test", values)


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({"mappings": {"match": "*"}}, "mappings"),
        ({"mappings": ["*.cpu"]}, "mappings[0]"),
        ({"mappings": [{"name": "x"}]}, "mappings[0].match"),
        ({"mappings": [{"match": "a..b", "name": "x"}]}, "mappings[0].match"),
        ({"mappings": [{"match": "*.cpu"}]}, "mappings[0].name"),
        ({"mappings": [{"match": "*.cpu", "name": "cpu-user"}]}, "mappings[0].name"),
        ({"mappings": [{"match": "*.cpu", "name": "cpu_${2}"}]}, "mappings[0].name"),
        ({"mappings": [{"match": "*.cpu", "name": "cpu", "labels": {"host": "${3}"}}]}, "mappings[0].labels.host"),
        ({"mappings": [{"match": "*.cpu", "name": "cpu", "labels": {"client": "${1}"}}]}, "mappings[0].labels.client"),
        ({"mappings": [{"match": "*.cpu", "name": "cpu", "labels": {"bad-name": "x"}}]}, "mappings[0].labels.bad-name"),
        ({"mappings": [{"match": "*.cpu", "name": "cpu", "labels": {"n": 3}}]}, "mappings[0].labels.n"),
        ({"mappings": [{"match": "x.*", "name": "a"}, {"match": "*", "nme": "b"}]}, "mappings[1].nme"),
        ({"mappings": [{"match": "*.cpu", "action": "drop", "name": "x"}]}, "mappings[0].action"),
        ({"mappings": [{"match": "*.cpu", "action": "keep"}]}, "mappings[0].action"),
        ({"expire_after": 0}, "expire_after"),
        ({"expire_after": "1h"}, "expire_after"),
        ({"pushgateway": "http://127.0.0.1:9091"}, "pushgateway"),
        ({"pushgateway": {"url": "127.0.0.1:9091"}}, "pushgateway.url"),
        ({"pushgateway": {"url": "http://127.0.0.1:9091", "job": ""}}, "pushgateway.job"),
        ({"pushgateway": {"url": "http://127.0.0.1:9091", "timeout": -1}}, "pushgateway.timeout"),
        ({"pushgateway": {"url": "http://127.0.0.1:9091", "grouping": {}}}, "pushgateway.grouping"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_key(definition: dict[str, Any], path: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        PrometheusHandler("prom", {"type": "prometheus", **definition}, Context())
    assert raised.value.path == path


def test_the_handler_type_is_found_by_its_name() -> None:
    assert default_registry.get("handlers", "prometheus") is PrometheusHandler


def test_compiled_rules_keep_their_order() -> None:
    rules = compile_rules([{"match": "a.*", "name": "a"}, {"match": "*.*", "name": "b"}])
    assert [rule.match for rule in rules] == ["a.*", "*.*"]


async def test_a_pushgateway_that_is_down_costs_a_counted_failure_and_never_an_error() -> None:
    port = free_port()  # nothing listens there
    handler, store, _, registry = make({"pushgateway": {"url": f"http://127.0.0.1:{port}", "job": "ogi", "timeout": 2}})
    await handler.handle(event("web01.load 1\n"), b"")
    await handler.close()  # waits for the push in flight
    assert len(await store.list_series()) == 1
    assert registry.get_sample_value("ogi_prometheus_push_failures_total", {"handler": "prom"}) == 1.0


def test_pushgateway_groups_are_per_client_and_check_with_unsafe_values_in_base64() -> None:
    handler, _, _, _ = make({"pushgateway": {"url": "http://127.0.0.1:9091/", "job": "ogi metrics"}})
    assert handler.pusher is not None
    assert handler.pusher.url("web01", "load") == (
        "http://127.0.0.1:9091/metrics/job@base64/b2dpIG1ldHJpY3M=/client/web01/check/load"
    )


# docs/prometheus.md


def doc_blocks() -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "prometheus.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_the_prometheus_doc_has_json_examples_with_mappings() -> None:
    blocks = doc_blocks()
    handlers = [h for b in blocks for h in b.get("handlers", {}).values() if h.get("type") == "prometheus"]
    assert any("mappings" in h for h in handlers)
    assert any("pushgateway" in h for h in handlers)
    assert any("metrics" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(doc_blocks())))
def test_every_handler_in_the_prometheus_doc_can_be_built(index: int) -> None:
    from pipeline.metrics.exporter import listener

    block = doc_blocks()[index]
    assert set(block) <= {"handlers", "checks", "metrics", "client"}, "an example is a settings fragment"
    listener(block)
    for name, definition in block.get("handlers", {}).items():
        cls = default_registry.get("handlers", definition["type"])
        assert cls.allowed_keys is not None
        assert set(definition) <= cls.allowed_keys | Handler.common_keys, f"handler {name}: unknown keys"
        cls(name, definition, Context(settings=settings_of(block)))


async def test_the_mapping_example_in_the_doc_names_the_series_as_the_doc_says() -> None:
    [block] = [b for b in doc_blocks() if "expire_after" in b.get("handlers", {}).get("prometheus", {})]
    handler, store, _, _ = make(block["handlers"]["prometheus"])
    await handler.handle(event("web01.cpu.cpu0.user 1234\nweb01.load.load5 0.5\n"), b"")
    assert await stored(store) == {
        ("cpu_user_jiffies", labels(cpu="cpu0", client="web01", check="metrics_cpu")): 1234.0,
        ("node_load5", labels(client="web01", check="metrics_cpu")): 0.5,
    }

"""What `ogi check-config` accepts is exactly what runs: the one validation pass agrees with the engine."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from pipeline.chain.routes import RouteTable, flatten, handler_names
from pipeline.chain.stagemetrics import StageMetrics
from pipeline.cli.main import main
from pipeline.config.load import load_settings, settings_of
from pipeline.config.validate import validate
from pipeline.errors import ConfigErrors
from pipeline.extension import Context
from pipeline.registry import default_registry

CHECK = {"command": "true", "interval": 10, "subscribers": ["linux"], "handlers": ["h"]}
HANDLER = {"type": "pipe", "command": "cat"}


def config(**sections: Any) -> dict[str, Any]:
    return {"checks": {"cpu": dict(CHECK)}, "handlers": {"h": dict(HANDLER)}, **sections}


# Each case ran only in part (or not at all) under `ogi run`/`ogi server` while check-config said OK.
DISAGREEMENTS = [
    ("a command mutator named without a definition",
     config(handlers={"h": {**HANDLER, "mutator": "pipe"}}), "handlers.h.mutator"),
    ("proxy_requests whose splay_coverage the publisher cannot honour",
     config(checks={"cpu": {**CHECK, "proxy_requests": {"client_attributes": {}, "splay_coverage": 100}}}),
     "checks.cpu.proxy_requests.splay_coverage"),
    ("a rabbitmq prefetch the transport refuses", config(rabbitmq={"prefetch": "x"}), "rabbitmq.prefetch"),
    ("a transport knob the transport refuses", config(transport={"max_attempts": 0}), "transport.max_attempts"),
    ("a transport name no daemon can use", config(transport={"name": "kafka"}), "transport.name"),
    ("redis settings the redis transport refuses", config(transport={"name": "redis"}, redis={"db": "x"}), "redis.db"),
    ("a spawn limit the engine silently replaced", config(sensu={"spawn": {"limit": 0}}), "sensu.spawn.limit"),
    ("a message size the server silently replaced",
     config(sensu={"server": {"max_message_size": -1}}), "sensu.server.max_message_size"),
    ("a results pipe the server silently replaced",
     config(sensu={"server": {"results_pipe": 5}}), "sensu.server.results_pipe"),
    ("a shutdown timeout the server silently replaced", config(sensu={"shutdown_timeout": "soon"}),
     "sensu.shutdown_timeout"),
]


@pytest.mark.parametrize(("what", "settings_", "path"), DISAGREEMENTS, ids=[c[0] for c in DISAGREEMENTS])
def test_check_config_reports_what_a_daemon_would_skip_or_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str, settings_: dict[str, Any], path: str
) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps(settings_))
    assert main(["check-config", "-c", str(file)]) == 1
    err = capsys.readouterr().err
    assert f"{file}: {path}: " in err, err
    assert err.strip().endswith("1 configuration error"), err


def test_the_pipe_mutator_case_says_what_to_define(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps(config(handlers={"h": {**HANDLER, "mutator": "pipe"}})))
    with pytest.raises(ConfigErrors) as caught:
        load_settings([str(file)], [], env={})
    [error] = caught.value.errors
    assert error.message == ("mutator type 'pipe' is named without a definition, "
                             "and cannot be built that way: command: is required")


@pytest.mark.parametrize("section", [{"rabbitmq": "amqp://guest:guest@127.0.0.1:5672/"},
                                     {"redis": "redis://127.0.0.1:6379/0"}])
def test_a_broker_url_string_the_daemons_accept_passes(tmp_path: Path, section: dict[str, Any]) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps(config(**section)))
    loaded, _ = load_settings([str(file)], [], env={})
    assert loaded.typed is not None


def test_the_typed_settings_hold_what_the_daemons_read(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps(config(sensu={"spawn": {"limit": 3}, "handlers": {"concurrency": 40},
                                             "server": {"results_pipe": "r2"}},
                                      api={"port": 4600}, rabbitmq=[{"host": "a"}, {"host": "b"}])))
    loaded, _ = load_settings([str(file)], [], env={})
    typed = loaded.typed
    assert typed is not None
    assert (typed.limits.spawn_limit, typed.limits.handler_concurrency, typed.limits.results_pipe) == (3, 40, "r2")
    assert typed.limits.agent_spawn_limit == 3  # Sensu's limit, when set, bounds the agent too
    assert typed.api.port == 4600
    assert len(typed.amqp.brokers) == 2
    assert typed.checks["cpu"].handlers == ("h",) and typed.checks["cpu"].raw["command"] == "true"
    assert typed.handlers["h"].type == "pipe"
    with pytest.raises(AttributeError):
        typed.limits.spawn_limit = 5  # type: ignore[misc]


def test_without_a_spawn_limit_the_agent_gets_more_slots_than_the_handlers() -> None:
    limits = settings_of({"sensu": {"handlers": {"concurrency": 40}}}).limits
    assert (limits.spawn_limit, limits.agent_spawn_limit) == (12, 32)


# --- the property: generated configurations either fail check-config or build a whole engine --

NAMES = ["a", "b", "c", "default"]
HANDLER_TYPES = ["pipe", "tcp", "udp", "transport", "set", "graphite", "prometheus", "nosuch"]
MUTATORS = ["json", "only_check_output", "ruby_hash", "pipe", "m1", "m2", "nosuch"]
FILTERS = ["occurrences", "is_incident", "not_silenced", "f1", "nosuch"]


def _handler(kind: str, draw: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {"type": kind}
    good = draw(st.integers(0, 5)) > 0  # mostly valid, so accepted configurations are common
    if kind == "pipe":
        definition["command"] = "cat" if good else draw(st.sampled_from([7, "", None]))
    elif kind in ("tcp", "udp"):
        definition["socket"] = {"host": "127.0.0.1", "port": 2003 if good else draw(st.sampled_from([0, "2003", 70000]))}
    elif kind == "transport":
        definition["pipe"] = {"type": "direct" if good else "sideways", "name": "events"}
    elif kind == "set":
        definition["handlers"] = draw(st.lists(st.sampled_from(NAMES + ["graphite", "pipe"]), max_size=3))
    elif kind == "graphite":
        definition.update({"host": "127.0.0.1", "port": 2003 if good else -1})
    elif kind == "prometheus" and not good:
        definition["expire_after"] = 0
    if draw(st.booleans()):
        definition["mutator"] = draw(st.sampled_from(MUTATORS))
    if draw(st.booleans()):
        definition["filters"] = draw(st.lists(st.sampled_from(FILTERS), max_size=2))
    if draw(st.integers(0, 5)) == 0:
        definition[draw(st.sampled_from(["timeout", "severities", "socket"]))] = draw(
            st.sampled_from([5, -1, ["critical"], ["bad"], {}]))
    return definition


@st.composite
def configurations(draw: Any) -> dict[str, Any]:
    handlers = {name: _handler(draw(st.sampled_from(HANDLER_TYPES)), draw)
                for name in draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True))}
    filters = {name: {"attributes": draw(st.sampled_from([{"check": {"status": 2}}] * 4 + [{"x": "eval: value >"}, None])),
                      **({"negate": draw(st.sampled_from([True, True, "yes"]))} if draw(st.booleans()) else {})}
               for name in draw(st.lists(st.sampled_from(["f1", "f2"]), max_size=2, unique=True))}
    mutators = {name: {"command": draw(st.sampled_from(["jq .", "jq .", 5])),
                       **({"timeout": draw(st.sampled_from([2, 2, 0]))} if draw(st.booleans()) else {})}
                for name in draw(st.lists(st.sampled_from(["m1", "m2"]), max_size=2, unique=True))}
    checks = {}
    for name in draw(st.lists(st.sampled_from(["cpu", "disk"]), min_size=1, max_size=2, unique=True)):
        check = dict(CHECK)
        del check["handlers"]
        choice = draw(st.sampled_from(["handlers", "handler", "none"]))
        if choice == "handlers":
            check["handlers"] = draw(st.lists(st.sampled_from(NAMES + ["graphite", "prometheus", "tcp"]), max_size=3))
        elif choice == "handler":
            check["handler"] = draw(st.sampled_from(NAMES + ["prometheus"]))
        checks[name] = check
    return {"checks": checks, "handlers": handlers, "filters": filters, "mutators": mutators}


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations())
def test_a_configuration_check_config_accepts_builds_every_route_it_names(raw: dict[str, Any]) -> None:
    errors, _warnings = validate(raw, default_registry)
    if errors:
        return
    log = logging.getLogger("ogi.test.one_pass")
    collect = Collect()
    log.addHandler(collect)
    try:
        typed = settings_of(raw)
        table = RouteTable(typed, Context(settings=typed, metrics=CollectorRegistry(), log=log), default_registry,
                           StageMetrics())
        table.build_all()
        for check in raw["checks"].values():
            names = handler_names(check)
            if names == ("default",) and "default" not in raw["handlers"]:
                continue  # a warning, as in Sensu: the events go to no handler
            leaves = {leaf for name in names for leaf in flatten(name, typed.handlers)}
            routes = table.resolve(names)
            assert {r.name for r in routes} == leaves, (names, raw)
            for route in routes:
                assert len(route.filters) == len(route.definition.get("filters", [])), route.name
    finally:
        log.removeHandler(collect)
    assert [r.getMessage() for r in collect.records] == []

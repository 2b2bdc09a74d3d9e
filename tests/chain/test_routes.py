"""Routes are compiled once at start-up; definition errors name their full JSON path."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.chain.routes import (
    RouteTable,
    flatten,
    handler_names,
    route_timeout,
)
from pipeline.chain.stagemetrics import StageMetrics
from pipeline.config.load import settings_of
from pipeline.config.settings import DEFAULT_CONCURRENCY, limits
from pipeline.config.validate import handler_references, validate
from pipeline.errors import ConfigError, ConfigErrors
from pipeline.extension import Context, DefinitionError, Handler
from pipeline.registry import Registry


def table(settings: dict[str, Any], registry: Registry | None = None) -> RouteTable:
    return RouteTable(settings_of(settings), Context(settings=settings_of(settings)), registry or Registry(), StageMetrics())


@pytest.mark.parametrize(
    ("check", "names"),
    [
        ({"handlers": ["a", "b"], "handler": "c"}, ("a", "b")),
        ({"handler": "c"}, ("c",)),
        ({"handlers": None, "handler": "c"}, ("c",)),
        ({}, ("default",)),
        ({"handlers": []}, ()),
        ({"handlers": "a"}, ("a",)),
        ({"handlers": ["a", 7, None, "b"]}, ("a", "b")),
        ({"handlers": {"a": 1}}, ()),
    ],
)
def test_handler_names_come_from_handlers_then_handler_then_default(check, names):
    assert handler_names(check) == names


def test_nested_sets_flatten_in_order_keeping_the_first_occurrence():
    handlers = {
        "default": {"type": "set", "handlers": ["ops", "mail", "dev"]},
        "ops": {"type": "set", "handlers": ["pager", "mail"]},
        "dev": {"type": "set", "handlers": ["chat", "ops"]},
    }
    assert flatten("default", settings_of({"handlers": handlers}).handlers) == ["pager", "mail", "chat"]


def test_a_set_loop_is_cut_instead_of_recursing_forever():
    handlers = {
        "a": {"type": "set", "handlers": ["b", "x"]},
        "b": {"type": "set", "handlers": ["a", "y"]},
    }
    assert flatten("a", settings_of({"handlers": handlers}).handlers) == ["y", "x"]
    assert flatten("b", settings_of({"handlers": handlers}).handlers) == ["x", "y"]


def test_a_name_that_is_not_a_set_is_its_own_leaf_even_when_undefined():
    assert flatten("mail", settings_of({}).handlers) == ["mail"]
    assert flatten("empty", settings_of({"handlers": {"empty": {"type": "set", "handlers": []}}}).handlers) == []


@pytest.mark.parametrize(
    ("handler", "mutator", "expected"),
    [
        ({}, None, 65.0),
        ({"timeout": 10}, None, 15.0),
        ({"timeout": 0.5}, None, 5.5),
        ({"timeout": 10}, {"command": "x", "timeout": 3}, 18.0),
        ({}, {"command": "x", "timeout": 3}, 68.0),
        ({"timeout": True}, None, 65.0),
    ],
)
def test_a_route_timeout_is_the_stages_own_timeouts_plus_grace_sixty_seconds_by_default(handler, mutator, expected):
    typed = settings_of({"handlers": {"h": handler}, "mutators": {"m": mutator} if mutator else {}})
    assert route_timeout(typed.handlers["h"], typed.mutators.get("m"), 5.0) == expected


def test_in_process_concurrency_comes_from_sensu_handlers_concurrency():
    assert limits({}).handler_concurrency == DEFAULT_CONCURRENCY == 1000
    assert limits({"sensu": {"handlers": {"concurrency": 8}}}).handler_concurrency == 8
    with pytest.raises(ConfigErrors):
        limits({"sensu": {"handlers": {"concurrency": 0}}})


def test_filters_and_mutators_are_built_once_and_shared_between_routes():
    settings = {
        "handlers": {
            "a": {"type": "pipe", "command": "true", "filters": ["prod", "occurrences"], "mutator": "m"},
            "b": {"type": "pipe", "command": "true", "filter": "prod", "mutator": "m"},
            "c": {"type": "pipe", "command": "true"},
        },
        "filters": {"prod": {"attributes": {"client": {"environment": "production"}}}},
        "mutators": {"m": {"command": "cat"}},
    }
    routes = table(settings).resolve(["a", "b", "c"])
    a, b, c = routes
    assert a.filters[0][0] is b.filters[0][0]
    assert [f.name for f, _ in a.filters] == ["prod", "occurrences"]
    assert a.mutator is b.mutator and a.mutator.name == "m"
    assert c.mutator.name == "json" and c.filters == ()
    assert not a.pooled  # pipe handlers are bounded by sensu.spawn.limit instead


def test_an_unknown_filter_is_ignored_and_an_unknown_mutator_skips_its_handler(caplog):
    settings = {
        "handlers": {
            "a": {"type": "pipe", "command": "true", "filters": ["nosuch"]},
            "b": {"type": "pipe", "command": "true", "mutator": "nosuch"},
        },
    }
    routes = table(settings).resolve(["a", "b"])
    assert [r.name for r in routes] == ["a"]
    assert routes[0].filters == ()


def test_a_handler_whose_definition_fails_is_skipped_not_fatal():
    settings = {"handlers": {"bad": {"type": "tcp", "socket": {"host": "x"}}, "ok": {"type": "pipe", "command": "true"}}}
    assert [r.name for r in table(settings).resolve(["bad", "ok"])] == ["ok"]


# --- building every definition, in the validation pass ----------------------------------------


def definition_errors(settings: dict[str, Any], registry: Registry) -> list[ConfigError]:
    return validate(settings, registry)[0]


def test_definition_errors_name_the_full_json_path_of_every_problem():
    settings = {
        "handlers": {
            "graphite": {"type": "tcp", "socket": {"host": "carbon", "port": 70000}},
            "relay": {"type": "tcp", "socket": {"host": "carbon", "port": 2003}, "sockett": {}},
            "mail": {"type": "pipe", "command": "mail -s alert ops", "timeout": -1},
            "set": {"type": "set", "handlers": ["mail"]},
        },
        "filters": {"production": {"attributes": {"client": {"environment": "production"}}, "negate": "yes"}},
        "mutators": {"tag": {"command": "tag-it", "timeout": "soon", "retries": 3}},
        "sensu": {"handlers": {"concurrency": 0}},
    }
    errors = {e.path: e for e in definition_errors(settings, Registry())}
    assert sorted(errors) == [
        "filters.production.negate",
        "handlers.graphite.socket.port",
        "handlers.mail.timeout",
        "handlers.relay.sockett",
        "mutators.tag.retries",
        "mutators.tag.timeout",
        "sensu.handlers.concurrency",
    ]
    assert errors["handlers.graphite.socket.port"].value == 70000
    assert "unknown key for a tcp handler" in str(errors["handlers.relay.sockett"])


def test_a_valid_configuration_has_no_definition_errors():
    settings = {
        "handlers": {
            "graphite": {"type": "tcp", "socket": {"host": "127.0.0.1", "port": 2003}, "mutator": "only_check_output",
                         "keepalive": True, "timeout": 5, "severities": ["ok", "critical"]},
            "mail": {"type": "pipe", "command": "mail -s alert ops", "filters": ["production", "occurrences"]},
            "default": {"type": "set", "handlers": ["mail"]},
        },
        "filters": {"production": {"attributes": {"client": {"environment": "production"}}}},
        "mutators": {"tag": {"command": "tag-it", "timeout": 5}},
        "sensu": {"handlers": {"concurrency": 50}},
    }
    assert definition_errors(settings, Registry()) == []


def test_a_handler_name_with_dots_is_quoted_in_the_path():
    settings = {"handlers": {"carbon.eu": {"type": "udp", "socket": {"host": "carbon", "port": "2003"}}}}
    assert [e.path for e in definition_errors(settings, Registry())] == ['handlers["carbon.eu"].socket.port']


def test_an_extension_type_checks_its_own_keys_and_a_crashing_constructor_is_reported():
    class Strict(Handler):
        allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"url"})

        def __init__(self, name: str, definition: dict[str, Any], context: Context) -> None:
            super().__init__(name, definition, context)
            if not str(definition.get("url", "")).startswith("https://"):
                raise DefinitionError("url", "must be an https:// URL", definition.get("url"))

    class FreeForm(Handler):
        pass

    class Crashing(Handler):
        def __init__(self, name: str, definition: dict[str, Any], context: Context) -> None:
            raise KeyError("oops")

    registry = Registry(use_entry_points=False)
    registry.register("handlers", "strict", Strict)
    registry.register("handlers", "free", FreeForm)
    registry.register("handlers", "crashing", Crashing)
    settings = {
        "handlers": {
            "hook": {"type": "strict", "url": "http://x", "token": "t", "severities": ["critical"]},
            "anything": {"type": "free", "whatever": 1, "nested": {"ok": True}},
            "boom": {"type": "crashing"},
        }
    }
    errors = definition_errors(settings, registry)
    assert [(e.path, e.message) for e in errors] == [
        ("handlers.hook.token", "unknown key for a strict handler"),
        ("handlers.hook.url", "must be an https:// URL"),
        ("handlers.boom", "cannot be built: KeyError('oops')"),
    ]


def test_filter_and_mutator_names_with_dots_are_quoted_in_the_path():
    settings = {"filters": {"prod.eu": {"attributes": {}, "negat": True}},
                "mutators": {"tag.v2": {"command": "tag", "timeout": 0}}}
    assert [e.path for e in definition_errors(settings, Registry())] == [
        'filters["prod.eu"].negat', 'mutators["tag.v2"].timeout'
    ]


class NeedsUrl(Handler):
    """A plugin type that cannot run without a definition giving its `url`."""

    def __init__(self, name: str, definition: dict[str, Any], context: Context) -> None:
        super().__init__(name, definition, context)
        if "url" not in definition:
            raise DefinitionError("url", "is required")


def test_a_handler_type_named_without_a_definition_is_built_and_reported_once_at_its_first_name():
    registry = Registry(use_entry_points=False)
    registry.register("handlers", "webhook", NeedsUrl)
    registry.register("handlers", "debug", Handler)
    settings = {
        "checks": {"cpu": {"handlers": ["debug", "webhook"]}, "disk": {"handler": "webhook"}},
        "client": {"keepalive": {"handlers": ["webhook"]}},
    }
    assert [(e.path, e.message) for e in definition_errors(settings, registry) if "webhook" in e.message] == [
        ("checks.cpu.handlers[1]",
         "handler type 'webhook' is named without a definition, and cannot be built that way: url: is required"),
    ]
    defined = {**settings, "handlers": {"webhook": {"type": "webhook", "url": "https://x"}}}
    assert [e for e in definition_errors(defined, registry) if "webhook" in e.message] == []


def test_handler_references_cover_every_place_the_engine_resolves_a_handler_name():
    settings = {
        "checks": {"cpu": {"handlers": ["a", 7], "handler": "ignored"}, "disk": {"handler": "b"}, "ntp": {},
                   "off": {"handlers": []}},
        "client": {"keepalive": {"handler": "c"}, "registration": {"handlers": ["d"]},
                   "deregistration": {"handler": "e"}},
        "sensu": {"keepalives": {"handlers": ["f"]}},
        "handlers": {"s": {"type": "set", "handlers": ["g"]}, "p": {"type": "pipe", "command": "true"}},
    }
    assert handler_references(settings) == [
        ("a", "checks.cpu.handlers[0]"), ("b", "checks.disk.handler"), ("default", "checks.ntp"),
        ("c", "client.keepalive.handler"), ("d", "client.registration.handlers[0]"),
        ("e", "client.deregistration.handler"), ("f", "sensu.keepalives.handlers[0]"), ("g", "handlers.s.handlers[0]"),
    ]
    for check in settings["checks"].values():
        names = [n for n, p in handler_references({"checks": {"x": check}})]
        assert tuple(names) == handler_names(check), "the same names the engine resolves"


def test_a_handler_without_type_is_skipped_by_the_engine_not_run_as_a_pipe(caplog):
    settings = {"handlers": {"guess": {"command": "true"}, "ok": {"type": "pipe", "command": "true"}}}
    with caplog.at_level(logging.ERROR, logger="ogi"):
        routes = table(settings).resolve(["guess", "ok"])
    assert [r.name for r in routes] == ["ok"]
    [record] = [r for r in caplog.records if r.getMessage() == "invalid definition"]
    assert record.fields == {"path": "handlers.guess.type", "error": "is required"}  # type: ignore[attr-defined]


# --- docs/chain.md --------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "chain.md"


def doc_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"^```json\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 4, "docs/chain.md lost its examples"
    return [json.loads(block) for block in blocks]


@pytest.mark.parametrize("index", range(len(doc_examples())))
async def test_each_json_example_in_the_chain_doc_is_a_valid_configuration(index, caplog):
    settings = doc_examples()[index]
    registry = Registry()
    errors, _warnings = validate(settings, registry)
    assert [str(e) for e in errors] == []
    with caplog.at_level(logging.WARNING, logger="ogi"):
        engine = Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=CollectorRegistry()), registry)
    await engine.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_the_chain_doc_says_what_the_engine_does_with_its_examples():
    resolution, _filters, _mutators, limits = doc_examples()
    routes = table(resolution)
    checks = resolution["checks"]
    assert [r.name for r in routes.resolve(handler_names(checks["disk"]))] == ["mail", "pager", "archive"]
    assert [r.name for r in routes.resolve(handler_names(checks["load"]))] == ["mail"]
    assert [r.name for r in routes.resolve(handler_names(checks["ntp"]))] == ["mail"]
    limited = table(limits)
    assert limited.route("ticket").timeout == 35  # type: ignore[union-attr]
    assert limited.route("carbon").timeout == 10  # type: ignore[union-attr]
    assert Engine(settings_of(limits), Context(settings=settings_of(limits)))._pool.shared.size == 200


def test_handler_names_made_up_by_results_do_not_grow_memory_without_bound():
    routes = table({"handlers": {"mail": {"type": "pipe", "command": "true"}}})
    for i in range(1500):
        assert routes.resolve([f"made_up_{i}", "mail"])[0].name == "mail"
    assert len(routes._routes) == 1 and len(routes._leaves) == 1
    assert len(routes._unknown) <= 1024

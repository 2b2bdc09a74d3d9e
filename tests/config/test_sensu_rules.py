"""One row per sensu-settings validator rule ogi applies, and a corpus judged as Sensu 1.9 judged it.

Each row names the rule by Sensu's own message (lib/sensu/settings/validators/*.rb: check,
client, handler, filter, mutator, transport, api) and gives a minimal configuration breaking
it; `ogi check-config` must refuse it with an error at the JSON path given. The second table is
what Sensu accepts: optional keys are checked only when set, and `null` counts as not set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.config.load import load_settings
from pipeline.config.validate import validate
from pipeline.errors import ConfigErrors
from pipeline.registry import Registry
from tests.helpers import ABSENT
from tests.helpers import CONFIG_CHECK as CHECK
from tests.helpers import CONFIG_MAIL as MAIL
from tests.helpers import config_with as conf
from tests.helpers import config_with_check as check

REGISTRY = Registry(use_entry_points=False)
CORPUS = Path(__file__).parent.parent / "data" / "config" / "sensu"


def handler(**attrs: Any) -> dict[str, Any]:
    return conf(handlers={"mail": dict(MAIL), "h": attrs})


def piped(**attrs: Any) -> dict[str, Any]:
    return handler(type="pipe", command="cat", **attrs)


def client(**attrs: Any) -> dict[str, Any]:
    return conf(client={"name": "web-01", "address": "10.0.0.1", "subscriptions": ["base"], **attrs})


# (Sensu's message for the rule, a configuration breaking it, the JSON path ogi reports)
RULES: list[tuple[str, dict[str, Any], str]] = [
    # validators/check.rb
    ("check name must be a string", conf(checks={"cpu load": CHECK}), 'checks["cpu load"]'),
    ("check name cannot contain spaces or special characters", conf(checks={"cpu/load": CHECK}), 'checks["cpu/load"]'),
    ("check command must be a string", check(command=["check-cpu.rb"]), "checks.cpu.command"),
    ("check extension must be a string", check(command=ABSENT, extension=5), "checks.cpu.extension"),
    ("either check command or extension must be set", check(command=ABSENT), "checks.cpu.command"),
    ("either check command or extension must be set (both)", check(extension="cpu"), "checks.cpu.extension"),
    ("check timeout must be numeric", check(timeout="10"), "checks.cpu.timeout"),
    ("check source must be a string", check(source=5), "checks.cpu.source"),
    ("check source cannot contain spaces or special characters", check(source="core router"), "checks.cpu.source"),
    ("check publish must be boolean", check(publish="no"), "checks.cpu.publish"),
    ("check interval must be an integer greater than 0", check(interval=0), "checks.cpu.interval"),
    ("check interval must be an integer (a float)", check(interval=1.5), "checks.cpu.interval"),
    ("check interval is required when published", check(interval=ABSENT), "checks.cpu.interval"),
    ("check standalone must be boolean", check(standalone="yes"), "checks.cpu.standalone"),
    ("check subscribers must be an array", check(subscribers="base"), "checks.cpu.subscribers"),
    ("check subscribers must be an array (missing)", check(subscribers=ABSENT), "checks.cpu.subscribers"),
    ("check subscribers must each be a string", check(subscribers=["base", 7]), "checks.cpu.subscribers[1]"),
    ("check handler must be a string", check(handlers=ABSENT, handler=["mail"]), "checks.cpu.handler"),
    ("check handlers must be an array", check(handlers="mail"), "checks.cpu.handlers"),
    ("check handlers must each be a string", check(handlers=["mail", 1]), "checks.cpu.handlers[1]"),
    ("check ttl must be an integer", check(ttl="60"), "checks.cpu.ttl"),
    ("check ttl must be greater than 0", check(ttl=-1), "checks.cpu.ttl"),
    ("check ttl_status must be an integer", check(ttl_status="2"), "checks.cpu.ttl_status"),
    ("check aggregates must be an array", check(aggregates="web"), "checks.cpu.aggregates"),
    ("check aggregates items must be strings without spaces or special characters", check(aggregates=["web tier"]),
     "checks.cpu.aggregates[0]"),
    ("check aggregate cannot contain spaces or special characters", check(aggregate="web tier"),
     "checks.cpu.aggregate"),
    ("check aggregate must be a string (name) or boolean", check(aggregate=5), "checks.cpu.aggregate"),
    ("check low flap threshold must be an integer", check(low_flap_threshold="5", high_flap_threshold=20),
     "checks.cpu.low_flap_threshold"),
    ("check high flap threshold must be an integer", check(low_flap_threshold=5, high_flap_threshold=2.5),
     "checks.cpu.high_flap_threshold"),
    ("check subdue days must be a hash", check(subdue={"days": []}), "checks.cpu.subdue.days"),
    ("check subdue begin must be a time", check(subdue={"days": {"all": [{"begin": "noon", "end": "5:00 PM"}]}}),
     "checks.cpu.subdue.days.all[0].begin"),
    ("check proxy_requests client_attributes must be a hash", check(proxy_requests={"client_attributes": []}),
     "checks.cpu.proxy_requests.client_attributes"),
    ("check proxy_requests splay must be a boolean",
     check(proxy_requests={"client_attributes": {}, "splay": "yes"}), "checks.cpu.proxy_requests.splay"),
    ("check proxy_requests splay_coverage must be an integer from 1 to 99",
     check(proxy_requests={"client_attributes": {}, "splay_coverage": 100}),
     "checks.cpu.proxy_requests.splay_coverage"),
    ("check hooks hook command must be a string", check(hooks={"critical": {"command": 5}}),
     "checks.cpu.hooks.critical.command"),
    ("check hooks hook timeout must be numeric", check(hooks={"1": {"command": "ps", "timeout": "5"}}),
     'checks.cpu.hooks["1"].timeout'),
    ("check hooks hook stdin must be a boolean", check(hooks={"non-zero": {"command": "ps", "stdin": "no"}}),
     "checks.cpu.hooks.non-zero.stdin"),
    # validators/client.rb
    ("client name cannot contain spaces or special characters", client(name="web 01"), "client.name"),
    ("client address must be a string", client(address=10), "client.address"),
    ("client subscriptions must be an array", client(subscriptions="base"), "client.subscriptions"),
    ("client safe_mode must be a boolean", client(safe_mode="on"), "client.safe_mode"),
    ("client socket port must be an integer", client(socket={"port": "3030"}), "client.socket.port"),
    ("client socket bind must be a string", client(socket={"bind": 127}), "client.socket.bind"),
    ("client keepalives must be a boolean", client(keepalives="no"), "client.keepalives"),
    ("client keepalive thresholds warning must be an integer",
     client(keepalive={"thresholds": {"warning": "120"}}), "client.keepalive.thresholds.warning"),
    ("client redact must be an array", client(redact="password"), "client.redact"),
    ("client signature must be a string", client(signature=5), "client.signature"),
    ("client deregister must be a boolean", client(deregister="yes"), "client.deregister"),
    # validators/handler.rb
    ("handler type must be a string", handler(type=5), "handlers.h.type"),
    ("unknown handler type", handler(type="email"), "handlers.h.type"),
    ("handler command must be a string", handler(type="pipe", command=["cat"]), "handlers.h.command"),
    ("handler socket must be a hash", handler(type="tcp", socket="graphite:2003"), "handlers.h.socket"),
    ("handler host must be a string", handler(type="udp", socket={"host": 5, "port": 2003}),
     "handlers.h.socket.host"),
    ("handler port must be an integer", handler(type="tcp", socket={"host": "g", "port": "2003"}),
     "handlers.h.socket.port"),
    ("handler transport pipe must be a hash", handler(type="transport", pipe="events"), "handlers.h.pipe"),
    ("handler transport pipe type is invalid", handler(type="transport", pipe={"type": "queue", "name": "x"}),
     "handlers.h.pipe.type"),
    ("handler transport pipe name must be a string", handler(type="transport", pipe={"type": "direct", "name": 5}),
     "handlers.h.pipe.name"),
    ("handler transport pipe options must be a hash",
     handler(type="transport", pipe={"type": "direct", "name": "x", "options": []}), "handlers.h.pipe.options"),
    ("handler set handlers must be an array", handler(type="set", handlers="mail"), "handlers.h.handlers"),
    ("handler set handlers must each be a string", handler(type="set", handlers=["mail", 5]),
     "handlers.h.handlers[1]"),
    ("handler filters must be an array", piped(filters="occurrences"), "handlers.h.filters"),
    ("handler filters items must be strings", piped(filters=[5]), "handlers.h.filters[0]"),
    ("handler filter must be a string", piped(filter=["occurrences"]), "handlers.h.filter"),
    ("handler severities must be an array", piped(severities="critical"), "handlers.h.severities"),
    ("handler severities are invalid", piped(severities=["critical", "warn"]), "handlers.h.severities[1]"),
    ("handler timeout must be numeric", piped(timeout="10"), "handlers.h.timeout"),
    ("handler mutator must be a string", piped(mutator=["json"]), "handlers.h.mutator"),
    ("handler handle_flapping must be boolean", piped(handle_flapping="yes"), "handlers.h.handle_flapping"),
    # validators/filter.rb
    ("filter attributes must be a hash", conf(filters={"f": {"attributes": []}}), "filters.f.attributes"),
    ("filter attributes must be a hash (missing)", conf(filters={"f": {"negate": True}}), "filters.f.attributes"),
    ("filter negate must be boolean", conf(filters={"f": {"attributes": {}, "negate": "true"}}), "filters.f.negate"),
    ("filter when days must be a hash", conf(filters={"f": {"attributes": {}, "when": {"days": []}}}),
     "filters.f.when.days"),
    # validators/mutator.rb
    ("mutator command must be a string", conf(mutators={"m": {"command": ["jq"]}}), "mutators.m.command"),
    ("mutator command must be a string (missing)", conf(mutators={"m": {"timeout": 5}}), "mutators.m.command"),
    ("mutator timeout must be numeric", conf(mutators={"m": {"command": "jq", "timeout": "5"}}),
     "mutators.m.timeout"),
    # validators/transport.rb
    ("transport must be a hash", conf(transport="rabbitmq"), "transport"),
    ("transport name must be a string", conf(transport={"name": 5}), "transport.name"),
    # validators/api.rb
    ("api must be a hash", conf(api=4567), "api"),
    ("api port must be an integer", conf(api={"port": "4567"}), "api.port"),
    ("api bind must be a string", conf(api={"bind": 127}), "api.bind"),
    ("api user must be a string", conf(api={"user": 5, "password": "secret"}), "api.user"),
    ("api password must be a string", conf(api={"user": "admin", "password": 5}), "api.password"),
]


def paths(settings: dict[str, Any]) -> list[str]:
    errors, _warnings = validate(settings, REGISTRY)
    return [error.path for error in errors]


@pytest.mark.parametrize(("settings", "path"), [row[1:] for row in RULES], ids=[row[0] for row in RULES])
def test_each_sensu_rule_is_refused_at_its_json_path(settings: dict[str, Any], path: str) -> None:
    assert path in paths(settings)


def test_every_rule_row_starts_from_a_configuration_sensu_and_ogi_accept() -> None:
    assert paths(conf()) == []
    assert paths(client()) == []


# What sensu-settings accepts: `_if_set` rules skip a null, `if check[:key]` skips a null.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("a check with a null timeout, source, ttl and ttl_status",
     check(timeout=None, source=None, ttl=None, ttl_status=None)),
    ("a check with null handler, handlers, aggregate and aggregates",
     check(handler=None, handlers=None, aggregate=None, aggregates=None)),
    ("a check with both flap thresholds null", check(low_flap_threshold=None, high_flap_threshold=None)),
    ("a check with null publish, standalone and subdue", check(publish=None, standalone=None, subdue=None)),
    ("an unpublished check has no interval", check(publish=False, interval=ABSENT)),
    ("a standalone check has no subscribers", check(standalone=True, subscribers=ABSENT)),
    ("an aggregate name with ':' and '|'", check(aggregate="web:tier|eu")),
    ("aggregate false", check(aggregate=False)),
    ("a fractional timeout", check(timeout=0.5)),
    ("a handler with null timeout, mutator, filter, filters, severities, handle_flapping",
     piped(timeout=None, mutator=None, filter=None, filters=None, severities=None, handle_flapping=None)),
    ("a transport handler on a topic pipe with null options",
     handler(type="transport", pipe={"type": "topic", "name": "events", "options": None})),
    ("a filter with a null negate", conf(filters={"f": {"attributes": {"check": {"name": "cpu"}}, "negate": None}})),
    ("a mutator with a null timeout", conf(mutators={"m": {"command": "jq .", "timeout": None}})),
    ("a null transport name", conf(transport={"name": None})),
    ("a null api", conf(api=None)),
    ("a null api port and bind", conf(api={"port": None, "bind": None})),
    ("a null api user and password", conf(api={"user": None, "password": None})),
]


@pytest.mark.parametrize("settings", [row[1] for row in ACCEPTED], ids=[row[0] for row in ACCEPTED])
def test_what_sensu_accepts_passes(settings: dict[str, Any]) -> None:
    assert paths(settings) == []


def test_a_null_optional_key_means_its_default_in_the_typed_settings(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps(conf(api={"port": None}, transport={"name": None},
                                    checks={"cpu": {**CHECK, "timeout": None, "ttl": None}})))
    loaded, _warnings = load_settings([str(file)], [], REGISTRY, env={})
    assert loaded.typed is not None
    assert loaded.typed.api.port == 4567
    assert "timeout" not in loaded.typed.checks["cpu"].raw and "ttl" not in loaded.typed.checks["cpu"].raw
    assert loaded.typed.raw.get("transport") in (None, {})


def _corpus(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).iterdir())


@pytest.mark.parametrize("directory", _corpus("accepted"), ids=lambda p: p.name)
def test_the_corpus_sensu_accepted_is_accepted(directory: Path) -> None:
    loaded, _warnings = load_settings([], [str(directory)], REGISTRY, env={})
    assert loaded.typed is not None


@pytest.mark.parametrize("directory", _corpus("refused"), ids=lambda p: p.name)
def test_the_corpus_sensu_refused_is_refused_where_sensu_refused_it(directory: Path) -> None:
    expected = json.loads((directory / "EXPECTED").read_text())
    with pytest.raises(ConfigErrors) as raised:
        load_settings([], [str(directory / "conf.d")], REGISTRY, env={})
    found = sorted((Path(error.file or "").name, error.path) for error in raised.value.errors)
    assert found == sorted((file, path) for file, path in expected)

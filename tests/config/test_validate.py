"""Start-up validation: every rule reports file, JSON path and value, and all errors come out at once."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.chain.gates import AttributeFilter
from pipeline.config.load import load_config
from pipeline.config.validate import validate
from pipeline.errors import ConfigError
from pipeline.expr.when import compile_when, parse_time
from pipeline.extension import Context, DefinitionError
from pipeline.registry import Registry
from pipeline.schedule.timing import ScheduleError, subdue_window
from tests.helpers import ABSENT as MISSING
from tests.helpers import CONFIG_CHECK as CHECK
from tests.helpers import CONFIG_MAIL as MAIL
from tests.helpers import config_with as base
from tests.helpers import config_with_check as check

REGISTRY = Registry(use_entry_points=False)


def handler(definition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return base(handlers={"mail": dict(MAIL), "h": definition, **extra})


def errors_in(tmp_path: Path, settings: dict[str, Any]) -> tuple[list[ConfigError], list[str], str]:
    file = tmp_path / "conf.d" / "settings.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(settings))
    loaded = load_config([], [str(file.parent)], env={})
    errors, warnings = validate(loaded.settings, REGISTRY)
    for error in errors:
        error.file = loaded.file_for(error.path)
    return errors, warnings, str(file)


# (what is wrong, settings, JSON path of the error, offending value or MISSING when the key is absent)
CASES: list[tuple[str, dict[str, Any], str, Any]] = [
    ("checks is not an object", {"checks": ["cpu"]}, "checks", ["cpu"]),
    ("rabbitmq is a number", {"rabbitmq": 5}, "rabbitmq", 5),
    ("a broker port is out of range", {"rabbitmq": [{"host": "a"}, {"port": 0}]}, "rabbitmq[1].port", 0),
    ("redis port is a string", {"redis": {"port": "6379"}}, "redis.port", "6379"),
    ("api port is too large", {"api": {"port": 70000}}, "api.port", 70000),
    ("spawn limit is zero", {"sensu": {"spawn": {"limit": 0}}}, "sensu.spawn.limit", 0),
    ("transport name is a number", {"transport": {"name": 5}}, "transport.name", 5),
    ("a check name has a space", base(checks={"cpu load": CHECK}), 'checks["cpu load"]', "cpu load"),
    ("a check is not an object", base(checks={"cpu": "check-cpu"}), "checks.cpu", "check-cpu"),
    ("command is not a string", check(command=["check-cpu"]), "checks.cpu.command", ["check-cpu"]),
    ("command and extension both", check(extension="cpu"), "checks.cpu.extension", "cpu"),
    ("no command and no extension", check(command=MISSING), "checks.cpu.command", MISSING),
    ("interval is zero", check(interval=0), "checks.cpu.interval", 0),
    ("interval is a string", check(interval="60"), "checks.cpu.interval", "60"),
    ("interval is a float", check(interval=1.5), "checks.cpu.interval", 1.5),
    ("interval is a boolean", check(interval=True), "checks.cpu.interval", True),
    ("interval is missing", check(interval=MISSING), "checks.cpu.interval", MISSING),
    ("timeout is negative", check(timeout=-1), "checks.cpu.timeout", -1),
    ("ttl is zero", check(ttl=0), "checks.cpu.ttl", 0),
    ("ttl_status is a string", check(ttl_status="1"), "checks.cpu.ttl_status", "1"),
    ("occurrences is zero", check(occurrences=0), "checks.cpu.occurrences", 0),
    ("refresh is negative", check(refresh=-5), "checks.cpu.refresh", -5),
    ("a flap threshold is a string", check(low_flap_threshold="10", high_flap_threshold=20),
     "checks.cpu.low_flap_threshold", "10"),
    ("only one flap threshold", check(low_flap_threshold=10), "checks.cpu.high_flap_threshold", MISSING),
    ("standalone is a string", check(standalone="yes"), "checks.cpu.standalone", "yes"),
    ("publish is a number", check(publish=0), "checks.cpu.publish", 0),
    ("handle is a string", check(handle="false"), "checks.cpu.handle", "false"),
    ("auto_resolve is a number", check(auto_resolve=1), "checks.cpu.auto_resolve", 1),
    ("force_resolve is a string", check(force_resolve="yes"), "checks.cpu.force_resolve", "yes"),
    ("stdin is a string", check(stdin="true"), "checks.cpu.stdin", "true"),
    ("truncate_output is a string", check(truncate_output="yes"), "checks.cpu.truncate_output", "yes"),
    ("truncate_output_length is zero", check(truncate_output_length=0), "checks.cpu.truncate_output_length", 0),
    ("subscribers is a string", check(subscribers="base"), "checks.cpu.subscribers", "base"),
    ("a subscriber is a number", check(subscribers=["base", 7]), "checks.cpu.subscribers[1]", 7),
    ("subscribers is missing", check(subscribers=MISSING), "checks.cpu.subscribers", MISSING),
    ("type is unknown", check(type="metrics"), "checks.cpu.type", "metrics"),
    ("handler is a list", check(handler=["mail"]), "checks.cpu.handler", ["mail"]),
    ("handlers is a string", check(handlers="mail"), "checks.cpu.handlers", "mail"),
    ("cron is a number", check(cron=5), "checks.cpu.cron", 5),
    ("aggregate is a number", check(aggregate=5), "checks.cpu.aggregate", 5),
    ("an aggregate name has a space", check(aggregates=["web tier"]), "checks.cpu.aggregates[0]", "web tier"),
    ("dependencies is a string", check(dependencies="db"), "checks.cpu.dependencies", "db"),
    ("source has a space", check(source="my router"), "checks.cpu.source", "my router"),
    ("subdue names no real day", check(subdue={"days": {"funday": []}}), "checks.cpu.subdue.days.funday", "funday"),
    ("subdue begin is not a time", check(subdue={"days": {"all": [{"begin": "noon", "end": "5:00 PM"}]}}),
     "checks.cpu.subdue.days.all[0].begin", "noon"),
    ("subdue has no days", check(subdue={"at": "handler"}), "checks.cpu.subdue.days", MISSING),
    ("a subdue time has no minutes", check(subdue={"days": {"all": [{"begin": "17", "end": "18:00"}]}}),
     "checks.cpu.subdue.days.all[0].begin", "17"),
    ("a subdue window has a key besides days", check(subdue={"days": {}, "at": "handler"}), "checks.cpu.subdue.at",
     "handler"),
    ("a when time is past midnight",
     base(filters={"f": {"attributes": {}, "when": {"days": {"friday": [{"begin": "22:00", "end": "25:00"}]}}}}),
     "filters.f.when.days.friday[0].end", "25:00"),
    ("a when window has no end", base(filters={"f": {"attributes": {}, "when": {"days": {"all": [{"begin": "5PM"}]}}}}),
     "filters.f.when.days.all[0].end", MISSING),
    ("a handler has subdue", handler({"type": "pipe", "command": "x", "subdue": {"days": {}}}), "handlers.h.subdue",
     {"days": {}}),
    ("a hook has no command", check(hooks={"critical": {"timeout": 10}}), "checks.cpu.hooks.critical.command",
     MISSING),
    ("a check names an unknown handler", check(handlers=["mail", "pagerduty"]), "checks.cpu.handlers[1]",
     "pagerduty"),
    ("a check handler is unknown", check(handlers=MISSING, handler="slack"), "checks.cpu.handler", "slack"),
    ("a handler is not an object", base(handlers={"mail": "mail -s"}), "handlers.mail", "mail -s"),
    ("a handler has no type", handler({"command": "x"}), "handlers.h.type", MISSING),
    ("a handler type is unknown", handler({"type": "email"}), "handlers.h.type", "email"),
    ("a pipe handler has no command", handler({"type": "pipe"}), "handlers.h.command", MISSING),
    ("a tcp handler has no socket", handler({"type": "tcp"}), "handlers.h.socket", MISSING),
    ("a udp socket is a string", handler({"type": "udp", "socket": "h:1"}), "handlers.h.socket", "h:1"),
    ("a transport handler has no pipe", handler({"type": "transport"}), "handlers.h.pipe", MISSING),
    ("a transport pipe has no name", handler({"type": "transport", "pipe": {"type": "direct"}}),
     "handlers.h.pipe.name", MISSING),
    ("a tcp port is a string", handler({"type": "tcp", "socket": {"host": "g", "port": "2003"}}),
     "handlers.h.socket.port", "2003"),
    ("a udp handler has no host", handler({"type": "udp", "socket": {"port": 2003}}), "handlers.h.socket.host",
     MISSING),
    ("a transport pipe type is wrong", handler({"type": "transport", "pipe": {"type": "queue", "name": "x"}}),
     "handlers.h.pipe.type", "queue"),
    ("a set has no handlers", handler({"type": "set"}), "handlers.h.handlers", MISSING),
    ("a set names an unknown handler", handler({"type": "set", "handlers": ["mail", "sms"]}),
     "handlers.h.handlers[1]", "sms"),
    ("a mutator is unknown", handler({"type": "pipe", "command": "x", "mutator": "yaml"}), "handlers.h.mutator",
     "yaml"),
    ("a filter is unknown", handler({"type": "pipe", "command": "x", "filter": "office_hours"}),
     "handlers.h.filter", "office_hours"),
    ("one of the filters is unknown", handler({"type": "pipe", "command": "x", "filters": ["occurrences", "nope"]}),
     "handlers.h.filters[1]", "nope"),
    ("a severity is misspelt", handler({"type": "pipe", "command": "x", "severities": ["critical", "warn"]}),
     "handlers.h.severities[1]", "warn"),
    ("handle_flapping is a string", handler({"type": "pipe", "command": "x", "handle_flapping": "yes"}),
     "handlers.h.handle_flapping", "yes"),
    ("handle_silenced is a number", handler({"type": "pipe", "command": "x", "handle_silenced": 1}),
     "handlers.h.handle_silenced", 1),
    ("a handler timeout is zero", handler({"type": "pipe", "command": "x", "timeout": 0}), "handlers.h.timeout", 0),
    ("a set contains itself", handler({"type": "set", "handlers": ["mail", "h"]}), "handlers.h.handlers[1]", "h"),
    ("a filter has no attributes", base(filters={"f": {"negate": False}}), "filters.f.attributes", MISSING),
    ("filter attributes is a list", base(filters={"f": {"attributes": []}}), "filters.f.attributes", []),
    ("negate is a string", base(filters={"f": {"attributes": {}, "negate": "true"}}), "filters.f.negate", "true"),
    ("a when window day is wrong", base(filters={"f": {"attributes": {}, "when": {"days": {"weekday": []}}}}),
     "filters.f.when.days.weekday", "weekday"),
    ("a mutator has no command", base(mutators={"m": {"timeout": 5}}), "mutators.m.command", MISSING),
    ("a mutator command is a list", base(mutators={"m": {"command": ["jq"]}}), "mutators.m.command", ["jq"]),
    ("a mutator timeout is a string", base(mutators={"m": {"command": "jq", "timeout": "5"}}),
     "mutators.m.timeout", "5"),
    ("a client name has a space", base(client={"name": "web 1"}), "client.name", "web 1"),
    ("a client address is a number", base(client={"address": 10}), "client.address", 10),
    ("client subscriptions is a string", base(client={"subscriptions": "all"}), "client.subscriptions", "all"),
    ("client keepalives is a string", base(client={"keepalives": "no"}), "client.keepalives", "no"),
    ("a keepalive threshold is a string", base(client={"keepalive": {"thresholds": {"warning": "120"}}}),
     "client.keepalive.thresholds.warning", "120"),
    ("a keepalive handler is unknown", base(client={"keepalive": {"handler": "pager"}}),
     "client.keepalive.handler", "pager"),
    ("safe_mode is a string", base(client={"safe_mode": "on"}), "client.safe_mode", "on"),
    ("the client socket port is a string", base(client={"socket": {"port": "3030"}}), "client.socket.port", "3030"),
    ("the client socket bind is a number", base(client={"socket": {"bind": 127}}), "client.socket.bind", 127),
    ("redact is a string", base(client={"redact": "password"}), "client.redact", "password"),
    ("the api bind is empty", base(api={"bind": ""}), "api.bind", ""),
    ("the api has a user but no password", base(api={"user": "admin"}), "api", MISSING),
    ("the api ssl has no key file", base(api={"ssl": {"cert_file": "/etc/ogi/api.crt"}}), "api.ssl.key_file", None),
    ("the api ssl is a string", base(api={"ssl": "/etc/ogi/api.pem"}), "api.ssl", "/etc/ogi/api.pem"),
    ("max_body_size is zero", base(api={"max_body_size": 0}), "api.max_body_size", 0),
    ("close_connections is a string", base(api={"close_connections": "yes"}), "api.close_connections", "yes"),
    ("a cors header is unknown", base(api={"cors": {"Expose": "*"}}), "api.cors.Expose", "*"),
    ("a cors value spans lines", base(api={"cors": {"Origin": "a\r\nX: y"}}), "api.cors.Origin", "a\r\nX: y"),
    ("the store name is unknown", base(store={"name": "postgres"}), "store.name", "postgres"),
    ("the redis db is negative", base(redis={"db": -1}), "redis.db", -1),
    ("the redis url has another scheme", base(redis={"url": "http://redis:6379"}), "redis.url", "http://redis:6379"),
    ("the redis url port is not a number", base(redis={"url": "redis://redis:port/0"}), "redis.url",
     "redis://redis:port/0"),
    ("redis sentinels is empty", base(redis={"sentinels": []}), "redis.sentinels", []),
    ("a redis sentinel port is a string", base(redis={"sentinels": [{"host": "s1", "port": "26379"}]}),
     "redis.sentinels[0].port", "26379"),
    ("redis tls verify_peer is a string", base(redis={"tls": {"verify_peer": "no"}}), "redis.tls.verify_peer", "no"),
]


@pytest.mark.parametrize(("settings", "path", "value"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_names_the_file_the_path_and_the_value(
    tmp_path: Path, settings: dict[str, Any], path: str, value: Any
) -> None:
    errors, _, file = errors_in(tmp_path, settings)
    matching = [e for e in errors if e.path == path]
    assert matching, f"no error at {path}; got:\n" + "\n".join(map(str, errors))
    line = str(matching[0])
    assert line.startswith(f"{file}: {path}: ")
    if value is not MISSING:
        assert f"(got {json.dumps(value)})" in line


def test_api_store_and_redis_mistakes_are_each_reported_once(tmp_path: Path) -> None:
    settings = base(api={"port": 70000, "bind": 5, "user": "", "password": "x"}, store="redis",
                    redis={"port": "6379", "host": ""})
    errors, _, _ = errors_in(tmp_path, settings)
    paths = [error.path for error in errors]
    assert sorted(paths) == ["api", "api.bind", "api.port", "api.user", "redis.host", "redis.port", "store"]


def test_an_api_listening_on_any_port_and_a_redis_url_are_fine(tmp_path: Path) -> None:
    settings = base(api={"port": 0, "bind": "0.0.0.0", "ssl": {"cert_file": "a.crt", "key_file": "a.key"},
                         "cors": {"Origin": "https://dash.example.com"}},
                    store={"name": "redis"}, redis={"url": "rediss://:secret@redis.example.com:6380/2"})
    assert errors_in(tmp_path, settings)[0] == []


def test_a_realistic_sensu_config_has_no_errors(tmp_path: Path) -> None:
    settings = {
        "client": {"name": "web-01.example.com", "address": "10.0.0.5", "subscriptions": ["web", "base"],
                   "environment": "production", "socket": {"bind": "127.0.0.1", "port": 3030},
                   "keepalive": {"thresholds": {"warning": 60, "critical": 120}, "handlers": ["mail"]},
                   "redact": ["token"], "safe_mode": False},
        "checks": {
            "cpu": {**CHECK, "occurrences": 3, "refresh": 3600, "low_flap_threshold": 10, "high_flap_threshold": 30,
                    "playbook": "https://wiki/cpu", "team": {"name": "web"},
                    "subdue": {"days": {"all": [{"begin": "5:00 PM", "end": "8:00 AM"}],
                                        "monday": [{"begin": "17:00", "end": "18:00:00 UTC"}]}}},
            "metrics.cpu-user": {"type": "metric", "command": "metrics-cpu.rb", "interval": 10, "standalone": True,
                                 "handler": "graphite"},
            "nightly": {"command": "backup-check", "cron": "0 2 * * *", "subscribers": ["db"], "handler": "mail",
                        "aggregate": "backups", "ttl": 90000, "source": ":::name:::-backup"},
            "on_demand": {"command": "true", "publish": False, "subscribers": ["web"], "handlers": ["everyone"]},
            # A check `extension` is refused (tests/config/test_sensu_extensions.py): ogi runs commands only.
        },
        "handlers": {
            "mail": MAIL,
            "graphite": {"type": "tcp", "socket": {"host": "graphite", "port": 2003}, "mutator": "only_check_output"},
            "everyone": {"type": "set", "handlers": ["mail", "graphite", "relay"]},
            "relay": {"type": "transport", "pipe": {"type": "direct", "name": "events"},
                      "filters": ["occurrences", "production"], "severities": ["critical", "ok"]},
        },
        "filters": {"production": {"attributes": {"client": {"environment": "production"}},
                                   "when": {"days": {"all": [{"begin": "9:00 AM", "end": "5:00 PM"}]}}}},
        "mutators": {"tag": {"command": "tag-event.py", "timeout": 5}},
        "rabbitmq": [{"host": "mq1", "port": 5671}, {"host": "mq2"}],
        "redis": {"host": "redis", "port": 6379},
        "api": {"port": 4567, "user": "admin", "password": "secret"},
        "sensu": {"spawn": {"limit": 24}},
        "transport": {"name": "rabbitmq"},
        "store": {}, "metrics": {}, "extensions": {},
        "slack": {"webhook_url": "https://hooks.slack.com/x"},
    }
    before = copy.deepcopy(settings)
    errors, warnings, _ = errors_in(tmp_path, settings)
    assert errors == []
    assert warnings == []
    assert settings == before, "validation never changes the settings"


def test_every_mistake_in_one_check_is_reported_not_just_the_first(tmp_path: Path) -> None:
    errors, _, _ = errors_in(tmp_path, check(interval="5", timeout=0, type="x", handlers=["nope"], stdin=1))
    assert sorted(e.path for e in errors) == [
        "checks.cpu.handlers[0]", "checks.cpu.interval", "checks.cpu.stdin", "checks.cpu.timeout", "checks.cpu.type"
    ]


def test_a_loop_through_several_sets_is_named_once(tmp_path: Path) -> None:
    settings = base(handlers={
        "mail": MAIL,
        "a": {"type": "set", "handlers": ["mail", "b"]},
        "b": {"type": "set", "handlers": ["c"]},
        "c": {"type": "set", "handlers": ["a", "mail"]},
        "ok": {"type": "set", "handlers": ["a"]},
    })
    errors, _, _ = errors_in(tmp_path, settings)
    assert [(e.path, e.message) for e in errors] == [("handlers.a.handlers[1]", "handler set loops: a -> b -> c -> a")]


def test_nested_sets_without_a_loop_are_fine(tmp_path: Path) -> None:
    settings = base(handlers={"mail": MAIL, "a": {"type": "set", "handlers": ["b", "mail"]},
                              "b": {"type": "set", "handlers": ["mail"]}})
    assert errors_in(tmp_path, settings)[0] == []


def test_a_check_without_handlers_and_no_default_handler_gets_a_warning_not_an_error(tmp_path: Path) -> None:
    errors, warnings, _ = errors_in(tmp_path, check(handlers=MISSING))
    assert errors == []
    assert len(warnings) == 1 and "cpu" in warnings[0] and '"default"' in warnings[0]
    defined = check(handlers=MISSING)
    defined["handlers"]["default"] = {"type": "set", "handlers": ["mail"]}
    assert errors_in(tmp_path, defined)[:2] == ([], [])


def test_the_sensu_built_ins_are_known_by_name(tmp_path: Path) -> None:
    settings = handler({"type": "set", "handlers": ["mail", "t"]},
                       t={"type": "tcp", "socket": {"host": "h", "port": 1}, "mutator": "only_check_output",
                          "filters": ["occurrences", "check_dependencies", "is_incident", "has_metrics",
                                      "not_silenced"]},
                       j={"type": "udp", "socket": {"host": "h", "port": 1}, "mutator": "json"})
    assert errors_in(tmp_path, settings)[:2] == ([], [])


def test_ruby_hash_is_accepted_with_a_warning(tmp_path: Path) -> None:
    errors, warnings, _ = errors_in(tmp_path, handler({"type": "pipe", "command": "x", "mutator": "ruby_hash"}))
    assert errors == []
    assert warnings == ["handlers.h.mutator: ruby_hash is treated as json (ogi has no Ruby hashes)"]


def test_a_filter_or_mutator_defined_in_settings_is_known(tmp_path: Path) -> None:
    settings = handler({"type": "pipe", "command": "x", "mutator": "tag", "filters": ["prod"]},
                       )
    settings["mutators"] = {"tag": {"command": "tag.py"}}
    settings["filters"] = {"prod": {"attributes": {"client": {"environment": "production"}}, "negate": True}}
    assert errors_in(tmp_path, settings)[:2] == ([], [])


def test_unknown_top_level_objects_are_handler_settings_and_pass(tmp_path: Path) -> None:
    settings = base(mailer={"mail_to": "ops@example.com"}, graphite={"host": "g"}, pagerduty={"api_key": "k"})
    assert errors_in(tmp_path, settings)[:2] == ([], [])


def test_eval_values_in_filters_are_compiled_and_bad_ones_reported_at_their_path(tmp_path: Path) -> None:
    settings = base(filters={"f": {"attributes": {
        "occurrences": "eval: value > 2",
        "check": {"status": "eval: value >", "output": "eval is not a prefix here", "tags": ["eval:value >"]},
    }}})
    errors, _, file = errors_in(tmp_path, settings)
    assert [str(e) for e in errors] == [
        f"{file}: filters.f.attributes.check.status: bad eval expression: expected a value but found end of input "
        'at column 8 (got "eval: value >")'
    ]


def test_the_real_expression_compiler_rejects_a_malformed_expression(tmp_path: Path) -> None:
    settings = base(filters={"f": {"attributes": {"check": {"status": "eval: value >"}}}})
    errors, _, _ = errors_in(tmp_path, settings)
    assert [e.path for e in errors] == ["filters.f.attributes.check.status"]


def test_a_core_handler_type_is_not_a_handler_name_on_its_own(tmp_path: Path) -> None:
    errors, _, _ = errors_in(tmp_path, check(handlers=["mail", "tcp"]))
    assert [(e.path, e.message) for e in errors] == [
        ("checks.cpu.handlers[1]", "names a handler type, not a handler: define handlers.tcp first")
    ]


def test_an_extension_handler_type_can_be_named_without_a_definition(tmp_path: Path) -> None:
    from pipeline.extension import Handler

    registry = Registry(use_entry_points=False)
    registry.register("handlers", "debug", Handler)
    file = tmp_path / "c.json"
    file.write_text(json.dumps(check(handlers=["mail", "debug"])))
    errors, _ = validate(load_config([str(file)], [], env={}).settings, registry)
    assert errors == []


def test_handler_subdue_is_reported_as_removed_and_points_to_filters(tmp_path: Path) -> None:
    subdue = {"days": {"all": [{"begin": "5PM", "end": "8AM"}]}}
    errors, _, file = errors_in(tmp_path, handler({"type": "pipe", "command": "x", "subdue": subdue}))
    assert [str(e) for e in errors] == [
        f"{file}: handlers.h.subdue: handler subdue was removed in Sensu 0.26; use a filter with `when` "
        f"(got {json.dumps(subdue)})"
    ]


def _time_is_valid_for_validation(text: str) -> bool:
    window = {"days": {"all": [{"begin": text, "end": "23:00"}]}}
    subdue = not validate(check(subdue=window), REGISTRY)[0]
    when = not validate(base(filters={"f": {"attributes": {}, "when": window}}), REGISTRY)[0]
    assert subdue == when, "check subdue and filter when read times alike"
    return subdue


def _time_runs(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", ["17", "25:00", "5PM", "5 pm", "5:30:15 PM", "17:00", "17:00:00", "9:00 AM UTC",
                                  "17:00 +02:00", "13PM", "12:60", "", "5:00 XYZ", " 6:00 AM ", "noon"])
def test_a_time_of_day_passes_validation_exactly_when_the_window_code_reads_it(text: str) -> None:
    assert _time_is_valid_for_validation(text) == _time_runs(text)


@given(st.text(alphabet="0123456789: apmAPM.UTCZ+-", max_size=12))
def test_any_time_text_passes_validation_exactly_when_the_window_code_reads_it(text: str) -> None:
    assert _time_is_valid_for_validation(text) == _time_runs(text)


WHENS: list[Any] = [
    {"days": {"all": [{"begin": "5PM", "end": "8AM"}]}},
    {"days": {"monday": [], "sunday": [{"begin": "00:00", "end": "23:59:59"}]}},
    {"days": {}},
    {"days": {"someday": []}},
    {"days": {"all": {"begin": "5PM", "end": "8AM"}}},
    {"days": {"all": ["5PM-8AM"]}},
    {"days": {"all": [{"begin": "5PM"}]}},
    {"days": {"all": [{"begin": None, "end": "8AM"}]}},
    {"days": []},
    {"days": {"all": []}, "at": "handler"},
    {"begin": "5PM", "end": "8AM"},
    "weekdays",
]


@pytest.mark.parametrize("when", WHENS, ids=[json.dumps(w) for w in WHENS])
def test_a_filter_when_passes_validation_exactly_when_the_filter_can_be_built(when: Any) -> None:
    definition = {"attributes": {"check": {"status": 2}}, "when": when}
    errors, _ = validate(base(filters={"f": definition}), REGISTRY)
    try:
        AttributeFilter("f", definition, Context())
    except DefinitionError as exc:
        # Without "days" at all, validation says so first (often a Sensu 0.x window) instead of its other keys.
        expected = "when.days" if isinstance(when, dict) and "days" not in when else exc.path
        assert [e.path.removeprefix("filters.f.") for e in errors] == [expected]
    else:
        assert errors == []


def test_a_window_with_no_day_is_accepted_as_it_runs_and_warned_about(tmp_path: Path) -> None:
    assert not compile_when({"days": {}}).contains(0.0)
    settings = check(subdue={"days": {}})
    settings["filters"] = {"f": {"attributes": {}, "when": {"days": {"monday": []}}}}
    errors, warnings, _ = errors_in(tmp_path, settings)
    assert errors == []
    assert warnings == [
        "checks.cpu.subdue: has no {begin, end} window on any day, so it never applies",
        "filters.f.when: has no {begin, end} window on any day, so it never applies",
    ]


def test_a_window_error_under_a_day_name_with_a_dot_names_the_exact_path(tmp_path: Path) -> None:
    errors, _, file = errors_in(tmp_path, check(subdue={"days": {"mon.day": []}}))
    assert [str(e) for e in errors] == [
        f'{file}: checks.cpu.subdue.days["mon.day"]: unknown day (use all, monday, tuesday, wednesday, thursday, '
        'friday, saturday, sunday) (got "mon.day")'
    ]


ATTRIBUTES: list[dict[str, Any]] = [
    {"check": {"tags": ["eval: value >"]}},
    {"check": {"tags": [{"x": "eval: value >"}]}},
    {"check": {"status": "eval: value >"}},
    {"check": {"status": "eval:value >"}},
    {"check": {"status": "eval:   value == 2   "}},
    {"check": {"status": " eval: value >"}},
    {"check": {"status": "EVAL: value >"}},
    {"occurrences": "eval: value > 2 &&"},
    {"client": {"deep": {"deeper": "eval: value.nosuch?("}}},
]


@pytest.mark.parametrize("attributes", ATTRIBUTES, ids=[json.dumps(a) for a in ATTRIBUTES])
def test_an_eval_string_fails_validation_exactly_when_the_filter_cannot_be_built(attributes: dict[str, Any]) -> None:
    errors, _ = validate(base(filters={"f": {"attributes": attributes}}), REGISTRY)
    try:
        AttributeFilter("f", {"attributes": attributes}, Context())
    except DefinitionError as exc:
        assert [e.path.removeprefix("filters.f.") for e in errors] == [exc.path]
        assert errors[0].message == exc.message
    else:
        assert errors == []


def test_an_eval_string_inside_an_array_is_a_plain_value_as_the_filter_matches_it(tmp_path: Path) -> None:
    attributes = {"check": {"tags": ["eval: value >"]}}
    assert errors_in(tmp_path, base(filters={"f": {"attributes": attributes}}))[0] == []
    event = {"check": {"tags": ["eval: value >"]}}
    assert AttributeFilter("f", {"attributes": attributes}, Context()).matches(event)


SUBDUES: list[Any] = [None, {"days": {"all": [{"begin": "17", "end": "18:00"}]}}, {"days": {}}, {"at": "handler"}, []]


@pytest.mark.parametrize("subdue", SUBDUES, ids=[json.dumps(s) for s in SUBDUES])
def test_a_check_subdue_passes_validation_exactly_when_the_scheduler_reads_it(subdue: Any) -> None:
    errors, _ = validate(check(subdue=subdue), REGISTRY)
    try:
        subdue_window({"subdue": subdue})
    except ScheduleError:
        assert len(errors) == 1
    else:
        assert errors == []


def test_a_cron_expression_that_cannot_be_parsed_is_reported_at_its_path():
    from pipeline.registry import default_registry

    settings = {"checks": {
        "bad": {"command": "true", "subscribers": ["base"], "cron": "61 * * * *"},
        "good": {"command": "true", "subscribers": ["base"], "cron": "*/5 * * * *"},
    }}
    errors, _ = validate(settings, default_registry)
    assert [e.path for e in errors] == ["checks.bad.cron"]
    assert "minute" in errors[0].message


def test_unsafe_tokens_must_be_true_or_false():
    from pipeline.registry import default_registry

    settings = {"checks": {"x": {"command": "true", "subscribers": ["b"], "interval": 10, "unsafe_tokens": "yes"}}}
    errors, _ = validate(settings, default_registry)
    assert [e.path for e in errors] == ["checks.x.unsafe_tokens"]


def test_a_wrong_metrics_listener_is_reported_at_start_up():
    from pipeline.registry import default_registry

    errors, _ = validate({"metrics": {"port": "9127", "bnd": "0.0.0.0"}}, default_registry)
    assert sorted(e.path for e in errors) == ["metrics.bnd", "metrics.port"]

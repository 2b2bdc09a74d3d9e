"""Loading configuration: Sensu 1.x merge rules, -c/-d sources, defaults, environment, redaction, docs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config.load import (
    LoadedConfig,
    deep_merge,
    default_sources,
    directory_files,
    load_config,
    load_settings,
    parent_path,
    path_key,
    redact,
    split_list,
)
from pipeline.config.validate import validate
from pipeline.errors import ConfigError, ConfigErrors
from pipeline.extension import Context, DefinitionError, Handler
from pipeline.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, data: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ({"x": {"a": 1}}, {"x": {"b": 2}}, {"x": {"a": 1, "b": 2}}),
        ({"x": {"a": {"deep": 1}}}, {"x": {"a": {"deeper": 2}}}, {"x": {"a": {"deep": 1, "deeper": 2}}}),
        ({"x": [1, 2]}, {"x": [2, 3]}, {"x": [1, 2, 3]}),
        ({"x": [{"n": 1}, {"n": 2}]}, {"x": [{"n": 2}, {"n": 3}]}, {"x": [{"n": 1}, {"n": 2}, {"n": 3}]}),
        ({"x": [{"a": 1, "b": 2}]}, {"x": [{"b": 2, "a": 1}]}, {"x": [{"a": 1, "b": 2}]}),
        ({"x": [1]}, {"x": [True, 1.0, "1"]}, {"x": [1, True, 1.0, "1"]}),
        ({"x": 1}, {"x": 2}, {"x": 2}),
        ({"x": {"a": 1}}, {"x": "now a string"}, {"x": "now a string"}),
        ({"x": [1]}, {"x": {"a": 1}}, {"x": {"a": 1}}),
        ({"x": 1}, {"x": None}, {"x": None}),
        ({"x": 1}, {"y": 2}, {"x": 1, "y": 2}),
    ],
)
def test_deep_merge_follows_sensu_rules(a: Any, b: Any, merged: Any) -> None:
    before = json.dumps([a, b])
    assert deep_merge(a, b) == merged
    assert json.dumps([a, b]) == before, "the inputs must not change"


def test_repeated_elements_within_one_file_survive_when_nothing_merges_into_them(tmp_path: Path) -> None:
    loaded = load_config([write(tmp_path / "a.json", {"client": {"subscriptions": ["a", "a"]}})], [], env={})
    assert loaded.settings["client"]["subscriptions"] == ["a", "a"]


def test_comma_lists_and_repeated_flags_flatten_in_order() -> None:
    assert split_list(["a.json,b.json", "c.json", " d.json , ", ""]) == ["a.json", "b.json", "c.json", "d.json"]


def test_files_merge_before_directories_each_in_the_order_given(tmp_path: Path) -> None:
    f1 = write(tmp_path / "one.json", {"api": {"port": 1, "bind": "one"}})
    f2 = write(tmp_path / "two.json", {"api": {"port": 2}})
    write(tmp_path / "d1" / "x.json", {"api": {"port": 3}})
    write(tmp_path / "d2" / "x.json", {"api": {"port": 4}})
    loaded = load_config([f"{f2},{f1}"], [str(tmp_path / "d1"), str(tmp_path / "d2")], env={})
    assert loaded.settings["api"] == {"port": 4, "bind": "one"}
    assert [Path(f).relative_to(tmp_path).as_posix() for f in loaded.files] == [
        "two.json", "one.json", "d1/x.json", "d2/x.json"
    ]


def test_a_config_directory_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    for name in ["b.json", "a.json", "sub/z.json", "sub/deeper/c.json", "a/y.json", "notes.txt", ".hidden.json",
                 ".git/x.json"]:
        write(conf / name, {"order": [name]})
    (conf / "dir.json").mkdir()
    assert [Path(p).relative_to(conf).as_posix() for p in directory_files(str(conf))] == [
        "a/y.json", "a.json", "b.json", "sub/deeper/c.json", "sub/z.json"
    ]
    loaded = load_config([], [str(conf)], env={})
    assert loaded.settings["order"] == ["a/y.json", "a.json", "b.json", "sub/deeper/c.json", "sub/z.json"]


def test_every_bad_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", {"api": {}})
    broken = write(tmp_path / "broken.json", '{\n  "checks": {\n    "cpu": {"command": "x",}\n  }\n}\n')
    array = write(tmp_path / "array.json", [1, 2])
    unreadable = write(tmp_path / "secret.json", "{}")
    os.chmod(unreadable, 0)
    missing = str(tmp_path / "missing.json")
    with pytest.raises(ConfigErrors) as caught:
        load_config([good, broken, array, unreadable, missing], [str(tmp_path / "no-such-dir")], env={})
    lines = [str(e) for e in caught.value.errors]
    expected = [
        (broken, "line 3 column 28"),
        (array, "JSON object at the top level"),
        (missing, "does not exist"),
        (str(tmp_path / "no-such-dir"), "directory does not exist"),
    ]
    if os.geteuid() != 0:  # root reads any file
        expected.append((unreadable, "cannot be read"))
    for file, text in expected:
        assert any(line.startswith(file) and text in line for line in lines), (file, text, lines)
    assert len(lines) == len(expected)


def test_a_byte_order_mark_is_ignored_as_sensu_does(tmp_path: Path) -> None:
    file = tmp_path / "bom.json"
    file.write_bytes(b"\xef\xbb\xbf" + json.dumps({"api": {"port": 4567}}).encode())
    assert load_config([str(file)], [], env={}).settings == {"api": {"port": 4567}}


def test_each_path_names_the_file_that_last_set_it(tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", {"checks": {"cpu": {"command": "a", "interval": 10, "subscribers": ["x"]}},
                                        "handlers": {"default": {"type": "set", "handlers": ["one"]}}})
    second = write(tmp_path / "b.json", {"checks": {"cpu": {"interval": 20}, "cpu.user": {"command": "u"}},
                                         "handlers": {"default": {"handlers": ["two", "one", "three"]}}})
    loaded = load_config([first, second], [], env={})
    assert loaded.settings["handlers"]["default"]["handlers"] == ["one", "two", "three"]
    assert loaded.file_for("checks.cpu.interval") == second
    assert loaded.file_for("checks.cpu.command") == first
    assert loaded.file_for("checks.cpu.subscribers[0]") == first
    assert loaded.file_for("checks.cpu.timeout") == second, "a missing key falls back to its object"
    assert loaded.file_for('checks["cpu.user"].command') == second
    assert loaded.file_for("handlers.default.handlers[0]") == first
    assert loaded.file_for("handlers.default.handlers[2]") == second
    assert loaded.file_for("nothing.here") is None


def test_a_replaced_object_forgets_where_its_old_keys_came_from(tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", {"api": {"port": 1}})
    second = write(tmp_path / "b.json", {"api": "off"})
    third = write(tmp_path / "c.json", {"api": {"bind": "x"}})
    loaded = load_config([first, second, third], [], env={})
    assert loaded.settings == {"api": {"bind": "x"}}
    assert loaded.file_for("api.port") == third


def test_paths_quote_keys_that_are_not_plain_words() -> None:
    assert path_key("checks", "cpu") == "checks.cpu"
    assert path_key("checks", "cpu.user") == 'checks["cpu.user"]'
    assert path_key("", "client") == "client"
    assert parent_path('checks["cpu.user"].interval') == 'checks["cpu.user"]'
    assert parent_path('checks["cpu.user"]') == "checks"
    assert parent_path("handlers.default.handlers[2]") == "handlers.default.handlers"
    assert parent_path("checks") == ""
    assert parent_path("") is None
    assert LoadedConfig({}, {}, []).file_for("a.b") is None


def test_defaults_prefer_ogi_then_sensu_and_skip_what_is_missing(tmp_path: Path) -> None:
    ogi, sensu = tmp_path / "ogi", tmp_path / "sensu"
    write(sensu / "config.json", {})
    (sensu / "conf.d").mkdir()
    roots = [str(ogi), str(sensu)]
    assert default_sources(roots) == ([str(sensu / "config.json")], [str(sensu / "conf.d")])
    (ogi / "conf.d").mkdir(parents=True)
    assert default_sources(roots) == ([], [str(ogi / "conf.d")])
    assert default_sources([str(tmp_path / "none")]) == ([], [])


def test_environment_variables_form_a_base_that_files_override(tmp_path: Path) -> None:
    env = {"RABBITMQ_URL": "amqp://guest:guest@mq:5672/%2F", "REDIS_URL": "redis://db:6379/0",
           "SENSU_API_PORT": "4567", "SENSU_CLIENT_SUBSCRIPTIONS": "web,db", "SENSU_TRANSPORT_NAME": "rabbitmq"}
    loaded = load_config([], [], env=env)
    assert loaded.settings == {
        "transport": {"name": "rabbitmq"},
        "rabbitmq": {"url": "amqp://guest:guest@mq:5672/%2F"},
        "redis": {"url": "redis://db:6379/0"},
        "client": {"subscriptions": ["web", "db"]},
        "api": {"port": 4567},
    }
    assert loaded.file_for("redis.url") == "environment REDIS_URL"
    file = write(tmp_path / "api.json", {"api": {"port": 8080}})
    both = load_config([file], [], env={**env, "OGI_API_PORT": "5000"})
    assert both.settings["api"]["port"] == 8080
    assert load_config([], [], env={"SENSU_API_PORT": "1", "OGI_API_PORT": "2"}).settings["api"]["port"] == 2


def test_a_port_in_the_environment_must_be_a_number() -> None:
    with pytest.raises(ConfigErrors) as caught:
        load_config([], [], env={"SENSU_API_PORT": "http"})
    assert str(caught.value.errors[0]) == 'environment SENSU_API_PORT: api.port: must be an integer port number (got "http")'


def test_redaction_hides_secret_values_at_any_depth_and_keeps_the_rest() -> None:
    settings: dict[str, Any] = {
        "rabbitmq": [{"host": "mq", "password": "p1"}],
        "api": {"user": "admin", "password": "p2"},
        "slack": {"webhook_url": "https://hooks", "channel": "#ops"},
        "client": {"name": "web", "redact": ["token"], "snmp": {"community": "public"}, "token": "t"},
        "checks": {"x": {"command": "check --pass :::pw:::", "secret": {"nested": 1}}},
    }
    shown = redact(settings)
    assert shown["rabbitmq"][0] == {"host": "mq", "password": "REDACTED"}
    assert shown["api"] == {"user": "admin", "password": "REDACTED"}
    assert shown["slack"] == {"webhook_url": "REDACTED", "channel": "#ops"}
    assert shown["client"]["snmp"]["community"] == "REDACTED"
    assert shown["client"]["token"] == "REDACTED"
    assert shown["checks"]["x"] == {"command": "check --pass :::pw:::", "secret": "REDACTED"}
    assert settings["api"]["password"] == "p2", "the settings themselves are untouched"
    assert redact({"mine": {"pin": 1}}, extra_keys=["pin"]) == {"mine": {"pin": "REDACTED"}}


def _doc_json_blocks() -> list[str]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    return re.findall(r"```json\n(.*?)```", text, flags=re.S)


def test_the_configuration_doc_has_json_examples() -> None:
    assert len(_doc_json_blocks()) >= 5


@pytest.mark.parametrize("index", range(len(_doc_json_blocks())))
def test_every_json_example_in_the_configuration_doc_is_valid(index: int) -> None:
    block = _doc_json_blocks()[index]
    settings = json.loads(block)
    errors, _warnings = validate(settings, Registry(use_entry_points=False))
    assert errors == [], "\n".join(str(e) for e in errors) + "\n" + block


def test_array_elements_keep_their_file_when_the_first_array_held_repeats(tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", {"client": {"subscriptions": ["x", "x", "y"]}})
    second = write(tmp_path / "b.json", {"client": {"subscriptions": ["y", "z"]}})
    loaded = load_config([first, second], [], env={})
    assert loaded.settings["client"]["subscriptions"] == ["x", "y", "z"]
    assert [loaded.file_for(f"client.subscriptions[{i}]") for i in range(3)] == [first, first, second]
    assert "client.subscriptions[3]" not in loaded.origins


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([1.0, "a", "b"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["k", "l", "m.n"]), inner, max_size=3),
    max_leaves=12,
)
json_objects = st.dictionaries(st.sampled_from(["k", "l", "m.n"]), json_values, max_size=3)


def _paths(value: Any, path: str = "") -> set[str]:
    found = {path} if path else set()
    if isinstance(value, dict):
        for key, sub in value.items():
            found |= _paths(sub, path_key(path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found |= _paths(sub, f"{path}[{i}]")
    return found


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(json_objects, min_size=1, max_size=4))
def test_every_merged_path_and_only_those_has_an_origin(tmp_path: Path, files: list[dict[str, Any]]) -> None:
    names = [write(tmp_path / f"{i}.json", data) for i, data in enumerate(files)]
    loaded = load_config(names, [], env={})
    expected: Any = {}
    for data in files:
        expected = deep_merge(expected, data)
    assert loaded.settings == expected
    assert set(loaded.origins) == _paths(loaded.settings)
    assert set(loaded.origins.values()) <= set(names)


def test_a_file_level_error_names_the_file_without_an_empty_path() -> None:
    assert str(ConfigError("", "config file does not exist", file="/etc/ogi/x.json")) == (
        "/etc/ogi/x.json: config file does not exist"
    )
    assert str(ConfigError("", "must be an object", [1])) == "<root>: must be an object (got [1])"
    assert str(ConfigError("api.port", "must be an integer", "x", file="a.json")) == (
        'a.json: api.port: must be an integer (got "x")'
    )


def test_an_error_under_a_handler_name_with_dots_names_the_file_that_defined_it(tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", {"handlers": {"carbon": {"type": "tcp", "socket": {"host": "c", "port": 1}}}})
    second = write(tmp_path / "b.json", {"handlers": {"carbon.eu": {"type": "tcp", "socket": {"host": "c", "port": 1},
                                                                   "sockett": {}}},
                                         "filters": {"prod.eu": {"attributes": {}, "negat": True}}})
    with pytest.raises(ConfigErrors) as caught:
        load_settings([first, second], [], env={})
    assert [str(e) for e in caught.value.errors] == [
        f'{second}: handlers["carbon.eu"].sockett: unknown key for a tcp handler (got {{}})',
        f'{second}: filters["prod.eu"].negat: unknown key for a filter (got true)',
    ]


class _NeedsUrl(Handler):
    def __init__(self, name: str, definition: dict[str, Any], context: Context) -> None:
        super().__init__(name, definition, context)
        if "url" not in definition:
            raise DefinitionError("url", "is required")


def test_a_broken_plugin_type_named_without_a_definition_fails_check_config_once(tmp_path: Path) -> None:
    registry = Registry(use_entry_points=False)
    registry.register("handlers", "webhook", _NeedsUrl)
    check = {"command": "true", "interval": 10, "subscribers": ["base"], "handlers": ["webhook"]}
    file = write(tmp_path / "c.json", {"checks": {"cpu": check, "disk": check},
                                       "client": {"keepalive": {"handler": "webhook"}}})
    with pytest.raises(ConfigErrors) as caught:
        load_settings([file], [], registry=registry, env={})
    assert [str(e) for e in caught.value.errors] == [
        f"{file}: checks.cpu.handlers[0]: handler type 'webhook' is named without a definition, "
        "and cannot be built that way: url: is required"
    ]


def test_a_directory_symlink_loop_is_an_error_naming_the_link_and_each_file_is_read_once(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    (conf / "checks").mkdir(parents=True)
    (conf / "checks" / "disk.json").write_text('{"checks": {"disk": {"command": "true", "interval": 60, '
                                               '"subscribers": ["base"]}}}')
    (conf / "checks" / "again").symlink_to(conf)  # two links back up: exponential before
    (conf / "checks" / "more").symlink_to(conf)
    (conf / "same").symlink_to(conf / "checks")  # the same directory twice, no loop
    with pytest.raises(ConfigErrors) as raised:
        load_config([], [str(conf)], env={})
    loops = [e for e in raised.value.errors if "symlink loop" in str(e)]
    assert sorted(Path(e.file or "").name for e in loops) == ["again", "more"]
    assert "points back to" in loops[0].message


def test_a_directory_linked_twice_is_read_once(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    (conf / "checks").mkdir(parents=True)
    (conf / "checks" / "disk.json").write_text('{"checks": {"disk": {"command": "true"}}}')
    (conf / "same").symlink_to(conf / "checks")
    loaded = load_config([str(conf / "checks" / "disk.json")], [str(conf)], env={})
    assert loaded.files == [str(conf / "checks" / "disk.json")]

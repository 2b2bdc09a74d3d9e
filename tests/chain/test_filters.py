"""Gates, settings filters (attributes, negate, when) and time windows."""

from __future__ import annotations

import copy
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.chain.gates import AttributeFilter, gate
from pipeline.expr.when import WhenError, compile_when, parse_time
from pipeline.extension import Context, DefinitionError
from pipeline.registry import default_registry
from tests.helpers import make_event


def changed(**changes: Any) -> dict[str, Any]:
    """The shared test event with `check` and `client` dicts merged in, other keys replaced."""
    event = make_event()
    for key, value in changes.items():
        if key in ("check", "client"):
            event[key].update(value)
        else:
            event[key] = value
    return event


# -- gates ----------------------------------------------------------------------------------------
GATES: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = [
    ("an ordinary event passes every gate", {}, {}, None),
    ("handle false stops the event", {}, {"check": {"handle": False}}, "handle"),
    ("handle false stops it even for a handler that takes everything",
     {"handle_flapping": True, "handle_silenced": True}, {"check": {"handle": False}}, "handle"),
    ("a flapping event stops without handle_flapping", {}, {"action": "flapping"}, "flapping"),
    ("a flapping event passes with handle_flapping", {"handle_flapping": True}, {"action": "flapping"}, None),
    ("a critical event passes a critical handler", {"severities": ["critical"]}, {}, None),
    ("a warning stops at a critical-only handler", {"severities": ["critical"]}, {"check": {"status": 1}},
     "severities"),
    ("an unknown status 3 matches unknown", {"severities": ["unknown"]}, {"check": {"status": 3}}, None),
    ("a status above 3 counts as unknown", {"severities": ["unknown"]}, {"check": {"status": 127}}, None),
    ("a status above 3 is not critical", {"severities": ["critical"]}, {"check": {"status": 127}}, "severities"),
    ("an empty severities list stops everything", {"severities": []}, {}, "severities"),
    ("an ok create passes an ok handler", {"severities": ["ok"]},
     {"check": {"status": 0, "history": ["0"]}}, None),
    ("a resolve passes when an earlier status of the history is listed", {"severities": ["critical"]},
     {"action": "resolve", "check": {"status": 0, "history": ["0", "2", "2", "0"]}}, None),
    ("a resolve stops when no status of its history is listed", {"severities": ["critical"]},
     {"action": "resolve", "check": {"status": 0, "history": ["0", "1", "1", "0"]}}, "severities"),
    ("ok in the list lets every resolve through", {"severities": ["ok"]},
     {"action": "resolve", "check": {"status": 0, "history": ["1", "1", "0"]}}, None),
    ("a resolve without a history is judged by its status", {"severities": ["critical"]},
     {"action": "resolve", "check": {"status": 0, "history": []}}, "severities"),
    ("a create is judged by its own status, not its history", {"severities": ["critical"]},
     {"check": {"status": 1, "history": ["2", "2", "1"]}}, "severities"),
    ("a silenced event stops without handle_silenced", {}, {"silenced": True}, "silenced"),
    ("a silenced event passes with handle_silenced", {"handle_silenced": True}, {"silenced": True}, None),
    ("flapping is reported before severities", {"severities": ["warning"]}, {"action": "flapping"}, "flapping"),
    ("severities are reported before silencing", {"severities": ["warning"]}, {"silenced": True}, "severities"),
]


@pytest.mark.parametrize(("handler", "changes", "expected"), [g[1:] for g in GATES], ids=[g[0] for g in GATES])
def test_gates_stop_events_in_sensus_order(handler: dict[str, Any], changes: dict[str, Any], expected: str | None) -> None:
    assert gate(handler, changed(**copy.deepcopy(changes))) == expected


# -- attribute filters ----------------------------------------------------------------------------
def build(definition: dict[str, Any], clock: float | None = None, name: str = "f") -> AttributeFilter:
    context = Context() if clock is None else Context(clock=lambda: clock)
    return AttributeFilter(name, definition, context)


# (description, definition, event changes, event kept)
FORMS: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("an equal attribute keeps the event", {"attributes": {"client": {"environment": "prod"}}}, {}, True),
    ("a different attribute drops the event", {"attributes": {"client": {"environment": "dev"}}}, {}, False),
    ("a number matches its string form", {"attributes": {"check": {"status": "2"}}}, {}, True),
    ("a string matches its number form", {"attributes": {"check": {"status": 2}}},
     {"check": {"status": "2"}}, True),
    ("true matches the string true", {"attributes": {"check": {"flag": "true"}}}, {"check": {"flag": True}}, True),
    ("true does not equal 1", {"attributes": {"check": {"flag": 1}}}, {"check": {"flag": True}}, False),
    ("a missing attribute matches the empty string, as nil.to_s", {"attributes": {"check": {"nope": ""}}}, {}, True),
    ("a missing attribute matches null", {"attributes": {"check": {"nope": None}}}, {}, True),
    ("a null attribute matches null", {"attributes": {"check": {"custom": {"ticket": None}}}}, {}, True),
    ("a missing attribute does not match a value", {"attributes": {"check": {"nope": "x"}}}, {}, False),
    ("an integer matches an equal float", {"attributes": {"occurrences": 1.0}}, {}, True),
    ("a float matches its Ruby string form", {"attributes": {"check": {"load": "1.0"}}},
     {"check": {"load": 1.0}}, True),
    ("nested objects match as a subset", {"attributes": {"check": {"custom": {"team": "ops"}}}}, {}, True),
    ("a nested mismatch drops", {"attributes": {"check": {"custom": {"team": "dev"}}}}, {}, False),
    ("nothing below a non-object matches, not even an empty string",
     {"attributes": {"check": {"output": {"x": ""}}}}, {}, False),
    ("an empty object matches any object", {"attributes": {"client": {"tags": {}}}}, {}, True),
    ("an empty object does not match a missing attribute", {"attributes": {"client": {"nope": {}}}}, {}, False),
    ("several attributes must all match", {"attributes": {"action": "create", "check": {"status": 1}}}, {}, False),
    ("a list matches an equal list", {"attributes": {"client": {"subscriptions": ["web", "client:web-1"]}}}, {}, True),
    ("empty attributes match everything", {"attributes": {}}, {}, True),
    ("an eval keeps a matching event", {"attributes": {"check": {"status": "eval: value >= 2"}}}, {}, True),
    ("an eval drops a non-matching event", {"attributes": {"check": {"status": "eval: value < 2"}}}, {}, False),
    ("eval without a blank works", {"attributes": {"check": {"status": "eval:value == 2"}}}, {}, True),
    ("an eval sees event tokens", {"attributes": {"occurrences": "eval: value * :::check.interval|60::: == 30"}},
     {"check": {"interval": 30}}, True),
    ("an eval on a missing attribute sees nil", {"attributes": {"check": {"nope": "eval: value.nil?"}}}, {}, True),
    ("an eval with zero as result matches, by Ruby truth", {"attributes": {"check": {"status": "eval: 0"}}}, {}, True),
    ("an eval failing at run time counts as no match", {"attributes": {"check": {"output": "eval: value > 1"}}},
     {}, False),
    ("an eval with an unmatched token counts as no match",
     {"attributes": {"check": {"status": "eval: value == :::check.nope:::"}}}, {}, False),
    ("negate drops a matching event", {"attributes": {"client": {"environment": "prod"}}, "negate": True}, {},
     False),
    ("negate keeps a non-matching event", {"attributes": {"client": {"environment": "dev"}}, "negate": True}, {},
     True),
    ("negate keeps an event whose eval failed", {"attributes": {"check": {"output": "eval: value > 1"}},
                                                 "negate": True}, {}, True),
    ("the action matches by name", {"attributes": {"action": "resolve"}}, {"action": "resolve"}, True),
]


@pytest.mark.parametrize(("definition", "changes", "kept"), [f[1:] for f in FORMS], ids=[f[0] for f in FORMS])
async def test_attribute_filters_keep_or_drop_events(definition: dict[str, Any], changes: dict[str, Any],
                                                      kept: bool) -> None:
    assert await build(definition).allows(changed(**copy.deepcopy(changes))) is kept


async def test_a_failing_eval_is_logged_once_per_filter(caplog: pytest.LogCaptureFixture) -> None:
    f = build({"attributes": {"check": {"output": "eval: value > 1"}}}, name="busy")
    with caplog.at_level(logging.ERROR, logger="ogi"):
        for _ in range(3):
            assert not await f.allows(make_event())
    records = [r for r in caplog.records if r.name == "ogi"]
    assert len(records) == 1
    fields = records[0].fields  # type: ignore[attr-defined]
    assert fields["filter"] == "busy"
    assert fields["attribute"] == "check.output"
    assert "cannot apply '>' to string and number" in fields["error"]


# Monday 2024-01-01 and Tuesday 2024-01-02, local time.
def local(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2024, 1, day, hour, minute, second).timestamp()


NIGHTS = {"days": {"all": [{"begin": "5PM", "end": "8AM"}]}}
WINDOWS: list[tuple[str, dict[str, Any], float, bool]] = [
    ("inside a daytime window", {"days": {"all": [{"begin": "9:00 AM", "end": "5:00 PM"}]}}, local(1, 12), True),
    ("before a daytime window", {"days": {"all": [{"begin": "9:00 AM", "end": "5:00 PM"}]}}, local(1, 8, 59), False),
    ("after a daytime window", {"days": {"all": [{"begin": "9:00 AM", "end": "5:00 PM"}]}}, local(1, 17, 0, 1), False),
    ("at the first second of a window", {"days": {"all": [{"begin": "09:00", "end": "17:00"}]}}, local(1, 9), True),
    ("at the last second of a window", {"days": {"all": [{"begin": "09:00", "end": "17:00"}]}}, local(1, 17), True),
    ("in the evening part of a window spanning midnight", NIGHTS, local(1, 23, 30), True),
    ("in the morning part of a window spanning midnight", NIGHTS, local(2, 7, 59), True),
    ("at noon outside a window spanning midnight", NIGHTS, local(2, 12), False),
    ("on the named day", {"days": {"monday": [{"begin": "9AM", "end": "5PM"}]}}, local(1, 12), True),
    ("on another day than the named one", {"days": {"monday": [{"begin": "9AM", "end": "5PM"}]}}, local(2, 12), False),
    ("on a named day's morning of a midnight-spanning window (Sensu reads the day of now)",
     {"days": {"monday": [{"begin": "5PM", "end": "8AM"}]}}, local(1, 7), True),
    ("on the morning after a named day's midnight-spanning window",
     {"days": {"monday": [{"begin": "5PM", "end": "8AM"}]}}, local(2, 7), False),
    ("in the second of two windows of a day",
     {"days": {"monday": [{"begin": "1AM", "end": "2AM"}, {"begin": "3PM", "end": "4PM"}]}}, local(1, 15, 30), True),
    ("when all misses but the day matches",
     {"days": {"all": [{"begin": "1AM", "end": "2AM"}], "monday": [{"begin": "3PM", "end": "4PM"}]}},
     local(1, 15, 30), True),
    # Around noon UTC, so the local date is the UTC date in nearly every zone.
    ("in a window given in UTC", {"days": {"all": [{"begin": "11:00 UTC", "end": "13:00 UTC"}]}},
     datetime(2024, 1, 3, 12, 0, tzinfo=UTC).timestamp(), True),
    ("outside a window given in UTC", {"days": {"all": [{"begin": "11:00 UTC", "end": "13:00 UTC"}]}},
     datetime(2024, 1, 3, 13, 30, tzinfo=UTC).timestamp(), False),
    ("with no day listed", {"days": {}}, local(1, 12), False),
]


@pytest.mark.parametrize(("when", "now", "inside"), [w[1:] for w in WINDOWS], ids=[w[0] for w in WINDOWS])
def test_time_windows(when: dict[str, Any], now: float, inside: bool) -> None:
    assert compile_when(when).contains(now) is inside


@pytest.mark.parametrize(
    ("text", "hour", "minute", "second"),
    [("5PM", 17, 0, 0), ("5 pm", 17, 0, 0), ("5:00 PM", 17, 0, 0), ("5:30:15 p.m.", 17, 30, 15), ("12AM", 0, 0, 0),
     ("12:30 PM", 12, 30, 0), ("17:00", 17, 0, 0), ("00:05:09", 0, 5, 9), ("8AM", 8, 0, 0)],
)
def test_times_of_day_read_as_sensu_users_write_them(text: str, hour: int, minute: int, second: int) -> None:
    t = parse_time(text)
    assert (t.hour, t.minute, t.second, t.offset) == (hour, minute, second, None)


@pytest.mark.parametrize(
    ("text", "offset"), [("9:00 UTC", 0), ("9AM PST", -8 * 3600), ("9:00 +02:00", 7200), ("09:00-0530", -19800)]
)
def test_a_time_may_name_its_zone(text: str, offset: int) -> None:
    assert parse_time(text).offset == offset


@pytest.mark.parametrize("text", ["17", "25:00", "13PM", "0AM", "9:60", "noon", "", "9:00 XYZ", "9:00:00:00"])
def test_a_bad_time_of_day_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


async def test_a_filter_applies_inside_its_when_window() -> None:
    definition = {"attributes": {"client": {"environment": "prod"}}, "negate": True, "when": NIGHTS}
    assert await build(definition, clock=local(1, 23)).allows(make_event()) is False


async def test_a_filter_outside_its_when_window_lets_every_event_pass() -> None:
    definition = {"attributes": {"client": {"environment": "dev"}}, "when": NIGHTS}
    assert await build(definition, clock=local(1, 12)).allows(make_event()) is True


# (definition, error path, what the message says)
BAD_DEFINITIONS: list[tuple[Any, str, str]] = [
    ([], "", "must be an object"),
    ({}, "attributes", "must be an object"),
    ({"attributes": "x"}, "attributes", "must be an object"),
    ({"attributes": {}, "negate": "yes"}, "negate", "true or false"),
    ({"attributes": {"check": {"status": "eval: value >"}}}, "attributes.check.status",
     "bad eval expression: expected a value but found end of input at column 8"),
    ({"attributes": {"occurrences": "eval: import os"}}, "attributes.occurrences", "unknown name 'import'"),
    ({"attributes": {}, "when": []}, "when", "must be an object"),
    ({"attributes": {}, "when": {"day": {}}}, "when.day", "unknown key"),
    ({"attributes": {}, "when": {"days": []}}, "when.days", "must be an object"),
    ({"attributes": {}, "when": {"days": {"caturday": []}}}, "when.days.caturday", "unknown day"),
    ({"attributes": {}, "when": {"days": {"all": {}}}}, "when.days.all", "must be a list"),
    ({"attributes": {}, "when": {"days": {"all": ["5PM"]}}}, "when.days.all[0]", "must be an object"),
    ({"attributes": {}, "when": {"days": {"all": [{"begin": "5PM"}]}}}, "when.days.all[0].end", "is missing"),
    ({"attributes": {}, "when": {"days": {"monday": [{"begin": "5PM", "end": "later"}]}}},
     "when.days.monday[0].end", "not a time of day"),
]


@pytest.mark.parametrize(("definition", "path", "message"), BAD_DEFINITIONS, ids=[b[1] or "<root>" for b in BAD_DEFINITIONS])
def test_a_bad_filter_definition_names_the_key(definition: Any, path: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        AttributeFilter("f", definition, Context())
    assert caught.value.path == path
    assert message in caught.value.message


def test_a_bad_expression_error_carries_the_offending_value() -> None:
    with pytest.raises(DefinitionError) as caught:
        AttributeFilter("f", {"attributes": {"check": {"status": "eval: value >"}}}, Context())
    assert caught.value.value == "eval: value >"


def test_a_when_error_names_its_path_relative_to_the_when_object() -> None:
    with pytest.raises(WhenError) as caught:
        compile_when({"days": {"all": [{"begin": "x", "end": "5PM"}]}})
    assert caught.value.path == "days.all[0].begin"


# -- the documentation's examples -----------------------------------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "filters.md"
DOC_BLOCKS = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)


def test_the_filters_page_has_examples() -> None:
    assert len(DOC_BLOCKS) >= 5


@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[f"example {i + 1}" for i in range(len(DOC_BLOCKS))])
def test_every_example_on_the_filters_page_is_a_config_whose_filters_build(block: str) -> None:
    config = json.loads(block)
    assert "filters" in config and set(config) <= {"filters", "handlers"}
    for name, definition in config["filters"].items():
        AttributeFilter(name, definition, Context())
    builtins = set(default_registry.known("filters"))
    for handler in config.get("handlers", {}).values():
        named = handler.get("filters", []) + ([handler["filter"]] if "filter" in handler else [])
        assert set(named) <= set(config["filters"]) | builtins

"""Sensu's extensions in a migrated configuration: refused with what to write instead, or `debug`
working as Sensu's built-in did. Never a silent skip."""

from __future__ import annotations

import logging

import pytest

from pipeline.config.validate import validate
from pipeline.registry import default_registry


def errors_of(settings: dict) -> dict[str, str]:
    return {e.path: e.message for e in validate(settings, default_registry)[0]}


def test_a_check_with_an_extension_is_refused_with_the_command_to_write_instead() -> None:
    found = errors_of({"checks": {"cpu": {"extension": "cpu_metrics", "subscribers": ["base"], "interval": 10}}})
    assert list(found) == ["checks.cpu.extension"]
    assert "do not run in ogi" in found["checks.cpu.extension"]
    assert 'give the check a "command"' in found["checks.cpu.extension"]


def test_a_check_with_neither_command_nor_extension_is_told_to_have_a_command() -> None:
    found = errors_of({"checks": {"cpu": {"subscribers": ["base"], "interval": 10}}})
    assert found == {"checks.cpu.command": "is required (a string)"}


def test_an_extension_handler_named_like_an_ogi_type_is_told_to_use_that_type() -> None:
    found = errors_of({"handlers": {"debug": {"type": "extension"}}})
    assert list(found) == ["handlers.debug.type"]
    assert "write \"type\": \"debug\"" in found["handlers.debug.type"]


def test_another_extension_handler_is_told_to_use_a_pipe_handler_or_an_ogi_type() -> None:
    found = errors_of({"handlers": {"influxdb": {"type": "extension"}}})
    assert "use a pipe handler" in found["handlers.influxdb.type"]
    assert "graphite" in found["handlers.influxdb.type"]


def test_a_check_naming_the_debug_handler_is_valid_as_in_sensu() -> None:
    assert errors_of({"checks": {"web": {"command": "true", "subscribers": ["base"], "interval": 10,
                                         "handler": "debug"}}}) == {}


async def test_the_debug_handler_logs_the_whole_event(caplog: pytest.LogCaptureFixture) -> None:
    from pipeline.extension import Context

    handler_type = default_registry.get("handlers", "debug")
    handler = handler_type("debug", {"type": "debug"}, Context(settings={}))
    event = {"client": {"name": "web1"}, "check": {"name": "http", "status": 2, "output": "down"},
             "action": "create"}
    with caplog.at_level(logging.INFO, logger="ogi"):
        await handler.handle(event, b"")
    record = next(r for r in caplog.records if r.getMessage() == "debug handler: event")
    fields = record.fields  # type: ignore[attr-defined]
    assert (fields["client"], fields["check"], fields["status"], fields["event"]) == ("web1", "http", 2, event)


def test_every_json_block_in_the_migrating_doc_is_valid_configuration() -> None:
    import json
    import re

    from tests.helpers import ROOT

    text = (ROOT / "docs" / "migrating.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        assert validate(json.loads(block), default_registry)[0] == []

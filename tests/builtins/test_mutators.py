"""Mutators: built-ins produce the bytes Sensu 1.x handlers expect; command mutators run for real."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mutators.json import JsonMutator
from mutators.only_check_output import OnlyCheckOutputMutator
from mutators.pipe import PipeMutator
from mutators.ruby_hash import RubyHashMutator
from pipeline.extension import Context, DefinitionError
from pipeline.registry import default_registry
from tests.helpers import make_event

#: A metric check's output, as only_check_output and command mutators pass it on.
METRICS = "cpu.user 12 1700000000\ncpu.idle 80 1700000000\n"


def metric_event(output: object = METRICS) -> dict[str, object]:
    return make_event("cpu", 0, type="metric", output=output)


def test_the_registry_finds_every_builtin_mutator() -> None:
    assert default_registry.get("mutators", "json") is JsonMutator
    assert default_registry.get("mutators", "only_check_output") is OnlyCheckOutputMutator
    assert default_registry.get("mutators", "ruby_hash") is RubyHashMutator
    assert default_registry.get("mutators", "pipe") is PipeMutator


async def test_json_gives_the_whole_event_compact_and_custom_attributes_intact() -> None:
    event = metric_event()
    payload = await JsonMutator("json", {}, Context()).mutate(event)
    assert payload is not None
    assert json.loads(payload) == event
    assert b": " not in payload and b", " not in payload


async def test_json_keeps_non_ascii_text_as_utf8() -> None:
    payload = await JsonMutator("json", {}, Context()).mutate(metric_event(output="température élevée"))
    assert payload is not None
    assert "température élevée".encode() in payload


async def test_ruby_hash_sends_json_too() -> None:
    event = metric_event()
    assert await RubyHashMutator("ruby_hash", {}, Context()).mutate(event) == await JsonMutator(
        "json", {}, Context()
    ).mutate(event)


async def test_only_check_output_passes_the_output_alone() -> None:
    payload = await OnlyCheckOutputMutator("only_check_output", {}, Context()).mutate(metric_event())
    assert payload == b"cpu.user 12 1700000000\ncpu.idle 80 1700000000\n"


async def test_only_check_output_of_an_event_without_output_is_empty() -> None:
    mutator = OnlyCheckOutputMutator("only_check_output", {}, Context())
    assert await mutator.mutate({"check": {"name": "x"}}) == b""
    assert await mutator.mutate({}) == b""


async def test_a_command_mutator_turns_stdout_into_the_payload() -> None:
    mutator = PipeMutator("upper", {"command": "sed 's/all fine/ALL FINE/; s/web-1/WEB-1/'"}, Context())
    event = metric_event(output="all fine")
    payload = await mutator.mutate(event)
    assert payload is not None
    assert json.loads(payload)["client"]["name"] == "WEB-1"
    assert json.loads(payload)["check"]["output"] == "ALL FINE"


async def test_a_command_mutator_receives_the_event_json_on_stdin(tmp_path: Path) -> None:
    seen = tmp_path / "stdin.json"
    mutator = PipeMutator("keep", {"command": f"tee {seen}"}, Context())
    event = metric_event()
    await mutator.mutate(event)
    assert json.loads(seen.read_text()) == event


async def test_a_command_mutators_stderr_is_logged_not_passed_on(caplog: pytest.LogCaptureFixture) -> None:
    mutator = PipeMutator("noisy", {"command": "echo warning-text >&2; echo payload"}, Context())
    with caplog.at_level(logging.WARNING, logger="ogi"):
        payload = await mutator.mutate(metric_event())
    assert payload == b"payload\n"
    assert any(getattr(r, "fields", {}).get("stderr") == "warning-text\n" for r in caplog.records)


async def test_a_non_zero_exit_drops_the_event_with_a_log_line_naming_mutator_and_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mutator = PipeMutator("broken", {"command": "cat >/dev/null; echo nope; exit 4"}, Context())
    with caplog.at_level(logging.ERROR, logger="ogi"):
        assert await mutator.mutate(metric_event()) is None
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "broken" in record.getMessage() and "4" in record.getMessage()
    assert record.fields["mutator"] == "broken"  # type: ignore[attr-defined]
    assert record.fields["status"] == 4  # type: ignore[attr-defined]
    assert record.fields["client"] == "web-1"  # type: ignore[attr-defined]


async def test_a_timed_out_command_mutator_drops_the_event(caplog: pytest.LogCaptureFixture) -> None:
    mutator = PipeMutator("slow", {"command": "sleep 30", "timeout": 0.2}, Context())
    with caplog.at_level(logging.ERROR, logger="ogi"):
        assert await mutator.mutate(metric_event()) is None
    assert any(getattr(r, "fields", {}).get("timed_out") for r in caplog.records)


async def test_binary_stdout_is_passed_on_unchanged() -> None:
    mutator = PipeMutator("binary", {"command": "cat >/dev/null; printf '\\377\\000\\001'"}, Context())
    assert await mutator.mutate(metric_event()) == b"\xff\x00\x01"


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({}, "command"),
        ({"command": ""}, "command"),
        ({"command": ["tr", "a-z"]}, "command"),
        ({"command": "cat", "timeout": 0}, "timeout"),
        ({"command": "cat", "timeout": "10"}, "timeout"),
        ({"command": "cat", "timeout": True}, "timeout"),
    ],
)
def test_a_bad_command_mutator_definition_names_the_key(definition: dict[str, object], path: str) -> None:
    with pytest.raises(DefinitionError) as err:
        PipeMutator("m", definition, Context())
    assert err.value.path == path

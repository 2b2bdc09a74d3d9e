"""safe_mode as an attacker who can publish check requests meets it: the local check runs as
defined, whatever the request adds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.agent.agent import Agent
from pipeline.transport.memory import MemoryTransport
from tests.agent.support import Pipe, ask, settings


async def test_a_request_cannot_widen_a_local_check_in_safe_mode(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "injected"
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings({"safe_mode": True, "name": "db-1", "role": f"db; touch {marker}", "password": "s3cret"},
                            {"whoami": {"command": "echo :::role|none:::"}}), transport, env={})
    request = {"name": "whoami", "issued": 42, "command": "echo remote", "unsafe_tokens": True, "stdin": True,
               "timeout": 0.001, "source": "another-host"}
    await ask(client, json.loads(json.dumps(request)))
    check = (await results.next())["check"]
    assert not marker.exists()  # unsafe_tokens from the request did not let the token into the shell
    assert check["status"] == 3 and "Unsafe client token" in check["output"]
    assert check["issued"] == 42
    assert not {"unsafe_tokens", "stdin", "timeout", "source"} & set(check)
    warned = [r for r in caplog.records if "safe mode: ignoring" in r.getMessage()]
    assert warned and warned[0].fields["ignored"] == ["source", "stdin", "timeout", "unsafe_tokens"]  # type: ignore[attr-defined]


async def test_without_safe_mode_request_keys_still_travel_as_in_sensu() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings({}, {"disk": {"command": "echo local"}}), transport, env={})
    await ask(client, {"name": "disk", "command": "echo remote", "team": "ops"})
    check = (await results.next())["check"]
    assert (check["output"], check["team"]) == ("local\n", "ops")

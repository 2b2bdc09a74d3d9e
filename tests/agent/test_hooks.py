"""Check hooks as Sensu 1.4+ runs them: the hook for the status runs after the check, its
output, status, duration and executed land in its own entry of the published result."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.agent.agent import Agent
from pipeline.agent.hooks import hook_key
from pipeline.config.load import settings_of
from pipeline.transport.memory import MemoryTransport

CLIENT = {"name": "web-1", "address": "10.0.0.5", "socket": {"enabled": False}, "disk": {"path": "/tmp"}}


async def result_of(check: dict[str, Any], client: dict[str, Any] | None = None,
                    request: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run `check` (locally defined as "c") on an agent, or answer `request`; the published check."""
    transport = MemoryTransport()
    results = await transport.subscribe("results", "direct")
    settings = {"client": {**CLIENT, **(client or {})}, "checks": {"c": check} if check else {}}
    agent = Agent(settings_of(settings), transport, env={})
    task = agent.request(json.dumps(request or {"name": "c", "issued": 1}).encode())
    assert task is not None
    await task
    message = await asyncio.wait_for(results.__aiter__().__anext__(), 30)
    async with message.process():
        return dict(json.loads(message.body)["check"])


@pytest.mark.parametrize(("status", "keys", "chosen"), [
    (2, ["2", "critical", "non-zero"], "2"),
    (2, ["critical", "non-zero"], "critical"),
    (2, ["non-zero"], "non-zero"),
    (7, ["unknown", "non-zero"], "unknown"),
    (0, ["non-zero", "1"], None),
    (0, ["ok", "non-zero"], "ok"),
])
def test_the_hook_is_the_exact_status_then_the_severity_then_non_zero(status: int, keys: list[str],
                                                                      chosen: str | None) -> None:
    assert hook_key({k: {"command": "true"} for k in keys}, status) == chosen


async def test_the_hook_for_the_status_runs_and_its_entry_records_what_it_did() -> None:
    check = {"command": "echo down; exit 2", "hooks": {
        "critical": {"command": "echo looking at :::disk.path:::; exit 1"},
        "ok": {"command": "echo never"},
    }}
    result = await result_of(check)
    hook = result["hooks"]["critical"]
    assert (result["output"], result["status"]) == ("down\n", 2)
    assert (hook["output"], hook["status"]) == ("looking at /tmp\n", 1)
    assert hook["command"] == check["hooks"]["critical"]["command"], "the definition as written"
    assert isinstance(hook["executed"], int) and hook["executed"] >= result["executed"]
    assert isinstance(hook["duration"], float)
    assert "output" not in result["hooks"]["ok"], "only the hook for the status runs"


async def test_a_hook_token_without_a_value_is_reported_in_its_entry_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = await result_of({"command": "exit 1", "hooks": {
        "non-zero": {"command": f"touch {marker} :::missing.value:::"}}})
    hook = result["hooks"]["non-zero"]
    assert (hook["status"], hook["output"]) == (3, "Unmatched client token(s): missing.value")
    assert result["status"] == 1 and not marker.exists()


async def test_a_hook_with_shell_characters_in_a_token_value_is_refused() -> None:
    result = await result_of({"command": "exit 2", "hooks": {"critical": {"command": "echo :::note:::"}}},
                             client={"note": "x; rm -rf /"})
    assert result["status"] == 3 and result["output"].startswith("Unsafe client token value(s)")


async def test_a_hook_that_hangs_is_killed_at_its_timeout_and_the_result_still_goes_out(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    result = await result_of({"command": "echo slow disk; exit 2", "hooks": {
        "critical": {"command": f"echo $$ > {pid_file}; sleep 600", "timeout": 1}}})
    hook = result["hooks"]["critical"]
    assert (hook["status"], hook["output"]) == (2, "Execution timed out")
    assert (result["output"], result["status"]) == ("slow disk\n", 2)
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


async def test_a_hook_with_stdin_reads_the_client_and_the_check_as_json() -> None:
    result = await result_of({"command": "echo out; exit 1", "hooks": {
        "warning": {"command": "cat", "stdin": True}}})
    fed = json.loads(result["hooks"]["warning"]["output"])
    assert fed["client"]["name"] == "web-1"
    assert (fed["check"]["output"], fed["check"]["status"]) == ("out\n", 1)


async def test_in_safe_mode_only_a_local_definitions_hooks_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    request = {"name": "c", "issued": 1, "hooks": {"non-zero": {"command": f"touch {marker}"}}}
    result = await result_of({"command": "exit 2"}, client={"safe_mode": True}, request=request)
    assert result["status"] == 2 and "hooks" not in result and not marker.exists()
    result = await result_of({"command": "exit 2"}, request=request)
    assert result["hooks"]["non-zero"]["status"] == 0 and marker.exists()

"""run_command: real `sh -c` children, Nagios statuses, timeouts that leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from pipeline.agent.process.execute import DEFAULT_OUTPUT_CAP, TIMED_OUT, execute_check, run_command


def process_is_gone(pid: int) -> bool:
    """True when pid no longer runs (a zombie waiting for init to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def wait_until_gone(pid: int, attempts: int = 200) -> bool:
    for _ in range(attempts):
        if process_is_gone(pid):
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.parametrize(
    ("command", "status"),
    [("true", 0), ("false", 1), ("exit 2", 2), ("exit 3", 3), ("exit 127", 127)],
)
async def test_the_exit_code_becomes_the_status(command: str, status: int) -> None:
    result = await run_command(command)
    assert result.status == status
    assert not result.timed_out


async def test_stdout_and_stderr_are_merged_by_default() -> None:
    result = await run_command("echo out; echo err >&2")
    assert sorted(result.output.split()) == ["err", "out"]
    assert result.stderr == ""


async def test_stderr_is_kept_apart_when_asked() -> None:
    result = await run_command("echo out; echo err >&2", merge_stderr=False)
    assert result.output == "out\n"
    assert result.stderr == "err\n"


async def test_a_command_killed_by_a_signal_is_unknown() -> None:
    result = await run_command("echo before; kill -9 $$")
    assert result.status == 3
    assert result.output.startswith("before\n")
    assert "SIGKILL" in result.output


async def test_a_timeout_gives_sensus_text_and_status_2() -> None:
    result = await run_command("echo partial; sleep 30", timeout=0.2)
    assert result.status == 2
    assert result.output == TIMED_OUT
    assert result.timed_out


async def test_a_timeout_kills_the_commands_own_children_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = await run_command(f"sleep 30 & echo $! > {pidfile}; wait", timeout=0.3)
    assert result.timed_out
    pid = int(pidfile.read_text())
    assert await wait_until_gone(pid), f"the background sleep {pid} survived the timeout"


async def test_a_cancelled_run_kills_its_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(run_command(f"sleep 30 & echo $! > {pidfile}; wait"))
    for _ in range(500):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until_gone(int(pidfile.read_text()))


async def test_a_run_cancelled_while_the_shell_starts_kills_what_the_shell_already_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(run_command(f"sleep 30 & echo $! > {pidfile}; wait"))
    # Let the loop turn once at a time until the shell has forked; each time, block the loop
    # (no await) while waiting, so the start cannot complete while the shell forks its child.
    for _turn in range(10):
        await asyncio.sleep(0)
        for _ in range(30):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            time.sleep(0.01)
        else:
            continue
        break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)  # without the group kill, the sleep's pipe held this 30 s
    pid = int(pidfile.read_text())
    assert await wait_until_gone(pid), f"the background sleep {pid} survived the cancellation"


async def test_a_background_child_holding_the_pipe_does_not_hold_the_result(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = await run_command(f"echo done; sleep 30 & echo $! > {pidfile}")
    assert result.status == 0
    assert result.output == "done\n"
    os.kill(int(pidfile.read_text()), 9)


async def test_huge_output_is_capped_with_a_note_that_fits_inside_the_cap() -> None:
    result = await run_command("head -c 5242880 /dev/zero | tr '\\0' x", output_cap=1 << 20)
    assert result.status == 0
    assert result.truncated
    assert len(result.output.encode()) <= 1 << 20
    first, note = result.output.rstrip("\n").rsplit("\n", 1)
    assert set(first) == {"x"}
    assert len(first) > (1 << 20) - 100
    assert note == "[ogi: output cut to 1048576 bytes; the command wrote 5242880 bytes]"


async def test_the_default_cap_is_one_mebibyte() -> None:
    result = await run_command("head -c 3000000 /dev/zero | tr '\\0' y")
    assert result.truncated
    assert len(result.output.encode()) <= DEFAULT_OUTPUT_CAP == 1 << 20
    assert result.output.endswith("the command wrote 3000000 bytes]\n")


async def test_invalid_bytes_cannot_grow_the_output_past_the_cap() -> None:
    # Each invalid byte decodes to U+FFFD, three bytes of UTF-8.
    result = await run_command("head -c 1000 /dev/zero | tr '\\0' '\\377'", output_cap=1500)
    assert len(result.output.encode()) <= 1500
    assert "output cut to 1500 bytes; the command wrote 1000 bytes" in result.output


async def test_output_under_the_cap_is_not_marked() -> None:
    result = await run_command("printf 'a b\\n'")
    assert result.output == "a b\n"
    assert not result.truncated


async def test_stdin_reaches_the_command() -> None:
    result = await run_command("cat", stdin=b"hello\nworld\n")
    assert result.output == "hello\nworld\n"


async def test_large_stdin_and_large_output_do_not_deadlock() -> None:
    payload = b"y" * (4 << 20)
    result = await run_command("cat", stdin=payload, output_cap=8 << 20)
    assert result.status == 0
    assert result.raw == payload


async def test_a_command_that_ignores_stdin_is_fine() -> None:
    result = await run_command("echo ignored", stdin=b"z" * (2 << 20))
    assert result.status == 0
    assert result.output == "ignored\n"


async def test_output_is_decoded_with_replacement() -> None:
    result = await run_command("printf 'ok \\377\\n'")
    assert result.output == "ok \ufffd\n"


async def test_a_command_that_cannot_start_is_unknown_with_the_reason() -> None:
    # Linux refuses a single argument over 128 KiB: the shell cannot even be started.
    result = await run_command("true " + "x" * 300_000)
    assert result.status == 3
    assert "Unable to run command" in result.output
    assert "Argument list too long" in result.output


async def test_a_nul_byte_in_the_command_is_unknown_not_a_crash() -> None:
    result = await run_command("echo a\0b")
    assert result.status == 3
    assert "Unable to run command" in result.output


async def test_env_is_passed_to_the_command() -> None:
    result = await run_command("echo $OGI_TEST_VALUE", env={"OGI_TEST_VALUE": "seen"})
    assert result.output == "seen\n"


async def test_the_spawn_limit_bounds_how_many_commands_run_at_once(tmp_path: Path) -> None:
    running = tmp_path / "running"
    started = tmp_path / "started"
    running.mkdir()
    started.mkdir()
    counts = tmp_path / "counts"
    # Each child marks itself running, records how many are running, then waits until a
    # peer has started too, so two permitted children always overlap.
    script = (
        f'touch {running}/$N {started}/$N; ls {running} | wc -l >> {counts}; '
        f'i=0; while [ "$(ls {started} | wc -l)" -lt 2 ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; '
        f"rm {running}/$N"
    )
    limit = asyncio.Semaphore(2)
    results = await asyncio.gather(
        *(run_command(script, limit=limit, env={"N": str(n), "PATH": os.environ["PATH"]}) for n in range(8))
    )
    assert all(r.status == 0 for r in results)
    seen = [int(line) for line in counts.read_text().split()]
    assert len(seen) == 8
    assert max(seen) == 2


async def test_without_a_limit_commands_overlap(tmp_path: Path) -> None:
    started = tmp_path / "started"
    started.mkdir()
    # Each child waits for all four to have started: only possible if nothing serializes them.
    script = (
        f'touch {started}/$N; i=0; while [ "$(ls {started} | wc -l)" -lt 4 ] && [ $i -lt 1000 ]; '
        f"do sleep 0.01; i=$((i+1)); done; ls {started} | wc -l"
    )
    results = await asyncio.gather(
        *(run_command(script, env={"N": str(n), "PATH": os.environ["PATH"]}) for n in range(4))
    )
    assert [r.output.strip() for r in results] == ["4"] * 4


async def test_a_check_result_has_issued_executed_duration_output_and_status() -> None:
    check = {"name": "disk", "command": "echo disk ok; exit 1", "interval": 60, "team": "ops"}
    result = await execute_check(check, {"name": "web-1"}, clock=lambda: 1700000000.7)
    assert result == {
        "name": "disk", "command": "echo disk ok; exit 1", "interval": 60, "team": "ops",
        "issued": 1700000000, "executed": 1700000000, "duration": result["duration"],
        "output": "disk ok\n", "status": 1,
    }
    assert isinstance(result["duration"], float) and 0 <= result["duration"] < 10
    assert check == {"name": "disk", "command": "echo disk ok; exit 1", "interval": 60, "team": "ops"}


async def test_a_check_result_keeps_the_issued_time_of_its_request() -> None:
    result = await execute_check({"name": "a", "command": "true", "issued": 1699999990}, {}, clock=lambda: 1700000000)
    assert (result["issued"], result["executed"]) == (1699999990, 1700000000)


async def test_stdin_true_sends_the_client_and_the_check_as_json() -> None:
    check = {"name": "reader", "command": "cat", "stdin": True}
    client = {"name": "web-1", "address": "10.0.0.5", "role": "db"}
    result = await execute_check(check, client)
    assert json.loads(result["output"]) == {"client": client, "check": check}


async def test_without_stdin_the_command_reads_nothing() -> None:
    result = await execute_check({"name": "reader", "command": "cat; echo end"}, {"name": "c"})
    assert result["output"] == "end\n"


async def test_a_check_timeout_gives_status_2_and_sensus_text() -> None:
    result = await execute_check({"name": "slow", "command": "sleep 30", "timeout": 0.2}, {"name": "c"})
    assert (result["status"], result["output"]) == (2, TIMED_OUT)


async def test_a_check_with_a_bad_timeout_is_not_run_and_says_why() -> None:
    result = await execute_check({"name": "odd", "command": "echo ran", "timeout": "soon"}, {"name": "c"})
    assert result["status"] == 3
    assert result["output"] == "Check timeout must be a positive number of seconds, not 'soon': command not run"


async def test_ogis_own_plugins_run_by_bare_name_as_sensu_put_its_plugin_directories_on_path() -> None:
    import sysconfig

    result = await run_command("command -v ogi-metrics-load")
    assert result.status == 0, result.output
    assert result.output.strip().startswith(sysconfig.get_path("scripts"))

"""A command exec'd without a shell cannot be told from the same command under `sh -c`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.agent.process import spawn
from pipeline.agent.process.argv import simple_argv
from pipeline.agent.process.execute import TIMED_OUT, command_env, run_command

PLUGINS = Path("/usr/lib/nagios/plugins")
DUMMY = PLUGINS / "check_dummy"


@pytest.fixture(autouse=True)
def _every_spawn_path(spawn_path: str) -> str:
    """Every test here runs over each way a direct child can start (tests/conftest.py `spawn_path`)."""
    return spawn_path


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    spaced = tmp_path / "a b"
    spaced.mkdir()
    (spaced / "check").write_text("#!/bin/sh\necho spaced\n")
    (spaced / "check").chmod(0o755)
    (tmp_path / "plain.txt").write_text("not a program\n")
    (tmp_path / "noshebang").write_text("echo from a script without a shebang\nexit 4\n")
    (tmp_path / "noshebang").chmod(0o755)
    return tmp_path


def corpus(d: Path) -> list[str]:
    return [
        f"{DUMMY} 0 ok", f"{DUMMY} 1 'disk at 91%'", f'{DUMMY} 2 "CRITICAL - down"', f"{DUMMY} 3",
        f"{DUMMY}", f"{DUMMY} 7 out-of-range", "check_dummy 0 found-on-PATH", "check_dummy  1\\ escaped",
        f"{PLUGINS}/negate {DUMMY} 2 inverted", f"{PLUGINS}/check_users -w 1000 -c 2000",
        f"{PLUGINS}/check_dummy --help",
        "/no/such/plugin 0 ok", "no_such_plugin_anywhere arg", f"{d}/a b/check", f"'{d}/a b/check'",
        f"{d}/plain.txt", f"{d}", f"{d}/noshebang", "ls /no/such/dir", "printenv PWD",
        "python3 -c 'import os; os.kill(os.getpid(), 9)'", "python3 -c 'import os; os.kill(os.getpid(), 15)'",
        "python3 -c 'import os, signal; signal.signal(2, signal.SIG_DFL); os.kill(os.getpid(), 2)'", "sleep 0",
    ]


def only_simple(commands: list[str]) -> list[str]:
    return [c for c in commands if simple_argv(c) is not None]


def test_the_corpus_mostly_takes_the_direct_path(corpus_dir: Path) -> None:
    commands = corpus(corpus_dir)
    assert len(only_simple(commands)) >= len(commands) - 2


@pytest.mark.skipif(not DUMMY.exists(), reason="Nagios plugins are not installed (monitoring-plugins-basic)")
async def test_every_command_gives_the_same_status_and_output_both_ways(corpus_dir: Path) -> None:
    env = command_env()
    env["PATH"] = f"{PLUGINS}{os.pathsep}{env['PATH']}"
    for command in corpus(corpus_dir):
        direct = await run_command(command, env=dict(env), timeout=10)
        shell = await run_command(command, env=dict(env), timeout=10, direct=False)
        assert (direct.status, direct.output, direct.stderr) == (shell.status, shell.output, shell.stderr), command


async def test_missing_and_unrunnable_files_keep_the_shells_message_and_code(corpus_dir: Path) -> None:
    missing = await run_command("/no/such/plugin 0 ok")
    assert (missing.status, missing.output) == (127, "/bin/sh: 1: /no/such/plugin: not found\n")
    unrunnable = await run_command(f"{corpus_dir}/plain.txt")
    assert unrunnable.status == 126
    assert unrunnable.output == f"/bin/sh: 1: {corpus_dir}/plain.txt: Permission denied\n"


async def test_the_environment_is_the_one_the_shell_passes_on() -> None:
    direct = await run_command("env")
    shell = await run_command("env", direct=False)
    assert sorted(direct.output.splitlines()) == sorted(shell.output.splitlines())
    assert f"PWD={os.getcwd()}" in direct.output.splitlines()


async def test_a_plugin_killed_by_a_signal_is_reported_as_the_shell_does() -> None:
    killed = await run_command("python3 -c 'import os; os.kill(os.getpid(), 9)'")
    assert (killed.status, killed.output) == (137, "Killed\n")
    apart = await run_command("python3 -c 'import os; os.kill(os.getpid(), 15)'", merge_stderr=False)
    assert (apart.status, apart.output, apart.stderr) == (143, "", "Terminated\n")


async def test_stdin_and_separate_stderr_reach_a_direct_child() -> None:
    piped = await run_command("cat", stdin=b'{"check": {}}')
    assert (piped.status, piped.output) == (0, '{"check": {}}')
    apart = await run_command("ls /no/such/dir", merge_stderr=False)
    assert apart.output == ""
    assert "/no/such/dir" in apart.stderr


async def test_a_timeout_is_sensus_either_way() -> None:
    for direct in (True, False):
        result = await run_command("sleep 30", timeout=0.2, direct=direct)
        assert (result.status, result.output, result.timed_out) == (2, TIMED_OUT, True)


async def test_a_simple_command_runs_without_any_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawn, "SHELL", "/no/shell/here")
    plain = await run_command("printenv PWD")
    assert (plain.status, plain.output) == (0, os.getcwd() + "\n")
    needs_shell = await run_command("echo $PWD")
    assert needs_shell.status == 3
    assert needs_shell.output.startswith("Unable to run command")

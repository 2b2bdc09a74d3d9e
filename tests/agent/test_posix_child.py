"""The cheap start of a check (posix_spawn, pidfd, spawn thread) leaves nothing behind and hides nothing."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from pipeline.agent.process import posix_child
from pipeline.agent.process.execute import run_command


def _fds(listing: str) -> list[str]:
    return sorted(line for line in listing.split() if line.isdigit())


async def test_a_check_sees_only_its_standard_streams(spawn_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A descriptor the agent inherited without close-on-exec must not reach a plugin.
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)
    monkeypatch.setattr(posix_child, "_swept", False)  # as if the agent had just started with it
    try:
        direct = await run_command("ls /proc/self/fd")
        shell = await run_command("ls /proc/self/fd", direct=False)
    finally:
        os.close(leaked)
    assert str(leaked) not in _fds(direct.output)
    assert _fds(direct.output) == _fds(shell.output)


async def test_a_plugin_gets_sigpipe_back_at_its_default(spawn_path: str) -> None:
    # Python ignores SIGPIPE in the agent; a plugin must not inherit that (a shell's child does not).
    probe = "grep SigIgn /proc/self/status"
    direct, shell = await run_command(probe), await run_command(probe, direct=False)
    # glibc's posix_spawn leaves its own two internal signals (32, 33) ignored; no program sees those.
    internal = (1 << 31) | (1 << 32)
    ignored = int(direct.output.split()[1], 16) & ~internal
    assert ignored == int(shell.output.split()[1], 16) & ~internal
    assert not ignored & (1 << (13 - 1))  # SIGPIPE is 13


async def test_a_cancelled_run_leaves_no_process(spawn_path: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"python3 -c 'import os, time; open(\"{pidfile}\", \"w\").write(str(os.getpid())); time.sleep(60)'"
    run = asyncio.create_task(run_command(command, timeout=30))
    for _ in range(500):
        if pidfile.exists() and pidfile.read_text():
            break
        await asyncio.sleep(0.01)
    pid = int(pidfile.read_text())
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    for _ in range(200):  # killed at once, reaped when its exit is seen: no zombie stays
        if not Path(f"/proc/{pid}").exists():
            break
        await asyncio.sleep(0.01)
    assert not Path(f"/proc/{pid}").exists()


async def test_a_background_process_holding_the_output_does_not_hold_the_check(spawn_path: str) -> None:
    started = time.monotonic()
    result = await run_command("python3 -c 'import os, time; print(\"up\", flush=True); os.fork() or time.sleep(30)'",
                               timeout=20)
    assert (result.status, result.output) == (0, "up\n")
    assert time.monotonic() - started < 10  # the grace (1 s), not the grandchild's 30 s


async def test_a_timeout_kills_the_whole_group(spawn_path: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = (f"python3 -c 'import os, time; pid = os.fork(); pid or time.sleep(60); "
               f"open(\"{pidfile}\", \"w\").write(str(pid)); time.sleep(60)'")
    result = await run_command(command, timeout=1)
    assert (result.status, result.timed_out) == (2, True)
    grandchild = int(pidfile.read_text())
    for _ in range(200):
        if not Path(f"/proc/{grandchild}").exists() or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]:
            break
        await asyncio.sleep(0.01)
    stat = Path(f"/proc/{grandchild}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"


async def test_many_checks_at_once_each_get_their_own_output(spawn_path: str) -> None:
    results = await asyncio.gather(*(run_command(f"/usr/lib/nagios/plugins/check_dummy {i % 4} run-{i}")
                                     for i in range(200)))
    states = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
    assert [(r.status, r.output) for r in results] == [(i % 4, f"{states[i % 4]}: run-{i}\n") for i in range(200)]


async def test_an_agent_with_slots_to_spare_spawns_on_the_loop_and_a_crowded_one_on_the_spawn_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.agent.process import execute

    if not execute._OFF_LOOP:
        pytest.skip("glibc's posix_spawn is not reachable through ctypes here")
    monkeypatch.setattr(execute, "_LOOP_SHARE", posix_child.LoopShare(1.0))  # no pacing: only crowding decides
    where: list[str] = []
    on_loop, off_loop = posix_child.DirectChild.start, posix_child.DirectChild.start_off_loop

    def start(*args: object) -> posix_child.DirectChild:
        where.append("loop")
        return on_loop(*args)  # type: ignore[arg-type]

    async def start_off(*args: object) -> posix_child.DirectChild:
        where.append("thread")
        return await off_loop(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(posix_child.DirectChild, "start", start)
    monkeypatch.setattr(posix_child.DirectChild, "start_off_loop", start_off)
    command = "/usr/bin/env true"
    # 4 checks, 8 slots: never crowded
    ran = await asyncio.gather(*(run_command(command, limit=asyncio.Semaphore(8)) for _ in range(4)))
    assert [r.status for r in ran] == [0] * 4 and where == ["loop"] * 4
    where.clear()
    # 12 checks, 2 slots: the first takes one of two free slots; every later start finds both
    # taken or checks waiting for them
    slots = asyncio.Semaphore(2)
    ran = await asyncio.gather(*(run_command(command, limit=slots) for _ in range(12)))
    assert [r.status for r in ran] == [0] * 12 and where == ["loop"] + ["thread"] * 11
    assert not posix_child.LoopShare(0.0).allows(crowded=False)

"""The spawn threads: a child that has not reached its exec yet does not hold up the next start."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from pipeline.agent.process.spawn_thread import THREADS, SpawnThread


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


async def test_a_child_stuck_before_its_exec_does_not_hold_up_the_next_spawn(tmp_path: Path) -> None:
    spawner = SpawnThread()
    if not spawner.available:
        pytest.skip("glibc's posix_spawn is not reachable through ctypes here")
    assert THREADS >= 2
    fifo = tmp_path / "stdin"
    os.mkfifo(fifo)
    # The first child's stdin is a FIFO nobody writes to: its open() blocks before the exec, and
    # with it (vfork semantics) the thread that spawned it.
    spawner._devnull = os.fsencode(fifo)
    stuck_read, stuck_write = os.pipe()
    stuck = spawner.spawn("/bin/echo", ["echo", "stuck"], {"PATH": "/bin:/usr/bin"}, stuck_write)
    try:
        await asyncio.sleep(0.3)
        assert not stuck.done()
        spawner._devnull = os.fsencode(os.devnull)
        read_end, write_end = os.pipe()
        quick = spawner.spawn("/bin/echo", ["echo", "quick"], {"PATH": "/bin:/usr/bin"}, write_end)
        pid = await asyncio.wait_for(quick, 10)  # with one spawn thread this waits for the FIFO
        os.close(write_end)
        assert await asyncio.to_thread(read_all, read_end) == b"quick\n"
        assert os.waitpid(pid, 0)[1] == 0
        assert not stuck.done()
    finally:
        # A writer comes (the blocked reader counts, so this open does not wait): the stuck
        # child opens its stdin, execs and runs, whatever happened above.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    stuck_pid = await asyncio.wait_for(stuck, 10)
    os.close(stuck_write)
    assert await asyncio.to_thread(read_all, stuck_read) == b"stuck\n"
    assert os.waitpid(stuck_pid, 0)[1] == 0
    assert sum(t.name.startswith("ogi-spawn-") for t in threading.enumerate()) >= THREADS

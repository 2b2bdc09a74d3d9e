"""Start children from threads of their own, without holding the GIL while the kernel works.

glibc's posix_spawn uses vfork semantics: the calling thread is suspended until the child has
called exec. That is cheap in CPU, but the wait is as long as it takes the scheduler to run
the child to its exec: ~0.17 ms on a quiet machine, over a millisecond on a busy one. On the
event loop's thread that wait stops every other check, result and handler. CPython's
`os.posix_spawn` holds the GIL across the call (measured: no other thread ran during any of
200 calls), so calling it from another thread moves nothing. Calling libc's posix_spawn
through ctypes releases the GIL for the call, so the loop goes on while a thread waits.

`THREADS` threads share one queue, so one child's wait for a CPU does not hold up the next
spawn: with one thread, `ogi run` at 2,000 checks/s had 12-17 spawns queued behind it all the
time, the spawn slots full and 11-12 % of both CPUs idle; with two, 4-6 % idle and a higher
sustained rate (docs/performance.md, "Spawning checks"). A thread takes at most `BATCH` spawns
at a time and answers them in one wake-up of the loop. Where ctypes or glibc's posix_spawn is
missing, `SpawnThread.available` is False and the caller spawns on the loop's thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import threading
from collections.abc import Sequence

__all__ = ["SpawnThread", "spawner"]

#: glibc's flags (spawn.h); opaque structures are given more room than glibc needs.
_SETSIGDEF = 0x04
_SETSID = 0x80
_ATTR_SIZE = 1024
_ACTIONS_SIZE = 256
_SIGSET_SIZE = 128
#: Spawn threads, and the spawns one of them takes before answering the loop.
THREADS = 2
BATCH = 8
#: Encoded environments kept (one per check, as a rule).
_ENV_CACHE = 20000


def _load_libc() -> tuple[ctypes.CDLL, ctypes.PyDLL] | None:
    """libc twice: calls through the CDLL let go of the GIL, calls through the PyDLL keep it."""
    try:
        name = ctypes.util.find_library("c") or "libc.so.6"
        libc, held = ctypes.CDLL(name), ctypes.PyDLL(name)
        libc.posix_spawn  # noqa: B018 - present, or AttributeError
        for function in ("posix_spawnattr_init", "posix_spawnattr_setflags", "posix_spawnattr_setsigdefault",
                         "posix_spawn_file_actions_init", "posix_spawn_file_actions_adddup2",
                         "posix_spawn_file_actions_addopen", "posix_spawn_file_actions_destroy",
                         "sigemptyset", "sigaddset"):
            getattr(held, function)
    except (OSError, AttributeError):
        return None
    return libc, held


class SpawnThread:
    """Daemon threads that run posix_spawn for the loop; `spawn()` awaits the pid."""

    def __init__(self, threads: int = THREADS) -> None:
        loaded = _load_libc()
        self.libc: ctypes.CDLL | None = loaded[0] if loaded is not None else None
        self.held: ctypes.PyDLL | None = loaded[1] if loaded is not None else None
        self.available = loaded is not None and os.uname().sysname == "Linux"
        self._queue: queue.SimpleQueue[tuple[bytes, list[bytes], ctypes.Array[ctypes.c_char_p], int,
                                             asyncio.Future[int]] | None] = queue.SimpleQueue()
        self._envs: dict[tuple[tuple[str, str], ...], ctypes.Array[ctypes.c_char_p]] = {}
        self.threads = threads
        self._running: list[threading.Thread] = []
        self._attr = ctypes.create_string_buffer(_ATTR_SIZE)
        self._devnull = os.fsencode(os.devnull)
        if self.available:
            self._prepare_attr()

    def _prepare_attr(self) -> None:
        assert self.held is not None
        libc = self.held
        sigset = ctypes.create_string_buffer(_SIGSET_SIZE)
        libc.sigemptyset(sigset)
        # As `subprocess` restores them: a plugin writing to a closed pipe dies as under a shell.
        for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):
            if hasattr(signal, name):
                libc.sigaddset(sigset, int(getattr(signal, name)))
        if (libc.posix_spawnattr_init(self._attr) or libc.posix_spawnattr_setflags(self._attr, _SETSID | _SETSIGDEF)
                or libc.posix_spawnattr_setsigdefault(self._attr, sigset)):
            self.available = False

    def spawn(self, path: str, argv: Sequence[str], env: dict[str, str], out_fd: int) -> asyncio.Future[int]:
        """Start `argv` from `path` with stdout and stderr on `out_fd`; the future gives its pid.

        The future fails with OSError when the exec fails (glibc reports it, and reaps the child).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if not self._running:
            for number in range(self.threads):
                thread = threading.Thread(target=self._run, name=f"ogi-spawn-{number}", daemon=True)
                thread.start()
                self._running.append(thread)
        key = tuple(env.items())
        envp = self._envs.get(key)
        if envp is None:
            # A check's environment is the same on every run: encode it once.
            if len(self._envs) >= _ENV_CACHE:
                self._envs.clear()
            items = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in key]
            envp = self._envs[key] = (ctypes.c_char_p * (len(items) + 1))(*items, None)
        self._queue.put((os.fsencode(path), [os.fsencode(word) for word in argv], envp, out_fd, future))
        return future

    def _run(self) -> None:
        assert self.libc is not None and self.held is not None
        spawn, held = self.libc.posix_spawn, self.held
        pid = ctypes.c_int()
        actions = ctypes.create_string_buffer(_ACTIONS_SIZE)
        jobs = self._queue
        while (job := jobs.get()) is not None:
            # Everything queued meanwhile goes in one round, answered in one wake-up of the loop.
            batch = [job]
            while len(batch) < BATCH:
                try:
                    more = jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    jobs.put(None)
                    break
                batch.append(more)
            answers: list[tuple[asyncio.Future[int], int | OSError]] = []
            for path, argv, c_envp, out_fd, future in batch:
                c_argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
                # The file actions are built with the GIL held (microseconds, no point letting
                # go of it); only the spawn itself runs without it.
                held.posix_spawn_file_actions_init(actions)
                error = (held.posix_spawn_file_actions_addopen(actions, 0, self._devnull, os.O_RDONLY, 0)
                         or held.posix_spawn_file_actions_adddup2(actions, out_fd, 1)
                         or held.posix_spawn_file_actions_adddup2(actions, out_fd, 2)
                         or spawn(ctypes.byref(pid), path, actions, self._attr, c_argv, c_envp))
                held.posix_spawn_file_actions_destroy(actions)
                answers.append((future, OSError(error, os.strerror(error), os.fsdecode(path)) if error else pid.value))
            loop = batch[0][4].get_loop()
            try:
                loop.call_soon_threadsafe(_deliver, answers)
            except RuntimeError:  # the loop closed meanwhile: nobody will read these children
                for _, answer in answers:
                    if isinstance(answer, int):
                        os.waitpid(answer, 0)


def _deliver(answers: list[tuple[asyncio.Future[int], int | OSError]]) -> None:
    for future, answer in answers:
        if isinstance(answer, int):
            _succeed(future, answer)
        elif not future.cancelled():
            future.set_exception(answer)


def _succeed(future: asyncio.Future[int], pid: int) -> None:
    if future.cancelled():  # callers shield it; should one not, the child still goes
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True).start()
    else:
        future.set_result(pid)


_spawner: SpawnThread | None = None


def spawner() -> SpawnThread:
    """The process's spawn thread (made on first use)."""
    global _spawner
    if _spawner is None:
        _spawner = SpawnThread()
    return _spawner

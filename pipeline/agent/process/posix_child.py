"""The cheap way to run a check that needs no shell: posix_spawn, a pidfd, raw pipe reads.

asyncio's subprocess machinery builds a `Popen`, a transport, a protocol, a stream reader and
two or three tasks for every child; at a thousand checks a second that bookkeeping cost more
of the agent's CPU than starting the children (`python -m bench.peers`). Here one child is
one object: `posix_spawn` starts it (vfork semantics in glibc, so the agent's pages are not
copied), its exit is a readable pidfd, and its output is read with `os.read` from the event
loop's reader callbacks. Nothing runs in a thread: CPython holds the GIL across the spawn
call, so a spawn thread would only move the wait, not the cost.

Only the common case comes here (a plugin and its words, stdout and stderr merged, no stdin);
anything else, and any spawn that fails, goes the general way (pipeline/agent/process/spawn.py), so
what a user sees (output, exit status, the shell's messages and codes) never differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import stat
import time
import weakref
from collections.abc import Callable

from pipeline.agent.process.spawn_thread import spawner

__all__ = ["DirectChild", "available", "resolve"]

#: Signals Python ignores in the agent that a child must get back at their default, as
#: `subprocess` does (`restore_signals`): a plugin writing to a closed pipe dies as under a shell.
_RESTORE = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))
_CHUNK = 64 * 1024
_DEVNULL = os.devnull

#: How long a resolved command path is trusted before PATH is searched again.
_RESOLVE_TTL = 5.0
_resolved: dict[tuple[str, str], tuple[float, str | None]] = {}
_swept = False


def available() -> bool:
    """True where this path works: posix_spawn with setsid and pidfd_open (Linux 5.3+)."""
    if not (hasattr(os, "posix_spawn") and hasattr(os, "pidfd_open") and hasattr(os, "POSIX_SPAWN_DUP2")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # an older kernel
        return False
    return True


def resolve(word: str, path: str) -> str | None:
    """The file `sh` would exec for `word` under `path`: a regular executable file, or None."""
    if "/" in word:
        return word
    now = time.monotonic()
    key = (word, path)
    hit = _resolved.get(key)
    if hit is not None and now - hit[0] < _RESOLVE_TTL:
        return hit[1]
    found = None
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or ".", word)
        try:
            info = os.stat(candidate)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(info.st_mode) and os.access(candidate, os.X_OK):
            found = candidate
            break
    if len(_resolved) > 4096:
        _resolved.clear()
    _resolved[key] = (now, found)
    return found


def _sweep_inherited() -> None:
    """Mark every descriptor above 2 close-on-exec, once.

    `subprocess` closes them in the child; `os.posix_spawn` cannot, so a descriptor the agent
    inherited without close-on-exec (from whoever started it) would leak into every check.
    Descriptors Python opens later are close-on-exec already (PEP 446). (glibc's
    posix_spawn_file_actions_addclosefrom_np would close them in every child instead, but it
    tripled the agent's CPU per spawn: 0.66-0.73 ms against 0.20-0.22 ms in bench.spawn_block.)
    """
    global _swept
    if _swept:
        return
    _swept = True
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.set_inheritable(fd, False)


class LoopShare:
    """Which spawns run on the event loop's thread: some of an uncrowded agent's, none of a crowded one's.

    On the loop's thread a spawn costs the least CPU (no hand-over to a spawn thread), but the
    loop stands still until the child has exec'd: ~0.17 ms on a quiet machine, over a
    millisecond on a busy one. While the agent has spawn slots to spare (not `crowded`), a
    spawn may run there if such spawns hold the loop at most `share` of its time: after one
    that held it `w` seconds, the next may do so only `w * (1 - share) / share` later, the rest
    go to the spawn threads. Once every slot is taken or checks wait for one, every spawn goes
    to the spawn threads, which let the loop read results and start checks meanwhile.
    `share` 0 sends every spawn to the threads.

    Measured in `ogi run` with `python -m bench.peers` and /proc (docs/performance.md,
    "Spawning checks"): at 2,000 checks/s asked (crowded) every spawn on the loop left 25-27 %
    of the CPUs idle (its stalls), a quarter of the loop's time 4-7 %, every spawn on the
    threads 2-4 %. At 1,000/s (uncrowded) every spawn on the loop cut the agent's own CPU from
    0.45-0.46 to 0.37-0.40 of its plugins' but raised the result latency p99 from 47-48 ms to
    131-139 ms; a quarter keeps the latency.
    """

    __slots__ = ("share", "_next")

    def __init__(self, share: float = 0.25) -> None:
        self.share = share
        self._next = 0.0

    def allows(self, crowded: bool = False) -> bool:
        """May the next spawn run on the loop's thread?"""
        return self.share > 0 and not crowded and time.perf_counter() >= self._next

    def spent(self, seconds: float) -> None:
        if self.share > 0:
            self._next = time.perf_counter() + seconds * (1 - self.share) / self.share


class _Poller:
    """One epoll set for every running child's pipe and pidfd; the loop watches only its fd.

    asyncio's own `add_reader` costs a handle, a selector key and a weak-dictionary lookup per
    descriptor, four times per child (add and remove, pipe and pidfd): more than the rest of
    watching it. Level-triggered, like the loop's own selector.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.epoll = select.epoll()
        self.callbacks: dict[int, Callable[[], object]] = {}
        loop.add_reader(self.epoll.fileno(), self._ready)

    def add(self, fd: int, callback: Callable[[], object]) -> None:
        self.epoll.register(fd, select.EPOLLIN)
        self.callbacks[fd] = callback

    def remove(self, fd: int) -> None:
        if self.callbacks.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(fd)

    def _ready(self) -> None:
        callbacks = self.callbacks
        for fd, _ in self.epoll.poll(0):
            callback = callbacks.get(fd)
            if callback is not None:
                callback()


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Poller] = weakref.WeakKeyDictionary()


def _poller(loop: asyncio.AbstractEventLoop) -> _Poller:
    poller = _pollers.get(loop)
    if poller is None:
        poller = _pollers[loop] = _Poller(loop)
    return poller


def _output_pipe() -> tuple[int, int]:
    """A pipe for a child's stdout and stderr; OSError when its write end would be fd 0, 1 or 2.

    An agent started without a standard stream gets such a descriptor, and dup2 onto itself
    would not clear its close-on-exec flag. Inherited descriptors are swept first.
    """
    _sweep_inherited()
    read_end, write_end = os.pipe()
    if write_end <= 2:
        os.close(read_end)
        os.close(write_end)
        raise OSError("no free descriptor above 2 for the output pipe")
    return read_end, write_end


class DirectChild:
    """One running command: its pid, output so far, and a future set once it is done.

    Done means exited and its output read to EOF, or exited and `grace` seconds passed
    without EOF (a background process of the plugin holds the pipe): then reading stops.
    """

    __slots__ = ("loop", "poller", "pid", "_pidfd", "_out", "feed", "done", "returncode", "_grace", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, pidfd: int, out: int,
                 feed: Callable[[bytes], None], grace: Callable[[int], float]) -> None:
        self.loop = loop
        self.poller = _poller(loop)
        self.pid = pid
        self._pidfd: int | None = pidfd
        self._out: int | None = out
        self.feed = feed
        self.done: asyncio.Future[None] = loop.create_future()
        self.returncode: int | None = None
        self._grace = grace
        self._timer: asyncio.TimerHandle | None = None
        self.poller.add(out, self._read)
        self.poller.add(pidfd, self._exited)

    @classmethod
    def start(cls, path: str, argv: list[str], env: dict[str, str], feed: Callable[[bytes], None],
              grace: Callable[[int], float]) -> DirectChild:
        """Spawn `argv` from `path` in a session of its own; OSError when the exec fails."""
        loop = asyncio.get_running_loop()
        read_end, write_end = _output_pipe()
        try:
            actions = [(os.POSIX_SPAWN_OPEN, 0, _DEVNULL, os.O_RDONLY, 0),
                       (os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)]
            pid = os.posix_spawn(path, argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORE)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return cls._watch(loop, pid, read_end, feed, grace)

    @classmethod
    def _watch(cls, loop: asyncio.AbstractEventLoop, pid: int, read_end: int, feed: Callable[[bytes], None],
               grace: Callable[[int], float]) -> DirectChild:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            # Out of descriptors, say: stop this run; the caller starts it again the general way.
            os.close(read_end)
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            _reap_blocking(pid)
            raise
        os.set_blocking(read_end, False)
        return cls(loop, pid, pidfd, read_end, feed, grace)

    @classmethod
    async def start_off_loop(cls, path: str, argv: list[str], env: dict[str, str], feed: Callable[[bytes], None],
                             grace: Callable[[int], float]) -> DirectChild:
        """As `start`, with the spawn itself on the spawn thread (pipeline/agent/process/spawn_thread.py)."""
        loop = asyncio.get_running_loop()
        read_end, write_end = _output_pipe()
        started = spawner().spawn(path, argv, env, write_end)
        try:
            # Shielded: the thread may still be using the pipe's descriptor.
            pid = await asyncio.shield(started)
        except asyncio.CancelledError:
            os.close(read_end)
            started.add_done_callback(lambda done: _abandon(done, write_end, _poller(loop)))
            raise
        except BaseException:
            os.close(read_end)
            os.close(write_end)
            raise
        os.close(write_end)
        return cls._watch(loop, pid, read_end, feed, grace)

    def _read(self) -> bool:
        """Read once; True when there may be more to read now."""
        fd = self._out
        if fd is None:
            return False
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if chunk:
            self.feed(chunk)
            return True
        self._stop_reading()
        self._settle()
        return False

    def _exited(self) -> None:
        if self._pidfd is None:
            return
        try:
            _, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            status = 0
        else:
            if _ == 0:
                return  # not yet (a spurious wake-up)
        self.poller.remove(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        self.returncode = os.waitstatus_to_exitcode(status)
        while self._out is not None and self._read():
            pass  # what is left in the pipe, and usually its EOF: no grace timer then
        if self._out is None:
            self._settle()
        else:
            self._timer = self.loop.call_later(self._grace(self.pid), self._give_up_reading)

    def _give_up_reading(self) -> None:
        self._stop_reading()
        self._settle()

    def _stop_reading(self) -> None:
        if self._out is not None:
            self.poller.remove(self._out)
            os.close(self._out)
            self._out = None

    def _settle(self) -> None:
        if self._pidfd is None and self._out is None and not self.done.done():
            if self._timer is not None:
                self._timer.cancel()
            self.done.set_result(None)

    def close(self) -> None:
        """Stop watching; the caller has killed the group. A child still running is reaped later."""
        self._stop_reading()
        if self._timer is not None:
            self._timer.cancel()
        if self._pidfd is not None:
            self.poller.remove(self._pidfd)
            pid, pidfd, poller = self.pid, self._pidfd, self.poller
            self._pidfd = None
            # The group was killed: the exit is imminent; reap it then so no zombie stays.
            poller.add(pidfd, lambda: _reap_later(poller, pid, pidfd))
        if not self.done.done():
            self.done.cancel()


def _reap_later(poller: _Poller, pid: int, pidfd: int) -> None:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == 0:
            return
    poller.remove(pidfd)
    os.close(pidfd)


def _abandon(started: asyncio.Future[int], write_end: int, poller: _Poller) -> None:
    """The caller was cancelled while its child was starting: kill the group, reap it later."""
    os.close(write_end)
    if started.cancelled() or started.exception() is not None:
        return
    pid = started.result()
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        _reap_blocking(pid)
        return
    poller.add(pidfd, lambda: _reap_later(poller, pid, pidfd))


def _reap_blocking(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)

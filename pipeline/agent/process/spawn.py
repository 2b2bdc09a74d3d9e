"""Start one command: exec its words directly when no shell is needed, else `sh -c COMMAND`.

A direct exec saves the shell's fork and exec on every check (Nagios 4 does the same). It must
not be told apart from `sh -c`: the child gets the same argv, the same environment (dash
exports `PWD`, so the child gets it too), its own session, and the same pipes. When the direct
exec fails for any reason (a missing binary, a file that is not executable, a script without
`#!` that the shell would run itself), the command is started again through `sh -c`, so the
user sees the shell's own message and exit status (127, 126), exactly as under Sensu.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from pipeline.agent.process.argv import simple_argv

__all__ = ["SHELL", "Protocol", "as_shell_reports", "spawn", "shell_env"]

SHELL = "/bin/sh"
_LIMIT = 64 * 1024
#: Bounded wait for a child killed while it was being started.
_ABANDON_WAIT = 1.0


class Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Stream protocol that also tells when the child itself exited.

    `Process.wait()` waits for the pipes to close too, which a background grandchild can
    postpone indefinitely; the exit alone is what the timeout is about.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=_LIMIT, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()
        #: True when the command was exec'd without a shell.
        self.direct = False

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


#: The last PWD found to name the working directory, and when (monotonic seconds).
_pwd_checked: tuple[str, float] = ("", 0.0)


def shell_env(env: dict[str, str]) -> dict[str, str]:
    """`env` as the shell would pass it on: dash exports PWD, kept when it names the cwd."""
    global _pwd_checked
    pwd = env.get("PWD")
    if pwd and pwd == _pwd_checked[0] and time.monotonic() - _pwd_checked[1] < 1.0:
        return env  # two stats per check otherwise; a daemon's directory rarely moves
    try:
        if pwd and pwd.startswith("/") and os.path.samefile(pwd, "."):
            _pwd_checked = (pwd, time.monotonic())
            return env
    except OSError:
        pass
    out = dict(env)
    out["PWD"] = os.getcwd()
    return out


def as_shell_reports(signum: int) -> tuple[int, str]:
    """Exit code and message dash gives for a child killed by `signum`: 128+n, "Killed".

    dash prints nothing for SIGINT and SIGPIPE. It appends " (core dumped)" when a core was
    written, which the exit code seen here does not tell (core dumps are off by default).
    """
    if signum in (signal.SIGINT, signal.SIGPIPE):
        return 128 + signum, ""
    return 128 + signum, f"{signal.strsignal(signum) or f'Signal {signum}'}\n"


Spawned = tuple[asyncio.SubprocessTransport, Protocol]


async def _start(argv: list[str], stdin: bool, merge_stderr: bool, env: dict[str, str]) -> Spawned:
    loop = asyncio.get_running_loop()
    future = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: Protocol(loop),
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
    )
    try:
        # Shielded: cancelling the start itself would kill only the child, not what it forked.
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _abandon(future)
        raise


async def _abandon(future: asyncio.Future[Spawned]) -> None:
    """Cancelled while the child was starting: let the start finish, then kill its whole group."""
    try:
        transport, protocol = await future
    except BaseException:
        return  # it never started, or a second cancellation cut this short
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(transport.get_pid(), signal.SIGKILL)
    await asyncio.wait({protocol.exited}, timeout=_ABANDON_WAIT)
    transport.close()


async def spawn(command: str, *, stdin: bool, merge_stderr: bool, env: dict[str, str],
                direct: bool = True) -> Spawned:
    """Start `command` in a new session; OSError or ValueError when even the shell cannot start."""
    argv = simple_argv(command) if direct and "PATH" in env else None
    if argv is not None:
        try:
            transport, protocol = await _start(argv, stdin, merge_stderr, shell_env(env))
            protocol.direct = True
            return transport, protocol
        except (OSError, ValueError):
            pass  # the shell says why, in its own words and with its own exit code
    return await _start([SHELL, "-c", command], stdin, merge_stderr, env)

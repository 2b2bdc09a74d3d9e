"""Run one shell command the way Sensu 1.x did, without its failure modes.

Sensu ran `sh -c COMMAND` with stdout and stderr merged, gave status 2 and "Execution timed
out" on a timeout and status 3 when the command could not be spawned, and let at most
`sensu.spawn.limit` children run at once. ogi keeps all of that and adds what bit Sensu
users: a timeout kills the whole process group (a plugin's own children included), output is
capped while it is still being read (a chatty plugin can neither exhaust memory nor block on a
full pipe), and stdin is written while output is read, so large payloads cannot deadlock. A command that needs no shell (a plugin and its
arguments) is exec'd without `sh -c`, as Nagios 4 does, with the same output, status and
timeouts (pipeline/agent/process/spawn.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import sysconfig
import time
from dataclasses import dataclass
from typing import Any

from pipeline import jsoncodec
from pipeline.agent.process.argv import simple_argv
from pipeline.agent.process.capture import OutputCapture
from pipeline.agent.process.check_env import check_env
from pipeline.agent.process.posix_child import DirectChild, LoopShare, available, resolve
from pipeline.agent.process.spawn import as_shell_reports, shell_env, spawn
from pipeline.agent.process.spawn_thread import spawner
from pipeline.extension import PROCESS_SLOT_HELD, DefinitionError
from pipeline.model import JSON, Clock, system_clock

#: Sensu's text for a command that ran past its timeout.
TIMED_OUT = "Execution timed out"
#: Status of a timed-out command (CRITICAL, as Sensu).
TIMEOUT_STATUS = 2
#: Status of a command that could not run or died from a signal (UNKNOWN, per Nagios).
UNKNOWN_STATUS = 3
#: After the shell exits, how long a background child of it that still holds the output pipe
#: may keep it before ogi stops reading; without this, `cmd; daemon &` would hold a spawn slot
#: for as long as the daemon lives.
EOF_GRACE = 1.0
#: The same bound when the process group is already empty: the rest of the output is in the
#: pipe and EOF is imminent, so only a process that left the group can hold it this long.
ORPHAN_PIPE_LIMIT = 30.0

#: Default output cap of a check, the note included: a capped result always fits the server's
#: 2 MiB message limit.
DEFAULT_OUTPUT_CAP = 1 << 20

#: posix_spawn and pidfds are there (Linux 5.3+): the common case takes the cheap path.
_DIRECT = available()
#: And the spawn runs on a thread of its own (pipeline/agent/process/spawn_thread.py) where ctypes can call glibc.
_OFF_LOOP = _DIRECT and spawner().available
#: Which spawns stay on the loop's thread (cheaper) without stalling it (posix_child.LoopShare).
_LOOP_SHARE = LoopShare()


@dataclass
class ExecResult:
    """What a command did: exit status (Nagios codes), decoded output, wall time in seconds."""

    status: int
    output: str
    duration: float
    timed_out: bool = False
    stderr: str = ""
    #: True when the output passed `output_cap` and the rest was discarded.
    truncated: bool = False
    #: The output bytes as read (without ogi's notes), for callers that pass them on unchanged.
    raw: bytes = b""


class CommandFailed(RuntimeError):
    """A command exited non-zero or timed out; carries the result for the caller's log."""

    def __init__(self, message: str, result: ExecResult) -> None:
        super().__init__(message)
        self.result = result


async def _feed(pipe: asyncio.StreamWriter | None, data: bytes) -> None:
    if pipe is None:
        return
    try:
        if data:
            pipe.write(data)
            await pipe.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the child did not read its stdin; that is its business
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


async def _settle(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


#: Prepended to PATH for every command, as Sensu put its plugin and handler directories (and
#: its embedded Ruby's bin) first: ogi's own console scripts (ogi-metrics-*, ogi-check-*) and
#: the plugins of an existing Sensu host run by bare name.
EXTRA_PATH = (
    sysconfig.get_path("scripts"),
    "/etc/ogi/plugins", "/etc/ogi/handlers", "/etc/sensu/plugins", "/etc/sensu/handlers",
)


def command_env() -> dict[str, str]:
    """The environment commands run with: ours, with EXTRA_PATH before PATH."""
    env = dict(os.environ)
    path = env.get("PATH", os.defpath).split(os.pathsep)
    env["PATH"] = os.pathsep.join([d for d in EXTRA_PATH if d not in path and os.path.isdir(d)] + path)
    return env


def use_pidfd_child_watcher() -> bool:
    """On Python 3.11, watch children through pidfds instead of a thread per child.

    The default watcher of 3.11 starts a thread for every command; a pidfd is a file
    descriptor the event loop polls, which cut the client's CPU per check by about a third
    in `make bench`. Python 3.12 does this itself. Call it from inside the running loop.
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.set_child_watcher(watcher)
    except (OSError, RuntimeError, AttributeError):  # a kernel without pidfd: keep the default
        return False
    return True


async def run_command(
    command: str,
    *,
    stdin: bytes | None = None,
    timeout: float | None = None,
    limit: asyncio.Semaphore | None = None,
    merge_stderr: bool = True,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    env: dict[str, str] | None = None,
    direct: bool = True,
) -> ExecResult:
    """Run `sh -c command` in its own process group and report what it did.

    `limit` (Sensu's spawn limit) is held from before the fork until the output is read, unless
    the engine already holds a process slot for the route running this command.
    Cancelling the caller kills the process group too, so an engine-level timeout leaves no
    orphans behind. Without `env`, the command gets `command_env()`. A command that needs no
    shell is exec'd directly (pipeline/agent/process/spawn.py), indistinguishably; `direct=False`
    always goes through `sh -c`.
    """
    if env is None:
        env = command_env()
    if limit is None or PROCESS_SLOT_HELD.get():
        return await _run(command, stdin, timeout, merge_stderr, output_cap, env, direct)
    async with limit:
        # Every slot taken, or checks waiting for one: the loop's time is worth more than a hand-over.
        return await _run(command, stdin, timeout, merge_stderr, output_cap, env, direct, crowded=limit.locked())


async def _run(
    command: str,
    stdin: bytes | None,
    timeout: float | None,
    merge_stderr: bool,
    output_cap: int,
    env: dict[str, str],
    direct: bool,
    crowded: bool = False,
) -> ExecResult:
    started = time.monotonic()
    if direct and stdin is None and merge_stderr and _DIRECT and "PATH" in env:
        argv = simple_argv(command)
        path = resolve(argv[0], env["PATH"]) if argv else None
        if argv and path is not None:
            ran = await _run_direct(path, argv, env, timeout, output_cap, started, crowded)
            if ran is not None:
                return ran
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await spawn(command, stdin=stdin is not None, merge_stderr=merge_stderr,
                                          env=env, direct=direct)
    except (OSError, ValueError) as exc:
        # ValueError: a NUL byte in the command or environment.
        return ExecResult(UNKNOWN_STATUS, f"Unable to run command: {exc}", time.monotonic() - started)
    proc = asyncio.subprocess.Process(transport, protocol, loop)

    out, err = OutputCapture(output_cap), OutputCapture(output_cap)
    readers = [asyncio.create_task(out.drain(proc.stdout))]
    if not merge_stderr:
        readers.append(asyncio.create_task(err.drain(proc.stderr)))
    writer = asyncio.create_task(_feed(proc.stdin, stdin or b""))
    exited = protocol.exited
    timed_out = False
    try:
        done, _ = await asyncio.wait({exited}, timeout=timeout)
        if not done:
            timed_out = True
            _kill_group(proc.pid)
            await exited
            # Every member of the group is gone, so the pipes close; a member that left the
            # group may still hold them, which is why this wait is bounded.
            await asyncio.wait(readers, timeout=EOF_GRACE)
        else:
            grace = EOF_GRACE if _group_alive(proc.pid) else ORPHAN_PIPE_LIMIT
            _, pending = await asyncio.wait(readers, timeout=grace)
            if pending:
                # A background child still holds the output pipe: stop reading, do not wait.
                transport.close()
    finally:
        if not exited.done():
            # Cancelled by the caller (e.g. an engine-level timeout): kill, then reap.
            _kill_group(proc.pid)
            await asyncio.wait({exited}, timeout=EOF_GRACE)
        await _settle([*readers, writer])
        transport.close()

    duration = time.monotonic() - started
    if timed_out:
        return ExecResult(TIMEOUT_STATUS, TIMED_OUT, duration, timed_out=True, raw=out.data)
    code = proc.returncode if proc.returncode is not None else UNKNOWN_STATUS
    output, stderr = out.text(), err.text()
    if code < 0 and protocol.direct:
        # The shell would have outlived its child and said so: do as it does.
        code, note = as_shell_reports(-code)
        if merge_stderr:
            output += note
        else:
            stderr += note
    elif code < 0:
        if output and not output.endswith("\n"):
            output += "\n"
        output += f"[ogi: command killed by {_signal_name(-code)}]\n"
        code = UNKNOWN_STATUS
    return ExecResult(
        code,
        output,
        duration,
        stderr=stderr,
        truncated=bool(out.dropped),
        raw=out.data,
    )


async def _run_direct(path: str, argv: list[str], env: dict[str, str], timeout: float | None, output_cap: int,
                      started: float, crowded: bool = False) -> ExecResult | None:
    """The common case without asyncio's subprocess objects (pipeline/agent/process/posix_child.py).

    None when the spawn itself failed: the caller then goes through the shell, which reports
    a missing or unexecutable file in its own words.
    """
    out = OutputCapture(output_cap)
    killed = False

    def grace(pid: int) -> float:
        return EOF_GRACE if killed or _group_alive(pid) else ORPHAN_PIPE_LIMIT

    try:
        if _OFF_LOOP and not _LOOP_SHARE.allows(crowded):
            child = await DirectChild.start_off_loop(path, argv, shell_env(env), out.feed, grace)
        else:
            began = time.perf_counter()
            child = DirectChild.start(path, argv, shell_env(env), out.feed, grace)
            _LOOP_SHARE.spent(time.perf_counter() - began)
    except (OSError, ValueError):
        return None

    def kill() -> None:
        nonlocal killed
        killed = True
        _kill_group(child.pid)

    timer = child.loop.call_later(timeout, kill) if timeout is not None else None
    try:
        await child.done
    finally:
        if timer is not None:
            timer.cancel()
        if child.done.cancelled() or not child.done.done():
            # Cancelled by the caller (e.g. an engine-level timeout): the group goes with it.
            _kill_group(child.pid)
            child.close()
    duration = time.monotonic() - started
    if killed and child.returncode is not None and child.returncode < 0:
        return ExecResult(TIMEOUT_STATUS, TIMED_OUT, duration, timed_out=True, raw=out.data)
    code = child.returncode if child.returncode is not None else UNKNOWN_STATUS
    output = out.text()
    if code < 0:
        # The shell would have outlived its child and said so: do as it does.
        code, note = as_shell_reports(-code)
        output += note
    return ExecResult(code, output, duration, truncated=bool(out.dropped), raw=out.data)


def parse_timeout(definition: dict[str, Any], default: float | None = None, key: str = "timeout") -> float | None:
    """A definition's timeout in seconds: a positive number, else DefinitionError naming the key."""
    value = definition.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise DefinitionError(key, "must be a positive number of seconds", value)
    return float(value)


def parse_command(definition: dict[str, Any], key: str = "command") -> str:
    """A definition's required shell command: a non-empty string."""
    value = definition.get(key)
    if value is None:
        raise DefinitionError(key, "is required")
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(key, "must be a non-empty string (a shell command)", value)
    return value


async def execute_check(
    check: JSON,
    client: JSON,
    *,
    limit: asyncio.Semaphore | None = None,
    clock: Clock = system_clock,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    base_env: dict[str, str] | None = None,
) -> JSON:
    """Run a check's `command` (tokens already substituted) and return the check as a result.

    The result is the check plus `issued` (kept from the request, else the execution time),
    `executed`, `duration` (seconds, 3 decimals), `output` and `status`. With `"stdin": true`
    the command reads `{"client": ..., "check": ...}` as JSON on its standard input.
    `base_env` is the agent's `command_env()`, taken once rather than per run.
    """
    executed = int(clock())
    result: JSON = dict(check)
    issued = check.get("issued")
    result["issued"] = issued if isinstance(issued, int | float) and not isinstance(issued, bool) else executed
    result["executed"] = executed
    try:
        timeout = parse_timeout(check)
    except DefinitionError as exc:
        output = f"Check {exc.path} {exc.message}, not {exc.value!r}: command not run"
        result.update(duration=0.0, output=output, status=UNKNOWN_STATUS)
        return result
    stdin = jsoncodec.dumps({"client": client, "check": check}) if check.get("stdin") is True else None
    ran = await run_command(str(check["command"]), stdin=stdin, timeout=timeout, limit=limit, output_cap=output_cap,
                            env=check_env(client, check, command_env() if base_env is None else base_env))
    result.update(duration=round(ran.duration, 3), output=ran.output, status=ran.status)
    return result

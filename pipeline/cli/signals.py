"""Signals of the ogi daemons (`ogi run`, `ogi server`, `ogi client`, `ogi api`), as Sensu's.

- SIGTERM, SIGINT: stop. One log line names the cause; work in flight gets its grace and the
  process exits within `STOP_WITHIN` seconds in every state, still connecting included.
- SIGHUP: re-read `-c`/`-d` with the validator `ogi check-config` uses; a valid configuration
  is handed to the daemon's `reload(settings)`, an invalid one is refused with every error
  logged and the running one stays. Listeners, transport and store stay open; a change that
  only a restart can apply (`RESTART_PATHS`) is logged as such.
- SIGUSR2: reopen the log file (`-l FILE`, for logrotate). SIGTRAP: toggle debug logging.
  SIGUSR1: logged and ignored.

A daemon with worker processes (`ogi server --workers N`) forwards every signal to them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from types import FrameType
from typing import Any

from pipeline import heap
from pipeline.cli.child_env import reexport_loaded_files
from pipeline.config.settings import Settings
from pipeline.errors import ConfigErrors
from pipeline.logs import reopen_log, toggle_debug
from pipeline.model import JSON, dig

log = logging.getLogger("ogi")

#: Seconds from SIGTERM/SIGINT to the exit (DESIGN: every daemon stops within 5 s).
STOP_WITHIN = 5.0
#: Kept back from STOP_WITHIN for what follows stop(): cancelling leftovers, closing the loop.
_EXIT_MARGIN = 0.4
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
OTHER_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTRAP)
#: Settings held by open connections, listeners or pools: a reload logs their change as needing a restart.
RESTART_PATHS = (
    "transport", "rabbitmq", "redis", "store", "api", "metrics",
    "client.name", "client.socket", "sensu.spawn", "sensu.server", "sensu.handlers.concurrency",
    "sensu.shutdown_timeout",
)

Reload = Callable[[Settings], Awaitable[None]]


class EarlyStop(BaseException):
    """SIGTERM/SIGINT before the event loop runs (loading the configuration)."""


#: Signals that came before the loop's handlers, replayed by Signals.install.
_held: list[signal.Signals] = []


def _early_stop(signum: int, _frame: FrameType | None) -> None:
    raise EarlyStop(signal.Signals(signum).name)


def _hold(signum: int, _frame: FrameType | None) -> None:
    sig = signal.Signals(signum)
    if sig not in _held:
        _held.append(sig)


def hold_early_signals() -> None:
    """Until the loop's handlers are in place: a stop signal raises EarlyStop, the others are kept.

    Without this, SIGHUP or SIGUSR2 during start-up would kill the daemon without a line.
    """
    for sig in OTHER_SIGNALS:
        signal.signal(sig, _hold)
    for sig in STOP_SIGNALS:
        signal.signal(sig, _early_stop)


def restart_needed(old: JSON, new: JSON) -> list[str]:
    """The RESTART_PATHS whose value differs between two configurations."""
    return [path for path in RESTART_PATHS if dig(old, path) != dig(new, path)]


class Signals:
    """The signal handlers of one daemon process; install them before connecting to anything."""

    def __init__(
        self, args: argparse.Namespace, settings: Settings, reload: Reload | None = None,
        children: Callable[[], Iterable[int]] = tuple,
    ) -> None:
        self.args = args
        self.settings = settings
        self.reload = reload
        self.children = children
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()  # set once started: a reload waits for it
        self.cause: str | None = None
        self.failed = False
        self.stop_requested_at: float | None = None
        self.reloads = 0
        self._pending = False
        self._reloader: asyncio.Task[None] | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._stop, sig)
        handlers = {signal.SIGHUP: self._hup, signal.SIGUSR1: self._usr1,
                    signal.SIGUSR2: self._usr2, signal.SIGTRAP: self._trap}
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
        while _held:
            loop.call_soon(handlers[_held.pop(0)])

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (*STOP_SIGNALS, *OTHER_SIGNALS):
            loop.remove_signal_handler(sig)

    def _forward(self, sig: signal.Signals) -> None:
        for pid in self.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    # --- stopping ------------------------------------------------------------------------

    def _stop(self, sig: signal.Signals) -> None:
        self._forward(sig)
        if self.cause is None:  # a second signal (Ctrl-C reaches workers twice) changes nothing
            self.cause = sig.name
            self.stop_requested_at = time.monotonic()
        self.stopping.set()

    def fail(self, error: BaseException) -> None:
        """Stop because of an error (one the daemon cannot go on with)."""
        if self.cause is None:
            self.cause = f"{type(error).__name__}: {error}"
            self.failed = True
            self.stop_requested_at = time.monotonic()
        self.stopping.set()

    def log_stop(self) -> None:
        """The one line every stop writes."""
        fields = {"error": self.cause} if self.failed else {"signal": self.cause}
        log.log(logging.ERROR if self.failed else logging.INFO, "stopping: %s", self.cause,
                extra={"fields": fields})

    # --- the other signals ------------------------------------------------------------------

    def _usr1(self) -> None:
        self._forward(signal.SIGUSR1)
        log.info("SIGUSR1 received: ignored")

    def _usr2(self) -> None:
        self._forward(signal.SIGUSR2)
        if reopen_log():
            log.info("SIGUSR2 received: log file reopened", extra={"fields": {"file": self.args.log}})
        else:
            log.info("SIGUSR2 received: logging to stderr, no file to reopen")

    def _trap(self) -> None:
        self._forward(signal.SIGTRAP)
        if log.level == logging.DEBUG:
            # written before the level goes back up, or an `-L warn` daemon would not show it
            log.info("SIGTRAP received: debug logging off")
            toggle_debug()
        else:
            toggle_debug()
            log.info("SIGTRAP received: debug logging on")

    def _hup(self) -> None:
        self._forward(signal.SIGHUP)
        if self.reload is None:
            log.info("SIGHUP received: nothing to reload")
            return
        self._pending = True  # a SIGHUP during a reload makes one more, not one per signal
        if self._reloader is None or self._reloader.done():
            self._reloader = asyncio.get_running_loop().create_task(self._reloads())

    async def _reloads(self) -> None:
        await self.ready.wait()
        while self._pending and not self.stopping.is_set():
            self._pending = False
            await self.reload_now()

    async def reload_now(self) -> bool:
        """Read, validate and apply the configuration; False (every error logged) when refused."""
        from pipeline.cli.main import load_settings  # the very function `ogi check-config` validates with

        assert self.reload is not None
        log.info("SIGHUP received: reloading the configuration")
        try:
            loaded, warnings = await asyncio.to_thread(load_settings, self.args.config, self.args.config_dir,
                                                       role=getattr(self.args, "role", "server"))
        except ConfigErrors as errors:
            for error in errors.errors:
                log.error("invalid configuration: %s", error.message,
                          extra={"fields": {"file": error.file, "path": error.path, "error": str(error)}})
            log.error("reload refused: the running configuration stays",
                      extra={"fields": {"errors": len(errors.errors)}})
            return False
        except Exception as error:  # a signal never ends in a traceback
            log.error("reload failed: the running configuration stays", extra={"fields": {"error": repr(error)}})
            return False
        for warning in warnings:
            log.warning("configuration warning", extra={"fields": {"warning": warning}})
        assert loaded.typed is not None, "load_settings sets it"
        for path in restart_needed(self.settings.raw, loaded.typed.raw):
            log.warning("configuration change needs a restart to take effect", extra={"fields": {"path": path}})
        try:
            await self.reload(loaded.typed)
        except Exception as error:
            log.error("reload failed: %s", error, extra={"fields": {"error": repr(error)}})
            return False
        self.settings = loaded.typed
        reexport_loaded_files(loaded.files)
        self.reloads += 1
        log.info("configuration reloaded", extra={"fields": {"files": loaded.files}})
        return True


async def supervise(
    signals: Signals, start: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[Any]],
    within: float = STOP_WITHIN,
) -> int:
    """Start, serve until a stop signal or a start-up error, stop within `within` s of the signal; exit code."""
    started = asyncio.ensure_future(start())
    stopping = asyncio.ensure_future(signals.stopping.wait())
    try:
        await asyncio.wait({started, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            # Still connecting (an unreachable broker is retried for ever): stop trying.
            started.cancel()
            await asyncio.wait({started}, timeout=1.0)
        elif started.cancelled():
            signals.fail(RuntimeError("start-up was cancelled"))
        elif started.exception() is not None:
            signals.fail(started.exception())  # type: ignore[arg-type]
        else:
            signals.ready.set()
            heap.settle()
            await stopping
    finally:
        stopping.cancel()
    signals.log_stop()
    since = time.monotonic() - (signals.stop_requested_at or time.monotonic())
    try:
        await asyncio.wait_for(stop(), max(0.5, within - _EXIT_MARGIN - since))
    except TimeoutError:
        log.error("stopping took too long: exiting with work unfinished", extra={"fields": {"within": within}})
    except Exception as error:
        log.error("error while stopping", extra={"fields": {"error": repr(error)}})
    return 1 if signals.failed else 0


def run_daemon(
    args: argparse.Namespace, settings: Settings, start: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[Any]],
    reload: Reload | None = None, *, within: float = STOP_WITHIN, children: Callable[[], Iterable[int]] = tuple,
) -> int:
    """Run a daemon under its signals until it stops; its exit code."""

    async def main() -> int:
        from pipeline.agent.process.execute import use_pidfd_child_watcher

        use_pidfd_child_watcher()
        loop = asyncio.get_running_loop()
        signals = Signals(args, settings, reload, children)
        signals.install(loop)
        try:
            return await supervise(signals, start, stop, within)
        finally:
            signals.uninstall(loop)

    try:
        return asyncio.run(main())
    except (EarlyStop, KeyboardInterrupt) as stopped:  # between handlers: still one line, no traceback
        log.info("stopping: %s", stopped or "SIGINT", extra={"fields": {"signal": str(stopped) or "SIGINT"}})
        return 0

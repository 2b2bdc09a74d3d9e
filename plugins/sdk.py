"""The plugin SDK: Graphite metric output, Nagios statuses, ranges and perfdata, in a few lines per plugin.

A metric plugin yields `(path, value)` pairs and gets `--scheme/-s` (default `<client>.<name>`: the
`OGI_CLIENT_NAME` the agent sets for every check, else the host name, dots as `_`) and `path value timestamp` lines for free; a check plugin ends with `exit_with` (or
`ok`/`warning`/`critical`/`unknown`) and prints `LABEL STATUS: message | perfdata`. In both, an uncaught
exception becomes one UNKNOWN line and exit code 3, never a traceback, and bad arguments are UNKNOWN too
(the Nagios convention). Plugins run every few seconds, so this module imports only what a plugin needs
anyway (argparse) and nothing from the ogi engine.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time

from plugins.nagios import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    Number,
    PluginExit,
    Range,
    Status,
    exit_with,
    format_number,
    parse_status,
    perfdata,
    status_line,
    status_of,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2 ms): plugins start often
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any, ClassVar, NoReturn
    CheckResult = tuple[Status | int, str] | tuple[Status | int, str, str | Iterable[str]]

#: What `collect()` yields: a path relative to the scheme and a value, optionally a timestamp.
Point = tuple[str, Number] | tuple[str, Number, int]

__all__ = [
    "CRITICAL", "OK", "UNKNOWN", "WARNING", "CheckPlugin", "MetricPlugin", "Number", "Plugin", "PluginExit",
    "PluginTimeout", "Point", "Range", "Status", "check_plugin", "default_scheme", "exit_with", "format_number",
    "graphite_line", "hostname", "metric_plugin", "mount_node", "nagios_range", "node", "parse_status",
    "perfdata", "read_key_values", "read_text", "status_arg", "status_line", "status_of", "timeout_spec",
]


# --- numbers, paths ----------------------------------------------------------------------------------

_NODE_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def node(text: str) -> str:
    """One Graphite path node: every character outside `[A-Za-z0-9_-]` (dots included) becomes `_`."""
    out = "".join(c if c in _NODE_OK else "_" for c in text)
    return out or "_"


def mount_node(path: str) -> str:
    """A mount point as one node: `/` -> `root`, `/var/log` -> `var_log`."""
    stripped = path.strip("/")
    return "root" if not stripped else node(stripped.replace("/", "_"))


def hostname() -> str:
    """This host's name with its dots as `_`, so it stays one Graphite node."""
    return node(os.uname().nodename)


def default_scheme(name: str) -> str:
    """`<client>.<name>`: the client's name the agent passes in `OGI_CLIENT_NAME`, else the host name.

    Series named by the client match the client label and the dashboards on hosts whose name
    differs from the client's; run by hand, a plugin falls back to Sensu's `<hostname>.<name>`.
    """
    client = os.environ.get("OGI_CLIENT_NAME")
    return f"{node(client) if client else hostname()}.{name}"


def graphite_line(path: str, value: Number, timestamp: int | None = None) -> str:
    """`path value timestamp\\n`, single spaces, the timestamp an integer (now if not given)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"{path} {format_number(value)} {ts}\n"


def read_text(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


def read_key_values(path: str, scale: int = 1) -> dict[str, int]:
    """`/proc/meminfo`/`/proc/vmstat`-style files: `Key: 123 kB` or `key 123` lines -> {key: int * scale}."""
    out: dict[str, int] = {}
    for line in read_text(path).splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1]) * scale
    return out


# --- argument types ----------------------------------------------------------------------------------

def nagios_range(text: str) -> Range:
    """argparse `type=` for `-w`/`-c`: a Range, or a clear usage error."""
    try:
        return Range.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def status_arg(text: str) -> Status:
    """argparse `type=` for a status option."""
    try:
        return parse_status(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def timeout_spec(text: str) -> tuple[float, Status | None]:
    """argparse `type=` for `-t SECONDS[:STATE]` (monitoring-plugins 2.3's form, e.g. `5:UNKNOWN`)."""
    seconds, _, state = text.partition(":")
    try:
        value = float(seconds)
        if not 0 < value < math.inf:
            raise ValueError("the seconds must be a positive number")
        return value, (parse_status(state) if state else None)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected SECONDS[:STATE], got {text!r}: {e}") from None


# --- plugins -----------------------------------------------------------------------------------------

def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class _Parser(argparse.ArgumentParser):
    """Usage errors are UNKNOWN (exit 3) on one stdout line, as Nagios wants, not argparse's exit 2."""

    label = ""

    def error(self, message: str) -> NoReturn:
        exit_with(UNKNOWN, f"{self.prog}: {message}", label=self.label)


class PluginTimeout(Exception):
    """The plugin ran past its `-t/--timeout`."""


class Plugin:
    """The shared life cycle: parse arguments, `run()`, turn any exception into UNKNOWN.

    Subclasses set `name` and override `add_arguments` and `run`. `main(argv)` is the console script
    entry point and returns the exit code.
    """

    name: ClassVar[str] = "plugin"
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: options whose value may start with `-` (`-w -10:-5`, `--from -1h`), which argparse would take for an option
    dash_values: ClassVar[tuple[str, ...]] = ()

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        #: seconds the whole run may take, None for no limit; past it, `on_timeout` decides the status
        self.timeout: float | None = None

    @classmethod
    def title(cls) -> str:
        return cls.label or cls.name.upper().replace("-", "_")

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else cls.name
        parser = _Parser(prog=prog, description=cls.description or (cls.__doc__ or "").strip() or None)
        parser.label = cls.title()
        cls.add_arguments(parser)
        return parser

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this plugin's options."""

    def run(self) -> int:
        raise NotImplementedError

    def exit_with(self, status: Status | int, message: str,
                  perfdata: str | Iterable[str] | None = None) -> NoReturn:
        exit_with(status, message, perfdata, self.title())

    def ok(self, message: str, perfdata: str | Iterable[str] | None = None) -> NoReturn:
        self.exit_with(OK, message, perfdata)

    def warning(self, message: str, perfdata: str | Iterable[str] | None = None) -> NoReturn:
        self.exit_with(WARNING, message, perfdata)

    def critical(self, message: str, perfdata: str | Iterable[str] | None = None) -> NoReturn:
        self.exit_with(CRITICAL, message, perfdata)

    def unknown(self, message: str, perfdata: str | Iterable[str] | None = None) -> NoReturn:
        self.exit_with(UNKNOWN, message, perfdata)

    def on_timeout(self, seconds: float) -> NoReturn:
        self.unknown(f"timed out after {format_number(seconds)} seconds")

    @classmethod
    def main(cls, argv: Sequence[str] | None = None) -> int:
        """Run the plugin with these arguments (sys.argv[1:] by default); the exit code."""
        try:
            try:
                args = list(sys.argv[1:] if argv is None else argv)
                plugin = cls(cls.parser().parse_args(_attach_dash_values(args, cls.dash_values)))
                if plugin.timeout:
                    _arm_alarm(plugin.timeout)
                try:
                    code = plugin.run()
                    if not isinstance(code, int):
                        plugin.unknown("the plugin ended without a status")
                    return code
                except PluginTimeout:
                    plugin.on_timeout(plugin.timeout or 0)
                finally:
                    if plugin.timeout:
                        signal.setitimer(signal.ITIMER_REAL, 0)
            except Exception as e:  # noqa: BLE001 - the Nagios convention: any failure is UNKNOWN
                exit_with(UNKNOWN, one_line(e), label=cls.title())
        except SystemExit as e:  # exit_with, and argparse's --help
            sys.stdout.flush()
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 3)


def _attach_dash_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`-w -5:` -> `-w-5:` and `--from -1h` -> `--from=-1h`, the forms argparse reads as option values."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in options and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{arg}={argv[i + 1]}" if arg.startswith("--") else arg + argv[i + 1])
            i += 2
        else:
            out.append(arg)
            i += 1
    return out


def _arm_alarm(seconds: float) -> None:
    def expire(signum: int, frame: Any) -> None:
        raise PluginTimeout
    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


class MetricPlugin(Plugin):
    """A metric plugin: override `collect()` to yield `(path, value)` (or `(path, value, timestamp)`);
    every path is printed under `--scheme` as a Graphite plaintext line. Nothing is printed unless
    collection finishes, so a failure is exactly one UNKNOWN line."""

    @classmethod
    def title(cls) -> str:
        return cls.label or "METRICS_" + cls.name.upper().replace("-", "_")

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        parser.add_argument("-s", "--scheme", default=None,
                            help=f"path prefix (default: $OGI_CLIENT_NAME.{cls.name}, else <hostname>.{cls.name}; dots as _)")
        return parser

    @property
    def scheme(self) -> str:
        scheme: str | None = self.args.scheme
        return default_scheme(self.name) if scheme is None else scheme.rstrip(".")

    def collect(self) -> Iterable[Point]:
        raise NotImplementedError

    def run(self) -> int:
        sys.stdout.write("".join(self.lines()))
        return 0

    def lines(self) -> Iterator[str]:
        now = int(time.time())
        prefix = self.scheme + "." if self.scheme else ""
        for point in self.collect():
            value = point[1]
            if isinstance(value, float) and not math.isfinite(value):
                continue  # Graphite stores no NaN; a missing point graphs as a gap
            ts = point[2] if len(point) == 3 else now
            yield f"{prefix}{point[0]} {format_number(value)} {int(ts)}\n"


class CheckPlugin(Plugin):
    """A Nagios-convention check: override `run()` and end it with `ok`/`warning`/`critical`/`unknown`
    or `exit_with`. Gets `-t/--timeout SECONDS[:STATE]`: past it the run stops with `timeout_state`
    (UNKNOWN unless the class or the STATE says otherwise)."""

    default_timeout: ClassVar[float] = 10.0
    default_timeout_state: ClassVar[Status] = UNKNOWN
    dash_values: ClassVar[tuple[str, ...]] = ("-w", "--warning", "-c", "--critical")

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        seconds, state = args.timeout
        self.timeout = seconds
        self.timeout_state: Status = state if state is not None else self.default_timeout_state

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        parser.add_argument(
            "-t", "--timeout", type=timeout_spec, default=(cls.default_timeout, None), metavar="SECONDS[:STATE]",
            help=f"give up after this long with this status (default {format_number(cls.default_timeout)}:"
                 f"{cls.default_timeout_state.name})")
        return parser

    def on_timeout(self, seconds: float) -> NoReturn:
        self.exit_with(self.timeout_state, f"timed out after {format_number(seconds)} seconds")


def metric_plugin(name: str, arguments: Callable[[argparse.ArgumentParser], None] | None = None
                  ) -> Callable[[Callable[[argparse.Namespace], Iterable[Point]]], Callable[..., int]]:
    """Decorator: a function from the parsed arguments to `(path, value)` pairs becomes a console script
    `main`. `arguments(parser)` may add options."""

    def wrap(collect: Callable[[argparse.Namespace], Iterable[Point]]) -> Callable[..., int]:
        def add_arguments(cls: type[Plugin], parser: argparse.ArgumentParser) -> None:
            if arguments is not None:
                arguments(parser)

        namespace = {
            "name": name, "__doc__": collect.__doc__,
            "add_arguments": classmethod(add_arguments),
            "collect": lambda self: collect(self.args),
        }
        plugin: type[MetricPlugin] = type(collect.__name__, (MetricPlugin,), namespace)
        return plugin.main

    return wrap


def check_plugin(name: str, arguments: Callable[[argparse.ArgumentParser], None] | None = None
                 ) -> Callable[[Callable[[argparse.Namespace], CheckResult]], Callable[..., int]]:
    """Decorator: a function from the parsed arguments to `(status, message[, perfdata])` becomes a
    console script `main` with `-t/--timeout`. `arguments(parser)` may add options."""

    def wrap(check: Callable[[argparse.Namespace], CheckResult]) -> Callable[..., int]:
        def add_arguments(cls: type[Plugin], parser: argparse.ArgumentParser) -> None:
            if arguments is not None:
                arguments(parser)

        def run(self: CheckPlugin) -> int:
            result = check(self.args)
            self.exit_with(result[0], result[1], result[2] if len(result) == 3 else None)

        namespace = {"name": name, "__doc__": check.__doc__, "add_arguments": classmethod(add_arguments), "run": run}
        plugin: type[CheckPlugin] = type(check.__name__, (CheckPlugin,), namespace)
        return plugin.main

    return wrap

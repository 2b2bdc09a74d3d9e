"""`/metrics`: ogi's own counters, every check's last status and the metric series in the Store.

Served by aiohttp at the top-level `metrics` object (`bind`, default 127.0.0.1; `port`, default
9127) in the 0.0.4 text format. Everything is read at scrape time: the registry (the engine's
and result processor's counters), `store.list_results()` (`ogi_check_status` and
`ogi_check_last_run_timestamp_seconds` for every check with a last result, also OK results
that never reach a handler) and `store.list_series()` (the series the `prometheus` handler
keeps, without timestamps: gauges, and counters named `..._total`). Reading the Store, not process memory, is what lets
every ogi process serve the same picture.

The page is written by hand rather than through prometheus-client's collectors: a series id
is already its exposition line up to the value (`pipeline/metrics/graphite_mapping.py`), so a scrape
of 100,000 series is string joining, done in slices that give the event loop back between
them, and gzip (when asked for) runs in a thread.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from pipeline.countmetrics import socket_refusals
from pipeline.errors import ConfigError, ConfigErrors
from pipeline.httplimits import KEYS as LIMIT_KEYS
from pipeline.httplimits import Guard, deadlines, http_limits, listening_port, serve
from pipeline.metrics.access import KEYS as ACCESS_KEYS
from pipeline.metrics.access import Access, access
from pipeline.metrics.graphite_mapping import series_id
from pipeline.metrics.merge import merge_pages
from pipeline.store.base import COUNTER, SeriesSample, Store

log = logging.getLogger("ogi")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 9127
#: Series rendered between two returns to the event loop.
SLICE = 2000
#: Bodies smaller than this are sent uncompressed: gzip would cost more than it saves.
GZIP_MIN = 64 * 1024

STATUS = "ogi_check_status"
LAST_RUN = "ogi_check_last_run_timestamp_seconds"
SERIES_HELP = "Last value of a metric from check output, kept by ogi"


def listener(settings: dict[str, Any]) -> tuple[str, int] | None:
    """`(bind, port)` of the top-level `metrics` object, None when absent; ConfigErrors when wrong."""
    found = listener_access(settings)
    return None if found is None else found[:2]


def listener_access(settings: dict[str, Any]) -> tuple[str, int, Access] | None:
    """`(bind, port, access)` of the `metrics` object, None when absent; ConfigErrors when wrong."""
    metrics = settings.get("metrics")
    if metrics is None:
        return None
    errors: list[ConfigError] = []
    if not isinstance(metrics, dict):
        raise ConfigErrors([ConfigError("metrics", "must be an object with bind and port", metrics)])
    bind = metrics.get("bind", DEFAULT_BIND)
    port = metrics.get("port", DEFAULT_PORT)
    if not isinstance(bind, str) or not bind:
        errors.append(ConfigError("metrics.bind", "must be an address to listen on", bind))
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        errors.append(ConfigError("metrics.port", "must be an integer port number (0-65535)", port))
    found = replace(access(metrics, errors), limits=http_limits(metrics, "metrics", errors))
    errors += [
        ConfigError(f"metrics.{key}", "unknown key (metrics takes bind, port, user, password, ssl, "
                    + ", ".join(LIMIT_KEYS) + ")")
        for key in sorted(set(metrics) - {"bind", "port"} - ACCESS_KEYS - set(LIMIT_KEYS))
    ]
    if errors:
        raise ConfigErrors(errors)
    return bind, port, found


def format_value(value: float) -> str:
    """A sample value in the text format (`NaN`, `+Inf`, `-Inf` spelled as Prometheus reads them)."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _help_line(name: str, text: str) -> str:
    return f"# HELP {name} {text}\n# TYPE {name} gauge\n"


def _reserved(own: str) -> set[str]:
    """Sample names already on the page, which a stored series may not reuse."""
    names = {STATUS, LAST_RUN}
    for line in own.splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
        elif line.startswith("# TYPE "):
            names.add(line.split(" ", 3)[2])
    return names


class _Chunks:
    """Lines gathered into encoded chunks, handing the event loop back every `SLICE` lines."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self._pending: list[str] = []
        self._count = 0

    async def add(self, lines: list[str]) -> None:
        for i in range(0, len(lines), SLICE):
            part = lines[i : i + SLICE]
            self._pending.append("".join(part))
            self._count += len(part)
            if self._count >= SLICE:
                self.flush()
                await asyncio.sleep(0)  # a big scrape shares the loop with the results flowing in

    def flush(self) -> None:
        if self._pending:
            self.chunks.append("".join(self._pending).encode())
            self._pending.clear()
            self._count = 0


async def check_families(results: list[tuple[str, dict[str, Any]]], out: _Chunks) -> None:
    """`ogi_check_status` and `ogi_check_last_run_timestamp_seconds` for every last result."""
    status: list[str] = [
        _help_line(STATUS, "Exit status of the last result of a check (0 OK, 1 warning, 2 critical, 3 unknown)")
    ]
    executed: list[str] = [_help_line(LAST_RUN, "When the last result of a check was executed, in seconds since the epoch")]
    for count, (client, check) in enumerate(results, 1):
        name = check.get("name")
        if not isinstance(name, str):
            continue
        sid = series_id("", {"client": client, "check": name})
        code = check.get("status")
        if isinstance(code, int | float) and not isinstance(code, bool):
            status.append(f"{STATUS}{sid} {format_value(code)}\n")
        ran = check.get("executed")
        if isinstance(ran, int | float) and not isinstance(ran, bool):
            executed.append(f"{LAST_RUN}{sid} {format_value(ran)}\n")
        if count % SLICE == 0:
            await asyncio.sleep(0)
    await out.add(status)
    await out.add(executed)


def exported_name(name: str, kind: str) -> str:
    """The name a stored series is exported under: a counter's ends in `_total`."""
    return name + "_total" if kind == COUNTER and not name.endswith("_total") else name


def family_header(name: str, kind: str) -> str:
    """The HELP and TYPE lines that open a family of stored series."""
    return f"# HELP {name} {SERIES_HELP}\n# TYPE {name} {kind}\n"


def series_text(series: dict[str, SeriesSample]) -> tuple[str, int]:
    """A few stored series as a complete text page, named and typed as on `/metrics` (for a push);
    returns the text and how many series were left out (no name, or a type differing from their family's)."""
    groups: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    hidden = 0
    for sid, sample in series.items():
        brace = sid.find("{")
        name = sid[:brace] if brace >= 0 else sid
        exported = exported_name(name, sample.kind)
        sid = exported + sid[brace:] if brace >= 0 else exported
        lines = groups.get(exported)
        if lines is None:
            if not exported:
                hidden += 1
                continue
            lines = groups[exported] = [family_header(exported, sample.kind)]
            kinds[exported] = sample.kind
        elif kinds[exported] != sample.kind:
            hidden += 1
            continue
        lines.append(f"{sid} {format_value(sample.value)}\n")
    return "".join(line for lines in groups.values() for line in lines), hidden


async def series_families(series: dict[str, SeriesSample], reserved: set[str], out: _Chunks) -> int:
    """Stored series grouped into families, gauges and counters (named `..._total`); returns how many
    were left out: a reserved name, or a series whose type differs from its family's first series."""
    groups: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    hidden = 0
    count = 0
    # No tuple per series (no `partition`): 100,000 container allocations would trigger the
    # garbage collector's full passes, which stop the event loop for tens of milliseconds.
    for sid, sample in series.items():
        brace = sid.find("{")
        name = sid[:brace] if brace >= 0 else sid
        kind = sample.kind
        exported = exported_name(name, kind)
        if exported is not name:
            sid = exported + sid[brace:] if brace >= 0 else exported
            name = exported
        lines = groups.get(name)
        if lines is None:
            if name in reserved or not name:
                hidden += 1
                continue
            lines = groups[name] = [family_header(name, kind)]
            kinds[name] = kind
        elif kinds[name] != kind:
            hidden += 1
            continue
        value = sample.value
        lines.append(f"{sid} {repr(value) if value - value == 0 else format_value(value)}\n")
        count += 1
        if count % SLICE == 0:
            await asyncio.sleep(0)
    for lines in groups.values():
        await out.add(lines)
    return hidden


@dataclass
class ScrapeStats:
    """What the exporter tells about itself on its own page."""

    scrapes: int = 0
    failures: int = 0
    hidden: int = 0
    last_series: int = 0
    last_seconds: float = 0.0

    def text(self) -> str:
        return (
            "# HELP ogi_exporter_scrapes_total Scrapes of /metrics served\n"
            "# TYPE ogi_exporter_scrapes_total counter\n"
            f"ogi_exporter_scrapes_total {self.scrapes}\n"
            "# HELP ogi_exporter_scrape_failures_total Scrapes of /metrics that failed reading the store\n"
            "# TYPE ogi_exporter_scrape_failures_total counter\n"
            f"ogi_exporter_scrape_failures_total {self.failures}\n"
            "# HELP ogi_exporter_series_hidden_total Stored series left out: their name is ogi's own, or their family has another type\n"
            "# TYPE ogi_exporter_series_hidden_total counter\n"
            f"ogi_exporter_series_hidden_total {self.hidden}\n"
            "# HELP ogi_exporter_series Stored series on the previous scrape\n"
            "# TYPE ogi_exporter_series gauge\n"
            f"ogi_exporter_series {self.last_series}\n"
            "# HELP ogi_exporter_scrape_duration_seconds Time the previous scrape took to build\n"
            "# TYPE ogi_exporter_scrape_duration_seconds gauge\n"
            f"ogi_exporter_scrape_duration_seconds {self.last_seconds!r}\n"
        )


@dataclass
class Exporter:
    """Builds the `/metrics` page from a registry and a store."""

    #: None on the client's page: no check series, only its registry.
    store: Store | None
    registry: CollectorRegistry | None = None
    stats: ScrapeStats = field(default_factory=ScrapeStats)
    #: run before each page is built (the store round-trip sample)
    before: Callable[[], Awaitable[None]] | None = None
    #: the other worker processes' pages, summed with this registry's (`ogi server --workers N`)
    others: Callable[[], Awaitable[list[str]]] | None = None

    async def render(self) -> bytes:
        start = time.perf_counter()
        if self.before is not None:
            await self.before()
        own = generate_latest(self.registry).decode() if self.registry is not None else ""
        if self.others is not None:
            own = merge_pages([own, *await self.others()])
        if self.store is None:
            self.stats.scrapes += 1
            return own.encode()
        results = await self.store.list_results()
        series = await self.store.list_series()
        out = _Chunks()
        await check_families(results, out)
        hidden = await series_families(series, _reserved(own), out)
        out.flush()
        self.stats.scrapes += 1
        self.stats.hidden += hidden
        self.stats.last_series = len(series) - hidden
        page = b"".join([own.encode(), self.stats.text().encode(), *out.chunks])
        self.stats.last_seconds = time.perf_counter() - start
        return page

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await self.render()
        except Exception as error:  # a store that is down: say so, keep serving
            self.stats.failures += 1
            log.error("metrics scrape failed", extra={"fields": {"error": repr(error)}})
            return web.Response(status=503, text=f"ogi cannot read its store: {error}\n")
        headers = {"Content-Type": CONTENT_TYPE}
        if len(body) >= GZIP_MIN and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = await asyncio.to_thread(gzip.compress, body, 1)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)


@dataclass
class Runner:
    """A running `/metrics` listener; `stop()` closes it."""

    exporter: Exporter
    runner: web.AppRunner
    bind: str
    port: int
    tls: bool = False
    server: asyncio.AbstractServer | None = None
    guard: Guard | None = None

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/metrics"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.guard is not None:
            await self.guard.stop()
        await self.runner.cleanup()


async def start_exporter(
    found: tuple[str, int, Access] | None, store: Store | None, registry: CollectorRegistry | None,
    before: Callable[[], Awaitable[None]] | None = None,
    others: Callable[[], Awaitable[list[str]]] | None = None,
) -> Runner:
    """Serve `/metrics` at `found` (`listener_access`: the typed settings' `metrics_listener`; defaults
    when None); port 0 picks one."""
    bind, port, rules = found or (DEFAULT_BIND, DEFAULT_PORT, Access())
    try:
        tls = rules.ssl_context()
    except (OSError, ssl.SSLError) as error:
        raise ConfigErrors([ConfigError("metrics.ssl", f"cannot load the certificate and key: {error}")]) from error
    exporter = Exporter(store, registry, before=before, others=others)
    auth = rules.middleware()
    limits = rules.limits
    guard = Guard("metrics", limits)
    if registry is not None:
        socket_refusals(registry).watch("metrics", lambda: guard.refusals.counts)
    app = web.Application(middlewares=[*([auth] if auth is not None else []), deadlines(guard)])
    app.router.add_get("/metrics", exporter.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=limits.keepalive_timeout)
    await runner.setup()
    try:
        server = await serve(runner, guard, bind, port, tls)
    except OSError:
        await runner.cleanup()
        raise
    bound = listening_port(server, port)
    log.info("metrics listening", extra={"fields": {"bind": bind, "port": bound, "tls": tls is not None,
                                                    "auth": auth is not None}})
    return Runner(exporter, runner, bind, bound, tls is not None, server, guard)

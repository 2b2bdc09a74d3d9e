"""Typed, immutable settings: one object per section, built once from the merged JSON.

`build_settings` parses every section with the parser its daemon uses (the API's, the Redis
store's, the RabbitMQ transport's, the metrics exporter's) and the `sensu` limits here, so
there is one reader per setting. `pipeline.config.load.load_settings` builds these after the
validation pass; daemons, the engine and the API's `/settings` read them, not the raw dict.
Definitions (checks, handlers, filters, mutators) keep their raw JSON: events carry a check's
full definition with its custom attributes, and a handler is given its own definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pipeline.api.settings import ApiConfig, api_config
from pipeline.api.ui.settings import DashboardConfig, dashboard_config
from pipeline.errors import ConfigError, ConfigErrors, path_key
from pipeline.metrics.exporter import listener
from pipeline.model import JSON, MAX_MESSAGE_SIZE, is_int, is_number
from pipeline.store.factory import store_name
from pipeline.store.redis_conn import RedisSettings, redis_settings
from pipeline.transport import transport_name
from pipeline.transport.amqp_settings import AmqpSettings, amqp_settings

#: Child processes running at once, across checks, pipe handlers and command mutators (Sensu's default).
DEFAULT_SPAWN_LIMIT = 12
#: In-process handler routes in flight at once (`sensu.handlers.concurrency`).
DEFAULT_CONCURRENCY = 1000
#: Seconds a stopping server gives in-flight events before it closes.
SHUTDOWN_TIMEOUT = 4.0
PIPES = ("results", "keepalives")


@dataclass(frozen=True)
class Limits:
    """The `sensu` section's knobs: process and handler bounds, message size, pipe names."""

    spawn_limit: int = DEFAULT_SPAWN_LIMIT
    handler_concurrency: int = DEFAULT_CONCURRENCY
    max_message_size: int = MAX_MESSAGE_SIZE
    shutdown_timeout: float = SHUTDOWN_TIMEOUT
    results_pipe: str = "results"
    keepalives_pipe: str = "keepalives"

    def pipe(self, which: str) -> str:
        """The name of the `results` or `keepalives` pipe."""
        return self.results_pipe if which == "results" else self.keepalives_pipe


@dataclass(frozen=True)
class Definition:
    """One named definition and its JSON as written (merged), which Sensu semantics pass on whole."""

    name: str
    raw: JSON = field(repr=False, compare=False)


@dataclass(frozen=True)
class CheckDefinition(Definition):
    """A check: what the agent runs and the server schedules; `raw` goes into every event."""

    command: str | None = None
    interval: int | None = None
    cron: str | None = None
    subscribers: tuple[str, ...] = ()
    standalone: bool = False
    publish: bool = True
    handlers: tuple[str, ...] = ("default",)


@dataclass(frozen=True)
class HandlerDefinition(Definition):
    """A handler: its type, the chain's keys and, for a set, its members."""

    type: str = "pipe"
    mutator: str | None = None
    filters: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    timeout: float | None = None


@dataclass(frozen=True)
class FilterDefinition(Definition):
    """A settings filter: attributes matched against the event, `negate`, `when`."""

    negate: bool = False


@dataclass(frozen=True)
class MutatorDefinition(Definition):
    """A command mutator."""

    command: str = ""
    timeout: float | None = None


@dataclass(frozen=True)
class Settings:
    """Everything ogi reads from its configuration, checked; see the module docstring."""

    raw: JSON = field(repr=False, compare=False)
    transport_name: str | None = None
    amqp: AmqpSettings = field(default_factory=AmqpSettings)
    store_name: str | None = None
    redis: RedisSettings | None = None
    api: ApiConfig = field(default_factory=lambda: api_config({}))
    metrics_listener: tuple[str, int] | None = None
    limits: Limits = field(default_factory=Limits)
    dashboard: DashboardConfig | None = None
    client: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    checks: Mapping[str, CheckDefinition] = field(default_factory=lambda: MappingProxyType({}))
    handlers: Mapping[str, HandlerDefinition] = field(default_factory=lambda: MappingProxyType({}))
    filters: Mapping[str, FilterDefinition] = field(default_factory=lambda: MappingProxyType({}))
    mutators: Mapping[str, MutatorDefinition] = field(default_factory=lambda: MappingProxyType({}))

    def transport(self, default: str) -> str:
        """The transport the daemon uses: `transport.name`, else the daemon's own default."""
        return self.transport_name or default

    def store(self, default: str) -> str:
        """The store the daemon uses: `store.name`, else the daemon's own default."""
        return self.store_name or default

    def raw_section(self, key: str) -> dict[str, Any]:
        """A top-level object as written, `{}` when absent (handler-specific settings such as `mailer`)."""
        value = self.raw.get(key)
        return value if isinstance(value, dict) else {}


def _keep_order(value: list[Any]) -> None:
    """Brokers stay in file order here; the transport shuffles its own copy when it connects."""


def sections(raw: JSON) -> tuple[dict[str, Any], list[ConfigError]]:
    """The typed sections of `raw` and every error their parsers found."""
    errors: list[ConfigError] = []
    found: dict[str, Any] = {}

    def parse(key: str, parser: Any, *args: Any) -> None:
        try:
            found[key] = parser(*args)
        except ConfigErrors as wrong:
            errors.extend(wrong.errors)

    section = raw.get("transport")
    parse("transport_name", lambda: transport_name(raw, "memory") if isinstance(section, dict)
          and "name" in section else None)
    parse("amqp", amqp_settings, raw, _keep_order)
    store = raw.get("store")
    parse("store_name", lambda: store_name(raw) if not isinstance(store, dict) or "name" in store else None)
    if raw.get("redis") is not None:
        parse("redis", redis_settings, raw.get("redis"))
    parse("api", api_config, raw)
    parse("metrics_listener", listener, raw)
    parse("limits", limits, raw)
    parse("dashboard", dashboard_config, raw)
    return found, errors


def limits(raw: JSON) -> Limits:
    """The `sensu` knobs; ConfigErrors names each wrong one."""
    errors: list[ConfigError] = []
    sensu = raw.get("sensu")
    if sensu is None:
        return Limits()
    if not isinstance(sensu, dict):
        raise ConfigErrors([ConfigError("sensu", "must be an object", sensu)])

    def sub(key: str) -> dict[str, Any]:
        value = sensu.get(key)
        if value is not None and not isinstance(value, dict):
            errors.append(ConfigError(f"sensu.{key}", "must be an object", value))
        return value if isinstance(value, dict) else {}

    def positive(section: dict[str, Any], path: str, key: str, default: Any, integer: bool = True) -> Any:
        if key not in section:
            return default
        value = section[key]
        if (is_int(value) if integer else is_number(value)) and value > 0:
            return value
        errors.append(ConfigError(path_key(path, key), f"must be {'an integer' if integer else 'a number'} "
                                  "greater than 0", value))
        return default

    server = sub("server")
    pipes = {}
    for which in PIPES:
        key = f"{which}_pipe"
        value = server.get(key, which)
        if not isinstance(value, str) or not value:
            errors.append(ConfigError(f"sensu.server.{key}", "must be a non-empty string", value))
            value = which
        pipes[which] = value
    found = Limits(
        spawn_limit=positive(sub("spawn"), "sensu.spawn", "limit", DEFAULT_SPAWN_LIMIT),
        handler_concurrency=positive(sub("handlers"), "sensu.handlers", "concurrency", DEFAULT_CONCURRENCY),
        max_message_size=positive(server, "sensu.server", "max_message_size", MAX_MESSAGE_SIZE),
        shutdown_timeout=float(positive(sensu, "sensu", "shutdown_timeout", SHUTDOWN_TIMEOUT, integer=False)),
        results_pipe=pipes["results"],
        keepalives_pipe=pipes["keepalives"],
    )
    if errors:
        raise ConfigErrors(errors)
    return found


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _check(name: str, raw: JSON) -> CheckDefinition:
    names = raw.get("handlers")
    if names is None:
        names = [raw["handler"]] if isinstance(raw.get("handler"), str) else ["default"]
    return CheckDefinition(
        name=name, raw=raw, command=raw.get("command"), interval=raw.get("interval"), cron=raw.get("cron"),
        subscribers=_strings(raw.get("subscribers")), standalone=raw.get("standalone") is True,
        publish=raw.get("publish") is not False, handlers=_strings(names),
    )


def _handler(name: str, raw: JSON) -> HandlerDefinition:
    filters = raw.get("filters")
    if filters is None:
        filters = [raw["filter"]] if isinstance(raw.get("filter"), str) else []
    return HandlerDefinition(
        name=name, raw=raw, type=str(raw.get("type")), mutator=raw.get("mutator"), filters=_strings(filters),
        members=_strings(raw.get("handlers")) if raw.get("type") == "set" else (), timeout=raw.get("timeout"),
    )


def _definitions(raw: JSON, key: str, make: Any) -> Mapping[str, Any]:
    section = raw.get(key)
    if not isinstance(section, dict):
        return MappingProxyType({})
    return MappingProxyType({n: make(n, d) for n, d in section.items() if isinstance(d, dict)})


def build_settings(raw: JSON, found: dict[str, Any] | None = None) -> Settings:
    """Typed settings from merged JSON that passed validation; ConfigErrors if a section is wrong.

    `found` is what `sections(raw)` returned, when the caller has it already.
    """
    if found is None:
        found, errors = sections(raw)
        if errors:
            raise ConfigErrors(errors)
    client = raw.get("client")
    return Settings(
        raw=raw,
        client=MappingProxyType(client if isinstance(client, dict) else {}),
        checks=_definitions(raw, "checks", _check),
        handlers=_definitions(raw, "handlers", _handler),
        filters=_definitions(raw, "filters", lambda n, d: FilterDefinition(n, d, negate=d.get("negate") is True)),
        mutators=_definitions(raw, "mutators", lambda n, d: MutatorDefinition(
            n, d, command=str(d.get("command", "")), timeout=d.get("timeout"))),
        **found,
    )


def settings_of(value: Settings | JSON) -> Settings:
    """`value` if typed already; a dict (tests, embedding) is parsed as it is, without the validation pass."""
    return value if isinstance(value, Settings) else build_settings(value)

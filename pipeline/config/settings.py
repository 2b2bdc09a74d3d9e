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

from pipeline.config.api import ApiConfig, api_config
from pipeline.config.dashboard import DashboardConfig, dashboard_config
from pipeline.errors import ConfigError, ConfigErrors, path_key
from pipeline.metrics.access import Access
from pipeline.metrics.exporter import listener_access
from pipeline.metrics.self_metrics import client_listener
from pipeline.metrics.statsd_settings import StatsdSettings, statsd_settings
from pipeline.model import (
    DEFAULT_AGENT_SPAWN_LIMIT,
    DEFAULT_CHECKS_PER_CLIENT,
    DEFAULT_SPAWN_LIMIT,
    JSON,
    MAX_MESSAGE_SIZE,
    is_int,
    is_number,
)
from pipeline.netlimits import ListenerLimits, listener_limits
from pipeline.store.factory import store_name
from pipeline.store.redis_conn import RedisSettings, redis_settings
from pipeline.transport import transport_name
from pipeline.transport.amqp_settings import AmqpSettings, amqp_settings
from pipeline.transport.pipes import KEEPALIVES, RESULTS

#: In-process handler routes in flight at once (`sensu.handlers.concurrency`).
DEFAULT_CONCURRENCY = 1000
#: Part of a pool (process slots, in-process slots) one handler may hold (`sensu.handlers.share`).
DEFAULT_HANDLER_SHARE = 0.5
#: Seconds after which the stored result of a check that stopped reporting is removed
#: (`sensu.limits.result_max_age`, 0 keeps results for ever): 7 days.
DEFAULT_RESULT_MAX_AGE = 7 * 24 * 3600
#: Seconds a stopping server gives in-flight events before it closes.
SHUTDOWN_TIMEOUT = 4.0
PIPES = (RESULTS, KEEPALIVES)


@dataclass(frozen=True)
class Limits:
    """The `sensu` section's knobs: process and handler bounds, message size, pipe names.

    `results_pipe` and `keepalives_pipe` are the one reading of `sensu.server.results_pipe` and
    `keepalives_pipe` (pipeline/transport/pipes.py has the defaults): the agent, the server and the
    API take them from here, so daemons given the same settings always meet.
    """

    spawn_limit: int = DEFAULT_SPAWN_LIMIT
    #: The agent's check and hook slots: `sensu.spawn.limit` when set, else a larger default.
    agent_spawn_limit: int = DEFAULT_AGENT_SPAWN_LIMIT
    handler_concurrency: int = DEFAULT_CONCURRENCY
    handler_share: float = DEFAULT_HANDLER_SHARE
    checks_per_client: int = DEFAULT_CHECKS_PER_CLIENT
    result_max_age: int = DEFAULT_RESULT_MAX_AGE
    max_message_size: int = MAX_MESSAGE_SIZE
    shutdown_timeout: float = SHUTDOWN_TIMEOUT
    results_pipe: str = RESULTS
    keepalives_pipe: str = KEEPALIVES


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
    #: Where the points of every run go (Sensu Go's field; pipeline/chain/metric_routes.py).
    output_metric_handlers: tuple[str, ...] = ()
    output_metric_format: str | None = None
    #: Sensu Go's rules setting the status from the points (pipeline/metrics/thresholds.py).
    output_metric_thresholds: tuple[JSON, ...] = ()


@dataclass(frozen=True)
class HandlerDefinition(Definition):
    """A handler: its type, the chain's keys and, for a set, its members."""

    #: None when the definition has no string `type` (the checker refuses it).
    type: str | None = None
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
    dashboard: DashboardConfig = field(default_factory=lambda: dashboard_config({}))
    #: `(bind, port, access)` of the `metrics` object, None when absent (no `/metrics`).
    metrics_listener: tuple[str, int, Access] | None = None
    limits: Limits = field(default_factory=Limits)
    client: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: the client's 3030 socket: connection cap and whole-message deadline (`client.socket`)
    client_socket: ListenerLimits = field(default_factory=ListenerLimits)
    #: the client's StatsD listener (`client.statsd`), None when off
    client_statsd: StatsdSettings | None = None
    #: `(bind, port, access)` of the client's own `/metrics` (`client.metrics`), None when off
    client_metrics: tuple[str, int, Access] | None = None
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

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its JSON (the server's worker processes): the read-only mappings do not pickle,
        # and the JSON passed validation in the process that sends it.
        return build_settings, (self.raw,)


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
    # None when not named: each daemon then uses its own default (memory for `ogi run`, redis for `ogi server`)
    parse("store_name", lambda: store_name(raw) if store is not None and (not isinstance(store, dict)
                                                                           or "name" in store) else None)
    if raw.get("redis") is not None:
        parse("redis", redis_settings, raw.get("redis"))
    parse("api", api_config, raw)
    parse("metrics_listener", listener_access, raw)
    parse("limits", limits, raw)
    parse("dashboard", dashboard_config, raw)
    parse("client_statsd", statsd_settings, raw)
    parse("client_metrics", client_listener, raw)
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
    handlers = sub("handlers")
    bounds = sub("limits")
    share = handlers.get("share", DEFAULT_HANDLER_SHARE)
    if not is_number(share) or not 0 < share <= 1:
        errors.append(ConfigError("sensu.handlers.share", "must be a number greater than 0 and at most 1", share))
        share = DEFAULT_HANDLER_SHARE
    max_age = bounds.get("result_max_age", DEFAULT_RESULT_MAX_AGE)
    if not is_int(max_age) or max_age < 0:
        errors.append(ConfigError("sensu.limits.result_max_age", "must be an integer of seconds, 0 or more "
                                  "(0 keeps results for ever)", max_age))
        max_age = DEFAULT_RESULT_MAX_AGE
    pipes = {}
    for which in PIPES:
        key = f"{which}_pipe"
        value = server.get(key, which)
        if not isinstance(value, str) or not value:
            errors.append(ConfigError(f"sensu.server.{key}", "must be a non-empty string", value))
            value = which
        pipes[which] = value
    spawn_limit = positive(sub("spawn"), "sensu.spawn", "limit", DEFAULT_SPAWN_LIMIT)
    found = Limits(
        spawn_limit=spawn_limit,
        agent_spawn_limit=spawn_limit if "limit" in sub("spawn") else DEFAULT_AGENT_SPAWN_LIMIT,
        handler_concurrency=positive(handlers, "sensu.handlers", "concurrency", DEFAULT_CONCURRENCY),
        handler_share=float(share),
        checks_per_client=positive(bounds, "sensu.limits", "checks_per_client", DEFAULT_CHECKS_PER_CLIENT),
        result_max_age=max_age,
        max_message_size=positive(server, "sensu.server", "max_message_size", MAX_MESSAGE_SIZE),
        shutdown_timeout=float(positive(sensu, "sensu", "shutdown_timeout", SHUTDOWN_TIMEOUT, integer=False)),
        results_pipe=pipes["results"],
        keepalives_pipe=pipes["keepalives"],
    )
    if errors:
        raise ConfigErrors(errors)
    return found


def _socket(client: Any) -> dict[str, Any]:
    socket = client.get("socket") if isinstance(client, dict) else None
    return socket if isinstance(socket, dict) else {}


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
        output_metric_handlers=_strings(raw.get("output_metric_handlers")),
        output_metric_format=raw.get("output_metric_format") or None,
        output_metric_thresholds=tuple(r for r in raw.get("output_metric_thresholds") or () if isinstance(r, dict)),
    )


def _handler(name: str, raw: JSON) -> HandlerDefinition:
    filters = raw.get("filters")
    if filters is None:
        filters = raw.get("filter")
    kind, mutator = raw.get("type"), raw.get("mutator")
    return HandlerDefinition(
        name=name, raw=raw, type=kind if isinstance(kind, str) else None,
        mutator=mutator if isinstance(mutator, str) and mutator else None,
        filters=(filters,) if isinstance(filters, str) else _strings(filters),
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
        client_socket=listener_limits(_socket(client)),
        checks=_definitions(raw, "checks", _check),
        handlers=_definitions(raw, "handlers", _handler),
        filters=_definitions(raw, "filters", lambda n, d: FilterDefinition(n, d, negate=d.get("negate") is True)),
        mutators=_definitions(raw, "mutators", lambda n, d: MutatorDefinition(
            n, d, command=str(d.get("command", "")), timeout=d.get("timeout"))),
        **found,
    )


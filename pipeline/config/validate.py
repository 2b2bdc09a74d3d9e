"""The one validation pass: every error at once, each naming its JSON path and value.

The rules follow Sensu 1.x's settings validators (docs/configuration.md "What is checked
at start-up"), with what ogi users asked for on top: a
handler, filter or mutator name that nothing defines is an error at start-up instead of a log
line at the first event. Custom attributes on checks and clients pass untouched. This module
checks the top level, the checks and the client; `validate_chain.py` the handlers, filters,
mutators and the names that refer to them (building each one with its own class); the typed
sections are parsed by the parsers the daemons use (`settings.sections`). Last, when all that
passed, the engine's own route table is built over every handler name the configuration uses:
anything it would skip is an error, so what `ogi check-config` accepts is exactly what runs.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.chain.routes import RouteTable
from pipeline.chain.stagemetrics import StageMetrics
from pipeline.config.nulls import without_null_settings
from pipeline.config.rules import (
    BOOL,
    CHECK_RULES,
    CLIENT_RULES,
    INT,
    OBJ,
    POS_NUM,
    SOCKET_RULES,
    STR,
    STR_LIST,
)
from pipeline.config.settings import Settings, build_settings, sections
from pipeline.config.validate_chain import ChainValidator
from pipeline.config.validate_metrics import check_metrics
from pipeline.errors import ConfigError, path_index, path_key
from pipeline.extension import Context
from pipeline.model import is_int, valid_name
from pipeline.registry import Registry
from pipeline.schedule.cron import CronError, parse_cron
from pipeline.schedule.timing import CheckSchedule, ScheduleError

#: Sections that must be objects; `store`, `api`, `metrics`, `sensu`, `rabbitmq`, `redis` and `dashboard` are
#: checked by their own parsers (`settings.sections`).
#: Sensu's check extensions are Ruby run inside sensu-client; ogi runs commands only.
CHECK_EXTENSION_REFUSED = (
    "check extensions (Ruby code run inside sensu-client) do not run in ogi: give the check a \"command\" "
    "instead, a script or Nagios plugin that prints the same output and exits 0-3 (docs/migrating.md)"
)
KNOWN_TOP_LEVEL = ("client", "checks", "handlers", "filters", "mutators", "transport", "extensions")
_AGGREGATE_RE = re.compile(r"^[\w.:|-]+\Z")
_TOKEN_RE = re.compile(r":::.*?:::")
#: Who reads the configuration. A `client` runs checks and never handles an event, so the
#: handler names in its checks, keepalive, registration and deregistration are only names, as
#: in Sensu 1.x: the server resolves them. `server` (also `ogi run`, `ogi api` and the default
#: of `ogi check-config`) resolves every name and builds every route.
ROLES = ("server", "client")


class _Validator(ChainValidator):
    """The settings-level sections; the handler chain is ChainValidator's."""

    def top_level(self) -> None:
        for key in KNOWN_TOP_LEVEL:
            if key in self.settings and not isinstance(self.settings[key], dict):
                self.error(key, "must be an object", self.settings[key])
        if isinstance(self.settings.get("transport"), dict):
            self.apply(self.settings["transport"], "transport", {"reconnect_on_error": BOOL})
        api = self.settings.get("api")
        if isinstance(api, dict):
            self.apply(api, "api", {"host": STR})
        sensu = self.settings.get("sensu")
        if isinstance(sensu, dict) and isinstance(sensu.get("keepalives"), dict):
            self.handler_refs(sensu["keepalives"], "sensu.keepalives")

    def checks(self) -> None:
        defaulted: list[str] = []
        for name, check, path in self.objects("checks"):
            self.check(name, check, path)
            if "handler" not in check and "handlers" not in check:
                defaulted.append(name)
        if defaulted and self.resolve_handlers and "default" not in self.handlers and "default" not in self.handler_types:
            shown = ", ".join(defaulted[:10]) + (f" and {len(defaulted) - 10} more" if len(defaulted) > 10 else "")
            self.warnings.append(
                f"checks {shown} name no handler, so they use \"default\", which is not defined: "
                "their events go to no handler"
            )

    def check(self, name: str, check: dict[str, Any], path: str) -> None:
        before = len(self.errors)
        if not valid_name(name):
            self.error(path, "check name must contain only letters, digits, '_', '.' and '-'", name)
        self.apply(check, path, CHECK_RULES)
        has_command, has_extension = "command" in check, "extension" in check
        if has_command and has_extension:
            self.error(path_key(path, "extension"), "a check has either \"command\" or \"extension\", not both",
                       check["extension"])
        elif has_extension:
            self.error(path_key(path, "extension"), CHECK_EXTENSION_REFUSED, check["extension"])
        elif not has_command:
            self.error(path_key(path, "command"), "is required (a string)")
        if check.get("publish") is not False and "cron" not in check and "interval" not in check:
            self.error(path_key(path, "interval"), "is required (an integer greater than 0) unless "
                       "\"cron\" is set or \"publish\" is false")
        if check.get("standalone") is not True and "subscribers" not in check:
            self.error(path_key(path, "subscribers"), "is required (an array of strings) unless \"standalone\" is true")
        if ("low_flap_threshold" in check) != ("high_flap_threshold" in check):
            missing = "high_flap_threshold" if "low_flap_threshold" in check else "low_flap_threshold"
            self.error(path_key(path, missing), "flap thresholds come in pairs: set both or neither")
        if "type" in check and check["type"] not in ("standard", "metric"):
            self.error(path_key(path, "type"), "must be \"standard\" or \"metric\"", check["type"])
        if "aggregate" in check:
            aggregate = check["aggregate"]
            if not isinstance(aggregate, bool) and not (isinstance(aggregate, str) and _AGGREGATE_RE.match(aggregate)):
                self.error(path_key(path, "aggregate"), "must be true, false or a name without spaces", aggregate)
        if "aggregates" in check:
            self.str_list(check["aggregates"], path_key(path, "aggregates"), _AGGREGATE_RE)
        source = check.get("source")
        if isinstance(source, str) and not valid_name(_TOKEN_RE.sub("x", source)):
            self.error(path_key(path, "source"), "must be a client name (letters, digits, '_', '.', '-', "
                       "or :::tokens:::)", source)
        if isinstance(check.get("cron"), str):
            try:
                parse_cron(check["cron"])
            except CronError as error:
                self.error(path_key(path, "cron"), str(error), check["cron"])
        if check.get("subdue") is not None:  # null is no subdue, for Sensu and pipeline.schedule.timing alike
            self.window(check["subdue"], path_key(path, "subdue"))
        self.hooks(check, path)
        proxy = check.get("proxy_requests")
        if isinstance(proxy, dict):
            self.proxy_requests(proxy, path_key(path, "proxy_requests"))
        self.handler_refs(check, path)
        check_metrics(self, check, path)
        if len(self.errors) == before and (_published(check) or _standalone(check)):
            # The scheduler the server and the agent use: a check it cannot schedule never runs.
            try:
                CheckSchedule.for_check(name, check, 0.0)
            except ScheduleError as error:
                self.error(path_key(path, error.path), error.message, check.get(error.path.split(".")[0]))

    def proxy_requests(self, proxy: dict[str, Any], path: str) -> None:
        """Sensu's rules: `client_attributes` an object (its `eval:` values compile), `splay` a
        boolean, `splay_coverage` an integer percentage 1-99."""
        if "client_attributes" not in proxy:
            self.error(path_key(path, "client_attributes"), "is required (an object matched against each client)")
        self.apply(proxy, path, {"client_attributes": OBJ, "splay": BOOL, "splay_coverage": INT})
        if isinstance(proxy.get("client_attributes"), dict):
            self.expressions(proxy["client_attributes"], path_key(path, "client_attributes"))
        coverage = proxy.get("splay_coverage")
        if is_int(coverage) and not 1 <= coverage <= 99:
            self.error(path_key(path, "splay_coverage"), "must be an integer percentage from 1 to 99", coverage)

    def hooks(self, check: dict[str, Any], path: str) -> None:
        if not isinstance(check.get("hooks"), dict):
            return
        for key, hook in check["hooks"].items():
            hook_path = path_key(path_key(path, "hooks"), key)
            if not isinstance(hook, dict):
                self.error(hook_path, "must be an object with \"command\"", hook)
                continue
            if "command" not in hook:
                self.error(path_key(hook_path, "command"), "is required (a string)")
            self.apply(hook, hook_path, {"command": STR, "timeout": POS_NUM, "stdin": BOOL})

    def client(self) -> None:
        client = self.settings.get("client")
        if not isinstance(client, dict):
            return
        if "name" in client and not valid_name(client["name"]):
            self.error("client.name", "must contain only letters, digits, '_', '.' and '-'", client["name"])
        self.apply(client, "client", CLIENT_RULES)
        for key in ("socket", "http_socket"):
            if isinstance(client.get(key), dict):
                self.apply(client[key], f"client.{key}", SOCKET_RULES)
        if isinstance(client.get("http_socket"), dict):
            self.apply(client["http_socket"], "client.http_socket",
                       {"user": STR, "password": STR, "protect_all_endpoints": BOOL})
        keepalive = client.get("keepalive")
        if isinstance(keepalive, dict):
            self.apply(keepalive, "client.keepalive", {"handler": STR, "handlers": STR_LIST, "thresholds": OBJ})
            if isinstance(keepalive.get("thresholds"), dict):
                self.apply(keepalive["thresholds"], "client.keepalive.thresholds", {"warning": INT, "critical": INT})
            self.handler_refs(keepalive, "client.keepalive")
        for key in ("registration", "deregistration"):
            if isinstance(client.get(key), dict):
                self.apply(client[key], f"client.{key}", {"handler": STR, "handlers": STR_LIST, "status": INT})
                self.handler_refs(client[key], f"client.{key}")

    def routes(self, typed: Settings) -> None:
        """Build the engine's route table over every handler name in use; report what it would skip."""
        if not self.resolve_handlers:
            return  # a client builds no route
        context = Context(settings=typed, log=self.context.log)
        table = RouteTable(typed, context, self.registry, StageMetrics(), report=self.errors.append)
        table.build_all()
        for name, _where in handler_references(self.settings):
            if name in self.handlers or name in self.handler_types:  # an undefined `default` is a warning
                table.resolve((name,))


def _published(check: dict[str, Any]) -> bool:
    """What the server's publisher schedules (`pipeline.server.publisher.published_checks`)."""
    return (check.get("standalone") is not True and check.get("publish") is not False
            and isinstance(check.get("subscribers"), list) and bool(check["subscribers"]))


def _standalone(check: dict[str, Any]) -> bool:
    """What the agent schedules itself (`pipeline.agent.standalone.standalone_checks`)."""
    return check.get("standalone") is True and check.get("publish") is not False and isinstance(check.get("command"), str)


def check(
    settings: dict[str, Any], registry: Registry, role: str = "server"
) -> tuple[Settings | None, list[ConfigError], list[str]]:
    """The whole pass for a `role` (ROLES): (typed settings, or None when there are errors; every error; warnings)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    # null optional keys are "not set", as sensu-settings' `_if_set` rules (pipeline/config/nulls.py)
    settings = without_null_settings(settings)
    v = _Validator(settings, registry, Context())
    v.resolve_handlers = role != "client"
    v.top_level()
    v.checks()
    v.handler_definitions()
    v.filter_definitions()
    v.mutator_definitions()
    v.client()
    found, errors = sections(settings)
    v.errors.extend(errors)
    if v.errors:
        return None, v.errors, v.warnings
    typed = build_settings(settings, found)
    v.routes(typed)
    if v.errors:
        return None, v.errors, v.warnings
    return typed, [], v.warnings


def validate(
    settings: dict[str, Any], registry: Registry, role: str = "server"
) -> tuple[list[ConfigError], list[str]]:
    """Every error and warning in merged settings; never stops at the first."""
    _typed, errors, warnings = check(settings, registry, role)
    return errors, warnings


def handler_references(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """(handler name, JSON path) of every place settings name a handler for the engine to resolve:
    each check's handlers as the engine reads them (`default` at the check's own path), the
    client's keepalive, registration and deregistration, `sensu.keepalives` and set members."""
    found: list[tuple[str, str]] = []
    checks = settings.get("checks")
    for name, check_def in (checks.items() if isinstance(checks, dict) else ()):
        if isinstance(check_def, dict):
            path = path_key("checks", name)
            found += _named(check_def, path) if "handlers" in check_def or "handler" in check_def else [("default", path)]
            metric = check_def.get("output_metric_handlers")
            where = path_key(path, "output_metric_handlers")
            found += [(n, path_index(where, i)) for i, n in enumerate(metric if isinstance(metric, list) else [])
                      if isinstance(n, str)]
    client = settings.get("client")
    for key in ("keepalive", "registration", "deregistration", "statsd"):
        if isinstance(client, dict) and isinstance(client.get(key), dict):
            found += _named(client[key], path_key("client", key))
    sensu = settings.get("sensu")
    if isinstance(sensu, dict) and isinstance(sensu.get("keepalives"), dict):
        found += _named(sensu["keepalives"], "sensu.keepalives")
    handlers = settings.get("handlers")
    for name, definition in (handlers.items() if isinstance(handlers, dict) else ()):
        if isinstance(definition, dict) and definition.get("type") == "set":
            found += _named({"handlers": definition.get("handlers")}, path_key("handlers", name))
    return found


def _named(definition: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """The names in a definition's `handlers` (else `handler`), each with its path."""
    names = definition.get("handlers")
    if isinstance(names, list):
        where = path_key(path, "handlers")
        return [(n, path_index(where, i)) for i, n in enumerate(names) if isinstance(n, str)]
    if names is None and isinstance(definition.get("handler"), str):
        return [(definition["handler"], path_key(path, "handler"))]
    return []

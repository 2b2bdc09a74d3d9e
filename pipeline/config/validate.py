"""Start-up validation of merged settings: every error at once, each naming its JSON path and value.

The rules follow Sensu 1.x's settings validators (reference §2, §5), with one addition ogi
users asked for: a handler, filter or mutator name that nothing defines is an error at
start-up instead of a log line at the first event. Custom attributes on checks and clients
pass untouched; type-specific handler keys are checked by the handler classes themselves.
This module checks the settings-level sections (top level, checks, client);
`pipeline/config/validate_chain.py` the handlers, filters, mutators and the names that refer to them.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.config.load import path_index, path_key
from pipeline.config.validate_chain import (
    BOOL,
    INT,
    OBJ,
    OCCURRENCES,
    PORT,
    POS_INT,
    POS_NUM,
    STR,
    STR_LIST,
    ChainValidator,
    Rule,
)
from pipeline.errors import ConfigError, ConfigErrors
from pipeline.metrics.exporter import listener
from pipeline.model import valid_name
from pipeline.registry import Registry
from pipeline.schedule.cron import CronError, parse_cron

KNOWN_TOP_LEVEL = (
    "client", "checks", "handlers", "filters", "mutators", "transport", "store", "rabbitmq", "redis",
    "api", "metrics", "sensu", "extensions", "dashboard",
)
_AGGREGATE_RE = re.compile(r"^[\w.:|-]+\Z")
_TOKEN_RE = re.compile(r":::.*?:::")

CHECK_RULES: dict[str, Rule | str] = {
    "command": STR, "extension": STR, "interval": POS_INT, "timeout": POS_NUM, "ttl": POS_INT,
    "ttl_status": INT, "occurrences": OCCURRENCES, "refresh": POS_INT, "low_flap_threshold": INT,
    "high_flap_threshold": INT, "standalone": BOOL, "publish": BOOL, "handle": BOOL, "auto_resolve": BOOL,
    "force_resolve": BOOL, "stdin": BOOL, "unsafe_tokens": BOOL, "truncate_output": BOOL, "truncate_output_length": POS_INT,
    "cron": STR, "handler": STR, "handlers": STR_LIST, "subscribers": STR_LIST, "dependencies": STR_LIST,
    "source": STR, "hooks": OBJ, "proxy_requests": OBJ,
}
CLIENT_RULES: dict[str, Rule | str] = {
    "address": STR, "subscriptions": STR_LIST, "keepalives": BOOL, "keepalive": OBJ, "safe_mode": BOOL,
    "socket": OBJ, "http_socket": OBJ, "redact": STR_LIST, "signature": STR, "deregister": BOOL,
    "registration": OBJ, "deregistration": OBJ,
}
SOCKET_RULES: dict[str, Rule | str] = {"enabled": BOOL, "bind": STR, "port": PORT}


class _Validator(ChainValidator):
    """The settings-level sections; the handler chain is ChainValidator's."""

    # -- sections -----------------------------------------------------------------------------

    def top_level(self) -> None:
        for key in KNOWN_TOP_LEVEL:
            if key not in self.settings:
                continue
            value = self.settings[key]
            if key == "rabbitmq" and isinstance(value, list):
                for i, broker in enumerate(value):
                    self.broker(broker, path_index(key, i))
            elif not isinstance(value, dict):
                self.error(key, "must be an object" + (" or an array of brokers" if key == "rabbitmq" else ""), value)
            elif key in ("rabbitmq", "redis"):
                self.broker(value, key)
        if isinstance(self.settings.get("transport"), dict):
            self.apply(self.settings["transport"], "transport", {"name": STR, "reconnect_on_error": BOOL})
        api = self.settings.get("api")
        if isinstance(api, dict):
            # The rest of `api` is checked by the API's own parser (see `service_errors`).
            self.apply(api, "api", {"host": STR})
        sensu = self.settings.get("sensu")
        if isinstance(sensu, dict):
            spawn = sensu.get("spawn")
            if "spawn" in sensu and not isinstance(spawn, dict):
                self.error("sensu.spawn", "must be an object", spawn)
            elif isinstance(spawn, dict):
                self.apply(spawn, "sensu.spawn", {"limit": POS_INT})
            if isinstance(sensu.get("keepalives"), dict):
                self.handler_refs(sensu["keepalives"], "sensu.keepalives")

    def broker(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.error(path, "must be an object", value)
            return
        self.apply(value, path, {"host": STR, "port": PORT, "url": STR, "vhost": STR, "user": STR,
                                 "password": STR, "db": INT})

    def checks(self) -> None:
        defaulted: list[str] = []
        for name, check, path in self.objects("checks"):
            self.check(name, check, path)
            if "handler" not in check and "handlers" not in check:
                defaulted.append(name)
        if defaulted and "default" not in self.handlers and "default" not in self.handler_types:
            shown = ", ".join(defaulted[:10]) + (f" and {len(defaulted) - 10} more" if len(defaulted) > 10 else "")
            self.warnings.append(
                f"checks {shown} name no handler, so they use \"default\", which is not defined: "
                "their events go to no handler"
            )

    def check(self, name: str, check: dict[str, Any], path: str) -> None:
        if not valid_name(name):
            self.error(path, "check name must contain only letters, digits, '_', '.' and '-'", name)
        self.apply(check, path, CHECK_RULES)
        has_command, has_extension = "command" in check, "extension" in check
        if has_command and has_extension:
            self.error(path_key(path, "extension"), "a check has either \"command\" or \"extension\", not both",
                       check["extension"])
        elif not has_command and not has_extension:
            self.error(path_key(path, "command"), "is required (a string), unless \"extension\" is set")
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
        if isinstance(check.get("hooks"), dict):
            for key, hook in check["hooks"].items():
                hook_path = path_key(path_key(path, "hooks"), key)
                if not isinstance(hook, dict):
                    self.error(hook_path, "must be an object with \"command\"", hook)
                    continue
                if "command" not in hook:
                    self.error(path_key(hook_path, "command"), "is required (a string)")
                self.apply(hook, hook_path, {"command": STR, "timeout": POS_NUM, "stdin": BOOL})
        proxy = check.get("proxy_requests")
        if isinstance(proxy, dict):
            self.apply(proxy, path_key(path, "proxy_requests"), {"client_attributes": OBJ, "splay": BOOL,
                                                                 "splay_coverage": INT})
        self.handler_refs(check, path)

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


def validate(settings: dict[str, Any], registry: Registry) -> tuple[list[ConfigError], list[str]]:
    """Every error and warning in merged settings; never stops at the first."""
    v = _Validator(settings, registry)
    v.top_level()
    v.checks()
    v.handler_definitions()
    v.filter_definitions()
    v.mutator_definitions()
    v.client()
    try:
        listener(settings)
    except ConfigErrors as wrong:
        v.errors.extend(e for e in wrong.errors if not any(e.path == known.path for known in v.errors))
    for error in service_errors(settings):
        if not any(error.path == known.path for known in v.errors):
            v.errors.append(error)
    return v.errors, v.warnings


def service_errors(settings: dict[str, Any]) -> list[ConfigError]:
    """What the API, the store choice and the Redis connection would refuse at start-up, found by
    the parsers they use themselves (so the checker and the daemons cannot disagree); nothing
    is connected."""
    # Imported here: pipeline.api imports this module, and redis-py is only loaded when checking.
    from pipeline.api import api_config_errors
    from pipeline.api.ui import dashboard_config_errors
    from pipeline.store.factory import store_name
    from pipeline.store.redis_conn import redis_settings_errors

    errors = list(api_config_errors(settings))
    errors.extend(dashboard_config_errors(settings))
    try:
        store_name(settings)
    except ConfigErrors as wrong:
        errors.extend(wrong.errors)
    if isinstance(settings.get("redis"), dict):
        errors.extend(redis_settings_errors(settings["redis"]))
    return errors

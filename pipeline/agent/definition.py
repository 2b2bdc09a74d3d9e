"""The client definition: the `client` settings with Sensu's defaults and the environment's overrides.

`name` defaults to the host name, `address` to the first non-loopback IPv4 address (else
127.0.0.1), `subscriptions` to none. For images and autoscaling groups the environment
overrides the files: `OGI_CLIENT_NAME`, `OGI_CLIENT_ADDRESS`, `OGI_CLIENT_SUBSCRIPTIONS`
(a comma list), or Sensu's `SENSU_CLIENT_*` names; ogi's own name wins when both are set.
Everything else (custom attributes, `keepalive`, `keepalives`, `safe_mode`, `socket`,
`redact`, `signature`) passes through as written.
"""

from __future__ import annotations

import copy
import re
import socket
from collections.abc import Mapping
from typing import Any

from pipeline import SENSU_COMPAT_VERSION
from pipeline.config.load import redact, split_list
from pipeline.errors import ConfigError, ConfigErrors
from pipeline.hostaddr import first_ipv4
from pipeline.model import JSON, valid_name
from pipeline.netlimits import ListenerLimits, listener_limits


def _env(env: Mapping[str, str], suffix: str) -> tuple[str, str] | None:
    for prefix in ("OGI_CLIENT_", "SENSU_CLIENT_"):
        value = env.get(prefix + suffix)
        if value:
            return prefix + suffix, value
    return None


def client_definition(section: Mapping[str, Any], env: Mapping[str, str]) -> JSON:
    """The client definition this agent announces and runs with, from the `client` section
    (`Settings.client`); ConfigErrors on a bad override."""
    client: JSON = copy.deepcopy(dict(section))
    errors: list[ConfigError] = []
    if found := _env(env, "NAME"):
        var, name = found
        if valid_name(name):
            client["name"] = name
        else:
            errors.append(ConfigError("client.name", "must contain only letters, digits, '_', '.' and '-'",
                                      name, file=f"environment {var}"))
    if found := _env(env, "ADDRESS"):
        client["address"] = found[1]
    if found := _env(env, "SUBSCRIPTIONS"):
        client["subscriptions"] = split_list([found[1]])
    if errors:
        raise ConfigErrors(errors)
    if "name" not in client:
        client["name"] = re.sub(r"[^\w.-]", "-", socket.gethostname(), flags=re.ASCII) or "localhost"
    client.setdefault("address", None)
    if client["address"] is None:
        client["address"] = first_ipv4()
    client.setdefault("subscriptions", [])
    return client


def keepalive_payload(client: JSON, timestamp: float) -> JSON:
    """The redacted definition plus `version` and `timestamp` (this host's clock), as Sensu sends it."""
    extra = [k for k in client.get("redact") or () if isinstance(k, str)]
    payload: JSON = redact(client, extra, keep=("signature",))  # the server claims it from the keepalive
    payload["version"] = SENSU_COMPAT_VERSION
    payload["timestamp"] = int(timestamp)
    return payload


def socket_options(client: JSON) -> tuple[bool, str, int]:
    """(enabled, bind, port) of the local input socket: on, 127.0.0.1, 3030 unless set."""
    options: Any = client.get("socket")
    options = options if isinstance(options, dict) else {}
    port = options.get("port", 3030)
    return options.get("enabled", True) is not False, str(options.get("bind") or "127.0.0.1"), int(port)


def socket_limits(client: JSON, key: str = "socket") -> ListenerLimits:
    """The connection cap and whole-message deadline of a local socket (`client.socket` by default)."""
    options: Any = client.get(key)
    return listener_limits(options if isinstance(options, dict) else {})

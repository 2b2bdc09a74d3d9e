"""The `dashboard` settings, read in one place so they can move into the typed settings later.

```json
"dashboard": {"enabled": true, "refresh": 5, "graph_hours": 3,
              "graphite_url": "http://127.0.0.1:8080", "prometheus_url": "http://127.0.0.1:9090",
              "apis": [{"name": "berlin", "url": "https://sensu-berlin:4567",
                        "user": "admin", "password": "secret", "timeout": 5, "verify_tls": true}]}
```

Every key is optional. `apis` lists other ogi or Sensu 1.x APIs shown beside this one; the
server proxies to them, so their credentials never reach the browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import ConfigError, ConfigErrors, path_index
from pipeline.model import JSON

#: The name the dashboard gives the API that serves it.
LOCAL_SITE = "local"
_SITE_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,62}\Z")


@dataclass(frozen=True)
class Site:
    """Another API shown in the dashboard."""

    name: str
    url: str
    user: str | None = None
    password: str | None = None
    timeout: float = 5.0
    verify_tls: bool = True


@dataclass(frozen=True)
class DashboardConfig:
    """The parsed `dashboard` section."""

    enabled: bool = True
    refresh: float = 5.0
    graph_hours: float = 3.0
    graphite_url: str | None = None
    prometheus_url: str | None = None
    apis: tuple[Site, ...] = ()

    def site(self, name: str) -> Site | None:
        return next((site for site in self.apis if site.name == name), None)


def dashboard_config_errors(settings: JSON) -> list[ConfigError]:
    """Every problem in the `dashboard` section (none when it is absent)."""
    try:
        dashboard_config(settings)
    except ConfigErrors as wrong:
        return wrong.errors
    return []


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.query and not parts.fragment


def dashboard_config(settings: JSON) -> DashboardConfig:
    """Parse the `dashboard` section with defaults; ConfigErrors lists every mistake."""
    section = settings.get("dashboard")
    if section is None:
        return DashboardConfig()
    if not isinstance(section, dict):
        raise ConfigErrors([ConfigError("dashboard", "must be an object", section)])
    errors: list[ConfigError] = []
    known = {"enabled", "refresh", "graph_hours", "graphite_url", "prometheus_url", "apis"}
    for key in section:
        if key not in known:
            errors.append(ConfigError(f"dashboard.{key}", f"is not a dashboard setting; known: {', '.join(sorted(known))}"))
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(ConfigError("dashboard.enabled", "must be true or false", enabled))
    numbers: dict[str, float] = {}
    for key, default, low, high in (("refresh", 5.0, 1, 3600), ("graph_hours", 3.0, 0.1, 24 * 90)):
        value = section.get(key, default)
        if not _number(value) or not low <= value <= high:
            errors.append(ConfigError(f"dashboard.{key}", f"must be a number from {low} to {high}", value))
            value = default
        numbers[key] = float(value)
    urls: dict[str, str | None] = {}
    for key in ("graphite_url", "prometheus_url"):
        value = section.get(key)
        if value is not None and not _http_url(value):
            errors.append(ConfigError(f"dashboard.{key}", "must be an http:// or https:// URL without query", value))
            value = None
        urls[key] = value.rstrip("/") if isinstance(value, str) else None
    sites = _sites(section.get("apis", []), errors)
    if errors:
        raise ConfigErrors(errors)
    return DashboardConfig(bool(enabled), numbers["refresh"], numbers["graph_hours"],
                           urls["graphite_url"], urls["prometheus_url"], tuple(sites))


def _sites(raw: Any, errors: list[ConfigError]) -> list[Site]:
    if not isinstance(raw, list):
        errors.append(ConfigError("dashboard.apis", "must be an array of {name, url, ...} objects", raw))
        return []
    sites: list[Site] = []
    seen = {LOCAL_SITE}
    for i, entry in enumerate(raw):
        path = path_index("dashboard.apis", i)
        if not isinstance(entry, dict):
            errors.append(ConfigError(path, "must be an object with name and url", entry))
            continue
        before = len(errors)
        name = entry.get("name")
        if not isinstance(name, str) or not _SITE_NAME.match(name):
            errors.append(ConfigError(f"{path}.name", "must be a name of letters, digits, '.', '_', '-'", name))
        elif name in seen:
            errors.append(ConfigError(f"{path}.name", "is already taken ('local' is this API)", name))
        url = entry.get("url")
        if not _http_url(url):
            errors.append(ConfigError(f"{path}.url", "must be an http:// or https:// URL without query", url))
        user, password = entry.get("user"), entry.get("password")
        for key, value in (("user", user), ("password", password)):
            if value is not None and not isinstance(value, str):
                errors.append(ConfigError(f"{path}.{key}", "must be a string", "<redacted>" if key == "password" else value))
        if (user is None) != (password is None):
            errors.append(ConfigError(path, "user and password go together: set both for basic auth, or neither"))
        timeout = entry.get("timeout", 5)
        if not _number(timeout) or not 0 < timeout <= 120:
            errors.append(ConfigError(f"{path}.timeout", "must be a number of seconds above 0, at most 120", timeout))
        verify = entry.get("verify_tls", True)
        if not isinstance(verify, bool):
            errors.append(ConfigError(f"{path}.verify_tls", "must be true or false", verify))
        for key in entry:
            if key not in ("name", "url", "user", "password", "timeout", "verify_tls"):
                errors.append(ConfigError(f"{path}.{key}", "is not a site setting; known: name, url, user, password, timeout, verify_tls"))
        if len(errors) == before and isinstance(name, str) and isinstance(url, str):
            seen.add(name)
            sites.append(Site(name, url.rstrip("/"), user, password, float(timeout), verify))
    return sites

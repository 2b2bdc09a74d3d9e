"""Where the ogi API is, and one call to it, for the operator commands (`pipeline/cli/ops.py`).

The address comes from `--api URL`, else `OGI_API_URL`, else the configuration's `api.host`
(or a non-wildcard `api.bind`) and `api.port` read with `-c`/`-d` like the daemons, else
http://127.0.0.1:4567. Credentials: `user:password@` in the URL, else `OGI_API_USER` and
`OGI_API_PASSWORD`, else `api.user` and `api.password`. The stdlib's urllib is the client:
these commands run interactively and should start fast.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.cli.ops_format import first_line

__all__ = ["DEFAULT_URL", "ApiClient", "ApiFailure", "ConfigProblem", "UsageError", "endpoint"]

DEFAULT_URL = "http://127.0.0.1:4567"
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}

class UsageError(Exception):
    """Bad arguments the parser could not catch: exit 2."""


class ApiFailure(Exception):
    """The API answered with an error, or could not be reached: exit 1 with this message."""


class ConfigProblem(Exception):
    """Configuration named with -c/-d could not be read: exit 1, one line per problem."""


@dataclass
class ApiClient:
    """Where the API is and how to call it."""

    url: str
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0
    cafile: str | None = None

    def call(self, method: str, path: str, body: Any = None, not_found: str | None = None) -> bytes:
        """The response body of a successful call; raise ApiFailure otherwise."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": "ogi"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        context = ssl.create_default_context(cafile=self.cafile) if self.url.startswith("https:") else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            raise ApiFailure(self._explain(error, method, path, not_found)) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, socket.timeout | TimeoutError):
                reason = f"no answer within {self.timeout:g}s"
            raise ApiFailure(f"cannot reach the ogi API at {self.url}: {reason}") from None

    def _explain(self, error: urllib.error.HTTPError, method: str, path: str, not_found: str | None) -> str:
        status = f"{error.code} {error.reason}".strip()
        try:
            text = error.read().decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        message = ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            found = next((parsed[k] for k in ("error", "message", "reason") if parsed.get(k)), None)
            message = first_line(found if isinstance(found, str) else json.dumps(found)) if found else ""
        if not message and error.code == 404 and not_found:
            message = not_found
        if not message and error.code == 401:
            message = "the API wants credentials: set api.user and api.password, or OGI_API_USER and OGI_API_PASSWORD"
        where = f"{status} from {method} {path}"
        return f"{message} ({where})" if message else where

    def get(self, path: str, not_found: str | None = None) -> tuple[bytes, Any]:
        body = self.call("GET", path, not_found=not_found)
        try:
            return body, json.loads(body) if body.strip() else None
        except ValueError:
            raise ApiFailure(f"the API at {self.url} answered GET {path} with something that is not JSON") from None


# -- where the API is ----------------------------------------------------------------------------


def _api_settings(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    from pipeline.config.load import default_sources, load_config, split_list
    from pipeline.errors import ConfigErrors

    files, dirs = split_list(getattr(args, "config", None)), split_list(getattr(args, "config_dir", None))
    explicit = bool(files or dirs)
    if not explicit:
        files, dirs = default_sources()
    try:
        settings = load_config(files, dirs, env).settings
    except ConfigErrors as errors:
        if explicit:
            raise ConfigProblem("\n".join(str(e) for e in errors.errors)) from None
        # /etc/sensu files are often readable by the sensu user only; the defaults still work.
        for error in errors.errors:
            print(f"warning: {error} (ignored)", file=sys.stderr)
        return {}
    api = settings.get("api")
    return api if isinstance(api, dict) else {}


def _url_from_settings(api: Mapping[str, Any]) -> str:
    host = api.get("host")
    if not isinstance(host, str) or host in _WILDCARDS:
        bind = api.get("bind")
        host = bind if isinstance(bind, str) and bind not in _WILDCARDS else "127.0.0.1"
    port = api.get("port")
    port = port if isinstance(port, int) and not isinstance(port, bool) else 4567
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    scheme = "https" if api.get("ssl") else "http"
    return f"{scheme}://{host}:{port}"


def endpoint(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ApiClient:
    """The API to call for these arguments; UsageError for a URL that is not one, ConfigProblem for -c/-d."""
    env = os.environ if env is None else env
    url = getattr(args, "api", None) or env.get("OGI_API_URL") or None
    user, password = env.get("OGI_API_USER") or None, env.get("OGI_API_PASSWORD")
    settings: Mapping[str, Any] = {}
    if url is None or user is None or getattr(args, "config", None) or getattr(args, "config_dir", None):
        settings = _api_settings(args, env)
    if url is None:
        url = _url_from_settings(settings)
    if user is None and isinstance(settings.get("user"), str):
        user = settings["user"]
        password = settings.get("password") if isinstance(settings.get("password"), str) else ""
    if "://" not in url:
        url = f"http://{url}"
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise UsageError(f"--api {url!r} has a bad port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--api {url!r} is not an http:// or https:// URL")
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
    netloc = parts.netloc.rpartition("@")[2]
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return ApiClient(base, user, password, getattr(args, "timeout", 10.0), getattr(args, "cacert", None))

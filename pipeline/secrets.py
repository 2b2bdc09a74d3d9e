"""What counts as a secret when settings, clients or events are shown.

Sensu 1.x redacted the values of keys named in its list (`password`, `passwd`, `pass`,
`api_key`, `api_token`, `access_key`, `secret_key`, `private_key`, `secret`) plus a client's own
`redact` keys. ogi matches those names case-insensitively (`Password` too), adds `token`,
`apikey`, `signature`, `routing_key`, `webhook_url` and `community`, replaces the password in any
URL written `scheme://user:password@host`, and redacts credential headers (`Authorization`,
`Cookie`, ...) inside a `headers` object such as a webhook handler's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "REDACTED"

SENSU_KEYS = ("password", "passwd", "pass", "api_key", "api_token", "access_key", "secret_key", "private_key",
              "secret")
KEYS: tuple[str, ...] = (*SENSU_KEYS, "token", "apikey", "signature", "routing_key", "webhook_url", "community")
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"})

_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<password>[^@/\s]*)@")


def redact_url(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` replaced."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{REDACTED}@", text)


def redact(value: Any, extra_keys: Iterable[str] = (), keep: Iterable[str] = ()) -> Any:
    """A deep copy of `value` with secrets replaced by "REDACTED"; keys in `keep` are left as they are."""
    keys = frozenset(k.lower() for k in (*KEYS, *extra_keys) if isinstance(k, str)) - {k.lower() for k in keep}
    return _redact(value, keys)


def _redact(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = key.lower() if isinstance(key, str) else key
            if name in keys:
                out[key] = REDACTED
            elif name == "headers" and isinstance(item, dict):
                out[key] = {h: REDACTED if isinstance(h, str) and (h.lower() in CREDENTIAL_HEADERS or h.lower() in keys)
                            else _redact(v, keys) for h, v in item.items()}
            else:
                out[key] = _redact(item, keys)
        return out
    if isinstance(value, list):
        return [_redact(v, keys) for v in value]
    if isinstance(value, str) and "@" in value and "://" in value:
        return redact_url(value)
    return value


def without_signature(client: Any) -> Any:
    """A client as it may leave the server: its `signature` (a shared secret) removed."""
    if isinstance(client, dict) and "signature" in client:
        return {k: v for k, v in client.items() if k != "signature"}
    return client

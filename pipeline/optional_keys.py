"""Sensu 1.9's rule for optional keys: checked only when set, and `null` counts as not set.

sensu-settings and the client socket validate an optional key with `if check[:key]`, so a
result carrying `"source": null` or `"ttl": null` (pysensu-yelp sends both by default) is
accepted and means "no source", "no ttl". ogi drops those nulls where a result enters (the
3030 socket and the server's intake), so nothing downstream ever sees them.
"""

from __future__ import annotations

from typing import Any

#: The check and result keys Sensu validates only when set; custom keys keep their nulls.
OPTIONAL_CHECK_KEYS = frozenset({
    "status", "executed", "issued", "duration", "source", "ttl", "ttl_status", "timeout", "interval", "cron",
    "handler", "handlers", "subscribers", "standalone", "publish", "handle", "type", "occurrences", "refresh",
    "low_flap_threshold", "high_flap_threshold", "auto_resolve", "force_resolve", "aggregate", "aggregates",
    "truncate_output", "truncate_output_length", "dependencies", "subdue", "hooks", "proxy_requests", "stdin",
    "command", "extension",
})


def without_null_options(check: dict[str, Any]) -> dict[str, Any]:
    """`check` without its optional keys set to null (the same dict when it has none)."""
    if not any(check.get(key, 0) is None for key in OPTIONAL_CHECK_KEYS if key in check):
        return check
    return {key: value for key, value in check.items() if value is not None or key not in OPTIONAL_CHECK_KEYS}

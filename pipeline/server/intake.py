"""Intake of one result: what makes a result unprocessable, and the reasons it is counted under.

`validate_result` raises `Rejected` with a reason (a label of `ogi_results_rejected_total`)
and a text naming the first thing wrong; the result processor (results.py) logs and counts it.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.model import valid_name

#: Every reason a result can be rejected for, the label values of `ogi_results_rejected_total`.
REJECT_REASONS = (
    "too_large",
    "not_json",
    "not_object",
    "no_client",
    "bad_client_name",
    "no_check",
    "bad_check_name",
    "no_output",
    "bad_status",
    "bad_source",
    "bad_signature",
    "too_many_checks",
)


class Rejected(Exception):
    """A result that cannot be processed: `reason` is the counter label, `detail` the log text."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Names already found valid: the same clients and checks send results again and again. Bounded,
# so that a stream of new names cannot grow it without end.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 100_000


def _valid(name: Any) -> bool:
    if isinstance(name, str) and name in _VALID_NAMES:
        return True
    if not valid_name(name):
        return False
    if len(_VALID_NAMES) >= _VALID_NAMES_MAX:
        _VALID_NAMES.clear()
    _VALID_NAMES.add(name)
    return True


def validate_result(result: Any) -> None:
    """Raise `Rejected` naming the first thing wrong with a parsed result.

    A result needs a `client` name, a `check` object whose `name` follows Sensu's name rule,
    a string `output` and an integer `status` (any integer, as Sensu; a bool is not one).
    """
    if not isinstance(result, dict):
        raise Rejected("not_object", f"a result must be a JSON object, got {type(result).__name__}")
    client = result.get("client")
    if not isinstance(client, str) or not client:
        raise Rejected("no_client", f"'client' must be a client name, got {_shown(client)}")
    if not _valid(client):
        raise Rejected("bad_client_name", f"client name {_shown(client)} is not [\\w.-]+")
    check = result.get("check")
    if not isinstance(check, dict):
        raise Rejected("no_check", f"'check' must be an object, got {_shown(check)}")
    name = check.get("name")
    if not _valid(name):
        raise Rejected("bad_check_name", f"check.name {_shown(name)} is not [\\w.-]+")
    output = check.get("output")
    if not isinstance(output, str):
        raise Rejected("no_output", f"check.output must be a string, got {_shown(output)}")
    status = check.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise Rejected("bad_status", f"check.status must be an integer, got {_shown(status)}")
    source = check.get("source")
    if source is not None and not _valid(source):
        raise Rejected("bad_source", f"check.source {_shown(source)} is not [\\w.-]+")

"""/openapi.json refuses what the API refuses: the values a fuzz run over the spec found them disagree on.

Each case is sent to the API and validated against the spec's own schema for it (jsonschema_rs,
the validator schemathesis uses, with the spec's custom formats as the fuzz test generates them):
a request the spec allows must not get a 400, one it forbids must get one. Before the fixes the
spec said `string` for every path parameter, put no bound on `limit`, and called `status: null`
or `subscription: null` invalid although the API takes them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import jsonschema_rs
import pytest

from pipeline.api.openapi import document
from pipeline.api.stashes import path_error
from tests.api.support import Harness

DOC = document()


def _segment(text: str, most: int) -> bool:
    return 1 <= len(text) <= most and text.isprintable() and not set(text) & set("/\\") and text not in (".", "..")


FORMATS = {
    "stash-path": lambda text: path_error(text) is None,
    "stash-segment": lambda text: _segment(text, 1024),
    "silence-id": lambda text: _segment(text, 600),
    "amqp-name": lambda text: 0 < len(text.encode()) <= 255 and not text.startswith("amq."),
}


def _json_schema(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable` as JSON Schema's null type."""
    if isinstance(schema, dict):
        converted = {key: _json_schema(value) for key, value in schema.items() if key != "nullable"}
        return {"anyOf": [{"type": "null"}, converted]} if schema.get("nullable") else converted
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    return schema


def spec_allows(schema: Any, value: Any) -> bool:
    root = {**_json_schema(schema), "components": _json_schema(DOC["components"])}
    return bool(jsonschema_rs.Draft4Validator(root, formats=FORMATS, validate_formats=True).is_valid(value))


def parameter(path: str, method: str, name: str) -> Any:
    item = DOC["paths"][path]
    for found in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        if found["name"] == name:
            return found["schema"]
    raise KeyError(name)


def body_schema(path: str) -> Any:
    return DOC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


# (template, parameter, value): one path parameter filled in, GET.
PATH_CASES = [
    ("/clients/{name}", "name", "web-01"), ("/clients/{name}", "name", "a b"), ("/clients/{name}", "name", "é"),
    ("/clients/{name}", "name", "G\x90"), ("/checks/{name}", "name", "disk"), ("/checks/{name}", "name", "a|b"),
    ("/events/{client}", "client", "web-01"), ("/events/{client}", "client", "web 01"),
    ("/aggregates/{name}", "name", "disk"), ("/aggregates/{name}", "name", "a:b|c"),
    ("/aggregates/{name}", "name", "a b"), ("/aggregates/disk/results/{severity}", "severity", "critical"),
    ("/aggregates/disk/results/{severity}", "severity", "ok"), ("/silenced/checks/{check}", "check", "*"),
    ("/silenced/checks/{check}", "check", "a b"), ("/silenced/subscriptions/{subscription}", "subscription", "linux"),
    ("/silenced/subscriptions/{subscription}", "subscription", "a\x85b"),
    ("/silenced/subscriptions/{subscription}", "subscription", "a\u3000b"),
    ("/silenced/subscriptions/{subscription}", "subscription", "a\ufeffb"),
    ("/silenced/ids/{id}", "id", "linux:*"), ("/silenced/ids/{id}", "id", "a\u200bb"),
    ("/stashes/{path}", "path", "keep"), ("/stashes/{path}", "path", "x" * 1025),
]


@pytest.mark.parametrize(("template", "name", "value"), PATH_CASES)
async def test_a_path_parameter_the_spec_allows_is_never_refused_and_one_it_forbids_is(
    memory_api: Harness, template: str, name: str, value: str,
) -> None:
    spec_path = template.replace("disk/results", "{name}/results")
    allowed = spec_allows(parameter(spec_path, "get", name), value)
    reply = await memory_api.call("GET", template.replace("{" + name + "}", quote(value, safe="")))
    assert (reply.status != 400) == allowed, (value, allowed, reply.status, reply.text)


QUERY_CASES = [
    ("/clients", "limit", "2147483647"), ("/clients", "limit", "2147483648"), ("/events", "offset", "2147483648"),
    ("/aggregates/{name}", "max_age", "2147483647"), ("/health", "backlog", "2147483648"),
]


@pytest.mark.parametrize(("template", "name", "value"), QUERY_CASES)
async def test_a_query_integer_past_the_spec_bound_is_refused_and_one_at_it_is_not(
    memory_api: Harness, template: str, name: str, value: str,
) -> None:
    allowed = spec_allows(parameter(template, "get", name), int(value))
    reply = await memory_api.call("GET", template.replace("{name}", "disk") + "?" + urlencode({name: value}))
    assert (reply.status != 400) == allowed, (value, allowed, reply.status, reply.text)


BODY_CASES: list[tuple[str, dict[str, Any]]] = [
    ("/results", {"name": "x", "output": "o", "status": None}),
    ("/results", {"name": "x", "output": "o", "source": None}),
    ("/results", {"name": "x", "output": "o", "status": 2**31}),
    ("/results", {"name": "x", "output": "o", "truncate_output_length": 2**64 - 1}),
    ("/results", {"name": "x", "output": "o", "truncate_output_length": 2**64}),
    ("/results", {"name": "x", "output": "o", "interval": "60"}),
    ("/clients", {"name": "n-1", "address": "a", "subscriptions": [""]}),
    ("/clients", {"name": "n-1", "address": "a", "keepalives": None}),
    ("/clients", {"name": "n-1", "address": "a", "socket": {"port": 1}}),
    ("/request", {"check": "disk", "subscribers": ["amq.x"]}),
    ("/request", {"check": "disk", "subscribers": ["linux"], "reason": None}),
    ("/request", {"check": "disk", "subscribers": ["é" * 128]}),
    ("/silenced", {"check": "disk", "subscription": None}),
    ("/silenced", {"subscription": "*"}),
    ("/silenced", {"subscription": "*", "check": None}),
    ("/silenced", {"subscription": "*", "check": "ntp"}),
    ("/silenced", {"subscription": "linux", "begin": 253402300800}),
    ("/silenced", {}),
    ("/silenced/clear", {}),
    ("/silenced/clear", {"id": None, "check": "nothing-silenced"}),
    ("/stashes", {"path": "a//b", "content": {}}),
    ("/stashes", {"path": "a/b", "content": {}, "expire": None}),
]


@pytest.mark.parametrize(("path", "body"), BODY_CASES)
async def test_a_body_the_spec_allows_is_never_refused_and_one_it_forbids_is(
    memory_api: Harness, path: str, body: dict[str, Any],
) -> None:
    allowed = spec_allows(body_schema(path), body)
    reply = await memory_api.call("POST", path, body)
    assert (reply.status != 400) == allowed, (json.dumps(body)[:80], allowed, reply.status, reply.text)


def test_a_listing_documents_filter_in_its_description_not_as_a_parameter_sent_without_its_prefix() -> None:
    # An object parameter in form style is sent as `check.status=2`: the API reads `filter.check.status=2`.
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert all(p["name"] != "filter" for p in operation.get("parameters", [])), (method, path)
            if any(p["name"] == "limit" for p in operation.get("parameters", [])):
                assert "filter.<dot.path>=value" in operation["description"], (method, path)

"""`/openapi.json`: an OpenAPI 3.0 description of the API, written by hand.

It is kept honest by tests: every route the app registers is described here and nothing
else (tests/api/test_api_openapi.py), and every status the property tests and the doc examples
see is one listed for that operation. HEAD is served wherever GET is and is not listed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pipeline import __version__, jsoncodec

JSONDoc = dict[str, Any]

_OBJ: JSONDoc = {"type": "object", "additionalProperties": True}
_STR: JSONDoc = {"type": "string"}
_INT: JSONDoc = {"type": "integer"}
_BOOL: JSONDoc = {"type": "boolean"}
_NAME: JSONDoc = {"type": "string", "pattern": r"^[\w.-]+$"}


def _ref(name: str) -> JSONDoc:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(items: JSONDoc) -> JSONDoc:
    return {"type": "array", "items": items}


def _object(required: list[str], **properties: JSONDoc) -> JSONDoc:
    schema: JSONDoc = {"type": "object", "properties": properties, "additionalProperties": True}
    if required:
        schema["required"] = required
    return schema


SCHEMAS: dict[str, JSONDoc] = {
    "Error": _object(["error"], error=_STR),
    "Issued": _object(["issued"], issued=_INT),
    "Client": _object(["name"], name=_NAME, address=_STR, subscriptions=_array(_STR), version=_STR, timestamp=_INT),
    "ClientInput": _object(["name", "address"], name=_NAME, address=_STR, subscriptions=_array(_STR),
                           keepalives=_BOOL),
    "Check": _object(["name"], name=_NAME, command=_STR, subscribers=_array(_STR), interval=_INT),
    "Event": _object(["client", "check"], id=_STR, action=_STR, occurrences=_INT, silenced=_BOOL,
                     silenced_by=_array(_STR), client=_ref("Client"), check=_OBJ),
    "History": _object(["check", "history"], check=_NAME, history=_array(_INT), last_execution=_INT,
                       last_status=_INT, last_result=_OBJ),
    "Result": _object(["client", "check"], client=_NAME, check=_OBJ),
    "ResultInput": _object(["name", "output"], name=_NAME, output=_STR, status=_INT, source=_NAME),
    "RequestInput": _object(["check"], check=_NAME, subscribers=_array(_STR), reason=_STR, creator=_STR),
    "ResolveInput": _object(["client", "check"], client=_NAME, check=_NAME),
    "AggregateName": _object(["name"], name=_STR),
    "Aggregate": _object(["clients", "checks", "results"], clients=_INT, checks=_INT, results=_object(
        ["ok", "warning", "critical", "unknown", "total", "stale"], ok=_INT, warning=_INT, critical=_INT,
        unknown=_INT, total=_INT, stale=_INT)),
    "AggregateClient": _object(["name", "checks"], name=_NAME, checks=_array(_STR)),
    "AggregateCheck": _object(["name", "clients"], name=_NAME, clients=_array(_STR)),
    "AggregateResults": _object(["check", "summary"], check=_NAME, summary=_array(_object(
        ["output", "total", "clients"], output=_STR, total=_INT, clients=_array(_STR)))),
    "Stash": _object(["path", "content", "expire"], path=_STR, content=_OBJ, expire=_INT),
    "StashInput": _object(["path", "content"], path=_STR, content=_OBJ, expire={"type": "integer", "minimum": 1}),
    "StashPath": _object(["path"], path=_STR),
    "Silence": _object(["id"], id=_STR, subscription={"type": "string", "nullable": True},
                       check={"type": "string", "nullable": True}, reason={"type": "string", "nullable": True},
                       creator={"type": "string", "nullable": True}, expire_on_resolve=_BOOL, timestamp=_INT,
                       begin={"type": "integer", "nullable": True}, expire=_INT),
    "SilenceInput": _object([], subscription=_STR, check=_NAME, begin={"type": "integer", "minimum": 0},
                            expire={"type": "integer", "minimum": 1}, reason=_STR, creator=_STR,
                            expire_on_resolve=_BOOL),
    "SilenceClear": _object([], id=_STR, subscription=_STR, check=_NAME),
    "Info": _object(["sensu", "transport", "redis", "servers"], sensu=_OBJ, transport=_OBJ, redis=_OBJ,
                    servers=_array(_OBJ)),
}

_DESCRIPTIONS = {
    200: "OK", 201: "Created", 202: "Accepted: the work is published and happens after the response",
    204: "No Content", 400: "Bad request: the message says what was wrong", 401: "Authentication needed",
    404: "Not found", 412: "Unhealthy: a list of reasons", 413: "The request body is too large",
    500: "Internal error", 501: "Not supported by this store or yet by ogi",
    503: "The store or transport is unavailable", 408: "The request body did not arrive in time",
    415: "The request body is not declared JSON (Content-Type: application/json)",
    421: "The Host header names a host this API does not answer to (api.hosts)",
}
_ALWAYS = (400, 401, 421, 500, 503)


def _content(schema: JSONDoc) -> JSONDoc:
    return {"application/json": {"schema": schema}}


def _op(summary: str, ok: dict[int, JSONDoc | None], *, errors: tuple[int, ...] = (), body: JSONDoc | None = None,
        query: tuple[str, ...] = (), paged: bool = False) -> JSONDoc:
    responses: JSONDoc = {}
    for status, schema in ok.items():
        responses[str(status)] = {"description": _DESCRIPTIONS[status]}
        if schema is not None:
            responses[str(status)]["content"] = _content(schema)
    for status in sorted({*errors, *_ALWAYS, *((408, 413, 415) if body else ())}):
        error: JSONDoc = {"description": _DESCRIPTIONS[status]}
        if status != 401:
            error["content"] = _content(_ref("Error"))
        responses[str(status)] = error
    op: JSONDoc = {"summary": summary, "responses": responses}
    parameters = [_QUERY[name] for name in query]
    if paged:
        parameters += [_QUERY["limit"], _QUERY["offset"], _QUERY["filter"]]
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": _content(body)}
    return op


def _query(name: str, description: str, schema: JSONDoc | None = None) -> JSONDoc:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "integer", "minimum": 0}}


_QUERY = {
    "limit": _query("limit", "Page size; turns on pagination and the X-Pagination header"),
    "offset": _query("offset", "Items to skip (with limit)"),
    "filter": {"name": "filter", "in": "query", "required": False, "style": "form", "explode": True,
               "description": "filter.<dot.path>=value keeps the items whose attribute has that value",
               "schema": {"type": "object", "additionalProperties": {"type": "string"}}},
    "max_age": _query("max_age", "Leave out results executed more than this many seconds ago (counted as stale)"),
    "consumers": _query("consumers", "Minimum consumers of the keepalives and results queues"),
    "messages": _query("messages", "Maximum messages waiting in the keepalives and results queues"),
    "backlog": _query("backlog", "Maximum messages the API has accepted but not yet sent to the transport (default 0)"),
    "redacted": _query("redacted", "false shows secrets", {"type": "string", "enum": ["true", "false"]}),
    "invalidate": _query("invalidate", "true blocks the client's signature",
                         {"type": "string", "enum": ["true", "false"]}),
    "invalidate_expire": _query("invalidate_expire", "Seconds the signature stays blocked",
                                {"type": "integer", "minimum": 1}),
}


def _path_params(path: str) -> list[JSONDoc]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": name, "in": "path", "required": True, "schema": _STR} for name in names]


def _events(kind: str) -> dict[str, JSONDoc]:
    return {
        f"/{kind}": {"get": _op("Every open event", {200: _array(_ref("Event"))}, paged=True)},
        f"/{kind}/{{client}}": {"get": _op("A client's open events", {200: _array(_ref("Event"))}, paged=True)},
        f"/{kind}/{{client}}/{{check}}": {
            "get": _op("One open event", {200: _ref("Event")}, errors=(404,)),
            "delete": _op("Resolve the event: publishes an OK result with force_resolve",
                          {202: _ref("Issued")}, errors=(404,)),
        },
    }


PATHS: dict[str, dict[str, JSONDoc]] = {
    "/info": {"get": _op("Versions, queue figures, store and transport connection, servers", {200: _ref("Info")})},
    "/health": {"get": _op("204 when healthy, else 412 with reasons", {204: None, 412: _array(_STR)},
                           query=("consumers", "messages", "backlog"))},
    "/settings": {"get": _op("The settings, redacted unless redacted=false", {200: _OBJ}, query=("redacted",))},
    "/openapi.json": {"get": _op("This document", {200: _OBJ})},
    "/clients": {
        "get": _op("Every client", {200: _array(_ref("Client"))}, paged=True),
        "post": _op("Create or replace a client (keepalives default to false)",
                    {201: _object(["name"], name=_NAME)}, body=_ref("ClientInput")),
    },
    "/clients/{name}": {
        "get": _op("One client", {200: _ref("Client")}, errors=(404,)),
        "delete": _op("Resolve the client's events, then delete it with its results and history",
                      {202: _ref("Issued")}, errors=(404,), query=("invalidate", "invalidate_expire")),
    },
    "/clients/{name}/history": {"get": _op("Each check's recent statuses on the client",
                                           {200: _array(_ref("History"))}, paged=True)},
    "/checks": {"get": _op("The check definitions, standalone ones left out", {200: _array(_ref("Check"))},
                           paged=True)},
    "/checks/{name}": {
        "get": _op("One check definition", {200: _ref("Check")}, errors=(404,)),
        "delete": _op("Forget the check's results and history on every client", {202: _ref("Issued")},
                      errors=(404,)),
    },
    "/request": {"post": _op("Publish a check request to the check's subscribers now", {202: _ref("Issued")},
                             errors=(404, 501), body=_ref("RequestInput"))},
    **_events("events"),
    **_events("incidents"),
    "/resolve": {"post": _op("Resolve an event", {202: _ref("Issued")}, errors=(404,), body=_ref("ResolveInput"))},
    "/results": {
        "get": _op("Every client's last result of each check, with history", {200: _array(_ref("Result"))},
                   paged=True),
        "post": _op("Publish a check result (client sensu-api, or its source)", {202: _ref("Issued")},
                    body=_ref("ResultInput")),
    },
    "/results/{client}": {"get": _op("A client's last results", {200: _array(_ref("Result"))}, errors=(404,),
                                     paged=True)},
    "/results/{client}/{check}": {
        "get": _op("One last result with history", {200: _ref("Result")}, errors=(404,)),
        "delete": _op("Forget one last result and its history", {204: None}, errors=(404,)),
    },
    "/aggregates": {"get": _op("Every aggregate", {200: _array(_ref("AggregateName"))}, paged=True)},
    "/aggregates/{name}": {
        "get": _op("Counts of the members' last results", {200: _ref("Aggregate")}, errors=(404,),
                   query=("max_age",)),
        "delete": _op("Forget the aggregate", {204: None}, errors=(404,)),
    },
    "/aggregates/{name}/clients": {"get": _op("The members by client", {200: _array(_ref("AggregateClient"))},
                                              errors=(404,), paged=True)},
    "/aggregates/{name}/checks": {"get": _op("The members by check", {200: _array(_ref("AggregateCheck"))},
                                             errors=(404,), paged=True)},
    "/aggregates/{name}/results/{severity}": {"get": _op(
        "Results of one severity (warning, critical, unknown) by check and output",
        {200: _array(_ref("AggregateResults"))}, errors=(404,), query=("max_age",), paged=True)},
    "/stashes": {
        "get": _op("Every stash, expire as seconds left (-1: none)", {200: _array(_ref("Stash"))}, paged=True),
        "post": _op("Store a stash", {201: _ref("StashPath")}, body=_ref("StashInput")),
    },
    "/stashes/{path}": {
        "get": _op("A stash's content", {200: _OBJ}, errors=(404,)),
        "post": _op("Store the body as the stash's content", {201: _ref("StashPath")}, body=_OBJ),
        "delete": _op("Delete a stash", {204: None}, errors=(404,)),
    },
    "/stash/{path}": {  # Sensu 1.9's `^/stash(?:es)?/`: the same stash, as sensu-plugin asks for it
        "get": _op("A stash's content (as /stashes/{path})", {200: _OBJ}, errors=(404,)),
        "post": _op("Store the body as the stash's content (as /stashes/{path})", {201: _ref("StashPath")},
                    body=_OBJ),
        "delete": _op("Delete a stash (as /stashes/{path})", {204: None}, errors=(404,)),
    },
    "/silenced": {
        "get": _op("Every silence entry, expire as seconds left (-1: none)", {200: _array(_ref("Silence"))},
                   paged=True),
        "post": _op("Create or replace a silence entry", {201: None}, body=_ref("SilenceInput")),
    },
    "/silenced/ids/{id}": {"get": _op("One silence entry", {200: _ref("Silence")}, errors=(404,))},
    "/silenced/subscriptions/{subscription}": {"get": _op(
        "The entries of one subscription", {200: _array(_ref("Silence"))}, paged=True)},
    "/silenced/checks/{check}": {"get": _op("The entries of one check", {200: _array(_ref("Silence"))},
                                            paged=True)},
    "/silenced/clear": {"post": _op("Delete a silence entry", {204: None}, errors=(404,),
                                    body=_ref("SilenceClear"))},
}


def document() -> JSONDoc:
    """The OpenAPI document."""
    paths: JSONDoc = {}
    for path, operations in PATHS.items():
        item: JSONDoc = dict(operations)
        parameters = _path_params(path)
        if parameters:
            item["parameters"] = parameters
        paths[path] = item
    return {
        "openapi": "3.0.3",
        "info": {"title": "ogi API (Sensu 1.x compatible)", "version": __version__},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}, {}],
    }


_SERVED = jsoncodec.dumps(document())


async def serve_openapi(request: web.Request) -> web.Response:
    return web.Response(body=_SERVED, content_type="application/json")

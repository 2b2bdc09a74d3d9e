"""What every API handler shares: the `Api` context, JSON responses, errors, bodies, listings.

A handler validates its whole input before it writes anything (raising `ApiError`, which the
envelope middleware turns into `{"error": "..."}` with the status), so a rejected request never
leaves a partial write behind.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pipeline import jsoncodec
from pipeline.config.api import ApiConfig
from pipeline.config.rules import STR_LIST
from pipeline.model import JSON, Clock, valid_name
from pipeline.store.base import Store
from pipeline.transport.base import Transport

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")

#: Largest integer accepted for an expiry, a begin time or a page size: 2^31 - 1.
MAX_INT = 2**31 - 1


@dataclass
class Api:
    """The API's dependencies; the API holds no state of its own beyond background deletions."""

    settings: Settings
    store: Store
    transport: Transport
    clock: Clock
    config: ApiConfig
    #: Seconds between the checks for resolved events before a client is deleted (Sensu: 1 s).
    delete_poll_interval: float = 1.0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def now(self) -> int:
        return int(self.clock())

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run work that outlives the response (client deletion); it is cancelled at shutdown."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for the background work started so far."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def checks(self) -> dict[str, Any]:
        """Each check's definition as written, by name."""
        return {name: check.raw for name, check in self.settings.checks.items()}


API = web.AppKey("api", Api)


class ApiError(Exception):
    """A request the API refuses: `status` and the message sent as `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def shown(value: Any, limit: int = 60) -> str:
    """A value as JSON for an error message, shortened."""
    text = jsoncodec.dumps(value).decode("utf-8", "replace")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=jsoncodec.dumps(data), status=status, headers=headers, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return respond({"error": message}, status)


def no_content() -> web.Response:
    return web.Response(status=204)


def issued(api: Api) -> web.Response:
    """Sensu's 202 `{"issued": now}`."""
    return respond({"issued": api.now()}, 202)


# -- bodies ---------------------------------------------------------------------------------

async def read_json(request: web.Request) -> Any:
    """The request body parsed as JSON; ApiError 400 when it is empty or not JSON."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the request body exceeds {request.app[API].config.max_body_size} bytes") from None
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if not body.strip():
        raise bad_request("the request body is empty; it must be a JSON object")
    try:
        return jsoncodec.loads(body)
    except (ValueError, RecursionError) as error:
        raise bad_request(f"the request body is not JSON: {str(error)[:120]}") from None


async def read_object(request: web.Request) -> JSON:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise bad_request(f"the request body must be a JSON object, got {json_kind(data)}")
    return data


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# -- fields of a body ------------------------------------------------------------------------

def name_field(data: JSON, key: str, required: bool = True) -> str | None:
    """A check or client name (`[\\w.-]+`)."""
    value = data.get(key)
    if value is None and not required:
        return None
    if not valid_name(value):
        raise bad_request(f"'{key}' must be a name of letters, digits, '_', '.' and '-', got {shown(value)}")
    return str(value)


def string_field(data: JSON, key: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{key}' must be a string, got {shown(value)}")
    return value


def int_field(data: JSON, key: str, minimum: int, maximum: int = MAX_INT) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"'{key}' must be an integer, got {shown(value)}")
    if not minimum <= value <= maximum:
        raise bad_request(f"'{key}' must be between {minimum} and {maximum}, got {value}")
    return value


def bool_field(data: JSON, key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise bad_request(f"'{key}' must be true or false, got {shown(value)}")
    return value


def string_list_field(data: JSON, key: str) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise bad_request(f"'{key}' must be an array of non-empty strings, got {shown(value)}")
    return list(value)


def check_rules(data: dict[str, Any], rules: dict[str, Any]) -> None:
    """Check the known keys of a body against validate.py's rules (custom keys pass)."""
    for key, rule in rules.items():
        if key not in data:
            continue
        value = data[key]
        if rule == STR_LIST:
            if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
                raise bad_request(f"'{key}' must be an array of non-empty strings, got {shown(value)}")
        elif not rule[0](value):
            raise bad_request(f"'{key}' {rule[1]}, got {shown(value)}")


_LEADING_INT = re.compile(r"^\s*[-+]?\d+")


def history_status(text: str) -> int:
    """A history entry (a status as a string) as an integer, read the way Ruby's to_i reads it."""
    found = _LEADING_INT.match(text)
    return int(found.group()) if found else 0


# -- names in the path -----------------------------------------------------------------------

def path_name(request: web.Request, key: str, what: str) -> str:
    """A client or check name from the URL; 400 when it is not `[\\w.-]+`."""
    value = request.match_info[key]
    if not valid_name(value):
        raise bad_request(f"{what} name {shown(value)} must contain only letters, digits, '_', '.' and '-'")
    return value


# -- query parameters -------------------------------------------------------------------------

_DIGITS = re.compile(r"^[0-9]{1,12}\Z")


def int_query(request: web.Request, key: str, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
    """A non-negative integer query parameter, None when absent; 400 when it is anything else."""
    value = request.query.get(key)
    if value is None:
        return None
    if not _DIGITS.match(value) or not minimum <= int(value) <= maximum:
        raise bad_request(f"query parameter '{key}' must be an integer from {minimum} to {maximum}, got {shown(value)}")
    return int(value)


def bool_query(request: web.Request, key: str) -> bool:
    value = request.query.get(key)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise bad_request(f"query parameter '{key}' must be true or false, got {shown(value)}")


def _filter_text(value: Any) -> str:
    # Compared as text, the way a query string writes a value: 2, true, web-01.
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return jsoncodec.dumps(value).decode()


def _filters(request: web.Request) -> list[tuple[list[str], str]]:
    filters: list[tuple[list[str], str]] = []
    for key, value in request.query.items():
        if not key.startswith("filter."):
            continue
        path = key[len("filter."):].split(".")
        if not all(path):
            raise bad_request(f"query parameter {shown(key)} must name an attribute path, as filter.check.status=2")
        filters.append((path, value))
    return filters


def _dig(item: Any, path: list[str]) -> tuple[bool, Any]:
    for part in path:
        if isinstance(item, dict) and part in item:
            item = item[part]
        else:
            return False, None
    return True, item


def wants_filter(request: web.Request) -> bool:
    return any(key.startswith("filter.") for key in request.query)


def raw_listing(request: web.Request, texts: list[bytes]) -> web.Response:
    """A JSON array made of items that are JSON text already, paginated as `listing` (no filters)."""
    limit = int_query(request, "limit")
    offset = int_query(request, "offset") or 0
    headers = None
    if limit is not None:
        headers = {"X-Pagination": jsoncodec.dumps({"limit": limit, "offset": offset, "total": len(texts)}).decode()}
        texts = texts[offset: offset + limit]
    return web.Response(body=b"[" + b",".join(texts) + b"]", headers=headers, content_type="application/json")


def listing(request: web.Request, items: list[Any]) -> web.Response:
    """A JSON array with `filter.<path>=value` filtering and `limit`/`offset` pagination.

    Filtering comes first, so `X-Pagination.total` counts the matching items. As in Sensu,
    `limit` turns pagination on; `offset` alone changes nothing.
    """
    filters = _filters(request)
    limit = int_query(request, "limit")
    offset = int_query(request, "offset") or 0
    if filters:
        kept = []
        for item in items:
            for path, wanted in filters:
                found, value = _dig(item, path)
                if not found or _filter_text(value) != wanted:
                    break
            else:
                kept.append(item)
        items = kept
    headers = None
    if limit is not None:
        headers = {"X-Pagination": jsoncodec.dumps({"limit": limit, "offset": offset, "total": len(items)}).decode()}
        items = items[offset: offset + limit]
    return respond(items, headers=headers)

"""The API's middlewares, outermost first: envelope, auth, path hygiene, body cap.

- envelope: `X-Request-ID` (the caller's, if it sent a sane one, else a new uuid), CORS
  headers and, with `api.close_connections`, `Connection: close` on every response; OPTIONS
  answered 200 without auth; every error turned into `{"error": "..."}` with its status (a 401
  has no body), an unexpected exception into a 500 that names the request id and nothing of
  the traceback, an unreachable store into a 503.
- auth: basic auth when `api.user` and `api.password` are set, compared in constant time.
- path hygiene: an encoded `/` or `\\`, a NUL or other control character, a `.`/`..` segment or
  percent-encoding that is not UTF-8 in the path is refused with 400 before any handler runs.
- body cap: a declared `Content-Length` above `api.max_body_size` is refused with 413 before
  the body is read (a chunked body is cut off by aiohttp's own limit, set to the same size).
- browser safety: a `Host` the API does not answer to is refused with 421 (DNS rebinding), and
  a body that is not declared JSON with 415 (a page can send `text/plain` to any origin without
  asking; it cannot send `application/json` without CORS allowing it).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from urllib.parse import unquote_to_bytes

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pipeline.api.http import API, ApiError, error_response, shown
from pipeline.basicauth import authorized
from pipeline.config.api import ApiConfig
from pipeline.store import base as store_base

log = logging.getLogger("ogi")

_REQUEST_ID = re.compile(r"^[\w.:@/+=-]{1,200}\Z", re.ASCII)
REALM = 'Basic realm="Restricted Area"'
#: The store's "cannot reach it now" error, which becomes a 503 (none for a store that has no such error).
UNAVAILABLE: tuple[type[BaseException], ...] = tuple(
    found for found in (getattr(store_base, "StoreUnavailable", None),) if isinstance(found, type)
)


def request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-ID")
    return given if given is not None and _REQUEST_ID.match(given) else str(uuid.uuid4())


def _http_error(request: web.Request, error: web.HTTPException) -> web.StreamResponse:
    if error.status < 400:  # a redirect from the trailing-slash normalizer
        return web.Response(status=error.status, headers=error.headers)
    if error.status == 404:
        message = f"no such endpoint: {request.method} {request.path}"
    elif error.status == 405:
        allowed = error.headers.get("Allow", "")
        message = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    elif error.status == 413:
        message = f"the request body exceeds {request.app[API].config.max_body_size} bytes"
    else:
        message = error.reason
    response = error_response(error.status, message)
    if "Allow" in error.headers:
        response.headers["Allow"] = error.headers["Allow"]
    return response


def envelope(config: ApiConfig) -> Middleware:
    cors = {f"Access-Control-Allow-{key}": value for key, value in config.cors.items()}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = request_id(request)
        response: web.StreamResponse
        try:
            response = web.Response(status=200) if request.method == "OPTIONS" else await handler(request)
        except ApiError as error:
            if error.status == 401:
                response = web.Response(status=401, headers={"WWW-Authenticate": REALM})
            else:
                response = error_response(error.status, error.message)
        except web.HTTPException as error:
            response = _http_error(request, error)
        except UNAVAILABLE as error:
            log.warning("API request failed: the store is unavailable",
                        extra={"fields": {"request_id": rid, "error": str(error)}})
            response = error_response(503, f"the store is unavailable: {error}")
        except (ConnectionError, TimeoutError) as error:
            log.warning("API request failed: a connection failed",
                        extra={"fields": {"request_id": rid, "error": repr(error)}})
            response = error_response(503, f"a backend connection failed: {type(error).__name__}")
        except Exception:
            log.exception("API request failed", extra={"fields": {"request_id": rid, "path": request.path}})
            response = error_response(500, f"internal error; the server log has the details under request id {rid}")
        response.headers["X-Request-ID"] = rid
        response.headers.update(cors)
        if config.close_connections or response.status == 413:
            # After a 413 the unread body is still on the wire: the connection cannot be reused.
            response.headers["Connection"] = "close"
            response.force_close()
        return response

    return middleware


def basic_auth(config: ApiConfig) -> Middleware:
    user = (config.user or "").encode()
    password = (config.password or "").encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "OPTIONS" and not authorized(request.headers.get("Authorization", ""), user, password):
            raise ApiError(401, "")
        return await handler(request)

    return middleware


def path_problem(raw_path: str) -> str | None:
    """Why a raw request path is refused, or None when it is fine."""
    path = raw_path.split("?", 1)[0]
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered:
        return "an encoded '/' or '\\' in the path is not allowed"
    try:
        decoded = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        return "the path's percent-encoding is not UTF-8"
    if any(ord(char) < 32 or char == "\x7f" for char in decoded):
        return "the path contains a control character"
    if any(segment in (".", "..") for segment in decoded.split("/")):
        return "the path contains a '.' or '..' segment"
    return None


@web.middleware
async def path_hygiene(request: web.Request, handler: Handler) -> web.StreamResponse:
    problem = path_problem(request.raw_path)
    if problem is not None:
        raise ApiError(400, f"{problem}: {shown(request.raw_path.split('?', 1)[0], 120)}")
    return await handler(request)


def body_cap(config: ApiConfig) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > config.max_body_size:
            raise ApiError(413, f"the request body of {length} bytes exceeds {config.max_body_size} bytes")
        return await handler(request)

    return middleware


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_ANY = frozenset({"0.0.0.0", "::", ""})


def _host_name(header: str) -> str:
    """The name in a Host header, without its port and IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def allowed_hosts(config: ApiConfig) -> frozenset[str] | None:
    """The host names the API answers to, or None for any (bound to every address, no `hosts`)."""
    bind = config.bind.lower()
    if bind in _ANY and not config.hosts:
        return None
    names = set(config.hosts)
    if bind not in _ANY:
        names.add(bind.strip("[]"))
    if config.loopback_only or bind in _ANY:
        names |= _LOOPBACK_NAMES
    return frozenset(names)


def _loopback_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_check(config: ApiConfig) -> Middleware | None:
    allowed = allowed_hosts(config)
    if allowed is None:
        return None
    loopback = config.loopback_only

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = _host_name(request.headers.get("Host", ""))
        if name not in allowed and not (loopback and _loopback_address(name)):
            raise ApiError(421, f"this API does not answer to the host {shown(name, 80)!s}; "
                                "add it to api.hosts")
        return await handler(request)

    return middleware


def _json_type(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/")
                                                    and content_type.endswith("+json"))


@web.middleware
async def json_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.body_exists and not _json_type(request.content_type):
        raise ApiError(415, f"a request body must be JSON, sent with Content-Type: application/json "
                            f"(got {shown(request.content_type, 80)})")
    return await handler(request)

"""`/stashes`: JSON objects kept under a path, optionally expiring.

`POST /stashes` takes `{path, content, expire?}`; `POST /stashes/PATH` takes the content as the
body and keeps it without expiry. A listing shows `expire` as the seconds left, -1 for none.
A path is 1 to 1024 printable characters in `/`-separated segments, none of them empty, `.`
or `..`.
"""

from __future__ import annotations

from aiohttp import web

from pipeline.api.http import (
    API,
    bad_request,
    int_field,
    listing,
    no_content,
    not_found,
    read_object,
    respond,
    shown,
)
from pipeline.model import JSON

MAX_PATH = 1024


def path_error(path: object) -> str | None:
    """Why `path` cannot name a stash, or None."""
    if not isinstance(path, str) or not path:
        return f"'path' must be a non-empty string, got {shown(path)}"
    if len(path) > MAX_PATH:
        return f"a stash path is at most {MAX_PATH} characters, got {len(path)}"
    if not path.isprintable():
        return f"a stash path must not contain control or non-printable characters, got {shown(path)}"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return f"a stash path is segments separated by '/', none empty, '.' or '..', got {shown(path)}"
    return None


def _path(request: web.Request) -> str:
    path = request.match_info["path"]
    problem = path_error(path)
    if problem is not None:
        raise bad_request(problem)
    return path


def _content(data: JSON, key: str = "content") -> JSON:
    content = data.get(key)
    if not isinstance(content, dict):
        raise bad_request(f"'{key}' must be a JSON object, got {shown(content)}")
    return content


async def list_stashes(request: web.Request) -> web.Response:
    return listing(request, await request.app[API].store.list_stashes())


async def create_stash(request: web.Request) -> web.Response:
    api = request.app[API]
    data = await read_object(request)
    path = data.get("path")
    problem = path_error(path)
    if problem is not None:
        raise bad_request(problem)
    content = _content(data)
    expire = int_field(data, "expire", 1)
    await api.store.put_stash(str(path), content, expire)
    return respond({"path": path}, 201)


async def get_stash(request: web.Request) -> web.Response:
    path = _path(request)
    content = await request.app[API].store.get_stash(path)
    if content is None:
        raise not_found(f"no stash at {path}")
    return respond(content)


async def put_stash(request: web.Request) -> web.Response:
    api = request.app[API]
    path = _path(request)
    content = await read_object(request)
    await api.store.put_stash(path, content)
    return respond({"path": path}, 201)


async def delete_stash(request: web.Request) -> web.Response:
    api = request.app[API]
    path = _path(request)
    if await api.store.get_stash(path) is None:
        raise not_found(f"no stash at {path}")
    await api.store.delete_stash(path)
    return no_content()

"""`/ui/sites/{site}/{path}`: the dashboard's way to the other APIs named in `dashboard.apis`.

The server adds the site's credentials, so the browser never holds them. A site that does not
answer within its `timeout` gives a 504 naming it; the page marks that site's rows stale and
keeps the others. State-changing calls must carry `X-Requested-With` and a JSON body, which a
cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import aiohttp
from aiohttp import web

from pipeline.api.http import ApiError, error_response
from pipeline.config.dashboard import DashboardConfig

log = logging.getLogger("ogi")

#: Largest answer read from a site (10,000 events with long outputs fit).
MAX_ANSWER = 256 * 1024 * 1024
SESSION = web.AppKey("dashboard_session", aiohttp.ClientSession)


async def session_context(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(auto_decompress=True) as session:
        app[SESSION] = session
        yield


def require_page_call(request: web.Request) -> None:
    """Refuse a state-changing call a cross-site form or image could have made."""
    if request.method in ("GET", "HEAD"):
        return
    if not request.headers.get("X-Requested-With"):
        raise ApiError(403, "a state-changing dashboard call needs the X-Requested-With header")
    if request.body_exists and request.content_type != "application/json":
        raise ApiError(415, "a dashboard call's body must be JSON (Content-Type: application/json)")


def proxy_handler(config: DashboardConfig) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["site"]
        site = config.site(name)
        if site is None:
            raise ApiError(404, f"no site named {name!r} in dashboard.apis")
        require_page_call(request)
        url = f"{site.url}/{quote(request.match_info['path'], safe='/:@!$&()*+,;=-._~')}"
        body = await request.read() if request.body_exists else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if site.user is not None and site.password is not None:
            token = base64.b64encode(f"{site.user}:{site.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            async with request.app[SESSION].request(
                request.method, url, params=request.query, data=body, headers=headers,
                timeout=aiohttp.ClientTimeout(total=site.timeout), ssl=site.verify_tls,
                allow_redirects=False,
            ) as answer:
                content = await answer.content.read(MAX_ANSWER)
                kind = answer.headers.get("Content-Type", "application/json")
                status = answer.status
        except TimeoutError:
            return error_response(504, f"site {name} did not answer within {site.timeout:g} s")
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as error:
            log.warning("dashboard site unreachable", extra={"fields": {"site": name, "error": repr(error)}})
            return error_response(502, f"site {name} is unreachable: {type(error).__name__}: {error}")
        if status == 401:
            return error_response(502, f"site {name} refused the credentials in dashboard.apis")
        return web.Response(status=status, body=content, headers={"Content-Type": kind})

    return handler

"""Proxy check requests (`proxy_requests`): one request per registered client that matches.

A check with `proxy_requests: {client_attributes, splay (false), splay_coverage (90)}` is not
sent to its subscribers once but once per client in the registry whose attributes match
`client_attributes`, with the same matching as settings filters (pipeline/chain/gates.py:
nested objects, Ruby-like equality, `eval:` with `value` the client's attribute). Each request
has its tokens filled in from that client (a client lacking a token's value is logged and
skipped) and `source` set to the client's name unless the check sets one, so the agent that
runs it reports for the proxy client (a switch, a URL, a database). An empty
`client_attributes` matches nothing, as in Sensu.

With `splay`, the requests are spread over `splay_coverage` percent of the check's interval
(60 s for a cron check), so 10,000 matched devices are not polled in the same second; without
it they go out back to back, yielding to the event loop every `BATCH` requests. Either way
publishing runs in a task of its own: the scheduler, the API and result processing go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pipeline import jsoncodec
from pipeline.chain.gates import AttributeFilter
from pipeline.expr.tokens import substitute
from pipeline.extension import Context
from pipeline.model import JSON, Check, Client, is_number
from pipeline.store.base import Store
from pipeline.transport.base import Transport
from pipeline.transport.pipes import request_pipe

log = logging.getLogger("ogi")

DEFAULT_SPLAY_COVERAGE = 90
#: The interval a cron check's requests are splayed over, seconds.
CRON_SPLAY_INTERVAL = 60
#: Requests published between two yields to the event loop when not splayed.
BATCH = 100

Sleep = Callable[[float], Awaitable[None]]


def matching_clients(clients: list[Client], attributes: JSON) -> list[Client]:
    """The clients whose attributes match `attributes` (none for `{}`)."""
    if not attributes:
        return []
    matcher = AttributeFilter("proxy_requests", {"attributes": attributes}, Context())
    return [client for client in clients if matcher.matches(client)]


def proxy_request(request: JSON, client: Client) -> JSON | None:
    """`request` (a check request payload) for one proxy client; None when a token has no value."""
    substituted, unmatched = substitute(request, client)
    if unmatched:
        log.warning("proxy check request not published: unmatched client tokens",
                    extra={"fields": {"check": request.get("name"), "client": client.get("name"),
                                      "tokens": unmatched}})
        return None
    if not substituted.get("source"):
        substituted["source"] = client["name"]
    return dict(substituted)


def splay_step(check: Check, matched: int) -> float:
    """Seconds between two clients' requests: coverage% of the interval spread over them."""
    proxy = check.get("proxy_requests")
    if matched <= 1 or not isinstance(proxy, dict) or proxy.get("splay") is not True:
        return 0.0
    interval = check.get("interval")
    interval = interval if is_number(interval) and interval > 0 else CRON_SPLAY_INTERVAL
    coverage = proxy.get("splay_coverage", DEFAULT_SPLAY_COVERAGE)
    coverage = coverage if is_number(coverage) and 0 < coverage < 100 else DEFAULT_SPLAY_COVERAGE
    return float(interval) * coverage / 100.0 / matched


class ProxyRequests:
    """Publishes proxy check requests in the background; `close()` stops what is still going out."""

    def __init__(self, store: Store, transport: Transport, sleep: Sleep = asyncio.sleep) -> None:
        self.store = store
        self.transport = transport
        self.sleep = sleep
        self.published = 0
        self._tasks: set[asyncio.Task[int]] = set()

    def publish(self, check: Check, request: JSON) -> asyncio.Task[int]:
        """Start publishing `request` (the check's request payload) for each matching client."""
        task = asyncio.create_task(self.publish_all(check, request), name=f"proxy_requests:{request.get('name')}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def publish_all(self, check: Check, request: JSON) -> int:
        """Publish to every matching client, splayed; the number published."""
        proxy = check.get("proxy_requests")
        attributes = proxy.get("client_attributes") if isinstance(proxy, dict) else None
        if not isinstance(attributes, dict):
            return 0
        matched = matching_clients(await self.store.list_clients(), attributes)
        step = splay_step(check, len(matched))
        targets = [request_pipe(s) for s in dict.fromkeys(check.get("subscribers") or []) if isinstance(s, str) and s]
        sent = 0
        for i, client in enumerate(matched):
            if i:
                if step:
                    await self.sleep(step)
                elif i % BATCH == 0:
                    await asyncio.sleep(0)
            payload = proxy_request(request, client)
            if payload is None:
                continue
            body = jsoncodec.dumps(payload)
            try:
                for pipe, kind in targets:
                    await self.transport.publish(pipe, body, kind)
            except Exception as error:  # the broker went away: the next tick tries again
                log.error("proxy check requests stopped", extra={"fields": {
                    "check": request.get("name"), "published": sent, "error": repr(error)}})
                break
            sent += 1
        self.published += sent
        log.debug("proxy check requests published", extra={"fields": {
            "check": request.get("name"), "clients": sent, "matched": len(matched)}})
        return sent

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

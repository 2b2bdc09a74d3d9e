"""The `webhook` handler: an HTTP POST per event, in process, over kept connections.

`format` chooses the body (`pipeline/notify/formats.py`): `json` (default) posts the payload
(the event JSON, or what the route's mutator made of it), `slack`, `mattermost` and
`pagerduty` post the message those services document, and a `body` (a JSON value whose
strings are templates over the event's fields) posts exactly that. `headers` are sent with
every request (`Content-Type: application/json` unless set).

Each attempt may take `request_timeout` seconds (default 10). A 5xx or 429 answer, a timeout
or a connection error is retried up to `retries` times (default 3) after `backoff` seconds,
doubling each time (default 1: 1 s, 2 s, 4 s); a 4xx other than 429 is not, since sending the
same request again cannot change that answer. The route's deadline (the handler's `timeout`
plus grace, else 60 s) bounds the whole. Sends, failures (by reason) and retries are counted
in `ogi_notifications_sent_total`, `ogi_notifications_failed_total` and
`ogi_notifications_retried_total`.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import aiohttp
import orjson

from pipeline.extension import Context, DefinitionError, Handler
from pipeline.model import JSON, Event
from pipeline.notify import formats, options
from pipeline.notify.counters import NotifyCounters
from pipeline.notify.template import TemplateError, render_tree

COMMON_KEYS = frozenset({"url", "format", "headers", "body", "request_timeout", "retries", "backoff", "tls_verify"})
RETRY_STATUSES = frozenset({429})
#: Bytes of an error answer quoted in the log line.
QUOTE = 300


class WebhookFailed(RuntimeError):
    """The event was not delivered; `reason` is the counter's label."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Retry(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class WebhookHandler(Handler):
    """POSTs each event to `url`, in the shape `format` or `body` says."""

    type_name: ClassVar[str] = "webhook"
    allowed_keys: ClassVar[frozenset[str] | None] = COMMON_KEYS.union(*formats.PRESET_KEYS.values())

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        self.format = definition.get("format", "json")
        if self.format not in formats.PRESETS:
            raise DefinitionError("format", f"must be one of {', '.join(formats.PRESETS)}", self.format)
        foreign = sorted((set(definition) - COMMON_KEYS - self.common_keys) - formats.PRESET_KEYS[self.format])
        if foreign:
            raise DefinitionError(foreign[0], f"is not read by the {self.format} format", definition[foreign[0]])
        default_url = formats.PAGERDUTY_URL if self.format == "pagerduty" else None
        self.url = options.text(definition, "url", default_url)
        if not self.url.startswith(("http://", "https://")):
            raise DefinitionError("url", "must be an http:// or https:// URL", self.url)
        headers = definition.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise DefinitionError("headers", "must be an object of header names to strings", headers)
        self.headers = {"Content-Type": "application/json", **headers}
        self.body = options.template_tree(definition, "body")
        if self.body is not None and self.format != "json":
            raise DefinitionError("body", f"is for the json format; the {self.format} format makes its own body")
        self.text = options.template(definition, "text", formats.DEFAULT_TEXT)
        self.routing_key = (options.text(definition, "routing_key") if self.format == "pagerduty" else "")
        self.extras = {key: definition.get(key) for key in ("channel", "username", "icon_emoji", "icon_url")}
        self.request_timeout = options.number(definition, "request_timeout", 10.0, minimum=0.1)
        self.retries = options.integer(definition, "retries", 3)
        self.backoff = options.number(definition, "backoff", 1.0)
        self.tls_verify = options.flag(definition, "tls_verify", True)
        self.counters = NotifyCounters.of(context.metrics)
        self._session: aiohttp.ClientSession | None = None

    def request_body(self, event: Event, payload: bytes) -> bytes:
        """The bytes to POST for an event (TemplateError when a template field is missing)."""
        if self.format == "slack" or self.format == "mattermost":
            return orjson.dumps(formats.chat_message(event, self.text, self.extras))
        if self.format == "pagerduty":
            return orjson.dumps(formats.pagerduty_event(event, self.routing_key, self.text))
        if self.body is not None:
            return orjson.dumps(render_tree(self.body, event))
        return payload

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # one session per handler: its connection pool keeps connections to the endpoint open
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.tls_verify, limit=20),
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            )
        return self._session

    async def handle(self, event: Event, payload: bytes) -> None:
        try:
            body = self.request_body(event, payload)
        except TemplateError as err:
            self._fail("template")
            raise WebhookFailed(f"webhook handler {self.name}: {err}", "template") from err
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                await self._post(body)
            except _Retry as retry:
                if attempt == self.retries:
                    self._fail(retry.reason)
                    raise WebhookFailed(
                        f"webhook handler {self.name}: {self.url} failed after {attempt + 1} attempts: {retry}",
                        retry.reason,
                    ) from None
                self.counters.retried.labels(self.name, "webhook").inc()
                await asyncio.sleep(delay)
                delay *= 2
            else:
                self.counters.sent.labels(self.name, "webhook").inc()
                return

    async def _post(self, body: bytes) -> None:
        try:
            async with self._client().post(self.url, data=body, headers=self.headers) as response:
                if response.status < 300:
                    await response.read()
                    return
                text = (await response.text(errors="replace"))[:QUOTE]
        except TimeoutError as err:
            raise _Retry("timeout", f"no answer within {self.request_timeout:g} s") from err
        except aiohttp.ClientError as err:
            raise _Retry("unreachable", repr(err)) from err
        detail = f"HTTP {response.status}: {text}"
        if response.status >= 500 or response.status in RETRY_STATUSES:
            raise _Retry(f"http_{response.status}", detail)
        self._fail(f"http_{response.status}")
        raise WebhookFailed(f"webhook handler {self.name}: {self.url} answered {detail}", f"http_{response.status}")

    def _fail(self, reason: str) -> None:
        self.counters.failed.labels(self.name, "webhook", reason).inc()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

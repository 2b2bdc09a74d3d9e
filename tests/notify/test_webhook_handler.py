"""The `webhook` handler posts to a real local HTTP server (aiohttp): presets, templates, retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from handlers.webhook import WebhookFailed, WebhookHandler
from mutators.json import encode_event
from pipeline.extension import Context, DefinitionError
from tests.helpers import free_port

EVENT: dict[str, Any] = {
    "id": "0b6d2a43-8d4e-4b8e-a0b5-53a3c0c0e001",
    "action": "create",
    "timestamp": 1700000000,
    "client": {"name": "web-1", "address": "10.0.0.11"},
    "check": {"name": "disk", "status": 2, "output": "DISK CRITICAL - / 97% full\n", "executed": 1700000000},
    "occurrences": 3,
}
RESOLVE: dict[str, Any] = {**EVENT, "action": "resolve", "check": {**EVENT["check"], "status": 0, "output": "DISK OK"}}


class Sink:
    """An HTTP server keeping every request; `answers` is the status list to reply with, in turn."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self.hang = False
        self.released = asyncio.Event()
        self.url = ""

    async def receive(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if self.hang:
            await self.released.wait()
        status = self.answers.pop(0) if self.answers else 202
        return web.Response(status=status, text="" if status < 300 else "upstream said no")

    def bodies(self) -> list[Any]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    found = Sink()
    app = web.Application()
    app.router.add_post("/hook", found.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    found.url = f"http://127.0.0.1:{port}/hook"
    yield found
    found.released.set()
    await runner.cleanup()


def webhook(url: str, metrics: CollectorRegistry | None = None, **definition: Any) -> WebhookHandler:
    return WebhookHandler("hook", {"type": "webhook", "url": url, "backoff": 0.01, **definition},
                          Context(metrics=metrics))


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_json_posts_the_payload_the_mutator_made_with_the_headers(sink: Sink) -> None:
    handler = webhook(sink.url, headers={"Authorization": "Bearer t0ken"})
    await handler.handle(EVENT, encode_event(EVENT))
    await handler.handle(RESOLVE, encode_event(RESOLVE))
    await handler.close()
    assert [body["action"] for body in sink.bodies()] == ["create", "resolve"]
    headers = sink.requests[0][0]
    assert headers["Authorization"] == "Bearer t0ken" and headers["Content-Type"] == "application/json"


async def test_a_body_template_keeps_json_types_and_escapes(sink: Sink) -> None:
    handler = webhook(sink.url, body={"summary": "{client.name}/{check.name}: {check.output}",
                                      "severity": "{severity}", "tags": ["ogi", "{client.address}"], "n": 1})
    await handler.handle({**EVENT, "check": {**EVENT["check"], "output": 'quote " and\nnewline'}}, b"")
    await handler.close()
    assert sink.bodies() == [{"summary": 'web-1/disk: quote " and\nnewline', "severity": "critical",
                              "tags": ["ogi", "10.0.0.11"], "n": 1}]


async def test_slack_message_shape(sink: Sink) -> None:
    handler = webhook(sink.url, format="slack", channel="#ops", username="ogi", icon_emoji=":rotating_light:")
    await handler.handle(EVENT, b"")
    await handler.handle(RESOLVE, b"")
    await handler.close()
    create, resolve = sink.bodies()
    # Slack's incoming webhook: text, channel/username/icon_emoji, legacy attachments with fields
    assert create["text"] == "CRITICAL: web-1/disk"
    assert (create["channel"], create["username"], create["icon_emoji"]) == ("#ops", "ogi", ":rotating_light:")
    attachment = create["attachments"][0]
    assert attachment["color"] == "danger" and attachment["text"] == "DISK CRITICAL - / 97% full"
    assert {"title": "Severity", "value": "critical", "short": True} in attachment["fields"]
    assert attachment["ts"] == 1700000000 and attachment["fallback"].startswith("CRITICAL: web-1/disk")
    assert resolve["text"] == "RESOLVED: web-1/disk" and resolve["attachments"][0]["color"] == "good"


async def test_mattermost_message_shape(sink: Sink) -> None:
    handler = webhook(sink.url, format="mattermost", text="{check.name} on {client.name} is {severity}",
                      icon_url="https://example.com/ogi.png")
    await handler.handle(EVENT, b"")
    await handler.close()
    (body,) = sink.bodies()
    assert body["text"] == "disk on web-1 is critical" and body["icon_url"] == "https://example.com/ogi.png"
    assert body["attachments"][0]["title"] == "web-1/disk"
    assert "channel" not in body  # unset keys are left to the webhook's own defaults


async def test_pagerduty_trigger_then_resolve_share_one_dedup_key(sink: Sink) -> None:
    handler = webhook(sink.url, format="pagerduty", routing_key="R0UTINGKEY")
    await handler.handle(EVENT, b"")
    await handler.handle(RESOLVE, b"")
    await handler.close()
    trigger, resolve = sink.bodies()
    # Events API v2: routing_key, event_action, dedup_key; payload.summary/source/severity required
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["routing_key"] == resolve["routing_key"] == "R0UTINGKEY"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "web-1/disk"
    payload = trigger["payload"]
    assert payload["summary"] == "CRITICAL: web-1/disk: DISK CRITICAL - / 97% full"
    assert (payload["source"], payload["severity"], payload["component"]) == ("web-1", "critical", "disk")
    assert payload["timestamp"] == "2023-11-14T22:13:20Z"
    assert "payload" not in resolve
    other = {**EVENT, "check": {**EVENT["check"], "name": "load"}}
    handler = webhook(sink.url, format="pagerduty", routing_key="R0UTINGKEY")
    await handler.handle(other, b"")
    await handler.close()
    assert sink.bodies()[-1]["dedup_key"] == "web-1/load"


async def test_5xx_is_retried_with_backoff_then_delivered(sink: Sink) -> None:
    metrics = CollectorRegistry()
    sink.answers = [500, 503]
    handler = webhook(sink.url, metrics, format="slack")
    await handler.handle(EVENT, b"")
    await handler.close()
    assert len(sink.requests) == 3
    assert sample(metrics, "ogi_notifications_retried_total", handler="hook", type="webhook") == 2
    assert sample(metrics, "ogi_notifications_sent_total", handler="hook", type="webhook") == 1


async def test_a_webhook_that_keeps_answering_500_fails_the_event_after_the_retries(sink: Sink) -> None:
    metrics = CollectorRegistry()
    sink.answers = [500] * 10
    handler = webhook(sink.url, metrics, retries=2)
    with pytest.raises(WebhookFailed, match="failed after 3 attempts: HTTP 500: upstream said no"):
        await handler.handle(EVENT, b"{}")
    await handler.close()
    assert len(sink.requests) == 3
    assert sample(metrics, "ogi_notifications_failed_total", handler="hook", type="webhook", reason="http_500") == 1


async def test_a_4xx_is_not_retried(sink: Sink) -> None:
    sink.answers = [400]
    handler = webhook(sink.url, format="pagerduty", routing_key="bad")
    with pytest.raises(WebhookFailed, match="answered HTTP 400"):
        await handler.handle(EVENT, b"")
    await handler.close()
    assert len(sink.requests) == 1


async def test_a_webhook_that_never_answers_times_out_each_attempt(sink: Sink) -> None:
    metrics = CollectorRegistry()
    sink.hang = True
    handler = webhook(sink.url, metrics, request_timeout=0.2, retries=1)
    with pytest.raises(WebhookFailed, match="no answer within 0.2 s"):
        await handler.handle(EVENT, b"{}")
    await handler.close()
    assert len(sink.requests) == 2
    assert sample(metrics, "ogi_notifications_failed_total", handler="hook", type="webhook", reason="timeout") == 1


async def test_nobody_listening_is_unreachable() -> None:
    metrics = CollectorRegistry()
    handler = webhook(f"http://127.0.0.1:{free_port()}/hook", metrics, retries=1)
    with pytest.raises(WebhookFailed):
        await handler.handle(EVENT, b"{}")
    await handler.close()
    assert sample(metrics, "ogi_notifications_failed_total", handler="hook", type="webhook", reason="unreachable") == 1


async def test_a_missing_template_field_fails_that_event_without_a_request(sink: Sink) -> None:
    handler = webhook(sink.url, body={"dc": "{client.datacenter}"})
    with pytest.raises(WebhookFailed, match="no field 'client.datacenter'"):
        await handler.handle(EVENT, b"")
    await handler.close()
    assert sink.requests == []


@pytest.mark.parametrize(("definition", "path"), [
    ({"format": "teams"}, "format"),
    ({"url": "ftp://x"}, "url"),
    ({"format": "pagerduty"}, "routing_key"),
    ({"format": "slack", "body": {"a": 1}}, "body"),
    ({"format": "json", "channel": "#ops"}, "channel"),
    ({"headers": {"X-N": 1}}, "headers"),
    ({"retries": -1}, "retries"),
    ({"body": {"a": "{check.name"}}, "body"),
])
def test_a_wrong_definition_names_its_key(definition: dict[str, Any], path: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        webhook(definition.pop("url", "http://127.0.0.1:1/hook"), **definition)
    assert caught.value.path == path

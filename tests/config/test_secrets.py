"""Secrets as an operator would see them leak: `--print-config`, `/settings`, `GET /clients`, events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aiohttp

from pipeline.api.app import start_api
from pipeline.config.load import settings_of
from pipeline.server.events import build_event
from pipeline.store.memory import MemoryStore
from tests.api.support import RecordingTransport
from tests.helpers import FakeClock

OGI = str(Path(sys.executable).parent / "ogi")
CONFIG = {
    "rabbitmq": {"url": "amqp://ogi:rabbit-pass@mq.example.com:5672/%2Fsensu"},
    "redis": {"url": "redis://:redis-pass@127.0.0.1:6379/0"},
    "client": {"name": "web-1", "address": "10.0.0.1", "signature": "client-shared-secret",
               "Password": "upper-case", "apikey": "k-123", "token": "t-456", "db": {"SECRET": "s"}},
    "handlers": {"hook": {"type": "webhook", "url": "https://hooks.example.com/x",
                          "headers": {"Authorization": "Bearer abc", "X-Team": "ops"}}},
}
SECRETS = ("rabbit-pass", "redis-pass", "client-shared-secret", "upper-case", "k-123", "t-456", "Bearer abc")


def test_print_config_shows_no_secret(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    shown = subprocess.run([OGI, "check-config", "-c", str(tmp_path / "config.json"), "--print-config"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert not [s for s in SECRETS if s in shown.stdout]
    printed = json.loads(shown.stdout)
    assert printed["rabbitmq"]["url"] == "amqp://ogi:REDACTED@mq.example.com:5672/%2Fsensu"
    assert printed["handlers"]["hook"]["headers"] == {"Authorization": "REDACTED", "X-Team": "ops"}
    assert printed["client"]["db"] == {"SECRET": "REDACTED"}


async def test_the_api_shows_no_secret_in_settings_nor_a_clients_signature() -> None:
    store = MemoryStore(clock=FakeClock())
    await store.put_client({**CONFIG["client"], "subscriptions": ["client:web-1"], "timestamp": 1})
    runner = await start_api(settings_of({**CONFIG, "api": {"port": 0}}), store, RecordingTransport())
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/settings", "/clients", "/clients/web-1"):
                async with session.get(runner.url + path) as reply:
                    body = await reply.text()
                    assert reply.status == 200 and not [s for s in SECRETS[:3] if s in body], path
    finally:
        await runner.stop()


def test_an_event_does_not_carry_the_clients_signature() -> None:
    client = {"name": "web-1", "address": "10.0.0.1", "signature": "client-shared-secret"}
    event = build_event(client, {"name": "disk", "status": 2, "output": "full", "executed": 1, "issued": 1},
                        ["0", "2"], None, None, 1.0, lambda: "id-1")
    assert "signature" not in event["client"] and event["client"]["name"] == "web-1"

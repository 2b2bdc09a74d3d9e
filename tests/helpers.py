"""Plain helpers the test suites share: where the repository is, free ports, real services
(`require_service`), a settable clock, an engine that records, `make_event`, and `TlsBroker`
(what the `rabbitmq_tls` fixture gives).

Tests that need a real peer (RabbitMQ, Redis, carbon, Prometheus) call `require_service`: on a
machine without it they skip with the reason, but with OGI_REQUIRE_SERVICES=1 (set by .ci/run)
a missing service fails the run instead, so CI can never go green by skipping.

Fixtures live in tests/conftest.py; nothing imports from a conftest.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.certificates import Authority, Pair
from bench.private_peers import PrivateRabbitMQ, port_answers
from bench.private_peers import free_port as free_port  # the tests take it from here
from pipeline.model import Event

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


#: The `ogi` command of this checkout's environment (its console script, else the module).
OGI = [sys.executable, "-m", "pipeline.cli.main"] if not (Path(sys.executable).parent / "ogi").exists() else [
    str(Path(sys.executable).parent / "ogi")
]

def services_required() -> bool:
    return os.environ.get("OGI_REQUIRE_SERVICES") == "1"


def require_service(name: str, host: str = "127.0.0.1", port: int | None = None, available: bool | None = None) -> None:
    """Skip (or, in CI, fail) unless the named service is there."""
    ok = available if available is not None else (port is not None and port_answers(host, port))
    if ok:
        return
    reason = f"{name} is not available on {host}:{port}" if port else f"{name} is not available"
    if services_required():
        pytest.fail(f"{reason}, and OGI_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


#: The instant tests start from unless they say otherwise.
T0 = 1_700_000_000.0


class FakeClock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingEngine:
    """Keeps every event the result processor hands on, as the engine would receive it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        #: Per event: True when it went to the status handlers, False for metric handlers only.
        self.statuses: list[bool] = []

    async def process(self, event: Event, status: bool = True, admitted: Callable[[], None] | None = None) -> None:
        self.events.append(event)
        self.statuses.append(status)


def make_event(check: str = "disk", status: int | None = None, *, client: str = "web-1", action: str = "create",
               occurrences: int = 1, watermark: int | None = None, **fields: Any) -> Event:
    """An event as the server hands it to the chain: `check` failing on `client`.

    `status` defaults to 2, or 0 for a resolve; `fields` go into the check (`handlers=[...]`,
    `output=...`, `interval=...`). Change anything else on the returned dict: it is a new one.
    """
    if status is None:
        status = 0 if action == "resolve" else 2
    return {
        "id": "6f2f4c9e-1f0a-4c2b-9d51-1b3f3c0d1a11", "action": action, "timestamp": int(T0),
        "occurrences": occurrences, "occurrences_watermark": occurrences if watermark is None else watermark,
        "silenced": False, "silenced_by": [], "last_ok": None, "last_state_change": int(T0),
        "client": {"name": client, "address": "10.0.0.1", "subscriptions": ["web", f"client:{client}"],
                   "environment": "prod", "tags": {"tier": "front"}},
        "check": {"name": check, "status": status, "interval": 60, "output": "CRITICAL: full",
                  "history": ["0", str(status)], "total_state_change": 0, "handle": True,
                  "custom": {"team": "ops", "ticket": None}, **fields},
    }


def make_result(status: int, name: str = "disk", **extra: Any) -> dict[str, Any]:
    """A check result as a store records it: `output` and `executed` follow the status."""
    return {"name": name, "status": status, "output": f"status {status}", "executed": 1000 + status, **extra}


def events_in(path: Path) -> list[dict[str, Any]]:
    """The events a `cat >> FILE; echo >> FILE` pipe handler wrote.

    Read as a stream of JSON values, not one per line: two handler processes appending at
    once can put two events on one line (one's `cat` lands before the other's `echo`).
    """
    if not path.exists():
        return []
    text, at = path.read_text(), 0
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        value, at = decoder.raw_decode(text, at)
        found.append(value)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, poll: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy and return it; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(poll)
    raise AssertionError("timed out waiting")


_HELD_LOCKS: list[tuple[int, int]] = []


def claim_redis_db() -> int:
    """A Redis database number (1-15) that no other test run on this machine holds.

    Several checkouts may run the suite at once against the one local Redis. A test run claims
    one database through a lock file held until the process ends, and every suite of the run
    shares it (they run one after another and flush it before use). When all are taken it
    waits for one.
    """
    if _HELD_LOCKS:
        return _HELD_LOCKS[0][1]
    for number in range(1, 16):
        fd = os.open(f"/tmp/ogi-test-redis-db-{number}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _HELD_LOCKS.append((fd, number))
        return number
    # Every database is taken: wait for one rather than share it (runs end within minutes).
    number = os.getpid() % 15 + 1
    fd = os.open(f"/tmp/ogi-test-redis-db-{number}.lock", os.O_CREAT | os.O_RDWR, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD_LOCKS.append((fd, number))
    return number


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (openssl), for TLS listeners in tests."""
    cert, key = directory / "test.crt", directory / "test.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass(frozen=True)
class TlsBroker:
    """A private RabbitMQ node whose `node.port` is AMQPS only for clients with a certificate
    signed by `authority`; `client` is such a certificate, `stranger` an unrelated authority."""

    node: PrivateRabbitMQ
    authority: Authority
    client: Pair
    stranger: Authority

    def rabbitmq(self, **ssl: Any) -> dict[str, Any]:
        """The `rabbitmq` object for this broker: verified against `authority`, with `client`,
        each `ssl` key replaced (None removes it)."""
        keys: dict[str, Any] = {"ca_file": str(self.authority.cert), "cert_chain_file": str(self.client.cert),
                                "private_key_file": str(self.client.key)}
        keys.update(ssl)
        return {"host": "127.0.0.1", "port": self.node.port,
                "ssl": {key: value for key, value in keys.items() if value is not None}}


#: A valid check and handler that the configuration tests break one attribute at a time.
CONFIG_CHECK: dict[str, Any] = {"command": "check-cpu.rb -w 80", "interval": 60, "subscribers": ["base"],
                                "handlers": ["mail"]}
CONFIG_MAIL: dict[str, Any] = {"type": "pipe", "command": "mail -s alert ops@example.com"}
#: An attribute value that means "leave the attribute out" to `config_with_check`.
ABSENT = object()


def config_with(**sections: Any) -> dict[str, Any]:
    """Settings with the check `cpu` and the handler `mail`, `sections` replacing whole sections."""
    settings: dict[str, Any] = {"checks": {"cpu": dict(CONFIG_CHECK)}, "handlers": {"mail": dict(CONFIG_MAIL)}}
    settings.update(sections)
    return settings


def config_with_check(**attrs: Any) -> dict[str, Any]:
    """`config_with()` whose check `cpu` has `attrs` set (ABSENT: removed)."""
    definition = dict(CONFIG_CHECK)
    for key, value in attrs.items():
        if value is ABSENT:
            definition.pop(key, None)
        else:
            definition[key] = value
    return config_with(checks={"cpu": definition})

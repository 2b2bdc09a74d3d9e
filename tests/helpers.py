"""Small test companions shared by the suites: a settable clock and an engine that records."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.model import Event

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

    async def process(self, event: Event) -> None:
        self.events.append(event)


def events_in(path: Path) -> list[dict[str, Any]]:
    """The events a `cat >> FILE; echo >> FILE` pipe handler wrote, one JSON per line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate: Callable[[], Any], timeout: float, poll: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy and return it; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(poll)
    raise AssertionError("timed out waiting")


_HELD_LOCKS: list[int] = []


def claim_redis_db() -> int:
    """A Redis database number (1-15) that no other test run on this machine holds.

    Several checkouts may run the suite at once against the one local Redis; each test module
    that flushes a database claims its own through a lock file held until the process ends.
    """
    for number in range(1, 16):
        fd = os.open(f"/tmp/ogi-test-redis-db-{number}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _HELD_LOCKS.append(fd)
        return number
    raise RuntimeError("every Redis database 1-15 is held by another test run")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (openssl), for TLS listeners in tests."""
    cert, key = directory / "test.crt", directory / "test.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key

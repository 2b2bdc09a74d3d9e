"""Shared test helpers.

Tests that need a real peer (RabbitMQ, Redis, carbon, Prometheus) call `require_service`: on a
machine without it they skip with the reason, but with OGI_REQUIRE_SERVICES=1 (set by .ci/run)
a missing service fails the run instead, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def services_required() -> bool:
    return os.environ.get("OGI_REQUIRE_SERVICES") == "1"


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str = "127.0.0.1", port: int | None = None, available: bool | None = None) -> None:
    """Skip (or, in CI, fail) unless the named service is there."""
    ok = available if available is not None else (port is not None and port_answers(host, port))
    if ok:
        return
    reason = f"{name} is not available on {host}:{port}" if port else f"{name} is not available"
    if services_required():
        pytest.fail(f"{reason}, and OGI_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

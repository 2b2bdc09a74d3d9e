"""Peers for the fault tests: a private RabbitMQ node and a private redis-server, both on free ports.

Both reuse the classes other suites already use (tests/contract/transport_fixtures.py and
tests/store/test_store_redis.py) unchanged; this module only adds the fixtures the e2e tests need.
The shared RabbitMQ on 5672 and Redis on 6379 are never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, require_service
from tests.contract.transport_fixtures import PrivateRabbitMQ, private_rabbitmq, rabbitmqctl
from tests.store.test_store_redis import PrivateRedis, _alive

__all__ = ["PrivateRabbitMQ", "PrivateRedis", "private_rabbitmq", "private_redis", "rabbitmqctl"]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A started redis-server of the test's own (Debian package redis-server); stopped afterwards."""
    require_service("redis-server (Debian package redis-server)", available=shutil.which("redis-server") is not None)
    directory = tempfile.mkdtemp(prefix="ogi-redis-")
    server = PrivateRedis(directory, free_port())
    try:
        server.start()
        yield server
    finally:
        try:
            pid = int(Path(server.pidfile).read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)

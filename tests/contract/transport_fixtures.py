"""RabbitMQ fixtures for the transport tests: a private vhost on the shared broker, a private node.

`rabbitmq_vhost` makes a fresh vhost (`rabbitmqctl add_vhost` + `set_permissions` for guest)
on the shared broker at 127.0.0.1:5672 for one test module and deletes it afterwards, so tests
never touch `/`. Without that broker (or without `rabbitmqctl`) the test skips locally and
fails in CI (`require_service`). `PrivateRabbitMQ` starts a node of its own on free ports
(shared/reference/ecosystem.md §6) for tests that stop and restart the broker.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.vhost import RABBITMQCTL, rabbitmqctl
from tests.helpers import claim_redis_db, require_service


def require_rabbitmq() -> None:
    require_service("rabbitmq", port=5672)
    require_service("rabbitmqctl", available=os.path.exists(RABBITMQCTL))


_REDIS_DB: list[int] = []


def transport_redis_db() -> int:
    """The Redis database this run's transport tests use: claimed once, emptied on first use."""
    require_service("redis", port=6379)
    if not _REDIS_DB:
        import redis

        # Other checkouts' runs may hold every database for a while: wait for one rather than fail.
        deadline = time.monotonic() + 90  # within the per-test timeout (120 s)
        while True:
            try:
                number = claim_redis_db()
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        redis.Redis(host="127.0.0.1", port=6379, db=number).flushdb()
        _REDIS_DB.append(number)
    return _REDIS_DB[0]


def redis_settings_for(db: int, **transport: Any) -> dict[str, Any]:
    """ogi settings for the Redis transport on the local Redis, database `db`."""
    return {"redis": {"host": "127.0.0.1", "port": 6379, "db": db},
            "transport": {"name": "redis", "reconnect_interval": 0.2, **transport}}


def settings_for(vhost: str, port: int = 5672, **transport: Any) -> dict[str, Any]:
    """ogi settings for the given vhost; `transport` knobs (buffer_limit, ...) added when given."""
    settings: dict[str, Any] = {"rabbitmq": {"host": "127.0.0.1", "port": port, "vhost": vhost},
                                "transport": {"name": "rabbitmq", "reconnect_interval": 0.2, **transport}}
    return settings


def list_table(vhost: str, what: str, *columns: str) -> dict[str, dict[str, str]]:
    """`rabbitmqctl list_queues/list_exchanges` as {name: {column: value}}."""
    out = rabbitmqctl(what, "-p", vhost, "--no-table-headers", "-q", "name", *columns)
    rows: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        cells = line.split("\t")
        if len(cells) == len(columns) + 1:
            rows[cells[0]] = dict(zip(columns, cells[1:], strict=True))
    return rows

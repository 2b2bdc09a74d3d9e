"""RabbitMQ fixtures for the transport tests: a private vhost on the shared broker, a private node.

`rabbitmq_vhost` makes a fresh vhost (`rabbitmqctl add_vhost` + `set_permissions` for guest)
on the shared broker at 127.0.0.1:5672 for one test module and deletes it afterwards, so tests
never touch `/`. Without that broker (or without `rabbitmqctl`) the test skips locally and
fails in CI (`require_service`). `PrivateRabbitMQ` starts a node of its own on free ports
(shared/reference/ecosystem.md §6) for tests that stop and restart the broker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.vhost import RABBITMQCTL, rabbitmqctl
from tests.helpers import claim_redis_db, free_port, port_answers, require_service

RABBITMQ_SERVER = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"


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


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own on free loopback ports; stop() and start() at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"ogitest{uuid.uuid4().hex[:8]}@localhost"
        # Under /tmp, not pytest's tmp_path: the node runs as the rabbitmq user, which cannot enter root's 0700 dirs.
        self.dir = Path(tempfile.mkdtemp(prefix="ogi-rabbitmq-"))
        (self.dir / "mnesia").mkdir()
        (self.dir / "log").mkdir()
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (self.dir / "env.conf").write_text("")
        (self.dir / "enabled_plugins").write_text("[].\n")
        shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        for path in self.dir.rglob("*"):
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.port), RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"), RABBITMQ_CONF_ENV_FILE=str(self.dir / "env.conf"),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"), RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
        )
        with open(self.dir / "out.log", "ab") as out:
            self.process = subprocess.Popen([RABBITMQ_SERVER], env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private RabbitMQ did not start; see {self.dir / 'out.log'}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node cleanly (its durable queues and persistent messages stay on disk)."""
        rabbitmqctl("stop", node=self.node)
        if self.process is not None:
            self.process.wait(timeout=60)
            self.process = None

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(Exception):
                rabbitmqctl("stop", node=self.node, timeout=30)
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own session only
        shutil.rmtree(self.dir, ignore_errors=True)

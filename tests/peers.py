"""Private peers for the fault tests: a redis-server of the test's own on a free port.

(A private RabbitMQ node is `PrivateRabbitMQ` in tests/contract/transport_fixtures.py.) The
shared RabbitMQ on 5672 and Redis on 6379 are never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any


class PrivateRedis:
    """A redis-server of this test's own on a free port, never the shared one."""

    def __init__(self, directory: str, port: int) -> None:
        self.directory = directory
        self.port = port
        self.pidfile = os.path.join(directory, f"redis-{port}.pid")

    def start(self, *extra: str) -> None:
        subprocess.run(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", self.directory, "--pidfile", self.pidfile, *extra],
            check=True, capture_output=True,
        )
        self._wait(lambda: subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                                          text=True).stdout.strip() == "PONG")

    def stop(self) -> None:
        pid = int(Path(self.pidfile).read_text())
        os.kill(pid, signal.SIGTERM)
        self._wait(lambda: not alive(pid))

    @staticmethod
    def _wait(condition: Any) -> None:
        for _ in range(200):
            if condition():
                return
            subprocess.run(["sleep", "0.05"])
        raise RuntimeError("redis-server did not change state")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

"""A private vhost on the shared RabbitMQ broker, for a benchmark run or a test module.

`fresh_vhost()` adds a vhost with `rabbitmqctl add_vhost`, lets guest do everything in it
and deletes it afterwards, so nothing ever touches `/` or another run's queues.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator

RABBITMQCTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"


def rabbitmqctl(*args: str, node: str | None = None, timeout: float = 60) -> str:
    """Run rabbitmqctl (against `node` when given); RuntimeError with its message when it fails."""
    command = [RABBITMQCTL, *(["-n", node] if node else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@contextlib.contextmanager
def fresh_vhost(prefix: str = "ogi-test-") -> Iterator[str]:
    """A new vhost on the shared broker, guest allowed everything, deleted afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", name)

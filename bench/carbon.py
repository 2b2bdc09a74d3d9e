"""A real carbon-cache for tests and benchmarks: Debian's `carbon-cache` in the foreground, with
its own config directory and whisper tree in a temporary directory, on free loopback ports.

Whisper files are read with Debian's tools, which import only under /usr/bin/python3: the
`whisper-fetch` command, or a short script run by /usr/bin/python3 (`count_points`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"


def available() -> bool:
    """True when Debian's carbon-cache and whisper tools are installed."""
    return shutil.which("carbon-cache") is not None and shutil.which("whisper-fetch") is not None


def _free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (carbon's line receiver listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port for carbon")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Carbon:
    """One carbon-cache instance under `base`; `start()`/`stop()` may be repeated (same ports)."""

    def __init__(self, base: Path, schemas: list[tuple[str, str]] | None = None, **settings: Any) -> None:
        self.base = base
        self.port = _free_port()
        self.pickle_port = _free_port()
        self.query_port = _free_port()
        self.whisper = base / "storage" / "whisper"
        self.log_dir = base / "log"
        self.conf = base / "conf"
        for directory in (self.whisper, self.log_dir, self.conf, base / "run"):
            directory.mkdir(parents=True, exist_ok=True)
        values: dict[str, Any] = {
            "STORAGE_DIR": f"{base}/storage/",
            "LOCAL_DATA_DIR": f"{self.whisper}/",
            "CONF_DIR": f"{self.conf}/",
            "LOG_DIR": f"{self.log_dir}/",
            "PID_DIR": f"{base}/run/",
            "USER": "",
            "MAX_CREATES_PER_MINUTE": "inf",
            "MAX_UPDATES_PER_SECOND": "inf",
            "ENABLE_TAGS": "False",  # else carbon POSTs every tagged series to a graphite-web
            "LINE_RECEIVER_INTERFACE": "127.0.0.1",
            "LINE_RECEIVER_PORT": self.port,
            "ENABLE_UDP_LISTENER": "True",
            "UDP_RECEIVER_INTERFACE": "127.0.0.1",
            "UDP_RECEIVER_PORT": self.port,
            "PICKLE_RECEIVER_INTERFACE": "127.0.0.1",
            "PICKLE_RECEIVER_PORT": self.pickle_port,
            "CACHE_QUERY_INTERFACE": "127.0.0.1",
            "CACHE_QUERY_PORT": self.query_port,
            "LOG_LISTENER_CONN_SUCCESS": "False",
            "LOG_UPDATES": "False",
            "LOG_CACHE_HITS": "False",
        }
        values.update(settings)
        text = "[cache]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())
        (self.conf / "carbon.conf").write_text(text)
        sections = [*(schemas or [("test", r"^test\.")]), ("default", ".*")]
        schema_text = ""
        for index, (name, pattern) in enumerate(sections):
            retention = "10s:1h" if index < len(sections) - 1 else "60s:1d"
            schema_text += f"[{name}]\npattern = {pattern}\nretentions = {retention}\n\n"
        self.set_schemas(schema_text)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def set_schemas(self, text: str) -> None:
        """Replace storage-schemas.conf (applies to whisper files created afterwards)."""
        (self.conf / "storage-schemas.conf").write_text(text)

    def start(self, timeout: float = 30.0) -> None:
        """Start carbon-cache and wait until its line receiver answers."""
        assert self.process is None, "carbon already running"
        self.starts += 1
        out = open(self.base / f"stdout-{self.starts}.log", "wb")  # noqa: SIM115 - kept for the process's life
        self.process = subprocess.Popen(
            [
                "carbon-cache", f"--config={self.conf}/carbon.conf", f"--pidfile={self.base}/run/carbon-cache.pid",
                f"--logdir={self.log_dir}", "--nodaemon", "start",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"carbon-cache exited at start:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"carbon-cache did not listen on {self.port} within {timeout:g} s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0, graceful: bool = True) -> None:
        """Stop carbon-cache and wait for the process to end.

        Graceful: SIGTERM, and carbon writes its cache out first; else SIGKILL (a test's teardown).
        """
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        (self.base / "run" / "carbon-cache.pid").unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def output(self) -> str:
        texts = [p.read_text(errors="replace") for p in sorted(self.base.glob("stdout-*.log"))]
        texts += [p.read_text(errors="replace") for p in sorted(self.log_dir.rglob("*.log"))]
        return "\n".join(texts)[-4000:]

    def file(self, path: str) -> Path:
        """The whisper file of a plain (untagged) Graphite path."""
        return self.whisper.joinpath(*path.split(".")).with_suffix(".wsp")

    def fetch(self, file: Path, start: int, until: int) -> dict[int, float]:
        """Non-empty slots of a whisper file between `start` and `until`: {timestamp: value}."""
        if not file.exists():
            return {}
        done = subprocess.run(
            ["whisper-fetch", "--json", f"--from={start}", f"--until={until}", str(file)],
            capture_output=True, text=True, check=True,
        )
        data = json.loads(done.stdout)
        first, step = int(data["start"]), int(data["step"])
        return {first + i * step: v for i, v in enumerate(data["values"]) if v is not None}

    def wait_for(self, file: Path, expected: dict[int, float], timeout: float = 30.0) -> dict[int, float]:
        """Poll `file` until it holds at least the slots of `expected` (carbon writes ~2 s late)."""
        start, until = min(expected) - 10, max(expected) + 10
        deadline = time.monotonic() + timeout
        while True:
            found = self.fetch(file, start, until)
            if all(ts in found for ts in expected) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def count_points(self, under: str, start: int, until: int) -> int:
        """Non-empty slots between `start` and `until` in every whisper file under a path prefix."""
        root = self.whisper.joinpath(*under.split("."))
        script = (
            "import os, sys, whisper\n"
            "root, start, until = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
            "total = 0\n"
            "for d, _, names in os.walk(root):\n"
            "    for n in names:\n"
            "        if n.endswith('.wsp'):\n"
            "            try:\n"
            "                total += sum(v is not None for v in whisper.fetch(os.path.join(d, n), start, until)[1])\n"
            "            except Exception:\n"
            "                pass  # a file carbon is creating right now: counted on the next call\n"
            "print(total)\n"
        )
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", script, str(root), str(start), str(until)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": ""},
        )
        return int(done.stdout)

    def unread(self) -> int:
        """Bytes waiting in carbon's sockets plus connections waiting to be accepted (from /proc/net/tcp).

        Zero means carbon has read, and so parsed, everything sent to its line port so far.
        """
        total = 0
        local = f":{self.port:04X}"
        with open("/proc/net/tcp") as table:
            next(table)
            for row in table:
                fields = row.split()
                if fields[1].endswith(local):
                    total += int(fields[4].split(":")[1], 16)  # rx_queue; for the listener: the accept backlog
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time carbon-cache has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

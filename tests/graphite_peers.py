"""Real carbon-cache plus graphite-web under gunicorn on loopback, for the tests that read graphs back.

Shared by the graphite-web e2e tests and the dashboard's graph tests: both start the same pair,
each with its own storage schemas.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.carbon import SYSTEM_PYTHON, Carbon
from bench.carbon import available as carbon_available
from tests.helpers import free_port, port_answers, require_service

GRAPHITE_WEB = Path("/usr/lib/python3/dist-packages/graphite")
GRAPHITE_ROOT = Path("/usr/share/graphite-web")


def graphite_web_available() -> bool:
    return GRAPHITE_WEB.is_dir() and GRAPHITE_ROOT.is_dir() and shutil.which("gunicorn") is not None


class GraphiteWeb:
    """graphite-web under gunicorn on a free loopback port, with its settings module in `base`."""

    def __init__(self, base: Path, carbon: Carbon) -> None:
        self.base = base
        self.port = free_port()
        (base / "log").mkdir(parents=True)
        (base / "index").mkdir()
        (base / "ogi_graphite_settings.py").write_text(
            "SECRET_KEY = 'test-only'\n"
            f"GRAPHITE_ROOT = '{GRAPHITE_ROOT}'\n"
            f"STATIC_ROOT = '{GRAPHITE_ROOT}/static'\n"
            f"CONF_DIR = '{base}'\n"
            f"STORAGE_DIR = '{carbon.base}/storage'\n"
            f"WHISPER_DIR = '{carbon.whisper}'\n"
            f"LOG_DIR = '{base}/log'\n"
            f"INDEX_FILE = '{base}/index/search_index'\n"
            f"CARBONLINK_HOSTS = ['127.0.0.1:{carbon.query_port}']\n"
            f"DATABASES = {{'default': {{'NAME': '{base}/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}}}\n"
        )
        self.env = {**os.environ, "PYTHONPATH": str(base), "GRAPHITE_SETTINGS_MODULE": "ogi_graphite_settings",
                    "DJANGO_SETTINGS_MODULE": "graphite.settings"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        subprocess.run([SYSTEM_PYTHON, "-m", "django", "migrate", "--noinput"], cwd=self.base, env=self.env,
                       capture_output=True, check=True, timeout=120)
        out = open(self.base / "gunicorn.log", "wb")  # noqa: SIM115 - kept for the process's life
        self.process = subprocess.Popen(
            ["gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "graphite.wsgi:application"],
            cwd=self.base, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port, 0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"graphite-web did not start:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def output(self) -> str:
        texts = [(self.base / "gunicorn.log").read_text(errors="replace")]
        texts += [p.read_text(errors="replace") for p in sorted((self.base / "log").rglob("*.log"))]
        return "\n".join(texts)[-4000:]

    def get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert answer.status == 200
            return json.loads(answer.read())

    def render(self, target: str, start: int, until: int) -> list[dict[str, Any]]:
        series: list[dict[str, Any]] = self.get("/render", target=target, format="json",
                                                **{"from": str(start), "until": str(until)})
        return series


@contextmanager
def graphite_stack(base: Path, schemas: list[tuple[str, str]]) -> Iterator[tuple[Carbon, GraphiteWeb]]:
    """carbon (with `schemas`) and graphite-web reading its whisper files, both stopped after;
    skipped (failed under OGI_REQUIRE_SERVICES=1) where either is not installed."""
    require_service("carbon-cache", available=carbon_available())
    require_service("graphite-web and gunicorn (Debian graphite-web, gunicorn)", available=graphite_web_available())
    carbon = Carbon(base / "carbon", schemas=schemas)
    carbon.start()
    web = GraphiteWeb(base / "web", carbon)
    try:
        web.start()
        yield carbon, web
    finally:
        web.stop()
        carbon.stop(graceful=False)

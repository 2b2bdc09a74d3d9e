"""Shared harness for the dashboard's browser tests (no tests here): Debian's chromium driven by
selenium through chromium-driver, and `ogi run` started as a user starts it.

Set OGI_DASHBOARD_SCREENSHOTS=docs/img to have the tests write the screenshots docs/dashboard.md shows.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, free_port, require_service, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The installed entry point, as the e2e tests run it (pipeline.cli.main has no __main__ guard).
OGI = [str(Path(sys.executable).parent / "ogi")]


def browser_available() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    require_service("chromium, chromium-driver (Debian) and selenium (pip, the dev extras)", available=browser_available())
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ogi-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1000"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(chrome: Any, allowed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The browser's SEVERE log entries since the last call, except those naming an allowed text."""
    return [entry for entry in chrome.get_log("browser")
            if entry["level"] == "SEVERE" and not any(text in entry["message"] for text in allowed)]


def screenshot(chrome: Any, name: str, width: int = 1400) -> None:
    """Save the whole page as docs/img/<name>.png when OGI_DASHBOARD_SCREENSHOTS names a directory."""
    target = os.environ.get("OGI_DASHBOARD_SCREENSHOTS")
    if not target:
        return
    height = chrome.execute_script("return Math.max(document.body.scrollHeight, 600)")
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": min(int(height), 2400), "deviceScaleFactor": 1, "mobile": width < 500})
    try:
        shot = chrome.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        directory = Path(target) if Path(target).is_absolute() else ROOT / target
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        chrome.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


class OgiRun:
    """`ogi run` in a subprocess with memory backends, its API (and dashboard) on a free port."""

    def __init__(self, base: Path, config: dict[str, Any]) -> None:
        self.base = base
        self.port = free_port()
        self.socket_port = free_port()
        config = json.loads(json.dumps(config).replace("\"SOCKET_PORT\"", str(self.socket_port)))
        config.setdefault("api", {})["port"] = self.port
        base.mkdir(parents=True, exist_ok=True)
        (base / "config.json").write_text(json.dumps(config))
        self.auth = config["api"].get("user"), config["api"].get("password")
        self.log = open(base / "ogi.log", "wb")  # noqa: SIM115 - kept for the process's life
        self.process = subprocess.Popen([*OGI, "run", "-c", str(base / "config.json"), "--quiet"],
                                        stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_for(lambda: self.answers("/info"), 30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if self.auth[0] is not None:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read()
                return answer.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read()
            return error.code, json.loads(text) if text else None

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def answers(self, path: str) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"ogi run exited:\n{(self.base / 'ogi.log').read_text()[-3000:]}")
        try:
            return self.request("GET", path)[0] == 200
        except OSError:
            return False

    def push(self, result: dict[str, Any]) -> None:
        """A result through the client socket, as a script on the host would send it."""
        import socket

        with socket.create_connection(("127.0.0.1", self.socket_port), timeout=5) as conn:
            conn.sendall(json.dumps(result).encode())
            conn.shutdown(socket.SHUT_WR)
            assert conn.recv(100) == b"ok"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def until(chrome: Any, predicate: Callable[[Any], Any], timeout: float = 20.0) -> Any:
    """Wait for the page to reach a state (the dashboard refreshes itself every second in these tests)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A refresh may redraw an element between finding and reading it: look again at the next poll.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(chrome, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(predicate)


def click(chrome: Any, css: str) -> None:
    """Click an element the live refresh may redraw between finding and clicking it."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def clicked(c: Any) -> bool:
        try:
            c.find_element(By.CSS_SELECTOR, css).click()
        except StaleElementReferenceException:
            return False
        return True

    until(chrome, clicked)


def rows(chrome: Any) -> list[str]:
    """The events table's rows as `client/check` keys, in the order shown."""
    from selenium.webdriver.common.by import By

    return [row.get_attribute("data-key") for row in chrome.find_elements(By.CSS_SELECTOR, "table.events tbody tr[data-key]")]


def settle() -> None:
    """Give one refresh cycle a chance to run (used only where the absence of a change is asserted)."""
    time.sleep(2.5)

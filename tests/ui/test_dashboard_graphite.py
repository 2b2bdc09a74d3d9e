"""The event page's graph fed by a real graphite-web: `dashboard.graphite_url` set, in Debian's chromium.

A carbon-cache and graphite-web of the test's own (as tests/e2e/test_graphite_web.py starts them)
hold five minutes of a series written beforehand (10, 20, 30, 40); `ogi run`'s check prints the
same series' current value (50) and its `graphite` handler ships it to that carbon. The page's
chart must draw the series from graphite-web's render API: its points, its axis from 10 to 50.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.carbon import Carbon
from tests.graphite_peers import GraphiteWeb, graphite_stack
from tests.helpers import wait_for
from tests.ui.browser import OgiRun, console_errors, screenshot, until

pytest.importorskip("selenium", reason="selenium (the dev extras) drives the browser")
from selenium.webdriver.common.by import By  # noqa: E402

SERIES = "gw-1.load.load1"
STEP = 10
BEFORE = (10.0, 20.0, 30.0, 40.0)


@pytest.fixture(scope="module")
def graphite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Carbon, GraphiteWeb]]:
    with graphite_stack(tmp_path_factory.mktemp("graphite-ui"), schemas=[("gw", r"^gw-1\.")]) as started:
        yield started


@pytest.fixture(scope="module")
def site(graphite: tuple[Carbon, GraphiteWeb], tmp_path_factory: pytest.TempPathFactory) -> Iterator[OgiRun]:
    carbon, web = graphite
    last = int(time.time()) // STEP * STEP - 2 * STEP  # whisper drops points from the future
    with socket.create_connection(("127.0.0.1", carbon.port)) as conn:
        conn.sendall("".join(f"{SERIES} {value!r} {last - (len(BEFORE) - 1 - n) * STEP}\n"
                             for n, value in enumerate(BEFORE)).encode())
    run = OgiRun(tmp_path_factory.mktemp("graphite-site"), {
        "client": {"name": "gw-1", "subscriptions": ["linux"], "socket": {"port": "SOCKET_PORT"}},
        "dashboard": {"refresh": 1, "graphite_url": f"http://127.0.0.1:{web.port}"},
        # a warning whose output is metrics: an event to open, and points for the graphite handler
        "checks": {"load": {"command": f"echo \"{SERIES} 50 $(date +%s)\"; exit 1", "subscribers": ["linux"],
                            "interval": 2, "output_metric_format": "graphite_plaintext", "handlers": ["carbon"]}},
        "handlers": {"carbon": {"type": "graphite", "port": carbon.port, "interval": 0.2}},
    })
    try:
        wait_for(lambda: run.request("GET", "/events/gw-1/load")[0] == 200, 30)
        yield run
    finally:
        run.stop()


def chart_of(chrome: Any, name: str) -> dict[str, Any] | None:
    """The chart whose legend names `name`: its polyline's point count, axis labels and legend text."""
    found: dict[str, Any] | None = chrome.execute_script(
        """
        for (const figure of document.querySelectorAll('.graphs figure.graph')) {
          if (!figure.querySelector('.legend').textContent.includes(arguments[0])) continue;
          const line = figure.querySelector('polyline');
          return {points: line ? line.getAttribute('points').trim().split(/\\s+/).length : 0,
                  axis: [...figure.querySelectorAll('text.axis')].map((t) => t.textContent),
                  legend: figure.querySelector('.legend').textContent,
                  source: figure.closest('.graphs').dataset.source};
        }
        return null;
        """, name)
    return found


def test_the_event_page_draws_the_checks_series_from_graphite_web(driver: Any, site: OgiRun) -> None:
    driver.get(f"{site.url}/ui/#/event/local/gw-1/load")
    until(driver, lambda c: c.find_element(By.ID, "updated").text.startswith("updated"))
    # the four points written before and the current one, shipped by ogi's graphite handler
    chart = until(driver, lambda c: (lambda g: g if g and g["points"] >= len(BEFORE) + 1 else None)(
        chart_of(c, SERIES)), timeout=60)
    assert chart["source"] == "graphite"
    assert {"10", "30", "50"} <= set(chart["axis"])  # from the oldest point in graphite to ogi's latest
    assert "last 50" in chart["legend"]
    screenshot(driver, "dashboard-graphite")
    assert console_errors(driver) == []

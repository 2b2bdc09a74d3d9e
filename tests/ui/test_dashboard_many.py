"""Many open events in a real browser: the worst 200 rows are drawn, counts, search and "Show all" cover all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.ui.browser import OgiRun, click, console_errors, until

pytest.importorskip("selenium", reason="selenium (the dev extras) drives the browser")
from selenium.webdriver.common.by import By  # noqa: E402

COUNT = 205


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OgiRun]:
    run = OgiRun(tmp_path_factory.mktemp("many"), {
        "client": {"name": "busy-1", "subscriptions": [], "socket": {"port": "SOCKET_PORT"}},
        "dashboard": {"refresh": 1},
    })
    try:
        for n in range(COUNT):
            run.push({"name": f"c{n:03d}", "output": f"WARNING: item {n}", "status": 2 if n == COUNT - 1 else 1})
        wait_for(lambda: len(run.get("/events")) == COUNT, 30)
        yield run
    finally:
        run.stop()


def rows(chrome: Any) -> list[str]:
    """The rows' keys read in one script: the live refresh redraws the table every second."""
    keys: list[str] = chrome.execute_script(
        "return [...document.querySelectorAll('table.events tbody tr[data-key]')].map((r) => r.dataset.key)")
    return keys


def more_text(chrome: Any) -> str:
    return str(chrome.execute_script("return document.getElementById('more').innerText"))


def test_the_worst_200_rows_are_drawn_and_the_rest_on_demand(driver: Any, site: OgiRun) -> None:
    driver.get(f"{site.url}/ui/#/events")
    until(driver, lambda c: len(rows(c)) == 200)
    assert rows(driver)[0] == f"local/busy-1/c{COUNT - 1:03d}"  # the one critical, worst first
    counts = driver.execute_script("return document.querySelector('.counts').innerText")
    assert "1 critical" in counts and f"{COUNT - 1} warning" in counts
    assert more_text(driver).startswith(f"Showing the first 200 of {COUNT}.")
    # search covers the events not drawn
    search = driver.find_element(By.ID, "search")
    search.send_keys("item 203")
    until(driver, lambda c: rows(c) == ["local/busy-1/c203"])
    assert more_text(driver) == ""
    search.clear()
    search.send_keys(" ")  # an input event with an empty-ish query keeps every event
    until(driver, lambda c: len(rows(c)) == 200)
    click(driver, "#show-all")
    until(driver, lambda c: len(rows(c)) == COUNT)
    assert more_text(driver) == ""
    assert console_errors(driver) == []

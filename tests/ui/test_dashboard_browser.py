"""The dashboard at /ui/ in a real browser (Debian's chromium) over a real `ogi run`.

One `ogi run` ("web-1": a critical check whose output holds a <script>, a warning check, a
metric check) shows its events beside a second `ogi run` behind basic auth (site "east") and a
site that does not answer (site "dead").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import free_port, wait_for
from tests.ui.browser import OgiRun, click, console_errors, rows, screenshot, settle, until

pytest.importorskip("selenium", reason="selenium (the dev extras) drives the browser")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

DEAD = "/ui/sites/dead/"
BIG = "BIG OUTPUT " + "x" * 200_000


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OgiRun, OgiRun]]:
    base = tmp_path_factory.mktemp("dashboard")
    east = OgiRun(base / "east", {
        "api": {"user": "admin", "password": "east-secret"},
        "client": {"name": "db-east", "subscriptions": ["db"], "socket": {"port": "SOCKET_PORT"}},
        "checks": {"replication": {"command": "echo 'CRITICAL: replica 300 s behind'; exit 2",
                                   "subscribers": ["db"], "interval": 1}},
    })
    local = None
    try:
        local = OgiRun(base / "local", {
            "client": {"name": "web-1", "subscriptions": ["linux"], "socket": {"port": "SOCKET_PORT"}},
            "dashboard": {"refresh": 1, "apis": [
                {"name": "east", "url": east.url, "user": "admin", "password": "east-secret"},
                {"name": "dead", "url": f"http://127.0.0.1:{free_port()}", "timeout": 1},
            ]},
            "checks": {
                "disk": {"command": "echo 'CRITICAL: <script>window.pwned=1</script> / is 97% full'; exit 2",
                         "subscribers": ["linux"], "interval": 1},
                "swap": {"command": "echo 'WARNING: swap 81% used'; exit 1", "subscribers": ["linux"], "interval": 1},
                "load": {"type": "metric", "command": "echo \"web-1.load.load1 0.$(date +%S) $(date +%s)\"",
                         "subscribers": ["linux"], "interval": 1, "handlers": ["prom"]},
            },
            "handlers": {"prom": {"type": "prometheus"}},
        })
        wait_for(lambda: local.request("GET", "/events/web-1/disk")[0] == 200, 30)
        wait_for(lambda: east.request("GET", "/events/db-east/replication")[0] == 200, 30)
        yield local, east
    finally:
        if local is not None:
            local.stop()
        east.stop()


def open_page(chrome: Any, site: OgiRun, fragment: str) -> None:
    chrome.get(f"{site.url}/ui/#/{fragment}")
    until(chrome, lambda c: c.find_element(By.ID, "updated").text.startswith("updated"))


def text(chrome: Any) -> str:
    return chrome.find_element(By.TAG_NAME, "main").text


def test_the_events_list_shows_every_site_worst_first_and_output_with_html_as_text(driver, sites):
    local, _ = sites
    open_page(driver, local, "events")
    until(driver, lambda c: {"local/web-1/disk", "local/web-1/swap", "east/db-east/replication"} <= set(rows(c)))
    shown = rows(driver)
    assert shown.index("local/web-1/disk") < shown.index("local/web-1/swap")  # critical before warning
    cell = driver.find_element(By.CSS_SELECTOR, 'tr[data-key="local/web-1/disk"] .col-output')
    assert cell.text == "CRITICAL: <script>window.pwned=1</script> / is 97% full"
    assert driver.execute_script("return window.pwned") is None
    severity = driver.find_element(By.CSS_SELECTOR, 'tr[data-key="local/web-1/disk"] .col-severity').text
    assert severity == "CRITICAL"  # a word, not colour alone
    counts = driver.find_element(By.CSS_SELECTOR, ".counts").text
    assert "2 critical" in counts and "1 warning" in counts
    # The dead site is named in the banner and the other sites' rows stay.
    until(driver, lambda c: "Site dead" in c.find_element(By.ID, "banner").text)
    assert "east" in driver.find_element(By.CSS_SELECTOR, 'tr[data-key="east/db-east/replication"] .col-site').text
    screenshot(driver, "dashboard-events")
    assert console_errors(driver, allowed=(DEAD,)) == []


def test_search_and_filters_narrow_the_list_and_survive_the_live_refresh(driver, sites):
    local, _ = sites
    open_page(driver, local, "events")
    until(driver, lambda c: "local/web-1/swap" in rows(c))
    driver.find_element(By.ID, "search").send_keys("swap")
    assert rows(driver) == ["local/web-1/swap"]
    before = driver.find_element(By.ID, "updated").text
    until(driver, lambda c: c.find_element(By.ID, "updated").text != before)  # a refresh went by
    assert rows(driver) == ["local/web-1/swap"]
    assert driver.find_element(By.ID, "search").get_attribute("value") == "swap"
    driver.find_element(By.ID, "search").clear()
    driver.find_element(By.ID, "search").send_keys(" ")  # clear() sends no input event
    driver.find_element(By.ID, "search").clear()
    Select(driver.find_element(By.ID, "filter-severity")).select_by_value("critical")
    until(driver, lambda c: "local/web-1/swap" not in rows(c) and "local/web-1/disk" in rows(c))
    Select(driver.find_element(By.ID, "filter-severity")).select_by_value("")
    Select(driver.find_element(By.ID, "filter-subscription")).select_by_value("db")
    until(driver, lambda c: rows(c) == ["east/db-east/replication"])
    Select(driver.find_element(By.ID, "filter-subscription")).select_by_value("")
    click(driver, 'button.sort[data-sort="client"]')
    until(driver, lambda c: rows(c)[0] == "east/db-east/replication")  # db-east sorts before web-1
    click(driver, 'button.sort[data-sort="severity"]')


def test_silencing_selected_events_from_the_page_creates_the_silence_in_the_api(driver, sites):
    local, east = sites
    open_page(driver, local, "events")
    until(driver, lambda c: "east/db-east/replication" in rows(c))
    for key in ("local/web-1/disk", "east/db-east/replication"):
        click(driver, f'tr[data-key="{key}"] input[type="checkbox"]')
    settle()  # a refresh keeps the selection
    assert "2 selected" in driver.find_element(By.CSS_SELECTOR, ".actions").text
    click(driver, "#silence-selected")
    driver.find_element(By.ID, "silence-expire").send_keys("3600")
    driver.find_element(By.ID, "silence-reason").send_keys("disk swap planned")
    screenshot(driver, "dashboard-silence")
    driver.find_element(By.CSS_SELECTOR, ".silence-form button[type=submit]").click()
    until(driver, lambda c: "Silenced 2 items" in text(c))
    mine = [s for s in local.get("/silenced") if s.get("check") == "disk"]
    assert mine and mine[0]["subscription"] == "client:web-1" and mine[0]["reason"] == "disk swap planned"
    assert 3500 < mine[0]["expire"] <= 3600
    # The other site's silence went through the proxy, with credentials the browser never had.
    assert [s["check"] for s in east.get("/silenced")] == ["replication"]
    until(driver, lambda c: "silenced" in c.find_element(By.CSS_SELECTOR, 'tr[data-key="local/web-1/disk"] .col-silenced').text)
    Select(driver.find_element(By.ID, "filter-silenced")).select_by_value("no")
    until(driver, lambda c: "local/web-1/disk" not in rows(c) and "local/web-1/swap" in rows(c))
    Select(driver.find_element(By.ID, "filter-silenced")).select_by_value("")


def test_resolving_from_the_page_removes_the_event(driver, sites):
    local, _ = sites
    local.push({"name": "backup", "output": "backup failed: tape full", "status": 2})
    open_page(driver, local, "events")
    until(driver, lambda c: "local/web-1/backup" in rows(c))
    click(driver, 'tr[data-key="local/web-1/backup"] input[type="checkbox"]')
    click(driver, "#resolve-selected")
    until(driver, lambda c: "Resolved 1" in text(c))
    assert local.request("GET", "/events/web-1/backup")[0] == 404
    until(driver, lambda c: "local/web-1/backup" not in rows(c))


def test_the_event_page_has_the_history_strip_output_definition_graph_and_actions(driver, sites):
    local, _ = sites
    open_page(driver, local, "event/local/web-1/disk")
    until(driver, lambda c: len(c.find_elements(By.CSS_SELECTOR, ".strip .cell")) >= 2)
    cells = driver.find_elements(By.CSS_SELECTOR, ".strip .cell")
    assert {cell.get_attribute("aria-label") for cell in cells} == {"critical (2)"}
    assert "<script>window.pwned=1</script>" in driver.find_element(By.CSS_SELECTOR, "pre.output").text
    assert driver.execute_script("return window.pwned") is None
    assert '"command"' in driver.find_element(By.CSS_SELECTOR, "pre.json").text
    assert "client:web-1:disk" in driver.find_element(By.ID, "silenced-by").text
    until(driver, lambda c: c.find_elements(By.CSS_SELECTOR, ".graphs polyline"))  # the status history line
    driver.find_element(By.ID, "request-check").click()
    until(driver, lambda c: "Requested disk" in text(c))
    screenshot(driver, "dashboard-event")
    assert console_errors(driver, allowed=(DEAD,)) == []


def test_a_long_output_is_cut_with_a_way_to_see_all_of_it(driver, sites):
    local, _ = sites
    local.push({"name": "big", "output": BIG, "status": 1})
    wait_for(lambda: local.request("GET", "/events/web-1/big")[0] == 200, 15)
    open_page(driver, local, "event/local/web-1/big")
    until(driver, lambda c: c.find_elements(By.CSS_SELECTOR, "pre.output"))
    shown = driver.execute_script("return document.querySelector('pre.output').textContent.length")
    assert shown == 65536
    driver.find_element(By.XPATH, "//button[starts-with(., 'Show all')]").click()
    assert driver.execute_script("return document.querySelector('pre.output').textContent") == BIG
    local.request("POST", "/resolve", {"client": "web-1", "check": "big"})


def test_clients_and_the_client_page_with_its_results_and_the_graph_of_held_series(driver, sites):
    local, _ = sites
    open_page(driver, local, "clients")
    until(driver, lambda c: "web-1" in text(c) and "db-east" in text(c))
    screenshot(driver, "dashboard-clients")
    open_page(driver, local, "client/local/web-1")
    until(driver, lambda c: "Latest results" in text(c) and '"subscriptions"' in text(c))
    assert "disk" in text(driver) and "swap" in text(driver)
    # The metric check's series, as the prometheus handler keeps it, gathered while the page is open.
    until(driver, lambda c: "load_load1" in text(c))
    screenshot(driver, "dashboard-client")


def test_an_unknown_client_shows_the_api_error_not_a_blank_page(driver, sites):
    local, _ = sites
    driver.get(f"{local.url}/ui/#/client/local/no-such-host")
    until(driver, lambda c: "Cannot show this page" in text(c))
    assert "no-such-host" in text(driver)


def test_checks_silences_aggregates_and_stashes_list_and_act(driver, sites):
    local, _ = sites
    local.request("POST", "/stashes", {"path": "maintenance/web-1", "content": {"by": "ops"}})
    open_page(driver, local, "checks")
    until(driver, lambda c: "swap" in text(c))
    screenshot(driver, "dashboard-checks")
    open_page(driver, local, "silenced")
    driver.find_element(By.ID, "new-subscription").send_keys("linux")
    driver.find_element(By.ID, "new-check").send_keys("swap")
    driver.find_element(By.ID, "new-reason").send_keys("from the silenced page")
    driver.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
    until(driver, lambda c: "linux:swap" in text(c))
    assert any(s["id"] == "linux:swap" for s in local.get("/silenced"))
    screenshot(driver, "dashboard-silenced")
    click(driver, 'tr[data-id="linux:swap"] button.clear')
    until(driver, lambda c: "Cleared linux:swap" in text(c))
    assert not any(s["id"] == "linux:swap" for s in local.get("/silenced"))
    open_page(driver, local, "stashes")
    until(driver, lambda c: "maintenance/web-1" in text(c))
    open_page(driver, local, "aggregates")
    until(driver, lambda c: "Aggregate" in text(c))


def test_it_is_readable_on_a_phone(driver, sites):
    local, _ = sites
    driver.set_window_size(390, 844)
    try:
        open_page(driver, local, "events")
        until(driver, lambda c: "local/web-1/swap" in rows(c))
        # Nothing but the table's own scroller is wider than the screen.
        width = driver.execute_script("return document.documentElement.scrollWidth")
        inner = driver.execute_script("return window.innerWidth")
        assert width <= inner
        screenshot(driver, "dashboard-phone", width=390)
    finally:
        driver.set_window_size(1400, 1000)

"""`python -m bench.dashboard`: the dashboard's events list in a real browser, timed by the page.

A redis-server of the benchmark's own (a temporary directory, a free port: never the shared
Redis the tests use) holds 1,000 clients with 10 open events each; `ogi api` serves them and the
dashboard at /ui/ (`dashboard.refresh` 1 s); Debian's chromium, headless through selenium and
chromium-driver, opens `/ui/#/events`. The figures are the page's own `performance.measure`
entries (pipeline/api/ui/static/app.js), not timings taken from outside:

1. first screen: navigation start to the first events list painted (fetch of the 10,000 events
   included). Target <= 1 s.
2. update: the page refreshes every second, each time fetching all 10,000 events; the benchmark
   changes Redis between refreshes (one event resolved, a new critical one opened) and waits for
   the change on the screen. Timed per refresh that started after the change: "render", from the
   data's arrival to the paint (target <= 200 ms), and "refresh", the whole cycle with the
   GET /events of ~10 MB and its JSON parse (printed beside it).

The list draws the worst 200 rows ("Show more" draws more): counts, filters and search cover all.

Needs redis-server, chromium and chromium-driver (Debian) and selenium (the dev extras).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.api import client_doc, event_doc, percentile
from bench.private_peers import free_port
from pipeline.store.redis import RedisStore

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1920,1080"]
OGI = str(Path(sys.executable).parent / "ogi")
SEVERITY_MIX = (2, 2, 1, 1, 1, 3, 2, 1, 1, 2)  # per client: 4 critical, 5 warning, 1 unknown


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def event(client: dict[str, Any], n: int) -> dict[str, Any]:
    doc = event_doc(client, n)
    doc["check"]["status"] = SEVERITY_MIX[n % len(SEVERITY_MIX)]
    return doc


async def fill(port: int, clients: int, per_client: int) -> float:
    store = RedisStore({"host": "127.0.0.1", "port": port})
    began = time.perf_counter()
    try:
        for i in range(clients):
            client = client_doc(i)
            await store.put_client(client)
            for n in range(per_client):
                await store.put_event(event(client, n))
    finally:
        await store.close()
    return time.perf_counter() - began


async def change(port: int, round_: int) -> str:
    """Resolve one event and open a new one; returns the new event's row key in the page."""
    store = RedisStore({"host": "127.0.0.1", "port": port})
    try:
        client = client_doc(round_)
        await store.delete_event(client["name"], "check-0")
        new = event(client, 100 + round_)
        new["check"]["status"], new["last_state_change"] = 2, int(time.time())  # the newest critical: row 1
        await store.put_event(new)
    finally:
        await store.close()
    return f"local/{client['name']}/check-{100 + round_}"


def measures(chrome: Any, name: str) -> list[float]:
    found: list[float] = chrome.execute_script(
        "return performance.getEntriesByName(arguments[0], 'measure').map((m) => m.duration)", name)
    return found


def fetches(chrome: Any) -> list[float]:
    found: list[float] = chrome.execute_script(
        "return performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/events'))"
        ".map((r) => r.duration)")
    return found


def run(args: argparse.Namespace) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    base = Path(tempfile.mkdtemp(prefix="ogi-bench-dashboard-"))
    redis_port, api_port = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                              "--appendonly", "no", "--dir", str(base)], stdout=subprocess.DEVNULL)
    api: subprocess.Popen[bytes] | None = None
    chrome: Any = None
    try:
        wait(lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True,
                                    text=True).stdout.strip() == "PONG", 20, "redis-server")
        fill_s = asyncio.run(fill(redis_port, args.clients, args.events_per_client))
        events = args.clients * args.events_per_client
        print(json.dumps({"clients": args.clients, "events": events, "fill_s": round(fill_s, 2)}), flush=True)
        config = {"api": {"port": api_port}, "redis": {"host": "127.0.0.1", "port": redis_port},
                  "transport": {"name": "memory"}, "dashboard": {"refresh": 1}}
        (base / "config.json").write_text(json.dumps(config))
        api = subprocess.Popen([OGI, "api", "-c", str(base / "config.json"), "-L", "warn"],
                               stdout=subprocess.DEVNULL, stderr=open(base / "api.log", "wb"))  # noqa: SIM115
        url = f"http://127.0.0.1:{api_port}"
        wait(lambda: answers(f"{url}/info"), 30, "ogi api")

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={base / 'chromium'}"]:
            options.add_argument(flag)
        chrome = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        chrome.set_script_timeout(30)
        firsts = []
        for _ in range(args.loads):  # a fresh navigation each time: the page's first screen
            chrome.get("about:blank")
            chrome.get(f"{url}/ui/#/events")
            firsts.append(wait(lambda: measures(chrome, "ogi-first-screen"), 60, "the first screen")[0])
        rows = chrome.execute_script("return document.querySelectorAll('table.events tbody tr[data-key]').length")
        print(json.dumps({
            "benchmark": f"dashboard first screen, {events} open events over {args.clients} clients (Redis)",
            "loads": len(firsts), "rows_drawn": rows, "median_ms": round(percentile(firsts, 0.5)),
            "worst_ms": round(max(firsts)), "events_fetch_ms": round(fetches(chrome)[0]), "target_ms": 1000,
        }), flush=True)

        renders: list[float] = []
        refreshes: list[float] = []
        for round_ in range(args.updates):
            seen = len(measures(chrome, "ogi-refresh"))
            key = asyncio.run(change(redis_port, round_))
            # a refresh that started after the change (the one in flight may predate it), and the change shown
            wait(lambda n=seen: len(measures(chrome, "ogi-refresh")) > n + 1, 30, "a refresh after the change")
            wait(lambda k=key: chrome.execute_script(
                "return document.querySelector('table.events tbody tr[data-key]').dataset.key === arguments[0]", k),
                30, "the change on the screen")
            refresh, render = chrome.execute_script(
                """const r = performance.getEntriesByName('ogi-refresh', 'measure')[arguments[0]];
                   const d = performance.getEntriesByName('ogi-render', 'measure')
                     .find((m) => m.startTime + m.duration === r.startTime + r.duration);
                   return [r.duration, d.duration];""", seen + 1)
            refreshes.append(refresh)
            renders.append(render)
        all_fetches = fetches(chrome)[-args.updates:]
        print(json.dumps({
            "benchmark": f"dashboard update: a change in Redis drawn by the next refresh ({events} events)",
            "updates": len(renders), "render_median_ms": round(percentile(renders, 0.5)),
            "render_worst_ms": round(max(renders)), "target_render_ms": 200,
            "refresh_median_ms": round(percentile(refreshes, 0.5)), "refresh_worst_ms": round(max(refreshes)),
            "events_fetch_median_ms": round(percentile(all_fetches, 0.5)),
        }), flush=True)
    finally:
        if chrome is not None:
            chrome.quit()
        for process in (api, redis):
            if process is not None:
                process.terminate()
                process.wait(15)
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events-per-client", type=int, default=10)
    parser.add_argument("--loads", type=int, default=3, help="page loads timed for the first screen")
    parser.add_argument("--updates", type=int, default=5, help="changes timed through refreshes")
    run(parser.parse_args())


if __name__ == "__main__":
    main()

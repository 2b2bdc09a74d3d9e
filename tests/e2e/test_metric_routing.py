"""The issue-15 scenario end to end: a real Nagios `check_load` run by the agent for client `web-01`,
`handlers: ["mail"]` (a pipe) and `output_metric_handlers: ["graphite", "prometheus"]`.

Points reach a real carbon-cache under `test.web-01.` (the graphite `prefix` with a token) on every
run, and a real Prometheus that scrapes ogi's `/metrics` every second reads `load1{client="web-01"}`
back with the last run's value through its HTTP API; the pipe handler hears of state changes only.
The agent's clock is set a minute back on 10 s steps so that whisper keeps one slot per run.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bench.carbon import Carbon, available
from pipeline.agent.agent import Agent
from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.metrics.exporter import Exporter, listener_access, start_exporter
from pipeline.registry import default_registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from tests.helpers import events_in, require_service
from tests.prometheus_peers import query, running_prometheus

CHECK_LOAD = Path("/usr/lib/nagios/plugins/check_load")
OK = f"{CHECK_LOAD} -w 1000,1000,1000 -c 2000,2000,2000"
CRITICAL = f"{CHECK_LOAD} -w 0,0,0 -c 0,0,0"  # any load above 0.00 is critical


@pytest.fixture
def carbon(tmp_path: Path) -> Iterator[Carbon]:
    require_service("carbon-cache", available=available())
    require_service("monitoring-plugins-basic", available=CHECK_LOAD.exists())
    server = Carbon(tmp_path / "carbon")
    server.start()
    try:
        yield server
    finally:
        server.stop(graceful=False)


async def test_check_load_feeds_carbon_and_prometheus_every_run_and_mails_only_state_changes(
    carbon: Carbon, tmp_path: Path,
) -> None:
    mail = tmp_path / "mail.jsonl"
    settings: dict[str, Any] = {
        "client": {"name": "web-01", "address": "127.0.0.1", "subscriptions": ["linux"]},
        "checks": {"load": {"command": OK, "subscribers": ["linux"], "interval": 10,
                            "output_metric_format": "nagios_perfdata", "handlers": ["mail"],
                            "output_metric_handlers": ["graphite", "prometheus"]}},
        "handlers": {
            "mail": {"type": "pipe", "command": f"cat >> {shlex.quote(str(mail))}; echo >> {shlex.quote(str(mail))}"},
            "graphite": {"type": "graphite", "host": "127.0.0.1", "port": carbon.port,
                         "prefix": "test.:::client.name:::"},
            "prometheus": {"type": "prometheus"},
        },
    }
    store, registry = MemoryStore(), CollectorRegistry()
    typed = settings_of(settings)
    engine = Engine(typed, Context(settings=typed, store=store, metrics=registry), default_registry)
    processor = ResultProcessor(typed, store, engine, metrics=registry)
    base = int(time.time()) // 10 * 10 - 60
    now = [float(base)]
    transport = MemoryTransport()
    results = await transport.subscribe("results")
    agent = Agent(typed, transport, clock=lambda: now[0], env={})
    commands = [OK, OK, CRITICAL, OK, OK]
    with running_prometheus(tmp_path / "prometheus") as prometheus:
        exporter = None
        try:
            for step, command in enumerate(commands):
                now[0] = base + 10 * step
                await agent.run_check({**settings["checks"]["load"], "name": "load", "command": command})
                async for message in results:
                    async with message.process():
                        last_output = json.loads(message.body)["check"]["output"]
                        await processor.process_message(message.body)
                    break
            page = (await Exporter(store, registry).render()).decode()
            # Served only now, so that every scrape Prometheus makes sees the last run's value.
            exporter = await start_exporter(
                listener_access({"metrics": {"bind": "127.0.0.1", "port": prometheus.exporter_port}}), store, registry)
            async with aiohttp.ClientSession() as session:
                [scraped] = await query(session, prometheus, 'load1{client="web-01",check="load",job="ogi"}')
        finally:
            if exporter is not None:
                await exporter.stop()
            await engine.close()

    mailed = events_in(mail)
    assert [(e["action"], e["check"]["status"]) for e in mailed] == [("create", 2), ("resolve", 0)]
    slots = [base + 10 * step for step in range(len(commands))]
    found = carbon.wait_for(carbon.file("test.web-01.load1"), dict.fromkeys(slots, 0.0))
    assert sorted(found) == slots, "one point per run, OK or not, under the client's name"
    samples = {(s.name, s.labels.get("client"), s.labels.get("check"))
               for family in text_string_to_metric_families(page) for s in family.samples}
    assert ("load1", "web-01", "load") in samples
    assert ("load15", "web-01", "load") in samples
    # the real Prometheus holds the value check_load printed on the last run
    last_load1 = re.search(r"\bload1=([0-9.]+)", last_output)
    assert last_load1 is not None, last_output
    assert float(scraped["value"][1]) == float(last_load1.group(1))

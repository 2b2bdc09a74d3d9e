"""Series named by the client: the agent tells every check its client's name, plugins use it, the
`prometheus` handler strips it (or the host's name), the `graphite` prefix takes tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.agent.agent import Agent
from pipeline.config.load import settings_of
from pipeline.metrics.graphite_mapping import Mapper, parse_series_id
from pipeline.metrics.prefix import PrefixTemplate
from pipeline.transport.memory import MemoryTransport

BIN = Path(sys.executable).parent


async def run(settings: dict[str, Any], command: str) -> dict[str, Any]:
    transport = MemoryTransport()
    result = await Agent(settings_of(settings), transport, env={}).run_check({"name": "naming", "command": command})
    assert result is not None
    return result


async def test_every_check_gets_the_client_and_check_names_in_its_environment() -> None:
    result = await run({"client": {"name": "web-01", "address": "127.0.0.1"}},
                       'echo "$OGI_CLIENT_NAME $OGI_CHECK_NAME"')
    assert result["output"] == "web-01 naming\n"


async def test_an_ogi_metrics_plugin_run_by_the_agent_names_its_series_by_the_client() -> None:
    result = await run({"client": {"name": "web-01.example.org"}}, f"{BIN / 'ogi-metrics-load'}")
    paths = [line.split(" ")[0] for line in result["output"].splitlines()]
    assert paths and all(p.startswith("web-01_example_org.load.") for p in paths), paths


def test_run_by_hand_a_plugin_falls_back_to_the_host_name() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OGI_CLIENT_NAME"}
    done = subprocess.run([str(BIN / "ogi-metrics-load")], capture_output=True, text=True, env=env, timeout=30)
    host = os.uname().nodename.replace(".", "_")
    assert done.stdout.startswith(f"{host}.load.")


def test_the_prometheus_naming_strips_the_client_or_the_host_name() -> None:
    mapper = Mapper([])

    def name(path: str, host: str = "") -> str:
        sid = mapper.series_id("web-01", "load", path, (), host)
        assert sid is not None
        return parse_series_id(sid)[0]

    assert name("web-01.load.load1") == "load_load1"
    assert name("vm.load.load1", host="vm") == "load_load1"
    assert name("vm.example.org.load.load1", host="vm.example.org") == "load_load1", "Ruby plugins keep the dots"
    assert name("vm_example_org.load.load1", host="vm.example.org") == "load_load1"
    assert name("db-02.load.load1", host="vm") == "db_02_load_load1", "another node is kept"


def test_a_graphite_prefix_takes_tokens_from_the_client_and_the_check() -> None:
    client = {"name": "web-01.example.org", "environment": "prod"}
    check = {"name": "load"}
    assert PrefixTemplate("ogi.:::client.name:::").render(check, client) == "ogi.web-01_example_org"
    assert PrefixTemplate(":::environment:::.:::name:::.:::check.name:::").render(check, client) == \
        "prod.web-01_example_org.load"
    assert PrefixTemplate("ogi.:::rack|r0:::.:::zone:::").render(check, client) == "ogi.r0", \
        "a default fills in; an unmatched token and its empty node are left out"

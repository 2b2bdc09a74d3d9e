"""contrib/grafana/ and docs/graphs.md as test data: the dashboards, their targets, the docs' render
URLs and `sed`, and what ogi's metric plugins print on this machine.

tests/metrics/test_grafana.py checks the dashboards against these; tests/e2e/test_graphite_web.py
runs their targets in graphite-web.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers import ROOT

GRAFANA = ROOT / "contrib" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
GRAPHS_DOC = ROOT / "docs" / "graphs.md"
BIN = Path(sys.executable).parent
#: console script suffix -> the last node of its default scheme
METRIC_PLUGINS = {
    "cpu": "cpu", "load": "load", "memory": "memory", "swap": "swap", "disk-usage": "disk_usage",
    "disk-io": "disk_io", "interface": "interface", "processes": "processes", "uptime": "uptime",
    "vmstat": "vmstat", "tcp": "tcp",
}


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in DASHBOARDS}


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, the ones inside collapsed rows too."""
    found = []
    for panel in board.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def substitute(text: str, values: dict[str, str]) -> str:
    """Grafana's variable syntaxes `$name`, `${name}` and `[[name]]` with one value each."""
    for name, value in values.items():
        text = re.sub(rf"\$\{{{name}\}}|\[\[{name}\]\]|\${name}\b", value, text)
    return text


#: The client the plugins run for: a name other than this host's, as on nearly every Sensu site, so
#: the dashboards are shown to work for a client whose name is not its hostname.
CLIENT = "dash-client-01"


def plugin_run(script: str, *args: str) -> list[str]:
    exe = BIN / script
    assert exe.exists(), f"{exe} is missing: run `.venv/bin/pip install -e .` to install the console scripts"
    # as the agent runs every check: with the client's name in OGI_CLIENT_NAME
    env = {**os.environ, "OGI_CLIENT_NAME": CLIENT}
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def root_fs_type() -> str:
    return next(line.split()[2] for line in reversed(Path("/proc/mounts").read_text().splitlines())
                if line.split()[1] == "/")


def plugin_output() -> dict[str, list[str]]:
    """Each metric plugin's Graphite lines, run here for client CLIENT under its default scheme."""
    found = {name: plugin_run(f"ogi-metrics-{name}") for name in METRIC_PLUGINS}
    # In a container / is an overlay, which disk-usage skips as a pseudo filesystem; the dashboard's
    # paths are the same for any mount, so ask for / by its type rather than find no mount at all.
    found["disk-usage"] += [line for line in plugin_run("ogi-metrics-disk-usage", "-m", "/", "--type", root_fs_type())
                            if line not in found["disk-usage"]]
    return found


def doc_render_targets() -> list[tuple[str, str]]:
    """The `target=` of every render URL in docs/graphs.md, URL-decoded."""
    found = []
    for url in re.findall(r"https?://[^\s'\"`)]+/render\?[^\s'\"`]+", GRAPHS_DOC.read_text()):
        for target in parse_qs(urlsplit(url).query)["target"]:
            # the docs' example host is ours here
            found.append((f"docs/graphs.md {url}", re.sub(r"(?<![\w.])web01\.", "$host.", target)))
    return found


def prefixed_host_overview(tmp_path: Path) -> dict[str, Any]:
    """host-overview.json after the `sed` that docs/graphs.md gives for a graphite handler's prefix `ogi`."""
    blocks = re.findall(r"```sh\n(.*?)```", GRAPHS_DOC.read_text(), re.S)
    [command] = [re.sub(r"\\\n\s*", "", block).strip() for block in blocks if block.lstrip().startswith("sed -i")]
    copy = tmp_path / "host-overview.json"
    shutil.copy(GRAFANA / "dashboards" / "host-overview.json", copy)
    assert command.endswith(" /var/lib/grafana/dashboards/ogi/host-overview.json"), command
    command = command.replace("/var/lib/grafana/dashboards/ogi/host-overview.json", str(copy))
    subprocess.run(["bash", "-c", command], check=True, capture_output=True)
    board: dict[str, Any] = json.loads(copy.read_text())
    return board

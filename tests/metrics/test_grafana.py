"""contrib/grafana/ as data: the provisioning files parse, the dashboards are well formed, every
panel's datasource is provisioned, every Graphite target names series that ogi's metric plugins
really print on this machine, and every Prometheus query names series that ogi really exports.

Grafana itself is in neither Debian nor npm, so nothing here runs it; graphite-web does run the
targets in tests/e2e/test_graphite_web.py.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.metrics.exporter import Exporter
from pipeline.metrics.graphite_mapping import Mapper, compile_rules, parse_series_id
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from plugins.counters import prometheus_path
from tests.grafana_boards import (
    CLIENT,
    DASHBOARDS,
    GRAFANA,
    GRAPHS_DOC,
    all_panels,
    doc_render_targets,
    load_dashboards,
    plugin_output,
    prefixed_host_overview,
    substitute,
)
from tests.helpers import ROOT

DATASOURCES = GRAFANA / "provisioning" / "datasources" / "ogi.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "ogi.yaml"
GRID_COLUMNS = 24


# --- a YAML reader for the provisioning files ------------------------------------------------------------
# PyYAML is not a dependency of ogi; the provisioning files keep to block mappings, block lists of
# mappings and plain or double-quoted scalars, and this reader refuses anything else rather than guess.

class YamlSubsetError(ValueError):
    pass


#: Words YAML 1.1 readers (PyYAML, Grafana's Go reader in places) take for booleans.
YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def _scalar(text: str, where: int) -> Any:
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"') or '"' in text[1:-1] or "\\" in text:
            raise YamlSubsetError(f"line {where}: unsupported quoted scalar {text!r}")
        return text[1:-1]
    if text[:1] in ("'", "[", "{", "&", "*", "!", "|", ">", "%", "@", "`") or " #" in text:
        raise YamlSubsetError(f"line {where}: unsupported scalar {text!r}")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~", ""):
        return None
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", text):
        return float(text)
    if text.lower() in YAML11_BOOLEANS:
        raise YamlSubsetError(f"line {where}: {text!r} means a boolean to some YAML readers: quote it")
    return text


def load_yaml_subset(text: str) -> Any:
    """Parse the block-style subset of YAML the provisioning files use."""
    lines: list[tuple[int, int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw:
            raise YamlSubsetError(f"line {number}: tab")
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lines.append((number, len(raw) - len(raw.lstrip(" ")), stripped))
    value, end = _block(lines, 0, lines[0][1] if lines else 0)
    if end != len(lines):
        raise YamlSubsetError(f"line {lines[end][0]}: unexpected indentation")
    return value


def _block(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][2].startswith("- ") or lines[i][2] == "-":
        items: list[Any] = []
        while i < len(lines) and lines[i][1] == indent and lines[i][2].startswith("-"):
            number, _, content = lines[i]
            rest = content[1:].lstrip(" ")
            if not rest:
                raise YamlSubsetError(f"line {number}: empty list item")
            if ":" not in rest.replace("://", ""):
                items.append(_scalar(rest, number))
                i += 1
                continue
            # "- key: value" opens a mapping whose further keys sit two columns in
            inner = indent + (len(content) - len(rest))
            lines[i] = (number, inner, rest)
            item, i = _block(lines, i, inner)
            items.append(item)
        return items, i
    mapping: dict[str, Any] = {}
    while i < len(lines) and lines[i][1] == indent:
        number, _, content = lines[i]
        key, sep, rest = content.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or (rest and not rest.startswith(" ")):
            raise YamlSubsetError(f"line {number}: not a `key: value` line: {content!r}")
        if key.lower() in YAML11_BOOLEANS:
            raise YamlSubsetError(f"line {number}: the key {key!r} means a boolean to some YAML readers")
        if key in mapping:
            raise YamlSubsetError(f"line {number}: duplicate key {key!r}")
        rest = rest.strip()
        i += 1
        if rest:
            mapping[key] = _scalar(rest, number)
        elif i < len(lines) and lines[i][1] > indent:
            mapping[key], i = _block(lines, i, lines[i][1])
        elif i < len(lines) and lines[i][1] == indent and lines[i][2].startswith("-"):
            mapping[key], i = _block(lines, i, indent)  # a list may sit at its key's indentation
        else:
            mapping[key] = None
    if i < len(lines) and lines[i][1] > indent:
        raise YamlSubsetError(f"line {lines[i][0]}: unexpected indentation")
    return mapping, i


def test_the_yaml_reader_reads_nested_lists_and_refuses_what_it_does_not_know() -> None:
    text = 'a: 1\nb:\n  - name: x\n    when: "yes"\n    deep:\n      k: true\n  - name: z\nc:\n- 2.5\n'
    assert load_yaml_subset(text) == {"a": 1, "b": [{"name": "x", "when": "yes", "deep": {"k": True}}, {"name": "z"}],
                                      "c": [2.5]}
    for bad in ("on: 1\n", "a: [1, 2]\n", "a: {b: 1}\n", "a: yes\n", "a: 1\na: 2\n", "a:\n    b: 1\n  c: 2\n", "a: x # c\n",
                "a: &anchor 1\n"):
        with pytest.raises(YamlSubsetError):
            load_yaml_subset(bad)


def load_provisioning(path: Path) -> Any:
    return load_yaml_subset(path.read_text())


@pytest.mark.parametrize("path", [DATASOURCES, PROVIDERS], ids=lambda p: p.parent.name)
def test_a_real_yaml_parser_reads_the_provisioning_files_as_the_test_does(path: Path) -> None:
    python = shutil.which("python3", path="/usr/bin")
    probe = subprocess.run([python, "-c", "import yaml"], capture_output=True) if python else None
    if probe is None or probe.returncode != 0:
        pytest.skip("Debian's python3-yaml is not installed to cross-check the reader")
    assert python is not None
    done = subprocess.run(
        [python, "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", str(path)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": ""},
    )
    assert json.loads(done.stdout) == load_provisioning(path)


# --- provisioning -----------------------------------------------------------------------------------------

def datasources() -> dict[str, dict[str, Any]]:
    """Provisioned datasources by uid."""
    return {ds["uid"]: ds for ds in load_provisioning(DATASOURCES)["datasources"]}


def test_the_datasources_are_graphite_and_prometheus_with_the_uids_the_dashboards_use() -> None:
    doc = load_provisioning(DATASOURCES)
    assert doc["apiVersion"] == 1
    listed = doc["datasources"]
    assert len({ds["uid"] for ds in listed}) == len(listed) and len({ds["name"] for ds in listed}) == len(listed)
    found = datasources()
    assert {uid: ds["type"] for uid, ds in found.items()} == {"ogi-graphite": "graphite", "ogi-prom": "prometheus"}
    for ds in listed:
        assert ds["access"] == "proxy"
        assert re.fullmatch(r"http://[^/\s]+:[0-9]+", ds["url"]), ds["url"]
    assert found["ogi-graphite"]["jsonData"]["graphiteVersion"] == "1.1"  # a string: Grafana compares it as one
    assert sum(bool(ds.get("isDefault")) for ds in listed) == 1


def test_the_dashboard_provider_loads_the_folder_the_docs_copy_the_dashboards_to() -> None:
    doc = load_provisioning(PROVIDERS)
    assert doc["apiVersion"] == 1
    [provider] = doc["providers"]
    assert provider["type"] == "file" and provider["orgId"] == 1
    path = provider["options"]["path"]
    assert path == "/var/lib/grafana/dashboards/ogi"
    doc_text = GRAPHS_DOC.read_text()
    assert f"cp contrib/grafana/dashboards/*.json {path}/\n" in doc_text, "docs/graphs.md copies them elsewhere"
    for copied, where in ((DATASOURCES, "datasources"), (PROVIDERS, "dashboards")):
        assert f"cp {copied.relative_to(ROOT)} /etc/grafana/provisioning/{where}/\n" in doc_text


# --- dashboards -------------------------------------------------------------------------------------------


def test_there_is_a_graphite_host_overview_and_a_prometheus_dashboard() -> None:
    boards = load_dashboards()
    assert {"host-overview.json", "checks.json"} <= set(boards)
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids), "dashboard uids must be unique"
    assert len({board["title"] for board in boards.values()}) == len(boards)
    for name, board in boards.items():
        assert "dashboard" not in board, f"{name}: a provisioned file is the bare dashboard, not the API's wrapper"
        assert "id" not in board or board["id"] is None, f"{name}: Grafana assigns ids"
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"]), board["uid"]
        assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
        assert {"from", "to"} <= set(board["time"])


@pytest.mark.parametrize("name", [p.name for p in DASHBOARDS])
def test_panel_ids_are_unique_and_panels_fit_the_grid_without_overlapping(name: str) -> None:
    board = load_dashboards()[name]
    panels = all_panels(board)
    ids = [panel["id"] for panel in panels]
    assert all(isinstance(i, int) and i > 0 for i in ids) and len(set(ids)) == len(ids), ids
    boxes = []
    for panel in panels:
        pos = panel["gridPos"]
        assert set(pos) == {"x", "y", "w", "h"} and all(isinstance(v, int) for v in pos.values()), panel["title"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0, panel["title"]
        assert pos["x"] + pos["w"] <= GRID_COLUMNS, f"{panel['title']} is wider than the grid"
        if panel["type"] == "row":
            assert (pos["x"], pos["w"], pos["h"]) == (0, GRID_COLUMNS, 1), panel["title"]
        boxes.append((panel["title"], pos))
    for (a, p), (b, q) in itertools.combinations(boxes, 2):
        apart = (p["x"] + p["w"] <= q["x"] or q["x"] + q["w"] <= p["x"]
                 or p["y"] + p["h"] <= q["y"] or q["y"] + q["h"] <= p["y"])
        assert apart, f"panels {a!r} and {b!r} overlap"


@pytest.mark.parametrize("name", [p.name for p in DASHBOARDS])
def test_every_panel_and_variable_uses_a_provisioned_datasource_of_the_right_type(name: str) -> None:
    board = load_dashboards()[name]
    provisioned = datasources()
    users = [(f"variable {v['name']}", v) for v in board["templating"]["list"] if v["type"] == "query"]
    users += [(f"panel {p['title']}", p) for p in all_panels(board) if p["type"] != "row"]
    for who, item in users:
        ref = item["datasource"]
        assert ref["uid"] in provisioned, f"{who}: datasource {ref['uid']} is not provisioned"
        assert ref["type"] == provisioned[ref["uid"]]["type"], who
        for target in item.get("targets", []):
            assert target.get("datasource", ref) == ref, f"{who}: a target on another datasource"
    for panel in all_panels(board):
        if panel["type"] == "row":
            continue
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), f"{panel['title']}: refIds {refs}"


@pytest.mark.parametrize("name", [p.name for p in DASHBOARDS])
def test_every_variable_a_query_uses_is_defined_and_a_repeated_row_repeats_a_multi_value_one(name: str) -> None:
    board = load_dashboards()[name]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for panel in all_panels(board):
        texts = [panel.get("title", "")] + [t.get("target", t.get("expr", "")) for t in panel.get("targets", [])]
        for text in texts:
            for used in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text):
                assert used in variables or used.startswith("__"), f"{panel['title']}: ${used} is not defined"
        if "repeat" in panel:
            assert variables[panel["repeat"]]["multi"], panel["title"]


# --- Graphite targets -------------------------------------------------------------------------------------

#: Graphite 1.1 functions the dashboards and the docs may use (graphite-web runs them in tests/e2e).
GRAPHITE_FUNCTIONS = {
    "alias", "aliasByNode", "aliasByMetric", "aliasSub", "asPercent", "averageSeries", "divideSeries", "exclude",
    "groupByNode", "highestMax", "maxSeries", "nonNegativeDerivative", "perSecond", "removeEmptySeries", "scale",
    "scaleToSeconds", "sortByName", "sumSeries", "summarize",
}


@dataclass
class GraphiteTarget:
    """What a render target is made of: function names and series path expressions."""

    functions: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def parse_target(text: str) -> GraphiteTarget:
    """Split a Graphite target into its functions and series paths; raises ValueError when malformed."""
    found = GraphiteTarget()
    end = _expression(text, 0, found)
    if text[end:].strip():
        raise ValueError(f"trailing text in {text!r} at {end}")
    return found


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] == " ":
        i += 1
    return i


def _expression(text: str, i: int, found: GraphiteTarget) -> int:
    i = _skip(text, i)
    if i < len(text) and text[i] in "'\"":
        close = text.find(text[i], i + 1)
        if close < 0:
            raise ValueError(f"unclosed string in {text!r}")
        return close + 1
    start, depth = i, 0
    while i < len(text) and (depth or text[i] not in "(), "):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    word = text[start:i]
    if not word:
        raise ValueError(f"empty argument in {text!r} at {start}")
    if _skip(text, i) < len(text) and text[_skip(text, i)] == "(":
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", word):
            raise ValueError(f"bad function name {word!r}")
        found.functions.append(word)
        i = _skip(text, _skip(text, i) + 1)
        if i < len(text) and text[i] == ")":
            return i + 1
        while True:
            i = _skip(text, _expression(text, i, found))
            if i < len(text) and text[i] == ",":
                i += 1
                continue
            if i < len(text) and text[i] == ")":
                return i + 1
            raise ValueError(f"expected , or ) in {text!r} at {i}")
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?|true|false|None", word):
        return i
    found.paths.append(word)
    return i


def expand_braces(path: str) -> list[str]:
    """`a.{b,c}.d` -> `a.b.d`, `a.c.d` (Graphite's alternation, not nested)."""
    match = re.search(r"\{([^{}]*)\}", path)
    if match is None:
        return [path]
    return [out for alt in match.group(1).split(",")
            for out in expand_braces(path[:match.start()] + alt + path[match.end():])]


def graphite_matches(pattern: str, series: set[str]) -> set[str]:
    """The series a brace-free Graphite glob matches: node by node, `*` never crossing a dot."""
    nodes = pattern.split(".")
    return {s for s in series
            if len(s.split(".")) == len(nodes)
            and all(fnmatch.fnmatchcase(n, p) for n, p in zip(s.split("."), nodes, strict=True))}


def test_the_target_parser_finds_functions_and_paths_in_nested_calls() -> None:
    got = parse_target("aliasByNode(asPercent(perSecond(h.cpu.total.{user,idle}), sumSeries(h.x.*)), 3, 'a,b')")
    assert got.functions == ["aliasByNode", "asPercent", "perSecond", "sumSeries"]
    assert got.paths == ["h.cpu.total.{user,idle}", "h.x.*"]
    assert expand_braces("h.{a,b}.{c,d}") == ["h.a.c", "h.a.d", "h.b.c", "h.b.d"]
    assert graphite_matches("h.*.c", {"h.a.c", "h.a.b.c", "h.b.c", "x.a.c"}) == {"h.a.c", "h.b.c"}
    assert substitute("$host.a ${host}.b [[host]].c $hostname", {"host": "vm"}) == "vm.a vm.b vm.c $hostname"
    for bad in ("sumSeries(a.b", "f(a.b,)", "a.b c", "sum-it(a)"):
        with pytest.raises(ValueError):
            parse_target(bad)


@pytest.fixture(scope="module")
def plugins_here() -> dict[str, list[str]]:
    return plugin_output()


@pytest.fixture(scope="module")
def series_here(plugins_here: dict[str, list[str]]) -> tuple[str, set[str]]:
    """(the host's node, every series path the plugins print here)."""
    paths = {line.split(" ")[0] for lines in plugins_here.values() for line in lines}
    hosts = {path.split(".")[0] for path in paths}
    assert hosts == {CLIENT} != {os.uname().nodename}, "the plugins name series by the client, not the host"
    return hosts.pop(), paths


def graphite_targets() -> list[tuple[str, str]]:
    """(where, target) for every Graphite target of every dashboard."""
    found = []
    for name, board in load_dashboards().items():
        for panel in all_panels(board):
            if panel.get("datasource", {}).get("type") == "graphite":
                found += [(f"{name}: {panel['title']} {t['refId']}", t["target"]) for t in panel["targets"]]
    return found


def test_the_host_overview_graphs_every_plugin_it_promises() -> None:
    targets = " ".join(t for _, t in graphite_targets())
    for subtree in ("load", "cpu", "memory", "swap", "disk_usage", "disk_io", "interface", "processes", "tcp",
                    "uptime"):
        assert f"$host.{subtree}." in targets, subtree


def test_every_graphite_target_names_series_the_plugins_print_here(series_here: tuple[str, set[str]]) -> None:
    host, series = series_here
    assert_targets_match(graphite_targets() + doc_render_targets(), host, series)
    assert len(doc_render_targets()) >= 5, "docs/graphs.md shows render URLs"


def assert_targets_match(targets: list[tuple[str, str]], host: str, series: set[str]) -> None:
    for where, target in targets:
        parsed = parse_target(target)
        assert parsed.paths, f"{where}: no series in {target!r}"
        assert set(parsed.functions) <= GRAPHITE_FUNCTIONS, f"{where}: {set(parsed.functions) - GRAPHITE_FUNCTIONS}"
        for path in parsed.paths:
            for alternative in expand_braces(substitute(path, {"host": host})):
                assert graphite_matches(alternative, series), (
                    f"{where}: {alternative!r} (from {path!r}) matches nothing the plugins print here")


def test_the_docs_sed_for_a_graphite_prefix_moves_every_target_and_the_host_list_under_it(
        tmp_path: Path, series_here: tuple[str, set[str]]) -> None:
    host, series = series_here
    board = prefixed_host_overview(tmp_path)
    [variable] = board["templating"]["list"]
    assert (variable["query"], variable["definition"]) == ("ogi.*", "ogi.*")
    targets = [(f"prefixed: {p['title']}", t["target"]) for p in all_panels(board) if p["type"] != "row"
               for t in p["targets"]]
    assert targets and all("ogi.$host." in t for _, t in targets)
    assert_targets_match(targets, host, {f"ogi.{s}" for s in series})


def test_the_host_variable_lists_the_hosts_and_leaves_carbons_own_tree_out(series_here: tuple[str, set[str]]) -> None:
    host, _ = series_here
    [variable] = load_dashboards()["host-overview.json"]["templating"]["list"]
    assert variable["name"] == "host" and variable["multi"] and variable["includeAll"]
    assert variable["query"] == "*", "with no prefix in the graphite handler the hosts are the top nodes"
    # Grafana keeps a node when the regex matches, as its first group; the JavaScript syntax is Python's here
    regex = re.compile(variable["regex"].strip("/"))

    def kept(node: str) -> str | None:
        match = regex.search(node)
        return None if match is None else (match.group(1) if match.groups() else node)

    assert kept(host) == host and kept("web-01_example_com") == "web-01_example_com"
    assert kept("carbon") is None and kept("carbonara") == "carbonara"


# --- Prometheus queries -----------------------------------------------------------------------------------

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                   "offset", "inf", "nan"}
#: Labels Prometheus adds to every scraped series.
SCRAPE_LABELS = {"job", "instance"}


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression refers to."""
    labels: set[str] = set()
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    for matchers in re.findall(r"\{([^}]*)\}", text):
        labels |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors: [5m], [$__rate_interval]
    for grouping in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels |= {label.strip() for label in grouping.split(",") if label.strip()}
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    metrics = {name for name, call in re.findall(r"(?<![\w$.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text)
               if not call and name.lower() not in PROMQL_KEYWORDS}
    return metrics, labels


def test_the_promql_reader_tells_metrics_from_functions_labels_and_keywords() -> None:
    expr = ('sum by (handler) (rate(ogi_x_total{client=~"$client", check!="a{b}"}[$__rate_interval])) '
            "/ on (client) group_left load_load1 > bool 2 or vector(0)")
    assert promql_names(expr) == ({"ogi_x_total", "load_load1"}, {"handler", "client", "check"})


def prometheus_exprs() -> list[tuple[str, str]]:
    found = []
    for name, board in load_dashboards().items():
        for variable in board["templating"]["list"]:
            if variable.get("datasource", {}).get("type") == "prometheus":
                query = re.fullmatch(r"label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)", variable["query"])
                assert query, f"{name}: variable {variable['name']}: {variable['query']!r}"
                found.append((f"{name}: variable {variable['name']}", f"{query.group(1)} by ({query.group(2)})"))
        for panel in all_panels(board):
            if panel.get("datasource", {}).get("type") == "prometheus":
                found += [(f"{name}: {panel['title']} {t['refId']}", t["expr"]) for t in panel["targets"]]
    for block in re.findall(r"```promql\n(.*?)```", GRAPHS_DOC.read_text(), re.S):
        found += [("docs/graphs.md", line) for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return found


async def exported_page(outputs: dict[str, list[str]], host: str) -> str:
    """ogi's /metrics after one run of every metric check through a `prometheus` handler (no mappings),
    with a graphite and a prometheus handler defined as a server would have them."""
    store = MemoryStore()
    registry = CollectorRegistry()
    settings: dict[str, Any] = {"handlers": {
        "graphite": {"type": "graphite", "host": "127.0.0.1", "port": 9},  # never sent to here
        "prometheus": {"type": "prometheus", "mutator": "only_check_output"},
    }}
    typed = settings_of(settings)
    engine = Engine(typed, Context(settings=typed, store=store, metrics=registry))
    processor = ResultProcessor(typed, store, engine, metrics=registry)
    try:
        for name, lines in outputs.items():
            check = {"name": f"metrics_{name.replace('-', '_')}", "type": "metric", "handlers": ["prometheus"],
                     "status": 0, "interval": 10, "executed": int(time.time()), "output": "\n".join(lines) + "\n"}
            await processor.process_result({"client": host, "check": check})
        await processor.process_result({"client": host, "check": {"name": "check_disk", "status": 2,
                                                                  "handlers": ["prometheus"],
                                                                  "executed": int(time.time()),
                                                                  "output": "DISK CRITICAL"}})
        return (await Exporter(store, registry).render()).decode()
    finally:
        await engine.close()


async def test_every_prometheus_query_names_series_ogi_exports(plugins_here: dict[str, list[str]],
                                                               series_here: tuple[str, set[str]]) -> None:
    host, _ = series_here
    page = await exported_page(plugins_here, host)
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    assert {"ogi_check_status", "ogi_check_last_run_timestamp_seconds", "load_load1"} <= set(exported)
    exprs = prometheus_exprs()
    assert any(where.startswith("docs/") for where, _ in exprs), "docs/graphs.md shows PromQL queries"
    for where, expr in exprs:
        metrics, labels = promql_names(expr)
        assert metrics, f"{where}: no metric in {expr!r}"
        missing = metrics - set(exported)
        assert not missing, f"{where}: {sorted(missing)} is not on ogi's /metrics"
        known = set().union(*(exported[m] for m in metrics)) | SCRAPE_LABELS
        assert labels <= known, f"{where}: labels {sorted(labels - known)} are not on {sorted(metrics)}"


def test_the_docs_mapping_example_turns_the_interface_node_into_a_label() -> None:
    text = GRAPHS_DOC.read_text()
    rule = json.loads(re.search(r'`(\{"match": "\*\.interface[^`]*\})`', text).group(1))  # type: ignore[union-attr]
    mapper = Mapper(compile_rules([rule]), prometheus_path)
    sid, kind, _ = mapper.series("web01", "metrics_interface", "web01.interface.eth0.rx_bytes")
    assert sid is not None and kind == "counter"  # exported with _total
    assert parse_series_id(sid) == ("interface_rx_bytes", {"client": "web01", "check": "metrics_interface",
                                                           "interface": "eth0"})
    assert 'interface_rx_bytes_total{interface="eth0"}' in text
    default = Mapper([]).series_id("web01", "metrics_load", "web01.load.load1")
    assert default is not None and parse_series_id(default)[0] == "load_load1" and "`load_load1{client=" in text

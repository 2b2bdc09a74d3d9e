"""The house's structural rules, as a newcomer relies on them.

- no import cycle between the rooms of `pipeline/` (a room is a folder; the root's modules
  together are one more room), so each room can be read knowing only the rooms below it;
- no module over 400 lines in the shipped packages or bench/ (past that it holds two jobs);
- ARCHITECTURE.md names only modules that exist and describes every room and top-level folder.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from tests.helpers import ROOT

PIPELINE = ROOT / "pipeline"
ROOT_ROOM = "(root)"
SHIPPED = ("pipeline", "handlers", "mutators", "filters", "plugins")
#: Where the 400-line rule holds: the shipped packages and the benchmarks.
SIZED = (*SHIPPED, "bench")
MAX_LINES = 400
#: Imports from a lower room up to a higher one that are still there, each with why; the graph
#: is checked without them, and the test fails when one goes away (so the entry is removed).
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str | None:
    """The room of a `pipeline.*` module name, None for anything outside pipeline/."""
    parts = module.split(".")
    if parts[0] != "pipeline":
        return None
    if len(parts) > 1 and (PIPELINE / parts[1]).is_dir():
        return parts[1]
    return ROOT_ROOM


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of import nodes under `if TYPE_CHECKING:`: they never run, so they cannot cycle."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imported(path: Path) -> set[str]:
    """Every module (or module.name) `path` imports, at top level or inside functions."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def room_graph() -> dict[str, dict[str, set[str]]]:
    """room -> room it imports -> the `module -> imported` lines that make the edge."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(PIPELINE.rglob("*.py")):
        source = module_name(path)
        here = room_of(source)
        assert here is not None
        for target in imported(path):
            there = room_of(target)
            # `from pipeline import x` names the package itself; its room is x's, seen as pipeline.x
            if there is None or there == here or target == "pipeline":
                continue
            graph[here][there].add(f"{source} -> {target}")
    return graph


def strongly_connected(graph: dict[str, dict[str, set[str]]]) -> list[set[str]]:
    """Tarjan's components with more than one room: each is a cycle between rooms."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph.get(node, {}):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return components


def describe(component: set[str], graph: dict[str, dict[str, set[str]]]) -> str:
    lines = [f"cycle between rooms {sorted(component)}:"]
    for a in sorted(component):
        for b in sorted(graph[a]):
            if b in component:
                lines.extend(f"    {edge}" for edge in sorted(graph[a][b]) if edge.count(".") >= 2)
    return "\n".join(lines)


def test_no_import_cycle_between_rooms():
    graph = room_graph()
    assert "server" in graph and "chain" in graph["server"], "the graph sees the server calling the chain"
    gone = [edge for edge in KNOWN_UPWARD if edge[1] not in graph.get(edge[0], {})]
    assert not gone, f"no longer imported, remove from KNOWN_UPWARD: {gone}"
    for low, high in KNOWN_UPWARD:
        del graph[low][high]
    components = strongly_connected(graph)
    assert not components, "\n".join(describe(c, graph) for c in components)


def test_the_cycle_check_sees_a_cycle(tmp_path: Path):
    graph: dict[str, dict[str, set[str]]] = {
        "a": {"b": {"pipeline.a.x -> pipeline.b.y"}},
        "b": {"c": {"pipeline.b.y -> pipeline.c.z"}},
        "c": {"a": {"pipeline.c.z -> pipeline.a.x"}},
        "d": {"a": {"pipeline.d.w -> pipeline.a.x"}},
    }
    assert strongly_connected(graph) == [{"a", "b", "c"}]


def test_imports_inside_functions_and_relative_ones_count(tmp_path: Path):
    path = PIPELINE / "server" / "results.py"
    found = imported(path)
    assert any(name.startswith("pipeline.model") for name in found)


def test_no_module_is_over_400_lines():
    too_long = []
    for package in SIZED:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            lines = len(path.read_text().splitlines())
            if lines > MAX_LINES:
                too_long.append(f"{relative}: {lines} lines")
    assert not too_long, "split along their jobs:\n" + "\n".join(too_long)


ARCHITECTURE = ROOT / "ARCHITECTURE.md"


def test_every_module_architecture_md_names_exists():
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`((?:pipeline|handlers|mutators|filters|plugins|bench|tests)/[\w/]+\.py)`", text))
    named |= {
        name.replace(".", "/") + ".py"
        for name in re.findall(r"`(pipeline(?:\.\w+)+)`", text)
        if not (ROOT / name.replace(".", "/")).is_dir()
    }
    assert len(named) >= 30, "ARCHITECTURE.md names the modules of the result's path"
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert not missing, f"ARCHITECTURE.md names modules that do not exist: {missing}"


def test_architecture_md_describes_every_room_and_top_level_folder():
    text = ARCHITECTURE.read_text()
    rooms = sorted(p.name for p in PIPELINE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    folders = sorted(
        p.name for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in {"build", "dist"} and "egg" not in p.name
    )
    missing = [f"pipeline/{room}/" for room in rooms if f"`pipeline/{room}/`" not in text]
    missing += [f"{folder}/" for folder in folders if f"`{folder}/`" not in text]
    assert not missing, f"ARCHITECTURE.md does not describe: {missing}"


def test_bench_and_the_shipped_packages_import_nothing_from_tests():
    """Benchmarks and ogi itself stand without the test suite (the suite may use bench/, not the reverse)."""
    found = []
    for folder in (*SHIPPED, "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert not found, found

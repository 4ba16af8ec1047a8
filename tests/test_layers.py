"""The package's layers (README, "Architecture"): a module may import its own folder and the floors below.

Every import counts, at module level or inside a function, absolute or relative. A folder (or a
top-level module) on a floor may not import one on the same floor or above, so no two of them can
ever import each other.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "service"

# Lowest first. Each entry is one floor: folders or top-level modules of `service/` (the package's
# own __init__, where create_app lives, is "app").
LAYERS: list[tuple[str, ...]] = [
    ("clock", "config", "errors", "commands", "web_static", "netguard", "inputs"),  # the kernel: no Herald imports
    ("db", "policy"),
    ("runtime", "worker"),
    ("schemas", "auth", "mechanics", "ack_tokens", "streaming"),
    ("processes", "microsoft"),
    ("people",),                                   # domains, from the ground up
    ("rotations",),
    ("incidents",),
    ("notify",),                                   # reacts to incidents: messages, cadence, handoffs
    ("oncall", "reports"),                         # the people on call: heads-up, gaps, swaps; hours
    ("acks", "alerts", "escalation", "reviews", "teams"),   # siblings: none imports another
    ("web",),
    ("console",),                                  # the responder console, at the top of the web layer
    ("health", "models", "auth_views"),
    ("migrate",),
    ("wiring",),                                   # who reacts to what, tick order, background services
    ("app",),
    ("cli",),
]
FLOOR = {unit: floor for floor, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def unit_of(module: str) -> str:
    """The folder or top-level module a module belongs to ("app" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "app"


def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported Herald module, line) for every import statement anywhere in the file."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import clock` imports the module service.clock
                name = f"{target}.{alias.name}"
                found.append((name if name in MODULES else target, node.lineno))
    return [(name, line) for name, line in found if name in MODULES]


def dependencies() -> dict[tuple[str, str], list[str]]:
    """{(importing unit, imported unit): ["module:line -> module", ...]} across units."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in MODULES.items():
        for target, line in imports_of(module, path):
            why = f"{module}:{line} -> {target}"
            if unit_of(target) != unit_of(module) and why not in edges.get((unit_of(module), unit_of(target)), []):
                edges.setdefault((unit_of(module), unit_of(target)), []).append(why)
    return edges


def cycles(edges) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    found, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_folder_and_module_has_a_floor():
    assert sorted({unit_of(m) for m in MODULES} - set(FLOOR)) == []


def test_no_import_cycle_between_folders():
    edges = dependencies()
    assert [" -> ".join(c) + ": " + "; ".join(edges[(c[-2], c[-1])]) for c in cycles(edges)] == []


def test_imports_only_go_down():
    upward = [f"{a} (floor {FLOOR[a]}) imports {b} (floor {FLOOR[b]}): " + "; ".join(why)
              for (a, b), why in sorted(dependencies().items()) if FLOOR[b] >= FLOOR[a]]
    assert upward == []


@pytest.mark.parametrize("source, expected", [
    ("from ..incidents.models import Incident\n", "service.incidents.models"),
    ("def f():\n    from service.incidents import lifecycle\n", "service.incidents.lifecycle"),
    ("import service.incidents.timeline\n", "service.incidents.timeline"),
    ("from .. import clock\n", "service.clock"),
])
def test_the_checker_sees_every_kind_of_import(tmp_path, source, expected):
    probe = tmp_path / "probe.py"  # read as if it were service/rotations/probe.py
    probe.write_text(source)
    assert [name for name, _ in imports_of("service.rotations.probe", probe)] == [expected]


def test_the_checker_finds_a_cycle():
    assert cycles({("a", "b"): [], ("b", "c"): [], ("c", "a"): [], ("c", "d"): []}) == [["a", "b", "c", "a"]]

"""The dependency rules of DEVELOPERS.md, checked on the source's import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "flocloud"

# subpackage -> flocloud subpackages it may import
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "chain": {"protocol"},
    "storage": {"protocol"},
    # the replication core: sans-I/O state machines over the protocol's types
    "replication": {"protocol"},
    # a node reaches its peers with the client's websocket connection class
    "node": {"protocol", "chain", "storage", "web", "client", "replication"},
    "client": {"protocol", "chain"},
    "devnet": {"protocol", "chain", "client", "node", "storage", "replication"},
    "web": {"protocol"},
    "cli": {"protocol", "chain", "client", "devnet", "node", "storage"},
}
PROTOCOL_FORBIDDEN = {"asyncio", "aiohttp", "sqlite3", "socket", "random", "time", "threading"}
# and, for the replication core, anything else that waits, reads a clock or talks to the OS
CORE_FORBIDDEN = {
    "concurrent", "datetime", "http", "multiprocessing", "os", "secrets", "select",
    "selectors", "signal", "ssl", "subprocess", "urllib",
}  # fmt: skip
# the rules issue 10 (D) moves into the sans-I/O core: each must stay a module there
CORE_MODULES = {
    "catchup", "feed", "handoff", "handshake", "quorum", "reconcile", "routing", "shared",
    "subscription",
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module:
            out.add("flocloud." + node.module)
    return out


def _files(sub: str) -> list[Path]:
    return sorted((SRC / sub).rglob("*.py"))


@pytest.mark.parametrize("sub", sorted(ALLOWED))
def test_subpackage_imports_only_allowed_layers(sub: str) -> None:
    """A subpackage imports flocloud code only from the layers below it."""
    bad = []
    for path in _files(sub):
        for mod in _imports(path):
            parts = mod.split(".")
            inner = parts[1] if parts[0] == "flocloud" and len(parts) > 1 else ""
            if inner in ALLOWED and inner != sub and inner not in ALLOWED[sub]:
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
    assert bad == []


def test_protocol_is_sans_io() -> None:
    """flocloud.protocol and the replication core import no I/O, clock or randomness."""
    bad = []
    for path in _files("protocol") + _files("replication"):
        for mod in _imports(path):
            if mod.split(".")[0] in PROTOCOL_FORBIDDEN or mod in {"os", "secrets"}:
                bad.append(f"{path.name} imports {mod}")
    assert bad == []


def test_the_replication_core_is_sans_io_and_states_its_invariants() -> None:
    """Every module of the replication core exists, imports nothing that does I/O, and
    opens with a docstring of the invariants it owns."""
    present = {p.stem for p in _files("replication")}
    assert not CORE_MODULES - present, CORE_MODULES - present
    bad = []
    for path in _files("replication"):
        for mod in _imports(path):
            if mod.split(".")[0] in PROTOCOL_FORBIDDEN | CORE_FORBIDDEN:
                bad.append(f"{path.name} imports {mod}")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if path.stem != "__init__" and "Invariant" not in doc:
            bad.append(f"{path.name} does not state its invariants")
    assert bad == []


def test_modules_stay_small() -> None:
    """No module grows past 800 lines."""
    big = [str(p) for p in SRC.rglob("*.py") if len(p.read_text().splitlines()) > 800]
    assert big == []


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _all_imports(path: Path, name: str) -> set[str]:
    """Every flocloud module ``path`` imports, however: top level, under TYPE_CHECKING,
    inside a function, absolute or relative."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("flocloud"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("flocloud"):
                continue
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # "from . import http"
    return out


def test_no_import_cycles() -> None:
    """No module reaches itself through imports (TYPE_CHECKING and function-local ones
    count too: a cycle hidden there is still a cycle in the design)."""
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {
        m: {i for i in _all_imports(p, m) if i in files and i != m and not m.startswith(i + ".")}
        for m, p in files.items()
    }
    # a package's __init__ re-exporting its modules is not a cycle with them
    graph = {m: {i for i in deps if not i.startswith(m + ".")} for m, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append([*stack[stack.index(d) :], d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert cycles == []

"""The package's shape (docs/contracts.md): subpackages in layers that import one way, no big modules,
and errors.py holding errors only. Checked on the source, so a new import that breaks the layering fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "neonas"
# lowest first; a module may import its own layer or a lower one, never a higher one
LAYERS = ["core", "store", "ingest", "engine", "training", "study"]
MAX_LINES = 400


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "core"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neonas"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("neonas"))
    return found


def test_imports_go_one_way_down_the_layers():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        if name == "neonas.cli":
            continue  # the command registry names every command module, and imports them lazily
        own = LAYERS.index(_layer(name))
        for imp in _imports(path):
            target = imp if imp in modules else imp.rsplit(".", 1)[0]
            if target in modules and LAYERS.index(_layer(target)) > own:
                wrong.append(f"{name} ({_layer(name)}) imports {target} ({_layer(target)})")
    assert not wrong, "imports against the layers " + " < ".join(LAYERS) + ":\n" + "\n".join(sorted(wrong))


def test_import_graph_is_acyclic():
    modules = _modules()
    graph = {n: {i if i in modules else i.rsplit(".", 1)[0] for i in _imports(p)} & set(modules)
             for n, p in modules.items() if n != "neonas.cli"}
    state: dict[str, int] = {}

    def visit(n, stack):
        state[n] = 1
        for m in graph.get(n, ()):
            if m == n or m not in graph:
                continue
            if state.get(m) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack, n, m]))
            if m not in state:
                visit(m, [*stack, n])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [])


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_over_the_size_limit(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(SRC)} has {n} lines (limit {MAX_LINES}): split it along its sections"


def test_errors_module_holds_errors_only():
    tree = ast.parse((SRC / "errors.py").read_text())
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defined and all(name.endswith("Error") for name in defined), defined


def test_samplers_and_estimators_are_reached_through_the_registry_only():
    """The search loop sees one sampler and one estimator interface (engine/api.py); each implementation is one
    module named in engine/registry.py and imported by no module, so a new one touches no other module."""
    from neonas.engine import api, registry

    modules = _modules()
    entries = {**{n: ("sampler", v) for n, v in registry.SAMPLERS.items()},
               **{n: ("estimator", v) for n, v in registry.ESTIMATORS.items()}}
    implementations = set()
    for name, (kind, target) in entries.items():
        module, _ = target.split(":")
        assert module in modules, f"registry names {target} for {kind} {name!r}, which does not exist"
        implementations.add(module)
        cls = registry.implementation(kind, name)
        base = api.Sampler if kind == "sampler" else api.Estimator
        assert issubclass(cls, base) and cls is not base, f"{target} must subclass api.{base.__name__}"
    importers = {f"{n} imports {i}" for n, p in modules.items() for i in _imports(p)
                 if (i if i in modules else i.rsplit(".", 1)[0]) in implementations}
    assert not importers, "implementations are imported through the registry only:\n" + "\n".join(sorted(importers))
    for loop in ("neonas.engine.search", "neonas.engine.searcher", "neonas.engine.derive"):
        names = {i if i in modules else i.rsplit(".", 1)[0] for i in _imports(modules[loop])}
        assert not names & implementations, f"{loop} imports an implementation"

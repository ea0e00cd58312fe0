"""docs/architecture.md kept true: layers import downward only, and no import circles.

Read from the source with `ast`, so imports inside functions (the lazy ones) count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "weightguard"

# Top-level module or subpackage -> layer (docs/architecture.md); imports go to lower layers.
LAYERS = {
    "errors": 0,
    "reasons": 0,
    "digest": 1,
    "fileio": 1,
    "untrusted": 1,
    "hfcache": 1,
    "release": 1,
    "report": 1,
    "manifest": 2,
    "pickle": 2,  # the shared pickle core, below scan/ and convert/
    "bundle": 3,
    "check": 3,
    "signing": 4,
    "scan": 4,
    "api": 5,
    "attestation": 5,
    "convert": 6,
    "smoke": 6,
    "scan_attestation": 6,
    "policy": 7,
    "gate": 8,
    "cli": 9,
    "__main__": 10,
}

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(module: str, path: Path) -> Iterator[str]:
    """Every weightguard module `module` imports, anywhere in its source."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from x import y`: the module x.y if there is one, else x itself
            names = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in MODULES else origin
                for alias in node.names
            ]
        for name in names:
            if not name.startswith("weightguard"):
                continue
            while name not in MODULES and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in MODULES and name != module:
                yield name


def _graph() -> dict[str, set[str]]:
    return {m: set(_targets(m, p)) for m, p in MODULES.items()}


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_top_level_module_has_a_layer() -> None:
    tops = {_top(m) for m in MODULES} - {""}
    assert tops - set(LAYERS) == set(), "add it to LAYERS and to docs/architecture.md"


def test_imports_go_downward_only() -> None:
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            a, b = _top(module), _top(target)
            if a == b or b == "":  # within one package; or the lazy root (`__version__`)
                continue
            if a and LAYERS[b] >= LAYERS[a]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_no_new_import_circles() -> None:
    graph = _graph()
    graph.pop("weightguard", None)  # the lazy root re-exports; it imports nothing eagerly
    for targets in graph.values():
        targets.discard("weightguard")
    circles = [sorted(c) for c in _circles(graph)]
    assert circles == [], "an import circle (docs/architecture.md: imports go downward only)"


def test_the_circle_finder_finds_circles() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _circles({"a": {"b"}, "b": set()}) == []


def _public_names(package: str) -> set[str]:
    """The names a package's `__init__.py` lists in `__all__` (read from the source)."""
    path = MODULES[package]
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{path} has no literal __all__")


# What convert/ may take from the layers it shares with the scanner: the pickle core's
# public interface, and the scanner's public API (for the verdict it needs before
# converting). Never a submodule of either: the scanner's insides are not its API.
CONVERT_MAY_USE = {
    "weightguard.pickle": _public_names("weightguard.pickle"),
    "weightguard.scan": _public_names("weightguard.scan"),
}


def _convert_imports() -> Iterator[tuple[str, str, str | None]]:
    """(convert module, imported module, imported name or None) for pickle/ and scan/."""
    for module, path in MODULES.items():
        if not module.startswith("weightguard.convert"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield module, alias.name, None
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                for alias in node.names:
                    yield module, node.module, alias.name


def test_convert_uses_only_the_public_pickle_and_scan_interfaces() -> None:
    bad = []
    for module, origin, name in _convert_imports():
        shared = next(
            (p for p in CONVERT_MAY_USE if origin == p or origin.startswith(p + ".")), None
        )
        if shared is None:
            continue
        if origin != shared or name not in CONVERT_MAY_USE[shared]:
            bad.append(f"{module}: {origin}{'.' + name if name else ''}")
    assert bad == [], "use weightguard.pickle's __all__ or weightguard.scan's public API"


def test_the_public_interfaces_name_what_they_define() -> None:
    import importlib

    for package, names in CONVERT_MAY_USE.items():
        module = importlib.import_module(package)
        assert names, package
        for name in names:
            assert getattr(module, name) is not None, f"{package}.{name}"

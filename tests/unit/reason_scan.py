"""Find every reason code the package can emit, by reading its source (AST, no imports).

A reason code is a dotted lower-case literal in an emitting position: the `code=` or
`rule=` keyword of any call; any positional literal of a call to a known emitter
(`Reason`, `Finding`, `StreamError`, scanner `add`/`err`/`anomaly`/`incomplete`, ...);
the default of a parameter named `code`/`rule`; a `default_code` class attribute; a
value assigned to a name containing `code`; a literal paired with an exception class in
a table (in-toto failures); and the keys of the SARIF rule table.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
EMITTERS = frozenset(
    {
        "Reason",
        "Finding",
        "PolicyProblem",
        "StreamError",
        "LayoutOutcome",
        "Check",
        "add",
        "err",
        "anomaly",
        "incomplete",
        "_reject",
        "_fail",
        "_deliver_error",
        "error_report",
        "finding",
    }
)
# Literals in those positions that are file names or qualified names, not codes.
NOT_CODES = frozenset({"data.pkl", "model.sig", "config.json"})


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
        return node.value if node.value not in NOT_CODES else None
    return None


def _call_name(node: ast.Call) -> str:
    fn = node.func
    return fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""


def _codes(tree: ast.AST) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        found: list[ast.AST | None] = []
        if isinstance(node, ast.Call):
            found += [kw.value for kw in node.keywords if kw.arg in ("code", "rule")]
            if _call_name(node) in EMITTERS:
                found += node.args
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            pos = args.posonlyargs + args.args
            for arg, default in zip(pos[len(pos) - len(args.defaults) :], args.defaults):
                if arg.arg in ("code", "rule"):
                    found.append(default)
            for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults):
                if arg.arg in ("code", "rule"):
                    found.append(kw_default)
        elif isinstance(node, ast.Assign):
            names = [
                n.id
                for t in node.targets
                for n in ast.walk(t)
                if isinstance(n, ast.Name)
            ]
            if any("code" in n or n == "rule" for n in names):
                found += list(ast.walk(node.value))
            if any("RULE" in n for n in names) and isinstance(node.value, ast.Dict):
                found += node.value.keys  # the SARIF table: every scanner rule
        elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
            first, second = node.elts
            if isinstance(first, ast.Attribute) and _literal(second):  # (ie.SomeError, "code")
                found.append(second)
        for item in found:
            code = _literal(item)
            if code:
                yield code, getattr(item, "lineno", getattr(node, "lineno", 0))


def emitted_codes(package: Path) -> dict[str, str]:
    """code -> first `file:line` that emits it."""
    out: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for code, line in _codes(tree):
            out.setdefault(code, f"{path.relative_to(package.parent)}:{line}")
    return out

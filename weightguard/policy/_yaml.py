"""Reading a policy YAML document into plain values that remember their line numbers.

Owns: the one place policy YAML is parsed. A `yaml.SafeLoader` subclass composes the
node tree (no Python tags, no arbitrary objects), then we build dicts and lists
ourselves so that every mapping knows the line of each key. That lets every
validation problem name the exact line. We also refuse what plain PyYAML accepts
silently: duplicate keys (PyYAML keeps the last one), several documents, merge keys,
and alias bombs. Timestamps stay strings: dates are parsed by the schema, with errors.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_POLICY_BYTES = 1024 * 1024
_MAX_NODES = 200_000  # budget on built values: aliases cannot blow up memory
_MAX_INT_BITS = 128
_MAX_DEPTH = 64  # nesting: no policy needs more; deeper input would hit RecursionError


class PolicyLoader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type (dates stay strings), and with a
    nesting limit enforced while scanning: PyYAML's scanner does work proportional to
    the flow depth for every token (quadratic: 2000 nested `[` take seconds, a 1 MiB
    file minutes) and its composer recurses once per level (RecursionError)."""

    def _too_deep(self) -> yaml.scanner.ScannerError:
        return yaml.scanner.ScannerError(
            None, None, f"the document nests deeper than {_MAX_DEPTH} levels", self.get_mark()
        )

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= _MAX_DEPTH:
            raise self._too_deep()
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        added = bool(super().add_indent(column))
        if len(self.indents) > _MAX_DEPTH:
            raise self._too_deep()
        return added


PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class LocatedDict(dict[str, Any]):
    """A mapping from YAML, with the 1-based line of the mapping and of each key."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A sequence from YAML, with the 1-based line of the sequence and of each item."""

    line: int
    item_lines: list[int]


class YamlProblem(Exception):
    """The document is not YAML we accept; `line` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Builder:
    def __init__(self, loader: PolicyLoader) -> None:
        self._loader = loader
        self._budget = _MAX_NODES

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self._budget -= 1
        if self._budget < 0:
            raise YamlProblem("document is too large (aliases expand too far)", _line(node))
        if depth > _MAX_DEPTH:
            raise YamlProblem(f"document nests deeper than {_MAX_DEPTH} levels", _line(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            out = LocatedList(self.build(item, depth + 1) for item in node.value)
            out.line = _line(node)
            out.item_lines = [_line(item) for item in node.value]
            return out
        try:
            value = self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise YamlProblem(f"cannot read value: {_problem_text(exc)}", _line(node)) from None
        except ValueError as exc:  # int(): over 4300 digits; float/base-60 oddities
            detail = str(exc).split(";")[0]
            raise YamlProblem(f"cannot read value: {detail}", _line(node)) from None
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            # 0x + 5000 digits is a legal YAML int; printing it in a message would raise.
            raise YamlProblem("integer value is too large", _line(node))
        return value

    def _mapping(self, node: yaml.MappingNode, depth: int) -> LocatedDict:
        out = LocatedDict()
        out.line = _line(node)
        out.key_lines = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem("YAML merge keys (<<) are not supported", _line(key_node))
            key = self.build(key_node, depth + 1)
            if not isinstance(key, str):
                raise YamlProblem(
                    f"mapping keys must be strings, got {type(key).__name__} {key!r}",
                    _line(key_node),
                )
            if key in out:
                raise YamlProblem(
                    f"duplicate key {key!r} (first on line {out.key_lines[key]})",
                    _line(key_node),
                )
            out.key_lines[key] = _line(key_node)
            out[key] = self.build(value_node, depth + 1)
        return out


def _problem_text(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(x for x in (exc.context, exc.problem) if x) or str(exc)
    return str(exc)


def load_yaml(text: str) -> Any:
    """Parse one YAML document into LocatedDict / LocatedList / scalars.

    Raises:
        YamlProblem: syntax errors, several documents, duplicate or non-string keys,
            merge keys, unknown tags, or a document that expands too far.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise YamlProblem(f"policy file is larger than {MAX_POLICY_BYTES} bytes")
    try:
        loader = PolicyLoader(text)  # the reader refuses control characters here already
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {_problem_text(exc)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlProblem("the policy file is empty", 1)
        return _Builder(loader).build(node)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise YamlProblem("the document nests too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 0
        raise YamlProblem(f"YAML syntax error: {_problem_text(exc)}", line) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {exc}") from None
    finally:
        loader.dispose()

"""Check that a `weightguard ...` command line from an example uses real commands and flags.

`dry_parse` runs click's own option parser for the named command (no callback runs, no file
is touched): an unknown flag, a missing flag value or a wrong positional count fails, and a
value given to a choice option must be one of its choices. Commands that are not built yet
are reported as such, so the caller can skip instead of passing silently.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import click


class NotBuilt(Exception):
    """The command line names a weightguard command that does not exist (yet)."""


@dataclass(frozen=True)
class Parsed:
    """What the dry parse found."""

    command: tuple[str, ...]  # e.g. ("verify",) or ("smoke", "check")
    options: dict[str, object]
    positional: tuple[str, ...]


def _resolve(argv: Sequence[str]) -> tuple[click.Command, tuple[str, ...], list[str]]:
    from weightguard.cli import cli

    ctx = click.Context(cli, info_name="weightguard")
    command: click.Command = cli
    names: list[str] = []
    rest = list(argv)
    while isinstance(command, click.Group):
        if not rest:
            raise click.UsageError("missing command")
        name = rest.pop(0)
        found = command.get_command(ctx, name)
        if found is None:
            raise NotBuilt(" ".join([*names, name]))
        names.append(name)
        command = found
    return command, tuple(names), rest


def _values(value: object) -> list[str]:
    """The strings a parsed parameter holds ([] when unset: None or click's UNSET sentinel)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return []


def dry_parse(argv: Sequence[str]) -> Parsed:
    """Parse `weightguard ARGV...` (without the leading `weightguard`).

    Raises:
        NotBuilt: the command does not exist in this checkout.
        click.UsageError: an unknown option, a bad choice or wrong positionals.
    """
    command, names, rest = _resolve(argv)
    ctx = click.Context(command, info_name=" ".join(["weightguard", *names]))
    parser = command.make_parser(ctx)
    opts, leftover, _order = parser.parse_args(list(rest))
    # click's parser puts arguments into `opts` too; anything left over is one too many.
    missing = [
        a.name
        for a in command.params
        if isinstance(a, click.Argument) and a.required and not _values(opts.get(a.name))
    ]
    if missing or leftover:
        raise click.UsageError(
            f"{' '.join(names)}: missing arguments {missing} or extra arguments {leftover}"
        )
    for param in command.params:
        if isinstance(param.type, click.Choice) and param.name in opts:
            values = opts[param.name]
            for value in values if isinstance(values, list) else [values]:
                if value not in param.type.choices:
                    raise click.UsageError(f"{param.name}: {value!r} not in {param.type.choices}")
    positional = tuple(
        v
        for a in command.params
        if isinstance(a, click.Argument)
        for v in _values(opts.get(a.name))
    )
    return Parsed(names, dict(opts), positional)


_EXPR = re.compile(r"\$\{\{[^}]*\}\}")


def shell_commands(script: str) -> Iterator[list[str]]:
    """`weightguard ...` invocations in a shell snippet (continuations joined).

    GitHub/GitLab expressions (``${{ ... }}``) become one placeholder word; shell variables
    stay literal words. A line is taken when its first word is `weightguard`.
    """
    joined = re.sub(r"\\\n\s*", " ", script)
    for line in joined.splitlines():
        words = shlex.split(_EXPR.sub("EXPR", line), comments=True)
        if words and words[0] == "weightguard":
            yield words[1:]

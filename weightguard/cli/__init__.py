"""The `weightguard` command line: a thin click layer over the library.

Each command parses options, makes its library calls and returns a `Result`; one runner
(`weightguard.cli.run`) renders it, writes the report files and maps every outcome to an
exit code (0 accepted/clean, 1 rejected, 2 usage/config, 3 incomplete, 4 internal,
130 interrupted).
Subcommands live in their own modules and are imported only when invoked, so that
`weightguard verify` never pays for the scanner, torch or sigstore at start-up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from weightguard import __version__

# name -> "module:attribute"; the module is imported only when the command runs.
_COMMANDS: dict[str, str] = {
    "keygen": "weightguard.cli.keys:keygen",
    "key": "weightguard.cli.keys:key",
    "sign": "weightguard.cli.sign:sign",
    "verify": "weightguard.cli.verify:verify",
    "digest": "weightguard.cli.digest:digest",
    "scan": "weightguard.cli.scan:scan",
    "convert": "weightguard.cli.convert:convert",
    "smoke": "weightguard.cli.smoke:smoke",
    "policy": "weightguard.cli.policy:policy",
}


class _LazyGroup(click.Group):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Every run leaves through `run_cli`: one report, one exit-code mapping."""
        from weightguard.cli.run import run_cli

        def click_main(argv: list[str], **kw: Any) -> Any:
            return super(_LazyGroup, self).main(argv, prog_name, complete_var, **kw)

        return run_cli(click_main, args, standalone_mode, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # command not built yet
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="weightguard")
def cli() -> None:
    """Guard the model-weight supply chain: sign, verify, scan, convert, smoke-test.

    Exit codes: 0 accepted/clean, 1 rejected, 2 usage or configuration error,
    3 incomplete (an input could not be fully read or parsed), 4 internal error.
    """


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    try:
        return cli.main(args=argv, prog_name="weightguard", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.stderr.write("weightguard: interrupted\n")
        sys.exit(130)

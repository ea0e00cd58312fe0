"""Shared CLI plumbing: error handling, report rendering, atomic report files.

Only the CLI imports this module. It turns `WeightguardError`s into one line on stderr and
their exit code, and any other exception into exit 4 (never success).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import click

from weightguard.errors import ExitCode, WeightguardError
from weightguard.report import Reason, Report, Verdict

P = ParamSpec("P")
R = TypeVar("R")

FORMAT_OPTION = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format on stdout.",
)


def fail(err: WeightguardError) -> NoReturn:
    """Print one line naming the file and the reason, then exit with the error's code."""
    from weightguard.cli._textsafe import escape

    click.echo(f"weightguard: error: {escape(err.one_line())}", err=True)
    if err.hint:
        click.echo(f"weightguard: hint: {escape(err.hint)}", err=True)
    sys.exit(int(err.exit_code))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator for command bodies: map exceptions to the exit-code contract."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except WeightguardError as err:
            fail(err)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except OSError as err:  # an OS-level failure we did not classify: never success
            click.echo(f"weightguard: error: {err}", err=True)
            sys.exit(int(ExitCode.INCOMPLETE))
        except Exception:
            if os.environ.get("WEIGHTGUARD_DEBUG"):
                import traceback  # only on this rare path: keeps start-up lean

                traceback.print_exc()
            exc = sys.exc_info()[1]
            click.echo(f"weightguard: internal error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper


def report_json(report: Report) -> str:
    """The report as one JSON document (with a trailing newline)."""
    import json  # only when JSON is asked for: `weightguard scan` text output never needs it

    return json.dumps(report.to_json_dict(), indent=2, sort_keys=False) + "\n"


def render_reason(reason: Reason) -> str:
    """One text line for a reason, with expected/actual digests when present."""
    where = f"{reason.path}: " if reason.path else ""
    line = f"  [{reason.code}] {where}{reason.message}"
    if reason.expected is not None or reason.actual is not None:
        line += f"\n      expected {reason.expected}\n      actual   {reason.actual}"
    return line


def emit(
    report: Report,
    output_format: str,
    *,
    text: Callable[[Report], str],
    report_file: str | None = None,
) -> NoReturn:
    """Render `report` to stdout, optionally write the JSON report file, and exit."""
    if report_file:
        from weightguard.fileio import write_atomic

        write_atomic(report_file, report_json(report).encode())
    if output_format == "json":
        write_stdout(report_json(report))
    elif output_format == "text":
        from weightguard.cli._textsafe import escaped_report

        write_stdout(text(escaped_report(report)))  # file names cannot forge lines
    else:
        write_stdout(text(report))
    sys.exit(int(report.exit_code))


def write_stdout(data: str) -> None:
    """Write and flush stdout; a closed or broken stdout never changes the exit code.

    The verdict is the exit code (an init container reads nothing else), so a reader
    that went away (`| head`, `>&-`) gets a warning on stderr, not exit 3 or 4.
    """
    try:
        if sys.stdout is None:  # fd 1 was closed when Python started
            raise OSError("stdout is closed")
        sys.stdout.write(data)
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        # Python's own advice (signal docs, "Note on SIGPIPE"): point fd 1 at devnull so
        # the interpreter's final flush cannot fail again and turn the exit into 120.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        with contextlib.suppress(OSError, ValueError):
            click.echo(f"weightguard: warning: cannot write to stdout: {exc}", err=True)


def verdict_word(verdict: Verdict) -> str:
    """Upper-case verdict for text output."""
    return verdict.value.upper()

"""One road out of the CLI: every command returns a `Result`; this module does the rest.

A command body parses its options, makes its library calls and returns a `Result` (a
`Report` plus how to render it as text). It never prints its outcome, never writes the
report files and never calls `sys.exit`. `run_cli` is the single exit point:

- renders the report as text, JSON or SARIF on stdout (exactly one JSON document with
  ``--format json``, for every outcome, usage errors included);
- writes ``--report FILE`` and ``--termination-log FILE`` and emits the JSON events of
  ``--log-format json`` (`weightguard.cli.runtime.Runtime`);
- maps every exception to the exit-code contract: a `WeightguardError` to its own code,
  a click usage error to 2, a missing optional dependency to 2 naming the pip extra,
  Ctrl-C to 130, an unclassified OS error to 3, anything else to 4 (a bug).

The output settings of a run (`Output`) are recorded by the `contract` decorator as soon
as click has parsed the options; a click rejection that happens before that (an unknown
option, a missing value) is reported with settings read from the raw arguments.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

from weightguard.cli.runtime import LOG_FORMAT_ENV, Runtime, check_policy_pin, one_line
from weightguard.errors import ExitCode, UsageError, WeightguardError
from weightguard.report import Reason, Report, Verdict

# 128 + SIGINT, what shells report for Ctrl-C: "interrupted", never "rejected".
INTERRUPTED = 130

# Import name of an optional dependency -> the pip extra that installs it.
EXTRAS: Mapping[str, str] = {
    "torch": "torch",
    "safetensors": "safetensors",
    "numpy": "safetensors",
    "sigstore": "sigstore",
    "in_toto": "intoto",
    "securesystemslib": "intoto",
    "py7zr": "7z",
}


@dataclass(frozen=True)
class Output:
    """Where and how a run's outcome goes (the contract options of every command)."""

    command: str = "weightguard"
    format: str = "text"
    report_file: str | None = None
    termination_log: str | None = None
    log_format: str = "text"
    verbosity: int = 0  # -1 quiet (-q), 0 normal, 1+ verbose (-v)


@dataclass(frozen=True)
class Result:
    """What a command body returns: the report and its text rendering.

    Attributes:
        report: the outcome (verdict, reasons, details); its exit code is the process's.
        text: renders the report for ``--format text``.
        sarif: renders it for ``--format sarif`` (commands that offer SARIF).
        notes: warnings and hints for stderr in text mode (events in JSON log mode).
        stdout: when set, printed instead of any rendering (the report went to a file).
    """

    report: Report
    text: Callable[[Report], str]
    sarif: Callable[[Report], str] | None = None
    notes: tuple[str, ...] = ()
    stdout: str | None = None


class RunState:
    """The one mutable object of a run: filled in as click parses, read when it ends."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.output: Output | None = None
        self.runtime: Runtime | None = None


def _state() -> RunState:
    ctx = click.get_current_context()
    state = ctx.find_object(RunState)
    if state is None:  # a subcommand invoked on its own (tests): keep the state on its context
        state = RunState(())
        ctx.obj = state
    return state


def current_output() -> Output:
    """The running command's output settings (defaults outside a run)."""
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(RunState) if ctx else None
    return state.output if state and state.output else Output()


def contract(
    command: str,
    *,
    formats: Sequence[str] = ("text", "json"),
    model_param: str = "model_path",
    policy_param: str | None = None,
) -> Callable[[Callable[..., Result]], Callable[..., Any]]:
    """Add the contract options to a command and record them before its body runs.

    Options: ``--format``, ``--report``, ``--termination-log``, ``--log-format``, ``-q``,
    ``-v``; with `policy_param` also ``--policy-digest`` (checked before the body).
    """

    def decorate(func: Callable[..., Result]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Result:
            quiet, verbose = kwargs.pop("quiet", False), kwargs.pop("verbose", 0)
            out = Output(
                command,
                kwargs.pop("output_format", "text") or "text",
                kwargs.pop("report_file", None),
                kwargs.pop("termination_log", None),
                kwargs.pop("log_format", "text") or "text",
                -1 if quiet else int(verbose or 0),
            )
            pin = kwargs.pop("policy_digest", None) if policy_param else None
            state = _state()
            # --report/--termination-log inside the model (or over a sidecar or the
            # policy) would change what is verified: refused, and never written, not
            # even to report the refusal.
            refused = _refused_output(out, kwargs, model_param, policy_param)
            if refused is not None:
                flag = refused[0]
                out = dataclasses.replace(
                    out,
                    report_file=None if flag == "--report" else out.report_file,
                    termination_log=None if flag == "--termination-log" else out.termination_log,
                )
            state.output = out
            runtime = Runtime(command, out.termination_log, out.log_format)
            state.runtime = runtime
            if refused is not None:
                raise refused[1]
            policy = kwargs.get(policy_param) if policy_param else None
            with runtime.library_output_as_events():
                runtime.event(
                    "start",
                    model=str(kwargs[model_param]) if kwargs.get(model_param) else None,
                    policy=str(policy) if policy else None,
                    policy_pin=pin,
                )
                checked = check_policy_pin(str(policy) if policy else None, pin)
                if checked:
                    runtime.policy_pin = checked
                    runtime.event("policy_pinned", policy=str(policy), digest=checked)
                return func(*args, **kwargs)

        options = [
            click.option(
                "--format",
                "output_format",
                type=click.Choice(list(formats)),
                default="text",
                show_default=True,
                help="Output on stdout"
                + (" (sarif: SARIF 2.1.0 for code scanning)." if "sarif" in formats else ".")
                + " json is one report document for every outcome, errors included.",
            ),
            click.option(
                "--report",
                "report_file",
                metavar="FILE",
                help="Also write the JSON report here (atomically), for every outcome.",
            ),
            click.option(
                "--termination-log",
                "termination_log",
                metavar="FILE",
                help="Write a one-line outcome (<= 4 KiB) here, e.g. /dev/termination-log.",
            ),
            click.option(
                "--log-format",
                "log_format",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                envvar=LOG_FORMAT_ENV,
                help=f"json: one JSON event per line on stderr [env {LOG_FORMAT_ENV}].",
            ),
            click.option("-q", "--quiet", is_flag=True, help="No progress, warnings or hints."),
            click.option(
                "-v", "--verbose", count=True, help="More detail on stderr (tracebacks of bugs)."
            ),
        ]
        if policy_param:
            options.append(
                click.option(
                    "--policy-digest",
                    "policy_digest",
                    metavar="sha256:HEX",
                    help="Refuse a policy file whose SHA-256 differs (pin it in the pod spec).",
                )
            )
        decorated: Callable[..., Any] = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


def _refused_output(
    out: Output, kwargs: dict[str, Any], model_param: str, policy_param: str | None
) -> tuple[str, UsageError] | None:
    from weightguard.cli._outputs import refused_output

    policy = kwargs.get(policy_param) if policy_param else None
    model = kwargs.get(model_param)
    if not isinstance(model, (str, os.PathLike)):  # scan's many paths: nothing is signed
        return None
    return refused_output(
        model,
        [("--report", out.report_file), ("--termination-log", out.termination_log)],
        [
            *(kwargs.get("signatures") or ()),
            *(kwargs.get("attestations") or ()),
            *([policy] if policy else []),
        ],
    )


# --- the exit point ------------------------------------------------------------------------


def _sniff(argv: Sequence[str]) -> Output:
    """Output settings read from raw arguments, for a rejection before click parsed them."""
    words: list[str] = []
    for token in argv:
        if token.startswith("-"):
            break
        words.append(token)
    command = " ".join(words[:2] if words[:1] in (["smoke"], ["policy"], ["key"]) else words[:1])
    values: dict[str, str] = {}
    names = ("--format", "--report", "--termination-log", "--log-format")
    for i, token in enumerate(argv):
        name, eq, value = token.partition("=")
        if name in names:
            if eq:
                values[name] = value
            elif i + 1 < len(argv):
                values[name] = argv[i + 1]
    fmt = values.get("--format", "text")
    log_format = values.get("--log-format") or os.environ.get(LOG_FORMAT_ENV, "text")
    return Output(
        command or "weightguard",
        fmt if fmt in ("text", "json", "sarif") else "text",
        values.get("--report"),
        values.get("--termination-log"),
        log_format if log_format in ("text", "json") else "text",
        -1 if ("-q" in argv or "--quiet" in argv) else 0,
    )


def error_report(
    command: str, exit_code: int, code: str, message: str, path: str | None, hint: str | None
) -> Report:
    """The report of a run that ended in an error (verdict ``error`` unless 1 or 3)."""
    verdict = {1: Verdict.REJECTED, 3: Verdict.INCOMPLETE}.get(exit_code, Verdict.ERROR)
    details: dict[str, Any] = {"error": {"code": code, "message": one_line(message)}}
    if path:
        details["error"]["path"] = path
    if hint:
        details["error"]["hint"] = hint
    reason = Reason(code=code, message=one_line(message), path=path)
    return Report(command, verdict, (reason,), details, exit_status=exit_code)


def _write(text: str, *, err: bool = False) -> None:
    """Write and flush; a closed or broken stream never changes the exit code.

    The verdict is the exit code (an init container reads nothing else), so a reader
    that went away (`| head`, `>&-`) gets a warning on stderr, not exit 3 or 4.
    """
    stream = sys.stderr if err else sys.stdout
    try:
        if stream is None:  # the descriptor was closed when Python started
            raise OSError("closed")
        stream.write(text)
        stream.flush()
    except (OSError, ValueError) as exc:
        # Python's advice (signal docs, "Note on SIGPIPE"): point the descriptor at
        # devnull so the interpreter's final flush cannot fail again (exit 120).
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, (sys.stderr if err else sys.stdout).fileno())
            os.close(devnull)
        if not err:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.write(f"weightguard: warning: cannot write to stdout: {exc}\n")
                sys.stderr.flush()


def _deliver(state: RunState, result: Result) -> int:
    out = state.output or _sniff(state.argv)
    runtime = state.runtime or Runtime(out.command, out.termination_log, out.log_format)
    report = result.report
    runtime.record_report(report, out.report_file)
    if result.stdout is not None:
        _write(result.stdout)
    elif out.format == "json":
        from weightguard.cli._common import report_json

        _write(report_json(report))
    elif out.format == "sarif" and result.sarif is not None:
        _write(result.sarif(report))
    else:
        from weightguard.cli._textsafe import escaped_report

        _write(result.text(escaped_report(report)))  # file names cannot forge lines
    for note in result.notes:
        if runtime.json_events:
            runtime.event("warning", "warning", message=one_line(note))
        elif out.verbosity >= 0:
            _write(f"weightguard: {note}\n", err=True)
    return int(report.exit_code)


def _deliver_error(
    state: RunState,
    exit_code: int,
    code: str,
    message: str,
    *,
    path: str | None = None,
    hint: str | None = None,
    text_lines: Sequence[str] | None = None,
) -> int:
    out = state.output or _sniff(state.argv)
    runtime = state.runtime or Runtime(out.command, out.termination_log, out.log_format)
    runtime.record_error(exit_code, code, message, path, hint=hint)
    report = error_report(out.command, exit_code, code, message, path, hint)
    from weightguard.cli._common import report_json

    if out.report_file:
        from weightguard.fileio import write_atomic

        try:
            write_atomic(out.report_file, report_json(report).encode())
        except WeightguardError as err:  # the run already failed: say so, keep its code
            runtime.event("warning", "warning", code=err.code, message=err.one_line())
            if not runtime.json_events:
                _write(f"weightguard: warning: {err.one_line()}\n", err=True)
    if out.format == "json":
        _write(report_json(report))
    if runtime.json_events:
        return exit_code
    if text_lines is not None:
        _write("".join(f"{line}\n" for line in text_lines), err=True)
        return exit_code
    from weightguard.cli._textsafe import escape

    where = f"{escape(path)}: " if path else ""
    _write(f"weightguard: error: {where}{escape(one_line(message))}\n", err=True)
    if hint:
        _write(f"weightguard: hint: {escape(hint)}\n", err=True)
    return exit_code


def _missing_extra(exc: ModuleNotFoundError) -> UsageError | None:
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return UsageError(
        f"this needs the optional dependency {top!r}, which is not installed",
        code="env.missing_extra",
        hint=f"pip install './weightguard[{extra}]' from a checkout of this project "
        "(the name on the public index is another project)",
    )


def require_extra(module: str) -> None:
    """Import an optional dependency up front, so its absence is exit 2 naming the extra.

    Raises:
        UsageError: ``env.missing_extra`` with the ``pip install`` line.
    """
    import importlib

    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        err = _missing_extra(exc)
        if err is None:
            raise
        raise err from exc


def _handle(state: RunState, exc: BaseException) -> int:
    """Map one exception to the exit-code contract and report it (the only place)."""
    if isinstance(exc, (KeyboardInterrupt, click.exceptions.Abort)):
        return _deliver_error(state, INTERRUPTED, "interrupted", "interrupted (nothing written)")
    if isinstance(exc, click.ClickException):
        lines: list[str] | None = None
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            usage = exc.ctx.get_usage()
            hint = f"Try '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}' for help."
            lines = [usage, hint, "", f"Error: {exc.format_message()}"]
        return _deliver_error(
            state, int(ExitCode.USAGE), "usage.invalid", exc.format_message(), text_lines=lines
        )
    if isinstance(exc, ModuleNotFoundError):
        err = _missing_extra(exc)
        if err is not None:
            exc = err
    if isinstance(exc, WeightguardError):
        return _deliver_error(
            state, int(exc.exit_code), exc.code, exc.message, path=exc.path, hint=exc.hint
        )
    if isinstance(exc, OSError):  # an OS-level failure we did not classify: never success
        return _deliver_error(
            state, int(ExitCode.INCOMPLETE), "input.unreadable", str(exc), path=exc.filename
        )
    out = state.output or _sniff(state.argv)
    if os.environ.get("WEIGHTGUARD_DEBUG") or out.verbosity > 0:
        import traceback  # only on this rare path: keeps start-up lean

        traceback.print_exception(exc)
    return _deliver_error(
        state,
        int(ExitCode.INTERNAL),
        "internal.error",
        f"internal error: {type(exc).__name__}: {exc}",
        hint="this is a bug in weightguard; rerun with -v for the traceback and report it",
    )


def run_cli(
    main: Callable[..., Any],
    args: Sequence[str] | None,
    standalone_mode: bool,
    **extra: Any,
) -> Any:
    """Run click's `main` in non-standalone mode and deliver the outcome (the exit point)."""
    argv = list(sys.argv[1:] if args is None else args)
    state = RunState(argv)
    try:
        try:
            returned = main(argv, standalone_mode=False, obj=state, **extra)
            ended = isinstance(returned, Result)
            code = _deliver(state, returned) if ended else int(returned or 0)
        except Exception as exc:  # the one place that maps exceptions to exit codes
            code = _handle(state, exc)
        except KeyboardInterrupt as exc:
            code = _handle(state, exc)
    except KeyboardInterrupt:  # a second Ctrl-C while reporting the first
        code = INTERRUPTED
    if standalone_mode:
        sys.exit(code)
    return code

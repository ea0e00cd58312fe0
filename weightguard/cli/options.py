"""Options and helpers shared by several commands (keys, passwords, progress, sizes, help)."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from weightguard.errors import KeyLoadError, UsageError
from weightguard.untrusted import read_regular

PASSWORD_ENV = "WEIGHTGUARD_KEY_PASSWORD"  # noqa: S105 - a variable name
T = TypeVar("T")

# Options every command gets from `weightguard.cli.run.contract`: one help section.
OUTPUT_PARAMS = (
    "output_format",
    "report_file",
    "termination_log",
    "log_format",
    "policy_digest",
    "quiet",
    "verbose",
    "help",
)


class HelpCommand(click.Command):
    """A command whose --help groups options into sections and ends with examples."""

    def __init__(
        self,
        *args: Any,
        examples: Sequence[str] = (),
        sections: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.examples = tuple(examples)
        self.sections = dict(sections or {})

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Options by section (the command's own, then output and logging)."""
        rows: dict[str, list[tuple[str, str]]] = {}
        order = [*self.sections, "Options", "Output and logging"]
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            section = next(
                (title for title, names in self.sections.items() if param.name in names),
                "Output and logging" if param.name in OUTPUT_PARAMS else "Options",
            )
            rows.setdefault(section, []).append(record)
        for title in order:
            if rows.get(title):
                with formatter.section(title):
                    formatter.write_dl(rows[title])

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The examples, then the command's own epilog."""
        if self.examples:
            with formatter.section("Examples"):
                for line in self.examples:
                    formatter.write_text(line)
        super().format_epilog(ctx, formatter)


def key_password(path: str) -> bytes | None:
    """Password for an encrypted PEM key: from $WEIGHTGUARD_KEY_PASSWORD, else a prompt.

    Never a command-line argument (it would leak through `ps` and shell history).
    """
    try:
        head = read_regular(path)
    except OSError as exc:
        raise KeyLoadError(f"cannot read private key: {exc.strerror}", path=path) from exc
    if b"ENCRYPTED" not in head:
        return None
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env.encode()
    if sys.stdin.isatty():
        return str(click.prompt(f"Password for {path}", hide_input=True)).encode()
    raise KeyLoadError(
        f"the key is encrypted; set {PASSWORD_ENV} or run on a terminal",
        path=path,
        code="key.password",
        hint=f"set {PASSWORD_ENV} (e.g. from a secret store) or run on a terminal",
    )


def require_paths(paths: Iterable[str | os.PathLike[str]], option: str) -> None:
    """A path the user named must exist: a typo is a usage error, never "unsigned".

    Raises:
        UsageError: ``usage.path_missing`` naming the option and the path.
    """
    for p in paths:
        if not os.path.lexists(p):
            raise UsageError(
                f"{option} names a path that does not exist",
                path=str(p),
                code="usage.path_missing",
                hint="check the spelling; nothing was verified",
            )


def model_size(path: str | os.PathLike[str]) -> int | None:
    """Total bytes of the regular files under `path` (the progress total), None if unknown."""
    try:
        p = Path(path)
        if p.is_file():
            return p.stat().st_size
        total = 0
        for root, _dirs, files in os.walk(p):
            for name in files:
                full = os.path.join(root, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    total += os.path.getsize(full)
        return total
    except OSError:
        return None


def _fmt_eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h"


class ProgressBar:
    """A thread-safe byte counter drawn on stderr: total, percent, rate and ETA.

    Drawn only on a terminal and only for runs longer than half a second; rich draws it
    when installed (it comes with the sigstore extra), else one plain line.
    """

    def __init__(self, label: str, total: int | None = None) -> None:
        self._label = label
        self._total = total or None
        self._done = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._rich: Any = None
        self._task: Any = None

    def line(self, now: float) -> str:
        """The plain progress line for the bytes counted so far."""
        elapsed = max(now - self._start, 1e-9)
        rate = self._done / elapsed
        text = f"{self._label}: {self._done / 2**20:,.0f}"
        if self._total:
            pct = min(100.0, 100.0 * self._done / self._total)
            left = max(self._total - self._done, 0) / rate if rate > 0 else 0.0
            text += f"/{self._total / 2**20:,.0f} MiB {pct:3.0f}% ETA {_fmt_eta(left)}"
        else:
            text += " MiB"
        return text + f" ({rate / 2**20:,.0f} MiB/s)"

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            self._done += nbytes
            now = time.monotonic()
            if now - self._start < 0.5 or now - self._last < 0.1:
                return
            self._last = now
            if self._draw_rich():
                return
            sys.stderr.write("\r" + self.line(now) + "   ")
            sys.stderr.flush()
            self._drawn = True

    def _draw_rich(self) -> bool:
        if self._rich is False:
            return False
        if self._rich is None:
            try:
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TimeRemainingColumn,
                    TransferSpeedColumn,
                )
            except ImportError:
                self._rich = False
                return False
            self._rich = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                "[progress.percentage]{task.percentage:>3.0f}%",
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=True,
                console=None,
            )
            self._rich.start()
            self._task = self._rich.add_task(self._label, total=self._total)
        self._rich.update(self._task, completed=self._done)
        return True

    def close(self) -> None:
        """Erase the bar if one was drawn."""
        if self._rich not in (None, False):
            self._rich.stop()
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def progress_for(label: str, total: int | None = None) -> ProgressBar | None:
    """A progress bar when stderr is a terminal and not -q, else None (silent)."""
    from weightguard.cli.run import current_output

    if current_output().verbosity < 0 or not sys.stderr.isatty():
        return None
    return ProgressBar(label, total)


def with_progress(
    label: str, run: Callable[[ProgressBar | None], T], total: int | None = None
) -> T:
    """Run `run(progress)` and always clean the bar up."""
    bar = progress_for(label, total)
    try:
        return run(bar)
    finally:
        if bar:
            bar.close()


_SIZE = re.compile(r"(\d+)\s*([kmgt]i?b|[kmgt]i|b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgt", start=1):
    _UNITS[f"{_p}b"] = 1000**_i
    _UNITS[f"{_p}ib"] = _UNITS[f"{_p}i"] = 1024**_i


def parse_size(text: str) -> int:
    """A positive size with an explicit unit: `1073741824`, `1GiB`, `512MiB`, `1GB`, `4kB`.

    Binary units (KiB, MiB, GiB, TiB; also Ki/Mi/Gi) are powers of 1024, decimal ones
    (kB, MB, GB, TB) powers of 1000. A bare `1M` or `1G` is refused: tools disagree on
    what it means (dd: 2^20, model-signing's sizes: 10^6), so the user says which.

    Raises:
        UsageError: not a size, zero, or an ambiguous unit (``usage.size``).
    """
    m = _SIZE.fullmatch(text.strip())
    unit = (m.group(2) or "").lower() if m else None
    if m is None or unit not in _UNITS or int(m.group(1)) <= 0:
        hint = None
        if re.fullmatch(r"\d+\s*[kmgt]", text.strip(), re.IGNORECASE):
            n, u = text.strip()[:-1].strip(), text.strip()[-1].upper()
            hint = f"say {n}{u}iB (x1024) or {n}{u}B (x1000)"
        raise UsageError(
            f"not a size: {text!r} (use bytes or an explicit unit: 1GiB, 512MiB, 1GB)",
            code="usage.size",
            hint=hint,
        )
    return int(m.group(1)) * _UNITS[unit]

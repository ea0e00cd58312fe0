"""Options and helpers shared by several commands (keys, passwords, progress)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import click

from weightguard.errors import KeyLoadError
from weightguard.untrusted import read_regular

PASSWORD_ENV = "WEIGHTGUARD_KEY_PASSWORD"  # noqa: S105 - a variable name


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
    )


class ProgressBar:
    """A thread-safe byte counter drawn on stderr when it is a TTY and the run is long."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._done = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            self._done += nbytes
            now = time.monotonic()
            if now - self._start < 0.5 or now - self._last < 0.1:
                return
            self._last = now
            rate = self._done / max(now - self._start, 1e-9)
            sys.stderr.write(
                f"\r{self._label}: {self._done / 2**20:,.0f} MiB ({rate / 2**20:,.0f} MiB/s)   "
            )
            sys.stderr.flush()
            self._drawn = True

    def close(self) -> None:
        """Erase the bar line if one was drawn."""
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def progress_for(label: str) -> ProgressBar | None:
    """A progress bar when stderr is a terminal, else None (silent)."""
    return ProgressBar(label) if sys.stderr.isatty() else None


def with_progress(label: str, run: Callable[[ProgressBar | None], object]) -> object:
    """Run `run(progress)` and always clean the bar up."""
    bar = progress_for(label)
    try:
        return run(bar)
    finally:
        if bar:
            bar.close()


def parse_size(text: str) -> int:
    """`1000000000`, `1G`, `512M`, `4k` (powers of 1000 for G/M/k, 1024 for Gi/Mi/Ki)."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "ki": 2**10, "mi": 2**20, "gi": 2**30}
    t = text.strip().lower().removesuffix("b")
    for suffix in sorted(units, key=len, reverse=True):
        if t.endswith(suffix) and t[: -len(suffix)].isdigit():
            return int(t[: -len(suffix)]) * units[suffix]
    if t.isdigit() and int(t) > 0:
        return int(t)
    raise click.BadParameter(f"not a size: {text!r}")

"""The runtime contract every command keeps (built for `weightguard verify` in a container).

In a Kubernetes init container only the exit code decides (non-zero: the pod never starts).
These helpers make that outcome readable without writing anywhere but the paths the user
names, and without touching the network:

- ``--report FILE``: the full JSON report, written atomically (`weightguard.fileio`).
- ``--termination-log FILE``: one line, at most 4 KiB (the kubelet's cap on a termination
  message), shown by ``kubectl describe pod`` and in pod events.
- ``--log-format json``: one JSON object per event on stderr (``start``, ``policy_pinned``,
  ``reason``, ``decision``, ``error``, ``warning``); stderr carries nothing else.
- ``--policy-digest sha256:HEX``: the pod spec pins the policy file it mounts; a policy file
  with another digest is a configuration error (exit 2), checked before anything is read.

Library code stays silent; only this CLI layer writes the outputs above.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from weightguard.errors import (
    ConfigError,
    ExitCode,
    ModelReadError,
    UsageError,
    WeightguardError,
)
from weightguard.report import Report
from weightguard.untrusted import read_regular

# The kubelet keeps at most 4096 bytes of a termination message (core/v1 Container docs).
TERMINATION_MESSAGE_LIMIT = 4096
LOG_FORMAT_ENV = "WEIGHTGUARD_LOG_FORMAT"
_ELLIPSIS = " …".encode()
_META_KEY = "weightguard.runtime"
_DIGEST_PIN = re.compile(r"sha256:[0-9a-f]{64}")

_OUTCOME_WORDS = {
    int(ExitCode.OK): "ACCEPTED",
    int(ExitCode.REJECTED): "REJECTED",
    int(ExitCode.USAGE): "CONFIGURATION ERROR",
    int(ExitCode.INCOMPLETE): "INCOMPLETE",
    int(ExitCode.INTERNAL): "INTERNAL ERROR",
    130: "INTERRUPTED",
}


def one_line(text: str) -> str:
    """Collapse whitespace and replace control characters: the text fits one log line."""
    flat = " ".join(text.split())
    return "".join(ch if ch.isprintable() else "?" for ch in flat)


def clamp_message(text: str, limit: int = TERMINATION_MESSAGE_LIMIT) -> bytes:
    """`text` as one UTF-8 line with a trailing newline, at most `limit` bytes in all."""
    data = one_line(text).encode()
    if len(data) + 1 > limit:
        keep = data[: limit - 1 - len(_ELLIPSIS)].decode("utf-8", "ignore").encode()
        data = keep + _ELLIPSIS
    return data + b"\n"


def write_termination_message(path: str, text: str) -> None:
    """Write the one-line message to `path`: atomically when possible, else in place.

    The kubelet bind-mounts the termination-log file (mode 0666) into the container, often
    in a directory the container cannot write (``/dev``): neither a temp file beside it nor
    a rename over a mount point works there, so an existing regular file is rewritten in
    place with a single write (the kubelet reads it only after the container exits).

    Raises:
        ModelReadError: the file can be written neither way (``output.unwritable``).
    """
    from weightguard.fileio import write_atomic

    data = clamp_message(text)
    try:
        write_atomic(path, data)
        return
    except ModelReadError:
        if not os.path.isfile(path) or os.path.islink(path):
            raise
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.write(fd, data)  # <= 4 KiB: one write
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ModelReadError(
            f"cannot write termination log: {exc.strerror}", path=path, code="output.unwritable"
        ) from exc


def file_sha256(path: str) -> str:
    """``sha256:HEX`` of a policy file's bytes (the value ``--policy-digest`` pins)."""
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise ConfigError("policy file not found", path=path, code="policy.missing") from None
    except IsADirectoryError:
        raise ConfigError(
            "policy path is a directory", path=path, code="policy.unreadable"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read policy: {exc.strerror}", path=path, code="policy.unreadable"
        ) from exc
    import hashlib  # lazily: OpenSSL's loading is a visible share of a scan's start-up

    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_policy_pin(policy_path: str | None, pin: str | None) -> str | None:
    """Compare the policy file's digest with the pinned one; return the digest checked.

    Raises:
        UsageError: a pin without a policy, or a pin that is not ``sha256:<64 hex>``.
        ConfigError: the policy is missing or unreadable (``policy.missing``,
            ``policy.unreadable``) or its digest differs (``policy.digest_mismatch``).
    """
    if pin is None:
        return None
    if not _DIGEST_PIN.fullmatch(pin):
        raise UsageError(
            f"--policy-digest must be sha256:<64 lowercase hex>, got {pin[:80]!r}",
            code="usage.invalid",
        )
    if not policy_path:
        raise UsageError("--policy-digest needs --policy", code="usage.invalid")
    actual = file_sha256(policy_path)
    if actual != pin:
        raise ConfigError(
            f"policy digest {actual} differs from the pinned {pin}",
            path=policy_path,
            code="policy.digest_mismatch",
            hint="the mounted policy is not the one the pod spec pins; update one of them",
        )
    return actual


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Runtime:
    """One command run's outputs besides stdout: events, termination message, report file."""

    command: str
    termination_log: str | None = None
    log_format: str = "text"
    started: float = field(default_factory=time.monotonic)
    policy_pin: str | None = None

    @property
    def json_events(self) -> bool:
        """True when every event goes to stderr as one JSON line."""
        return self.log_format == "json"

    def event(self, name: str, level: str = "info", **fields: Any) -> None:
        """Emit one event (JSON mode only; text mode keeps stderr as it always was)."""
        if not self.json_events:
            return
        record = {"ts": _now(), "level": level, "event": name, "command": self.command}
        record.update({k: v for k, v in fields.items() if v is not None})
        import json  # JSON log mode only: `weightguard scan` start-up never needs it

        sys.stderr.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        sys.stderr.flush()

    @contextlib.contextmanager
    def library_output_as_events(self) -> Iterator[None]:
        """In JSON mode, turn Python warnings and log records into events, not free text."""
        if not self.json_events:
            yield
            return

        def show(message: Any, category: type[Warning], *_: Any, **__: Any) -> None:
            self.event("warning", "warning", message=str(message), category=category.__name__)

        import logging  # lazily: only JSON event mode needs it

        root = logging.getLogger()
        saved_show, saved_handlers, saved_level = warnings.showwarning, root.handlers[:], root.level
        warnings.showwarning = show
        root.handlers[:] = [_event_handler(self)]
        root.setLevel(logging.WARNING)
        try:
            yield
        finally:
            warnings.showwarning = saved_show
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)

    def outcome_line(self, code: int, summary: str) -> str:
        """``weightguard verify: REJECTED (exit 1): <summary>``."""
        word = _OUTCOME_WORDS.get(int(code), "ERROR")
        return f"weightguard {self.command}: {word} (exit {int(code)}): {summary}"

    def record_report(self, report: Report, report_file: str | None) -> None:
        """Write the report file and termination message, and log reasons and the decision.

        Raises:
            ModelReadError: an output the user named cannot be written (fail closed, exit 3).
            ConfigError: the policy the report used is not the pinned one.
        """
        self._check_report_policy(report)
        if report_file:
            from weightguard.cli._common import report_json
            from weightguard.fileio import write_atomic

            write_atomic(report_file, report_json(report).encode())
        for reason in report.reasons:
            self.event(
                "reason",
                "error" if reason.severity == "error" else reason.severity,
                **reason.to_json_dict(),
            )
        if self.termination_log:
            write_termination_message(
                self.termination_log, self.outcome_line(report.exit_code, summarize(report))
            )
        self.event(
            "decision",
            "info" if report.exit_code == ExitCode.OK else "error",
            verdict=report.verdict.value,
            exit_code=int(report.exit_code),
            duration_s=round(time.monotonic() - self.started, 3),
            **_decision_details(report),
        )

    def record_error(
        self,
        code: int,
        reason: str,
        message: str,
        path: str | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        """Log a failure and write its termination message; never masks the failure."""
        where = f"{path}: " if path else ""
        self.event(
            "error",
            "error",
            exit_code=int(code),
            code=reason,
            path=path,
            message=one_line(message),
            hint=hint,
            duration_s=round(time.monotonic() - self.started, 3),
        )
        if not self.termination_log:
            return
        try:
            write_termination_message(
                self.termination_log, self.outcome_line(code, f"[{reason}] {where}{message}")
            )
        except WeightguardError as err:  # the exit code is already non-zero: say so, go on
            self.event("warning", "warning", code=err.code, message=err.one_line())

    def _check_report_policy(self, report: Report) -> None:
        # Closes the gap between the pin check and the policy loader's own read: the digest
        # the evaluation recorded must be the pinned one too.
        if self.policy_pin is None:
            return
        used = _policy_digest_of(report)
        if used is not None and used != self.policy_pin:
            raise ConfigError(
                f"the policy changed while in use: evaluated {used}, pinned {self.policy_pin}",
                code="policy.digest_mismatch",
            )


def _event_handler(runtime: Runtime) -> Any:
    """A logging handler that turns records into JSON events (logging imported lazily)."""
    import logging

    class EventHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            runtime.event(
                "log", record.levelname.lower(), logger=record.name, message=record.getMessage()
            )

    return EventHandler(logging.WARNING)


def _policy_digest_of(report: Report) -> str | None:
    policy = report.details.get("policy")
    if isinstance(policy, dict):
        digest = policy.get("digest")
        return digest if isinstance(digest, str) else None
    return None


def _decision_details(report: Report) -> dict[str, Any]:
    d = report.details
    model = d.get("model") if isinstance(d.get("model"), dict) else {}
    signer = d.get("signer") if isinstance(d.get("signer"), dict) else None
    out: dict[str, Any] = {
        "model": model.get("path") if model else None,
        "root_digest": model.get("root_digest") if model else None,
        "signer": {k: signer.get(k) for k in ("kind", "identity")} if signer else None,
        "policy_digest": _policy_digest_of(report),
        "files_checked": d.get("files_checked"),
        "bytes_hashed": d.get("bytes_hashed"),
        "errors": sum(1 for r in report.reasons if r.severity == "error"),
        "warnings": sum(1 for r in report.reasons if r.severity == "warning"),
    }
    return out


def summarize(report: Report) -> str:
    """The termination message body: the first failing reason, or what was accepted."""
    errors = [r for r in report.reasons if r.severity == "error"]
    if errors:
        first = errors[0]
        where = f"{first.path}: " if first.path else ""
        more = f" (+{len(errors) - 1} more, see the report)" if len(errors) > 1 else ""
        return f"[{first.code}] {where}{first.message}{more}"
    details = _decision_details(report)
    parts = [str(details["model"] or "-")]
    if details["root_digest"]:
        parts.append(str(details["root_digest"]))
    if details["signer"]:
        parts.append(f"signed by {details['signer']['kind']} {details['signer']['identity']}")
    if details["policy_digest"]:
        parts.append(f"policy {details['policy_digest']}")
    if details["warnings"]:
        parts.append(f"{details['warnings']} warning(s)")
    return " ".join(parts)

"""The one exception tree of weightguard, each class carrying its CLI exit code.

Exit codes are one contract for every command (README, "Exit codes"):
0 accepted/clean, 1 rejected, 2 usage or configuration, 3 incomplete, 4 internal.
This module imports nothing else from weightguard.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes shared by every command."""

    OK = 0
    REJECTED = 1
    USAGE = 2
    INCOMPLETE = 3
    INTERNAL = 4


class WeightguardError(Exception):
    """Base of every error weightguard raises on purpose.

    Attributes:
        code: a stable, dotted reason code (also used in JSON reports).
        path: the file the error is about, when there is one.
        hint: one line telling the user what to do next, when we know.
    """

    exit_code: ExitCode = ExitCode.INTERNAL
    default_code: str = "internal.error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.path = path
        self.hint = hint

    def one_line(self) -> str:
        """The message as one line, prefixed with the file it is about."""
        text = " ".join(self.message.split())
        return f"{self.path}: {text}" if self.path else text


class UsageError(WeightguardError):
    """Bad flags or arguments."""

    exit_code = ExitCode.USAGE
    default_code = "usage.invalid"


class ConfigError(UsageError):
    """Unreadable or invalid configuration: keys, certificates, policies, trust roots."""

    default_code = "config.invalid"


class KeyLoadError(ConfigError):
    """A key or certificate could not be loaded or is of an unsupported type."""

    default_code = "key.invalid"


class RejectedError(WeightguardError):
    """The artifact is not acceptable (bad signature, unsafe content, mismatch)."""

    exit_code = ExitCode.REJECTED
    default_code = "rejected"


class BundleError(RejectedError):
    """A signature bundle is malformed or unsupported: treated as tampering."""

    default_code = "bundle.invalid"


class SignatureError(RejectedError):
    """A cryptographic signature or certificate chain did not verify."""

    default_code = "signature.invalid"


class IncompleteError(WeightguardError):
    """An input could not be fully read or parsed; the check fails closed."""

    exit_code = ExitCode.INCOMPLETE
    default_code = "input.incomplete"


class ModelReadError(IncompleteError):
    """A model file could not be read."""

    default_code = "model.unreadable"


class ModelChangedError(IncompleteError):
    """A model file changed while it was being hashed."""

    default_code = "model.changed_during_hash"


class InternalError(WeightguardError):
    """A bug: something we did not expect. Never turned into success."""

    exit_code = ExitCode.INTERNAL
    default_code = "internal.error"

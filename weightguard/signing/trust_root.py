"""Which Sigstore trusted root a verification uses: a pinned file, or the one shipped
inside the sigstore package; never the TUF cache (kubernetes-sigstore-intoto.md 2.3: a
stale or planted cache file wins, and a read-only home fails).

Owns: reading a ``trusted_root.json`` or a ClientTrustConfig (told apart by media type),
reporting which root was used and how old it is, and handing sigstore-python its
`TrustedRoot`. sigstore is imported inside functions only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightguard.bundle import strict_json
from weightguard.errors import BundleError, ConfigError
from weightguard.untrusted import read_regular

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
# Directory names of the TUF repositories whose trusted roots ship in the sigstore wheel.
_EMBEDDED = {
    "production": "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev",
    "staging": "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev",
}


def _utc(ts: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class TrustRoot:
    """A Sigstore trusted root read from one file.

    Attributes:
        source: ``embedded:production``, ``embedded:staging`` or ``file``.
        path: the file read.
        form: ``trusted_root`` or ``client_trust_config`` (its ``trustedRoot`` is used).
        root: the trusted-root JSON object.
        sha256: digest of the file's bytes.
    """

    source: str
    path: Path
    form: str
    root: Mapping[str, Any]
    sha256: str
    # The exact bytes read (and hashed): verification parses these, never the path again,
    # so swapping the file after load cannot change who is trusted.
    data: bytes = field(default=b"", repr=False, compare=False)

    @classmethod
    def load(cls, spec: str | os.PathLike[str]) -> TrustRoot:
        """``embedded:production``, ``embedded:staging``, or a path to either file form."""
        text = os.fspath(spec)
        if text.startswith("embedded:"):
            return cls.embedded(text.removeprefix("embedded:"))
        return cls.from_file(text)

    @classmethod
    def embedded(cls, instance: str = "production") -> TrustRoot:
        """The trusted root shipped inside the installed sigstore package."""
        if instance not in _EMBEDDED:
            raise ConfigError(f"unknown embedded Sigstore instance {instance!r}")
        try:
            import sigstore
        except ImportError:
            raise ConfigError(
                "Sigstore support is not installed",
                hint="pip install './weightguard[sigstore]' from a checkout of this project",
            ) from None
        path = Path(sigstore.__file__).parent / "_store" / _EMBEDDED[instance] / "trusted_root.json"
        trust = cls._read(path)
        return cls(f"embedded:{instance}", path, trust.form, trust.root, trust.sha256, trust.data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TrustRoot:
        """A ``trusted_root.json`` or a ClientTrustConfig, told apart by media type."""
        return cls._read(Path(path))

    @classmethod
    def _read(cls, path: Path) -> TrustRoot:
        try:
            data = read_regular(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the Sigstore trusted root: {exc.strerror}", path=str(path)
            ) from None
        return cls.from_bytes(data, path)

    @classmethod
    def from_bytes(cls, data: bytes, path: Path) -> TrustRoot:
        """Either file form from bytes already read (and pinned) by the caller."""
        try:
            doc = strict_json(data, "trusted root")
        except BundleError as exc:
            raise ConfigError(exc.message, path=str(path), code="trust.malformed") from None
        media = doc.get("mediaType") if isinstance(doc, dict) else None
        if media == TRUST_CONFIG_MEDIA_TYPE:
            form, root = "client_trust_config", doc.get("trustedRoot")
        elif media == TRUSTED_ROOT_MEDIA_TYPE:
            form, root = "trusted_root", doc
        else:
            raise ConfigError(
                f"not a Sigstore trusted root or client trust config (mediaType {media!r})",
                path=str(path),
                code="trust.malformed",
            )
        if not isinstance(root, dict):
            raise ConfigError("the trust config has no trustedRoot", path=str(path))
        return cls("file", path, form, root, hashlib.sha256(data).hexdigest(), data)

    def newest_entry_start(self) -> dt.datetime | None:
        """The latest ``validFor.start`` of any log, CA or TSA key in the root.

        The trusted root carries no issue date; this is when it last gained a key, so a
        root that misses keys rotated in since then shows a large age.
        """
        starts: list[dt.datetime] = []
        for group in ("tlogs", "ctlogs", "certificateAuthorities", "timestampAuthorities"):
            for entry in self.root.get(group) or ():
                if not isinstance(entry, Mapping):
                    continue
                key = entry.get("publicKey")
                valid = entry.get("validFor") or (
                    key.get("validFor") if isinstance(key, Mapping) else None
                )
                start = valid.get("start") if isinstance(valid, Mapping) else None
                when = _utc(start) if isinstance(start, str) else None
                if when is not None:
                    starts.append(when)
        return max(starts, default=None)

    def describe(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """JSON-ready: which root, from where, and how old (days since its newest key)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        newest = self.newest_entry_start()
        out: dict[str, Any] = {
            "source": self.source,
            "path": str(self.path),
            "form": self.form,
            "sha256": self.sha256,
            "newest_entry_start": newest.isoformat() if newest else None,
            "age_days": (now - newest).days if newest else None,
        }
        if self.source.startswith("embedded:"):
            from importlib.metadata import version

            out["sigstore_version"] = version("sigstore")
        return out

    def sigstore_trusted_root(self) -> Any:
        """The sigstore-python `TrustedRoot` for this file (ConfigError when invalid)."""
        from sigstore.errors import Error
        from sigstore.models import TrustedRoot
        from sigstore_models.trustroot import v1 as trustroot_v1

        try:
            # From the JSON already read (and digested), never a second read of the path:
            # a file swapped in between (or a FIFO) must not change or stall the trust.
            inner = trustroot_v1.TrustedRoot.from_json(json.dumps(self.root))
            return TrustedRoot(inner)
        except (Error, ValueError, OSError) as exc:
            raise ConfigError(
                f"invalid Sigstore trusted root: {first_line(exc)}",
                path=str(self.path),
                code="trust.invalid",
            ) from None


def first_line(exc: BaseException) -> str:
    """The first two lines of an exception message, for one-line reasons."""
    text = " ".join(str(exc).split("\n")[:2])
    return text[:300]

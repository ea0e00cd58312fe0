"""in-toto layouts over a model's supply chain, verified without running anything.

Owns: refusing layouts that would execute commands (`inspect` steps, and sublayouts,
whose own inspections in-toto would run while recursing) and verifying the rest with
the `in-toto` 3.1 package's own step functions, in `in_toto_verify`'s order minus the
inspection and command-alignment steps (design note 3.3: inspections run arbitrary
commands at verify time; an init container must not). Finally the chain's last products
must include every model file with the same sha256. `in_toto` is imported lazily.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LayoutOutcome:
    """The result of verifying one layout: ok, or a reason code and message;
    `incomplete` when the layout could not be checked at all."""

    ok: bool
    code: str
    message: str
    incomplete: bool = False


def _payload(doc: Any) -> Any:
    from in_toto.models.metadata import Metadata

    return Metadata.from_dict(doc).get_payload()


def check_layout_document(data: bytes) -> tuple[str, str] | None:
    """(code, message) when a layout file cannot be used in the gate; None when it can."""
    try:
        payload = _payload(json.loads(data))
    except Exception as exc:  # in-toto/securesystemslib raise many types for bad input
        return "policy.layout_invalid", f"not an in-toto layout: {type(exc).__name__}: {exc}"
    if getattr(payload, "type_", None) != "layout":
        return "policy.layout_invalid", "the file holds an in-toto link, not a layout"
    if payload.inspect:
        names = ", ".join(i.name for i in payload.inspect)
        return (
            "layout.inspection_refused",
            f"layout has inspection steps ({names}); they run commands at verify time "
            "and are refused in the gate",
        )
    return None


def _failure(exc: Exception) -> LayoutOutcome:
    from in_toto import exceptions as ie

    table: Sequence[tuple[type[Exception], str]] = (
        (ie.LayoutExpiredError, "layout.expired"),
        (ie.SignatureVerificationError, "layout.signature"),
        (ie.LinkNotFoundError, "layout.links_missing"),
        (ie.ThresholdVerificationError, "layout.threshold"),
        (ie.RuleVerificationError, "layout.rule_failed"),
    )
    code = next((c for cls, c in table if isinstance(exc, cls)), "layout.failed")
    text = " ".join(str(exc).split()) or type(exc).__name__
    return LayoutOutcome(False, code, text)


def verify_layout(
    layout_bytes: bytes,
    owner_keys_pem: Sequence[bytes],
    links_dir: Path,
    model_files: Mapping[str, str],
) -> LayoutOutcome:
    """Verify a layout signed by every owner key, over the links in `links_dir`.

    `model_files` maps each model-relative file to its sha256 hex; the final step's
    products must name exactly these files with these digests. Never raises for bad
    input: every failure is an outcome with a ``layout.*`` code.
    """
    try:
        from cryptography.hazmat.primitives import serialization
        from in_toto import verifylib
        from in_toto.models.metadata import Metadata
        from securesystemslib.signer import SSlibKey

        keys: dict[str, Any] = {}
        for pem in owner_keys_pem:
            key = SSlibKey.from_crypto(serialization.load_pem_public_key(pem))
            keys[key.keyid] = {**key.to_dict(), "keyid": key.keyid}
        metadata = Metadata.from_dict(json.loads(layout_bytes))
        verifylib.verify_metadata_signatures(metadata, keys)
        layout = metadata.get_payload()
        if layout.inspect:
            return LayoutOutcome(False, "layout.inspection_refused", "layout has inspection steps")
        verifylib.verify_layout_expiration(layout)
        if not links_dir.is_dir():
            return LayoutOutcome(False, "layout.links_missing", f"no link folder at {links_dir}")
        unreadable = _unreadable_links(links_dir)
        if unreadable is not None:
            return LayoutOutcome(False, "layout.links_unreadable", unreadable, True)
        steps = verifylib.load_links_for_layout(layout, str(links_dir))
        steps = verifylib.verify_link_signature_thresholds(layout, steps)
        chain: dict[str, dict[str, Any]] = {}
        for step, by_key in steps.items():
            chain[step] = {}
            for keyid, md in by_key.items():
                payload = md.get_payload()
                if payload.type_ != "link":
                    return LayoutOutcome(
                        False,
                        "layout.sublayout_refused",
                        f"step {step!r} is delegated to a sublayout; sublayouts are refused",
                    )
                chain[step][keyid] = payload
        verifylib.verify_threshold_constraints(layout, chain)
        reduced = verifylib.reduce_chain_links(chain)
        verifylib.verify_all_item_rules(layout.steps, reduced)
        summary = verifylib.get_summary_link(layout, reduced, "")
    except Exception as exc:  # every in-toto failure is a failed check, never a pass
        return _failure(exc)
    return _compare_products(summary.products, model_files)


def _unreadable_links(links_dir: Path) -> str | None:
    """Why a link file in-toto would open cannot be read safely, else None.

    in-toto opens `STEP.KEYID.link` with a plain blocking `open()`: a FIFO there (the
    folder lives in the attacker-writable model volume) would hang the gate, a device
    or a huge file would exhaust it. Anything but a capped regular file stops the check.
    """
    import stat

    from weightguard.untrusted import MAX_BUNDLE_BYTES

    for entry in sorted(links_dir.iterdir()):
        if not entry.name.endswith(".link"):
            continue
        try:
            st = entry.stat()
        except OSError as exc:
            return f"cannot read link {entry.name}: {exc.strerror}"
        if not stat.S_ISREG(st.st_mode):
            return f"link {entry.name} is not a regular file"
        if st.st_size > MAX_BUNDLE_BYTES:
            return f"link {entry.name} is larger than {MAX_BUNDLE_BYTES} bytes"
    return None


def _compare_products(products: Mapping[str, Any], model_files: Mapping[str, str]) -> LayoutOutcome:
    final = {
        name: (d.get("sha256") if isinstance(d, Mapping) else None) for name, d in products.items()
    }
    missing = sorted(set(model_files) - set(final))
    if missing:
        return LayoutOutcome(
            False,
            "layout.products_mismatch",
            f"model file(s) not produced by the supply chain: {', '.join(missing[:5])}",
        )
    differ = sorted(p for p, digest in model_files.items() if final[p] != digest)
    if differ:
        return LayoutOutcome(
            False,
            "layout.products_mismatch",
            f"model file(s) differ from the chain's final products: {', '.join(differ[:5])}",
        )
    return LayoutOutcome(True, "layout.ok", f"supply chain verified ({len(model_files)} files)")

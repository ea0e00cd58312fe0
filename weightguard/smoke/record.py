"""Smoke records: the in-toto Statement that binds recorded outputs to exact weight bytes.

Owns: the predicate (`PREDICATE_TYPE`), writing a record (plain Statement JSON, or a
DSSE-signed Sigstore bundle when a signer is given), and `load_record`, the one function
a policy engine calls to read a record: it verifies the signature when given a verifier
and validates every field before returning a frozen `SmokeRecord`.

Statement (in-toto Statement v1): one subject whose name is the model's file or
directory name and whose digest is ``{"sha256": <OMS root digest>}``, the value
`weightguard digest MODEL` prints (files mode, sha256, `model.sig` ignored).
A record that does not parse is treated like a tampered bundle: rejected (exit 1).
No torch here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightguard.attestation import make_statement, sign_statement, verify_attestation_bytes
from weightguard.bundle import (
    Statement,
    encode_statement,
    parse_bundle,
    parse_statement,
    strict_json,
)
from weightguard.errors import BundleError, ModelReadError, RejectedError
from weightguard.signing import Signer, SignerInfo, Verifier
from weightguard.smoke.outputs import PROJECTIONS, Tolerance

PREDICATE_TYPE = "https://weightguard.dev/smoke/v1"
# recorded: a reference record (release time); passed / failed: a check record written
# by `smoke check --write-record` (deploy time), what a policy's smoke rule judges.
OUTCOMES = ("recorded", "passed", "failed")
BUILDERS = ("factory", "transformers")
INPUT_KINDS = ("tensor", "factory", "token_ids", "prompts")


def _bad(message: str) -> BundleError:
    return BundleError(f"smoke record: {message}", code="smoke.record_malformed")


def _get(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _bad(f"{where}.{key} is missing or has the wrong type")
    return value


def _numbers(values: Any, where: str) -> list[float]:
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise _bad(f"{where} must be a list of finite numbers")
    return [float(v) for v in values]


def _check_output(raw: Any, index: int) -> dict[str, Any]:
    where = f"outputs[{index}]"
    if not isinstance(raw, dict):
        raise _bad(f"{where} is not an object")
    _get(raw, "name", str, where)
    _get(raw, "dtype", str, where)
    shape = _get(raw, "shape", list, where)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise _bad(f"{where}.shape must be non-negative integers")
    n = math.prod(shape)
    encoding = _get(raw, "encoding", str, where)
    if encoding == "full":
        if len(_numbers(raw.get("values"), f"{where}.values")) != n:
            raise _bad(f"{where}.values does not match its shape")
    elif encoding == "projection":
        summary = _get(raw, "summary", dict, where)
        _numbers([summary.get(k) for k in ("mean", "std", "min", "max", "rms")], f"{where}.summary")
        samples = _get(raw, "samples", dict, where)
        idx = samples.get("indices")
        if not isinstance(idx, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in idx
        ):
            raise _bad(f"{where}.samples.indices must be positions inside the tensor")
        if len(_numbers(samples.get("values"), f"{where}.samples.values")) != len(idx):
            raise _bad(f"{where}.samples has {len(idx)} indices but a different number of values")
        proj = _get(raw, "projections", dict, where)
        _get(proj, "seed", int, f"{where}.projections")
        if proj.get("hash") != "mueller32":
            raise _bad(f"{where}.projections.hash is not one this version computes")
        if len(_numbers(proj.get("values"), f"{where}.projections.values")) != PROJECTIONS:
            raise _bad(f"{where}.projections must hold {PROJECTIONS} values")
    else:
        raise _bad(f"{where}.encoding {encoding!r} is unknown")
    return raw


@dataclass(frozen=True)
class SmokeRecord:
    """A parsed, validated smoke record.

    Attributes:
        root_digest: hex OMS root digest (sha256) of the weights the record is about.
        model_name: the subject name (the model file or directory name).
        outcome: ``recorded`` for a release-time reference record.
        signer: who signed it, when a verifier checked the signature; None otherwise.
        signed: the file is a signed bundle (checked or not: see `signer`).
        factory / input_factory / input_shape / seed: how the model and input were built.
        dtype: the dtype the model ran in; cast: the `--dtype` the model was cast to
            before loading (None: as the factory built it; a check does the same).
        device: where it ran (`DeviceChoice` JSON).
        tolerance: the comparison tolerance the record asks for.
        inputs / outputs: the input tensor descriptions and the recorded outputs.
        predicate: the whole predicate, for fields not lifted out here.
    """

    root_digest: str
    model_name: str
    outcome: str
    signer: SignerInfo | None
    signed: bool
    factory: str
    input_factory: str | None
    input_shape: tuple[int, ...] | None
    seed: int
    dtype: str
    cast: str | None
    device: Mapping[str, Any]
    tolerance: Tolerance
    inputs: tuple[Mapping[str, Any], ...]
    outputs: tuple[Mapping[str, Any], ...]
    predicate: Mapping[str, Any] = field(repr=False)

    @property
    def builder(self) -> str:
        """``factory`` (named code) or ``transformers`` (config.json of the folder)."""
        return str(self.predicate["model"].get("builder", "factory"))

    @property
    def input_kind(self) -> str:
        """How the input was made: tensor, factory, token_ids or prompts."""
        kind = self.predicate["input"].get("kind")
        if kind is None:
            return "factory" if self.input_factory else "tensor"
        return str(kind)

    @property
    def llm(self) -> Mapping[str, Any] | None:
        """The validated ``llm`` section (prompts, tokens, top-k log-probs), if any."""
        value = self.predicate.get("llm")
        return value if isinstance(value, dict) else None

    @property
    def verified(self) -> bool:
        """True when the signature was checked by a verifier."""
        return self.signer is not None

    def matches(self, root_digest: str) -> bool:
        """True when the record is about weights with this root digest (hex, any case)."""
        return self.root_digest == root_digest.lower().removeprefix("sha256:")

    def to_json_dict(self) -> dict[str, Any]:
        """Summary for reports."""
        return {
            "root_digest": f"sha256:{self.root_digest}",
            "model_name": self.model_name,
            "outcome": self.outcome,
            "signed": self.signed,
            "signer": self.signer.to_json_dict() if self.signer else None,
            "factory": self.factory,
            "dtype": self.dtype,
            "device": dict(self.device),
            "created": self.predicate.get("created"),
        }


def _cast(run: Mapping[str, Any]) -> str | None:
    from weightguard.smoke.factory import DTYPES

    cast = run.get("cast")
    if cast is not None and cast not in DTYPES:
        raise _bad(f"run.cast {cast!r} is not one of {', '.join(DTYPES)}")
    return cast


def record_from_statement(stmt: Statement, signer: SignerInfo | None, signed: bool) -> SmokeRecord:
    """Validate a statement as a smoke record.

    Raises:
        BundleError: not a smoke record, or a malformed one.
    """
    if stmt.predicate_type != PREDICATE_TYPE:
        raise BundleError(
            f"not a smoke record (predicate type {stmt.predicate_type!r})", code="smoke.record_type"
        )
    if len(stmt.subjects) != 1:
        raise _bad("must have exactly one subject")
    name, digests = stmt.subjects[0]
    root = digests.get("sha256", "")
    if len(root) != 64 or any(c not in "0123456789abcdef" for c in root):
        raise _bad("subject digest must be a lower-case hex sha256")
    p = stmt.predicate
    outcome = _get(p, "outcome", str, "predicate")
    if outcome not in OUTCOMES:
        raise _bad(f"outcome {outcome!r} is unknown")
    model = _get(p, "model", dict, "predicate")
    inp = _get(p, "input", dict, "predicate")
    run = _get(p, "run", dict, "predicate")
    tol = _get(p, "tolerance", dict, "predicate")
    rtol, atol = _numbers([tol.get("rtol"), tol.get("atol")], "predicate.tolerance")
    if rtol < 0 or atol < 0 or tol.get("atol_unit") != "rms":
        raise _bad("tolerance must be non-negative with atol_unit rms")
    shape = inp.get("shape")
    if shape is not None and (
        not isinstance(shape, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise _bad("input.shape must be a list of non-negative integers or null")
    input_factory = inp.get("factory")
    if input_factory is not None and not isinstance(input_factory, str):
        raise _bad("input.factory must be a string or null")
    tensors = _get(inp, "tensors", list, "predicate.input")
    for t in tensors:
        if not isinstance(t, dict) or not isinstance(t.get("sha256"), str):
            raise _bad("input.tensors entries need a name, shape, dtype and sha256")
    if model.get("builder", "factory") not in BUILDERS:
        raise _bad(f"model.builder must be one of {', '.join(BUILDERS)}")
    if inp.get("kind", "tensor") not in INPUT_KINDS:
        raise _bad(f"input.kind must be one of {', '.join(INPUT_KINDS)}")
    if "llm" in p:
        from weightguard.smoke.llm import parse_llm

        parse_llm(p["llm"])
    elif inp.get("kind") == "prompts":
        raise _bad("input.kind is prompts but there is no llm section")
    outputs = _get(p, "outputs", list, "predicate")
    if not outputs and outcome != "failed":  # a failed check may have run nothing
        raise _bad("outputs is empty")
    checked = tuple(_check_output(o, i) for i, o in enumerate(outputs))
    if len({o["name"] for o in checked}) != len(checked):
        raise _bad("output names repeat")
    return SmokeRecord(
        root_digest=root,
        model_name=name,
        outcome=outcome,
        signer=signer,
        signed=signed,
        factory=_get(model, "factory", str, "predicate.model"),
        input_factory=input_factory,
        input_shape=tuple(shape) if shape is not None else None,
        seed=_get(inp, "seed", int, "predicate.input"),
        dtype=_get(run, "dtype", str, "predicate.run"),
        cast=_cast(run),
        device=_get(run, "device", dict, "predicate.run"),
        tolerance=Tolerance(rtol, atol),
        inputs=tuple(tensors),
        outputs=checked,
        predicate=p,
    )


def parse_record(data: bytes, verifier: Verifier | None = None) -> SmokeRecord:
    """Parse record bytes: a signed bundle, or (only without a verifier) a plain statement.

    Raises:
        BundleError, SignatureError: malformed, tampered or untrusted.
        RejectedError: a verifier was given but the record is not signed.
    """
    doc = strict_json(data, "smoke record")
    if isinstance(doc, dict) and "dsseEnvelope" in doc:
        if verifier is not None:
            att = verify_attestation_bytes(data, verifier)
            return record_from_statement(att.statement, att.signer, True)
        bundle = parse_bundle(data)
        return record_from_statement(parse_statement(bundle.envelope.payload), None, True)
    if isinstance(doc, dict) and "_type" in doc:
        if verifier is not None:
            raise RejectedError(
                "the record is not signed, but a trusted record key was given",
                code="smoke.record_unsigned",
            )
        return record_from_statement(parse_statement(data), None, False)
    raise BundleError(
        "not a smoke record (neither a Sigstore bundle nor an in-toto Statement)",
        code="smoke.record_type",
    )


def load_record(path: str | os.PathLike[str], verifier: Verifier | None = None) -> SmokeRecord:
    """Read and validate a smoke record; verify its signature when `verifier` is given.

    With a verifier, only a signed record whose signature verifies is returned, and
    `SmokeRecord.signer` says who signed it. Without one, the record is parsed but not
    authenticated (`signer` is None): fine for diagnostics, never for a deploy decision.
    The caller still compares `root_digest` with the weights (`SmokeRecord.matches`).

    Raises:
        ModelReadError: unreadable file (exit 3).
        BundleError, SignatureError, RejectedError: malformed, tampered, untrusted or
            unsigned record (exit 1); the error's `path` names the file.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelReadError(f"cannot read smoke record: {exc.strerror}", path=str(path)) from exc
    try:
        return parse_record(data, verifier)
    except RejectedError as err:
        err.path = err.path or str(path)
        raise


def build_statement(
    model_name: str, root_digest: str, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """The in-toto Statement of a smoke record."""
    return make_statement([(model_name, {"sha256": root_digest})], PREDICATE_TYPE, predicate)


def encode_record(statement: Mapping[str, Any], signer: Signer | None) -> bytes:
    """Record bytes: a DSSE-signed bundle with a signer, else the plain Statement JSON."""
    if signer is not None:
        return sign_statement(statement, signer)
    return encode_statement(statement) + b"\n"

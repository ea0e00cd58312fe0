"""The signed record of a conversion: SLSA Provenance v1 in an in-toto Statement.

Statement (docs/convert.md, "Provenance"; SLSA v1.0 provenance, slsa.dev/provenance/v1):

- ``subject``: each safetensors output, ``{name, digest: {sha256}}``;
- ``predicate.buildDefinition.buildType``: `BUILD_TYPE`;
- ``externalParameters``: the conversion options (profiles, allow, prefer, key);
- ``internalParameters``: converter name and version, and the scan (verdict, profiles,
  globals) that allowed the conversion;
- ``resolvedDependencies``: each input checkpoint, ``{name, digest: {sha256}, mediaType,
  annotations: {format, output, scanVerdict}}``: ``output`` names the subject it became;
- ``runDetails``: builder id and versions, invocation id and times, and per output a
  byproduct with the tensor count, aliases, kept and dropped entries.

It is signed into a Sigstore bundle with DSSE (`weightguard.attestation.sign_statement`),
with any signer `weightguard sign` accepts. `verify_record` checks such a record against
files on disk for the policy engine.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weightguard.attestation import make_statement, verify_attestation
from weightguard.bundle import Statement
from weightguard.convert.model import FileConversion
from weightguard.digest import HashTask, hash_range
from weightguard.errors import RejectedError
from weightguard.signing import SignerInfo, Verifier

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://weightguard.dev/convert/pickle-to-safetensors/v1"
BUILDER_ID = "https://weightguard.dev/convert/local"
SAFETENSORS_MEDIA_TYPE = "application/vnd.safetensors"
_MEDIA_TYPES = {
    "torch-zip": "application/vnd.pytorch.zip",
    "torch-legacy": "application/vnd.pytorch.legacy",
    "pickle": "application/x-pickle",
    "joblib": "application/vnd.joblib",
    "hf-index": "application/json",
}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_statement(
    files: Sequence[tuple[str, str, FileConversion]],
    *,
    options: Mapping[str, Any],
    scan: Mapping[str, Any],
    started: str,
    builder_id: str = BUILDER_ID,
) -> dict[str, Any]:
    """The provenance statement for converted files.

    Args:
        files: (input name, output name, conversion) per file; names are relative
            (file names, or paths under the converted directory).
        options: the externalParameters (conversion options).
        scan: verdict, profiles and globals of the scan that allowed the conversion.
        started: RFC 3339 time the conversion started.
        builder_id: the builder's identity URI (CI systems pass their own).
    """
    from weightguard import __version__

    try:
        from importlib.metadata import version

        safetensors_version = version("safetensors")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        safetensors_version = "unknown"
    if any(fc.input_sha256 is None for _i, _o, fc in files):
        raise ValueError("provenance needs the input digests")
    subjects: list[tuple[str, Mapping[str, str]]] = [
        (out, {"sha256": fc.output_sha256}) for _inp, out, fc in files
    ]
    dependencies = [
        {
            "name": inp,
            "digest": {"sha256": fc.input_sha256},
            "mediaType": _MEDIA_TYPES.get(fc.input_format, "application/octet-stream"),
            "annotations": {
                "format": fc.input_format,
                "output": out,
                "scanVerdict": scan.get("verdict", "unknown"),
            },
        }
        for inp, out, fc in files
    ]
    byproducts = [
        {
            "name": f"{out}#conversion",
            "mediaType": SAFETENSORS_MEDIA_TYPE,
            "annotations": {
                "stateDict": fc.state_dict_path,
                "tensors": fc.tensors,
                "aliases": dict(fc.aliases),
                "kept": [e.path for e in fc.kept],
                "dropped": [e.to_json_dict() for e in fc.dropped],
            },
        }
        for _inp, out, fc in files
    ]
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": dict(options),
            "internalParameters": {
                "converter": {"name": "weightguard", "version": __version__},
                "scan": dict(scan),
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {
                "id": builder_id,
                "version": {"weightguard": __version__, "safetensors": safetensors_version},
            },
            "metadata": {
                "invocationId": f"urn:uuid:{uuid.uuid4()}",
                "startedOn": started,
                "finishedOn": _now(),
            },
            "byproducts": byproducts,
        },
    }
    return make_statement(subjects, SLSA_PROVENANCE_V1, predicate)


@dataclass(frozen=True)
class ConversionRecord:
    """A verified conversion record, bound to the files it was checked against.

    Attributes:
        statement: the verified statement.
        signer: who signed it.
        output_name / output_sha256: the subject the output file matched.
        input_name / input_sha256: the input that produced it (as recorded).
        input_verified: True when an input file was given and matched.
        scan_verdict: the recorded scan verdict for that input (always ``clean`` here).
        converter_version: weightguard version that converted it.
    """

    statement: Statement
    signer: SignerInfo
    output_name: str
    output_sha256: str
    input_name: str
    input_sha256: str
    input_verified: bool
    scan_verdict: str
    converter_version: str


def _reject(message: str, code: str, path: str | None) -> RejectedError:
    return RejectedError(message, code=code, path=path)


def _dep_digest(dep: Mapping[str, Any]) -> str:
    digest = dep.get("digest")
    value = digest.get("sha256") if isinstance(digest, Mapping) else None
    return value.lower() if isinstance(value, str) else ""


def _sha256(path: str | os.PathLike[str]) -> str:
    return hash_range(HashTask(os.fspath(path), 0, None), "sha256")


def verify_record(
    record: str | os.PathLike[str],
    verifier: Verifier,
    *,
    output: str | os.PathLike[str],
    input: str | os.PathLike[str] | None = None,
) -> ConversionRecord:
    """Verify a conversion record and bind it to an output file (and its input).

    Checks, failing closed: the bundle's signature (`verifier`); the statement is SLSA
    provenance v1 of `BUILD_TYPE`; the output's SHA-256 is a subject; the dependency
    that produced that subject is recorded with a ``clean`` scan; when `input` is
    given, its SHA-256 equals that dependency's digest.

    Raises:
        SignatureError / BundleError: the signature or bundle does not verify.
        RejectedError: a binding check fails (``conversion.*`` codes).
        ModelReadError: a file cannot be read.
    """
    shown = os.fspath(record)
    verified = verify_attestation(record, verifier)
    st = verified.statement
    pred = st.predicate
    build = pred.get("buildDefinition") if isinstance(pred, Mapping) else None
    if st.predicate_type != SLSA_PROVENANCE_V1 or not isinstance(build, Mapping):
        raise _reject(
            f"not SLSA provenance v1 ({st.predicate_type})", "conversion.predicate", shown
        )
    if build.get("buildType") != BUILD_TYPE:
        raise _reject(
            f"buildType {build.get('buildType')!r} is not a weightguard conversion",
            "conversion.build_type",
            shown,
        )
    out_digest = _sha256(output)
    names = [name for name, digest in st.subjects if digest.get("sha256", "").lower() == out_digest]
    if not names:
        raise _reject(
            "the output file's sha256 is not a subject of the record (changed after conversion?)",
            "conversion.output_mismatch",
            os.fspath(output),
        )
    deps = build.get("resolvedDependencies")
    candidates = [
        (d, _dep_digest(d))
        for d in (deps if isinstance(deps, list) else [])
        if isinstance(d, Mapping)
        and isinstance(d.get("annotations"), Mapping)
        and d["annotations"].get("output") in names
        and _dep_digest(d)
    ]
    if not candidates:
        raise _reject("the record names no input for this output", "conversion.no_input", shown)
    input_verified = False
    if input is not None:
        in_sha = _sha256(input)
        candidates = [c for c in candidates if c[1] == in_sha]
        if not candidates:
            raise _reject(
                "the input file's sha256 differs from the record's material for this output",
                "conversion.input_mismatch",
                os.fspath(input),
            )
        input_verified = True
    dep, in_digest = candidates[0]
    verdict = dep["annotations"].get("scanVerdict")
    if verdict != "clean":
        raise _reject(f"the recorded scan verdict is {verdict!r}", "conversion.scan_verdict", shown)
    internal = build.get("internalParameters")
    converter = internal.get("converter") if isinstance(internal, Mapping) else None
    version = converter.get("version") if isinstance(converter, Mapping) else None
    return ConversionRecord(
        statement=st,
        signer=verified.signer,
        output_name=str(dep["annotations"]["output"]),
        output_sha256=out_digest,
        input_name=str(dep.get("name", "")),
        input_sha256=in_digest,
        input_verified=input_verified,
        scan_verdict=str(verdict),
        converter_version=str(version or "unknown"),
    )

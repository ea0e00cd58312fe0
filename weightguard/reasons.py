# ruff: noqa: E501 - one line per code keeps the registry easy to extend and to merge
"""The reason-code registry: every code weightguard emits, with severity, exit code, meaning.

One line per code (`R(code, severity, exit_code, meaning)`), sorted by code. A code's exit
code is the exit it leads to when it decides the outcome (0 for passed checks and
warnings); `severity` is the severity it is usually reported with (a policy in warn or
audit mode may report an error-class code as a warning).

The README and docs/reasons.md tables are generated from this module
(``python -m weightguard.reasons --markdown``) and a test fails when they drift or when
the source emits a code that is not listed here (tests/unit/test_reasons.py).
Adding a code: add its line here, then regenerate the docs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ReasonCode:
    """One registered reason code."""

    code: str
    severity: str  # error | warning | info
    exit_code: int  # 0 ok, 1 rejected, 2 usage/config, 3 incomplete, 4 internal, 130 interrupted
    meaning: str


R = ReasonCode

# fmt: off
CODES: tuple[ReasonCode, ...] = (
    R("bundle.ambiguous", "error", 1, "sigstore-python and weightguard read different payloads from the bundle"),
    R("bundle.invalid", "error", 1, "a signature bundle is malformed or unsupported: treated as tampering"),
    R("bundle.malformed", "error", 1, "the bundle is not strict JSON (duplicate keys, constants, bad base64) or lacks a field"),
    R("bundle.media_type", "error", 1, "the bundle's mediaType is not a supported Sigstore bundle version"),
    R("bundle.multiple_signatures", "error", 1, "the bundle carries more than one DSSE signature; OMS bundles carry one"),
    R("bundle.no_signature", "error", 1, "DSSE envelope has no signatures"),
    R("bundle.not_a_signature", "error", 1, "a bundle in model.sig.d/ holds no OMS statement where a signature was expected"),
    R("bundle.payload_type", "error", 1, "the DSSE payload type is not in-toto JSON"),
    R("bundle.unknown_field", "error", 1, "the bundle has fields the Sigstore bundle schema does not define"),
    R("bundle.unverified", "warning", 0, "no policy signer verifies this bundle: it is not counted"),
    R("call.dynamic", "error", 1, "the pickle calls a value it built itself, not an allowlisted global"),
    R("call.nested_loader", "error", 1, "the pickle calls another deserialiser such as pickle.loads or torch.load: never allowed"),
    R("cert.expired", "error", 1, "the signing certificate (or its chain) is not valid at verification time"),
    R("cert.inconsistent_issuer", "error", 1, "the certificate names two different OIDC issuers"),
    R("cert.leaf_is_ca", "error", 1, "the signing certificate is a CA (basicConstraints cA=TRUE or keyCertSign), not an end entity"),
    R("cert.malformed", "error", 1, "a Fulcio extension of the signing certificate is malformed"),
    R("cert.unsupported_key", "error", 1, "the signing certificate's key is not an EC key"),
    R("cert.untrusted", "error", 1, "the certificate chain does not lead to a trusted root"),
    R("cert.usage", "error", 1, "the signing certificate may not be used for code signing"),
    R("config.invalid", "error", 2, "unreadable or invalid configuration: keys, certificates, policies, trust roots"),
    R("container.budget", "error", 3, "an archive exceeds a scan budget (members, sizes, ratio): could not be fully checked"),
    R("container.depth", "error", 3, "containers are nested deeper than the scanner follows"),
    R("conversion.build_type", "error", 1, "the provenance buildType is not a weightguard conversion"),
    R("conversion.input_mismatch", "error", 1, "the input file's sha256 differs from the record's material for this output"),
    R("conversion.no_input", "error", 1, "the record names no input for this output"),
    R("conversion.output_mismatch", "error", 1, "the output file's sha256 is not a subject of the record (changed after conversion?)"),
    R("conversion.predicate", "error", 1, "the record is not SLSA provenance v1"),
    R("conversion.scan_verdict", "error", 1, "the recorded scan verdict is not clean"),
    R("convert.compressed_record", "error", 1, "a zip record is compressed; torch writes them stored"),
    R("convert.header_too_large", "error", 1, "the safetensors header would exceed its size limit"),
    R("convert.internal_size", "error", 4, "the converter wrote a different size than it planned (a bug)"),
    R("convert.missing_dependency", "error", 2, "the safetensors package is needed to verify conversions"),
    R("convert.name_collision", "error", 1, "two entries flatten to the same tensor name"),
    R("convert.no_input", "error", 1, "no convertible checkpoint found in the input"),
    R("convert.no_tensors", "error", 1, "no tensors found in the checkpoint"),
    R("convert.output_clash", "error", 1, "two inputs would convert to the same output name"),
    R("convert.refused", "error", 1, "the scan found the input unsafe or incomplete; nothing was written"),
    R("convert.too_large", "error", 3, "the tensors would materialise to more bytes than the budget allows"),
    R("convert.unreadable", "error", 3, "a checkpoint file cannot be read or parsed for conversion"),
    R("convert.unsupported_format", "error", 1, "the input is not a pickle checkpoint weightguard can convert"),
    R("convert.unsupported_tensor", "error", 3, "a tensor cannot be converted faithfully (quantized, sparse, meta, subclass)"),
    R("convert.verify_failed", "error", 3, "reading back the written file failed verification; nothing was kept"),
    R("deny.clear", "info", 0, "no revoked signer or digest"),
    R("deny.digest", "error", 1, "the model's root digest is revoked"),
    R("deny.signer", "error", 1, "a signature is by a revoked signer"),
    R("deny.unchecked", "error", 1, "some files could not be hashed, so revoked digests cannot be ruled out"),
    R("digest.pin_mismatch", "error", 1, "content differs from the pinned digest"),
    R("digest.pin_missing", "error", 1, "pinned file is not in the model"),
    R("digest.pin_ok", "info", 0, "matches the pinned digest"),
    R("digest.unreadable", "error", 3, "a pinned file cannot be hashed"),
    R("env.missing_extra", "error", 2, "an optional dependency is not installed; the hint names the pip extra"),
    R("evidence.unreadable", "error", 3, "an evidence file (attestation bundle) cannot be read"),
    R("evidence.unsigned", "error", 1, "an unsigned in-toto statement; policies only accept signed evidence"),
    R("exception.expired", "warning", 0, "a policy exception has expired: it no longer applies and its checks are enforced"),
    R("file.digest_mismatch", "error", 1, "content differs from the signed digest"),
    R("file.missing", "error", 1, "a signed file is missing from the model"),
    R("file.size_mismatch", "error", 1, "a file's size differs from the signed size"),
    R("file.unmatched", "error", 1, "a file matches no rule of the policy (unmatchedFiles: deny or warn)"),
    R("file.unmatched_allowed", "info", 0, "a file matches no rule, and unmatchedFiles: allow"),
    R("file.unreadable", "error", 3, "a model file cannot be read"),
    R("file.unsigned", "error", 1, "a file of the model is in no verified signature"),
    R("file.unsigned_tolerated", "info", 0, "not in any verified signature (unsignedFiles: allow)"),
    R("format.denied", "error", 3, "the file's format (detected by content) is denied by the rule"),
    R("format.not_allowed", "error", 3, "the file's format (detected by content) is not among the rule's allowed formats"),
    R("format.ok", "info", 0, "the file's format is allowed"),
    R("format.polyglot", "error", 1, "a data file that is, from byte 0, also a pickle that imports or calls: a loader would run it"),
    R("format.unknown", "error", 3, "not a format weightguard knows; it cannot be shown free of code"),
    R("format.unreadable", "error", 3, "the file's format cannot be detected (unreadable)"),
    R("format.unsupported", "error", 3, "a container format whose reader is not installed (e.g. 7z without py7zr)"),
    R("gguf.invalid", "error", 3, "the file starts like GGUF but its header, key/values, tensor table or offsets do not validate"),
    R("global.condition", "error", 1, "an allowlisted global is used with arguments outside its condition"),
    R("global.denied", "error", 1, "a known code-execution primitive is imported or called"),
    R("global.not_allowed", "error", 1, "a global outside the active allowlist is imported"),
    R("global.role", "error", 1, "an allowlisted global is used in a role it is not allowed for (call, new, build)"),
    R("global.user_class", "error", 1, "a class outside the allowlist (user code) would be instantiated"),
    R("hash.unsupported", "error", 1, "the hash algorithm is not supported"),
    R("hdf5.unparsed", "error", 3, "an HDF5 (Keras .h5) file: not parsed, so it cannot be shown free of code"),
    R("input.incomplete", "error", 3, "an input could not be fully read or parsed: the check fails closed"),
    R("input.unreadable", "error", 3, "an unclassified OS error while reading an input"),
    R("internal.error", "error", 4, "a bug in weightguard: never reported as success"),
    R("interrupted", "error", 130, "interrupted (Ctrl-C / SIGINT): nothing was written"),
    R("joblib.ambiguous_array", "error", 3, "unpadded joblib array data also parses as pickle opcodes"),
    R("joblib.array_header", "error", 3, "a joblib array header cannot be parsed"),
    R("joblib.frame", "error", 3, "a joblib stream is framed in a way the scanner cannot follow"),
    R("joblib.object_array", "error", 3, "a joblib array holds Python objects (a pickle inside)"),
    R("joblib.zfile", "error", 3, "a pre-0.10 joblib 'ZF' file that could not be fully inflated and scanned"),
    R("keras.invalid", "error", 3, "a Keras model config (config.json in a zip) is not JSON or is over the size cap"),
    R("keras.lambda", "error", 1, "a Keras model config holds a Lambda layer or custom object: code runs on load"),
    R("key.exists", "error", 2, "keygen would overwrite an existing key (use --force)"),
    R("key.invalid", "error", 2, "a key or certificate cannot be loaded or is of an unsupported type"),
    R("key.mismatch", "error", 2, "the private key does not match the signing certificate"),
    R("key.password", "error", 2, "an encrypted key without a password source, or a wrong password"),
    R("key.password_needed", "error", 2, "keygen --encrypt has no password source (no $WEIGHTGUARD_KEY_PASSWORD, no terminal)"),
    R("key.private_given", "error", 2, "a private key where a public key is expected"),
    R("key.public_given", "error", 2, "a public key where a private key is expected"),
    R("key.unsupported", "error", 2, "the key is not ECDSA P-256/P-384/P-521"),
    R("layout.expired", "error", 1, "an in-toto layout has expired"),
    R("layout.failed", "error", 1, "an in-toto layout verification failed"),
    R("layout.inspection_refused", "error", 1, "a layout asks to run inspections (commands): never run"),
    R("layout.links_missing", "error", 1, "in-toto links required by the layout are missing"),
    R("layout.links_unreadable", "error", 3, "in-toto link files cannot be read as regular files"),
    R("layout.not_run", "info", 0, "the layout was not verified"),
    R("layout.ok", "info", 0, "the in-toto layout verified and its products match the model"),
    R("layout.products_mismatch", "error", 1, "model files were not produced by the in-toto supply chain"),
    R("layout.rule_failed", "error", 3, "an in-toto artifact rule failed"),
    R("layout.signature", "error", 1, "an in-toto layout or link signature does not verify"),
    R("layout.sublayout_refused", "error", 1, "a step is delegated to a sublayout; sublayouts are refused"),
    R("layout.threshold", "error", 1, "too few in-toto links for a step's threshold"),
    R("layout.unchecked", "error", 2, "in-toto layouts cannot be checked (in-toto not installed)"),
    R("manifest.bad_name", "error", 1, "a resource or shard name in the manifest is malformed"),
    R("manifest.duplicate_name", "error", 1, "the signed manifest names a resource twice"),
    R("manifest.empty", "error", 1, "the signed manifest is empty"),
    R("manifest.unsafe_name", "error", 1, "a resource name is absolute, has `..` or a backslash"),
    R("model.changed_during_hash", "error", 3, "a model file changed while it was being hashed"),
    R("model.empty", "error", 1, "the model has no files to check (an unpopulated volume?)"),
    R("model.hf_blob_mismatch", "error", 1, "a Hugging Face cache blob's name (its sha256 or git sha1) does not match its content"),
    R("model.missing", "error", 2, "the model path does not exist"),
    R("model.non_utf8_name", "error", 1, "a file name is not valid UTF-8"),
    R("model.special_file", "error", 1, "the model holds a FIFO, socket or device"),
    R("model.symlink", "error", 1, "the model holds a symlink (not allowed unless --allow-symlinks)"),
    R("model.symlink_dir", "error", 1, "the model holds a symlink to a directory: it could redirect signed content, so it is refused"),
    R("model.symlink_escape", "error", 1, "symlink points outside the model root"),
    R("model.unreadable", "error", 3, "a model file cannot be read"),
    R("nested.unreadable", "error", 3, "a nested payload cannot be read"),
    R("numpy.header", "error", 3, "a .npy header cannot be parsed"),
    R("onnx.external_data_escape", "error", 1, "an ONNX external_data location is absolute or leaves the model root"),
    R("onnx.invalid", "error", 3, "the file does not parse as an ONNX ModelProto"),
    R("output.dir_missing", "error", 2, "the folder of an output file does not exist"),
    R("output.exists", "error", 2, "the output exists (use --force to replace it)"),
    R("output.is_input", "error", 2, "the output would overwrite the input"),
    R("output.unwritable", "error", 3, "an output file cannot be written (permissions, disk full)"),
    R("persid.invalid", "error", 1, "a persistent id is not a torch storage tuple"),
    R("persid.unexpected", "error", 1, "a persistent id in a format whose loader has no persistent_load"),
    R("pickle.bad_ext", "error", 3, "an EXT opcode names an invalid extension code"),
    R("pickle.bad_text", "error", 3, "text in a protocol-0 opcode is not valid (encoding)"),
    R("pickle.budget", "error", 3, "the pickle exceeds a scan budget (size, depth, memo)"),
    R("pickle.ext", "error", 1, "EXT opcode: imports a global through the copyreg extension registry"),
    R("pickle.frame_nested", "error", 3, "a FRAME starts before the previous frame was consumed"),
    R("pickle.frame_straddle", "error", 3, "an opcode or its argument runs past the end of its FRAME"),
    R("pickle.frame_truncated", "error", 3, "a FRAME is cut short"),
    R("pickle.global_operand", "error", 3, "a GLOBAL/STACK_GLOBAL operand is not a module and name string"),
    R("pickle.memo_missing", "error", 3, "a memo read refers to an index that was never stored"),
    R("pickle.memo_overwrite", "error", 1, "a memo index is overwritten: readers may disagree (differential)"),
    R("pickle.negative_length", "error", 3, "a length prefix is negative"),
    R("pickle.newobj_args", "error", 3, "NEWOBJ arguments are not a tuple"),
    R("pickle.no_mark", "error", 3, "an opcode needs a MARK that is not on the stack"),
    R("pickle.odd_items", "error", 3, "SETITEMS/DICT has an odd number of items"),
    R("pickle.out_of_band", "error", 3, "out-of-band buffer: the stream cannot be loaded without its buffers"),
    R("pickle.proto_position", "error", 1, "a PROTO opcode appears after the start (differential)"),
    R("pickle.reduce_args", "error", 3, "REDUCE arguments are not a tuple"),
    R("pickle.stack_leftover", "error", 1, "values are left on the stack at STOP (differential)"),
    R("pickle.stack_underflow", "error", 3, "an opcode pops from an empty stack"),
    R("pickle.string_escape", "error", 3, "a protocol-0 string has an invalid escape"),
    R("pickle.string_quotes", "error", 3, "a protocol-0 string is not quoted the way CPython requires"),
    R("pickle.text_quirk", "error", 1, "protocol-0 text that CPython versions read differently"),
    R("pickle.trailing_data", "error", 3, "bytes follow the pickle's STOP; a loader that reads on would see them"),
    R("pickle.truncated", "error", 3, "the pickle ends before STOP"),
    R("pickle.unknown_opcode", "error", 3, "an opcode CPython does not know"),
    R("pickle.unsupported_protocol", "error", 3, "a protocol newer than 5"),
    R("policy.bad_glob", "error", 2, "a path pattern in the policy is not a valid glob"),
    R("policy.bad_name", "error", 2, "rule names use letters, digits, '.', '_' and '-'"),
    R("policy.bad_value", "error", 2, "a policy value is out of range or malformed"),
    R("policy.digest_mismatch", "error", 2, "the policy file's digest differs from --policy-digest"),
    R("policy.duplicate", "error", 2, "a name is listed twice in the policy"),
    R("policy.invalid", "error", 2, "the policy file is invalid (policy lint lists every problem)"),
    R("policy.key_id_mismatch", "error", 2, "a signer's keyId differs from the id of its publicKey"),
    R("policy.missing", "error", 2, "the policy file does not exist"),
    R("policy.missing_key", "error", 2, "a required policy key is missing"),
    R("policy.override_refused", "error", 2, "overrides (spec.allowOverrides: false)"),
    R("policy.trust_digest_mismatch", "error", 2, "a trust file's sha256 differs from the digest pinned in the policy"),
    R("policy.trust_unpinned", "error", 2, "a trust file (X.509 root, Sigstore trusted root) is not pinned by digest in the policy"),
    R("policy.trust_unreadable", "error", 2, "a trust file named by the policy cannot be read"),
    R("policy.undefined_rule", "error", 2, "a policy refers to an undefined rule"),
    R("policy.undefined_signer", "error", 2, "a rule refers to an undefined signer"),
    R("policy.unknown_format", "error", 2, "a rule names an unknown format"),
    R("policy.unknown_key", "error", 2, "an unknown key in the policy (the message lists the valid ones)"),
    R("policy.unreadable", "error", 2, "the policy file cannot be read (e.g. a directory: a ConfigMap mounted as a folder)"),
    R("policy.unsupported_version", "error", 2, "the policy's apiVersion is not supported"),
    R("policy.wrong_type", "error", 2, "a policy value has the wrong type"),
    R("policy.yaml_syntax", "error", 2, "the policy is not valid UTF-8 YAML"),
    R("rollback.bad_version", "error", 1, "a signed version is not a PEP 440 version"),
    R("rollback.below_floor", "error", 1, "signed version is below the policy's minimum"),
    R("rollback.no_signing_time", "error", 1, "no signing time to compare with notSignedBefore"),
    R("rollback.no_version", "error", 1, "a verified signature carries no signed version"),
    R("rollback.signed_too_early", "error", 1, "a signature is older than the policy's notSignedBefore"),
    R("rollback.time_ok", "info", 0, "every signature is newer than the floor"),
    R("rollback.version_conflict", "error", 1, "the verified signatures disagree on the version"),
    R("rollback.version_ok", "info", 0, "the signed version meets the policy's minVersion"),
    R("safetensors.invalid", "error", 3, "a safetensors file's header is invalid"),
    R("savedmodel.code", "error", 1, "a TensorFlow SavedModel: a graph of ops that run when it is loaded and called"),
    R("scan.attest_refused", "error", 3, "scan --attest: the scan had internal errors or found no file, so nothing is attested"),
    R("scan.bad_allow", "error", 2, "an --allow entry is not module.qualname"),
    R("scan.bad_exclude", "error", 2, "a scan --exclude glob is empty or absolute"),
    R("scan.bad_profile", "error", 2, "an unknown allowlist profile"),
    R("scan.clean", "info", 0, "the scan found nothing unsafe"),
    R("scan.incomplete", "error", 3, "the scan could not finish the file"),
    R("scan.internal", "error", 4, "the scanner failed on a file (a bug)"),
    R("scan.no_such_path", "error", 2, "a path given to scan does not exist"),
    R("scan.not_clean", "error", 1, "the scan verdict in the evidence does not meet the rule"),
    R("scan.not_required", "info", 0, "the file's format is not scanned by this rule"),
    R("scan.unavailable", "error", 3, "no scan result for a file the rule wants scanned"),
    R("scan.unsafe", "error", 1, "the scan found code that loading the file would run"),
    R("shards.empty_file_unsigned", "warning", 0, "empty file present; shards-mode manifests from other tools cannot cover it"),
    R("sign.bundle_exists", "error", 2, "sign would replace an existing bundle; use --force or co-sign into model.sig.d/"),
    R("sign.cert_not_valid", "error", 2, "sign --cert: a certificate of the chain is expired or not yet valid"),
    R("sign.cert_usage", "error", 2, "sign --cert: the leaf lacks KeyUsage digitalSignature or EKU codeSigning"),
    R("signature.invalid", "error", 1, "a cryptographic signature or certificate chain did not verify"),
    R("signature.missing", "error", 1, "no signature found (the model is unsigned)"),
    R("signature.no_verified_time", "error", 1, "no verified signing time (Rekor or TSA), or fewer than the policy asks"),
    R("signature.not_required", "info", 0, "rule says signatures: none"),
    R("signature.ok", "info", 0, "the file is signed by a signer the rule accepts"),
    R("signature.revoked", "error", 1, "only revoked signers signed this file"),
    R("signature.signer_not_allowed", "error", 1, "the file is signed, but not by a signer the rule accepts"),
    R("signature.threshold_not_met", "error", 1, "fewer trusted signatures than the rule's threshold"),
    R("signature.untrusted", "error", 1, "no signature is from a signer this policy trusts"),
    R("signer.extension_mismatch", "error", 1, "a Fulcio certificate extension differs from what is required"),
    R("signer.identity_mismatch", "error", 1, "the signer's identity differs from the one required"),
    R("signer.issuer_mismatch", "error", 1, "the OIDC issuer differs from the one required"),
    R("signer.kind_mismatch", "error", 1, "the bundle's signer kind (key, x509, sigstore) differs from the trust given"),
    R("signer.signing_time", "error", 1, "the verified signing time is outside signedAfter/signedBefore"),
    R("signer.unavailable", "error", 2, "a policy signer's verifier cannot be built (missing extra or file)"),
    R("signer.untrusted_key", "error", 1, "the bundle was signed by a different key than the ones trusted"),
    R("sigstore.identity_token", "error", 2, "the OIDC identity token is unusable"),
    R("sigstore.no_identity_token", "error", 2, "no OIDC identity token (pass --identity-token or run in CI)"),
    R("sigstore.signing_failed", "error", 2, "sigstore signing failed (Fulcio, Rekor or the token)"),
    R("smoke.bad_index", "error", 3, "model.safetensors.index.json is not a regular file or not a valid shard index"),
    R("smoke.bad_weights", "error", 3, "a weights file is not a readable safetensors file"),
    R("smoke.budget", "error", 2, "--budget is empty, names an unknown metric or a value out of range"),
    R("smoke.builder", "error", 2, "the record was made with the other builder (--factory vs --transformers)"),
    R("smoke.check_record", "error", 2, "no check record can be written: the model was not digested or the reference did not load"),
    R("smoke.config_refused", "error", 3, "config.json is unusable or names an architecture outside transformers"),
    R("smoke.copy_failed", "error", 3, "a weight tensor could not be copied into the module"),
    R("smoke.device", "error", 2, "an unknown --device"),
    R("smoke.device_unavailable", "error", 2, "--device cuda was asked for but no GPU is available (never falls back)"),
    R("smoke.digest_mismatch", "error", 1, "the record is about other weights (root digest differs)"),
    R("smoke.drift_exceeded", "error", 1, "a variant drift metric is outside its --budget"),
    R("smoke.drift_unmeasured", "error", 1, "a budgeted drift metric is not measured by this run (LLM metrics need --llm records)"),
    R("smoke.dtype_mismatch", "error", 3, "a tensor's dtype differs from the model's (weights are never cast)"),
    R("smoke.duplicate_key", "error", 3, "a tensor name appears in more than one weights file"),
    R("smoke.factory", "error", 2, "--factory/--input-factory is not module:function or cannot be imported"),
    R("smoke.factory_renamed", "info", 0, "model factory name differs from the record's"),
    R("smoke.index_mismatch", "error", 3, "the shard index and the shards disagree (a tensor missing, extra or in another shard)"),
    R("smoke.input", "error", 2, "give exactly one of --input-factory module:function or --input-shape N,M,"),
    R("smoke.input_mismatch", "error", 1, "the input built here differs from the recorded input (sha256)"),
    R("smoke.llm", "error", 2, "LLM-mode options are inconsistent (--prompts/--prompts-file without --llm, or both)"),
    R("smoke.load_failed", "error", 3, "the weights cannot be loaded into the model"),
    R("smoke.missing_key", "error", 3, "a parameter or buffer of the model is missing from the weights"),
    R("smoke.model_unusable", "error", 3, "the model or its input could not be built or run: nothing was checked (exit 3)"),
    R("smoke.no_weights", "error", 3, "no safetensors weights found at the model path"),
    R("smoke.nonfinite_output", "error", 1, "the model's output contains NaN or Inf"),
    R("smoke.output_mismatch", "error", 1, "an output deviates from the record beyond the tolerance"),
    R("smoke.output_missing", "error", 1, "a recorded output is not produced by the model"),
    R("smoke.output_shape", "error", 1, "an output's shape or dtype differs from the record"),
    R("smoke.output_unexpected", "warning", 0, "the model produced an output that is not in the record"),
    R("smoke.prompt_out_of_vocab", "error", 1, "a prompt or recorded token id is outside the model vocabulary: a bad record"),
    R("smoke.quantize", "error", 2, "--quantize names an unknown scheme or a device it cannot run on"),
    R("smoke.record_kind", "error", 2, "a check record was given where a reference record is expected"),
    R("smoke.record_malformed", "error", 1, "the smoke record is not a valid smoke statement"),
    R("smoke.record_trust_missing", "error", 2, "the record is trusted by nobody: anyone who can write it could make any weights pass"),
    R("smoke.record_type", "error", 1, "not a smoke record (neither a Sigstore bundle nor an in-toto Statement)"),
    R("smoke.record_unsigned", "error", 1, "the record is not signed, but a trusted record key was given"),
    R("smoke.record_unverified", "warning", 0, "record signature not checked (no trusted key given)"),
    R("smoke.record_unverified_allowed", "warning", 0, "--allow-unsigned-record: the record's signature was not checked"),
    R("smoke.remote_code", "error", 3, "config.json has auto_map: the architecture is code shipped with the model; never run"),
    R("smoke.run_failed", "error", 3, "the model could not be run on the input"),
    R("smoke.shape_mismatch", "error", 3, "a tensor's shape differs from the model's parameter"),
    R("smoke.tied_conflict", "error", 1, "tied weights disagree in the file"),
    R("smoke.token_mismatch", "error", 1, "greedy decoding diverges from the recorded tokens (first diverging position named)"),
    R("smoke.tolerance_override", "warning", 0, "tolerance overridden (record: rtol"),
    R("smoke.transformers_missing", "error", 2, "--transformers needs the transformers package: pip install './weightguard[transformers]' from a checkout of this project"),
    R("smoke.unexpected_key", "error", 3, "the weights hold a tensor the model does not have"),
    R("statement.algorithm", "error", 1, "a resource's algorithm does not match the statement's serialization"),
    R("statement.malformed", "error", 1, "the DSSE payload is not a valid in-toto statement"),
    R("statement.predicate_type", "error", 1, "the statement's predicateType is not OMS"),
    R("statement.root_mismatch", "error", 1, "subject digest does not match the listed resources"),
    R("statement.serialization", "error", 1, "the statement's serialization (method, hash, shard size) is unsupported"),
    R("statement.subject_count", "error", 1, "the statement does not have exactly one subject"),
    R("statement.type", "error", 1, "the payload is not an in-toto Statement v1"),
    R("structure.build_target", "error", 1, "BUILD on an object that may not be restored that way"),
    R("tar.duplicate", "error", 3, "a member name appears twice; extractors disagree on which wins"),
    R("tar.link", "error", 3, "a tar archive holds a link member"),
    R("tar.unreadable", "error", 3, "a tar archive cannot be read"),
    R("torch.legacy_layout", "error", 3, "not laid out as torch's legacy format"),
    R("torch.trailing_data", "error", 1, "bytes follow the last storage of a legacy checkpoint (appended payload?)"),
    R("torchscript.code", "error", 1, "a TorchScript archive carries code (reported as code-bearing)"),
    R("trust.invalid", "error", 2, "a Sigstore bundle or trust file is not valid"),
    R("trust.malformed", "error", 2, "a Sigstore trusted root or trust config is malformed"),
    R("usage.bad_ignore_path", "error", 2, "an --ignore path is absolute or leaves the model root"),
    R("usage.invalid", "error", 2, "bad flags or arguments"),
    R("usage.output_in_model", "error", 2, "--report or --termination-log would be written inside the model or over a signature file"),
    R("usage.path_missing", "error", 2, "a path named on the command line does not exist"),
    R("usage.size", "error", 2, "a size without an explicit unit (say 1MiB or 1MB) or not a size"),
    R("usage.trust_with_policy", "error", 2, "trust options given together with --policy (trust comes from the policy)"),
    R("usage.version", "error", 2, "--model-version is not a release version (PEP 440, e.g. 2.4.0 or v2.4.0)"),
    R("zip.duplicate", "error", 1, "two zip members share a name up to case: torch (miniz) and Python may read different ones"),
    R("zip.member_unreadable", "error", 3, "a zip member cannot be read"),
    R("zip.unreadable", "error", 3, "a zip archive cannot be read"),
)
# fmt: on

REGISTRY: Mapping[str, ReasonCode] = {r.code: r for r in CODES}

# Families shown in the README's verify table (the rest: docs/reasons.md).
VERIFY_FAMILIES = (
    "bundle",
    "cert",
    "file",
    "manifest",
    "model",
    "shards",
    "signature",
    "signer",
    "statement",
)


def lookup(code: str) -> ReasonCode | None:
    """The registered entry for `code`, or None."""
    return REGISTRY.get(code)


def markdown_table(codes: Iterable[ReasonCode]) -> str:
    """A Markdown table of the given codes (code, severity, exit, meaning)."""
    lines = ["| code | severity | exit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{r.code}` | {r.severity} | {r.exit_code} | {r.meaning} |" for r in codes]
    return "\n".join(lines) + "\n"


def verify_table() -> str:
    """The README table: codes of plain `weightguard verify`."""
    return markdown_table(r for r in CODES if r.code.split(".")[0] in VERIFY_FAMILIES)


def reasons_doc() -> str:
    """docs/reasons.md: every code, grouped by family."""
    out = [
        "# Reason codes\n",
        "Generated by `python -m weightguard.reasons --markdown` from `weightguard/reasons.py`;",
        "do not edit by hand (a test compares them). `exit` is the exit code a failing code",
        "leads to (0: passed checks and warnings). Policy checks in `warn`/`audit` mode report",
        "error-class codes as warnings, except could-not-check codes, which always block.\n",
    ]
    families: dict[str, list[ReasonCode]] = {}
    for r in CODES:
        families.setdefault(r.code.split(".")[0], []).append(r)
    for family, rows in families.items():
        out.append(f"## {family}\n")
        out.append(markdown_table(rows))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m weightguard.reasons [--markdown | --verify-table]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--verify-table"]:
        sys.stdout.write(verify_table())
    elif args in ([], ["--markdown"]):
        sys.stdout.write(reasons_doc())
    else:
        sys.stderr.write("usage: python -m weightguard.reasons [--markdown | --verify-table]\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

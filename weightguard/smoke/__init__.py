"""Smoke inference: prove that the loaded weights reproduce the outputs recorded at release.

`record_smoke` runs a model built by a trusted factory, with weights loaded strictly from
safetensors, on a seeded input and returns an in-toto Statement (DSSE-signed when given
a signer) binding the outputs to the weights' OMS root digest. `check_smoke` repeats the
load and run on this machine (typically the deploy GPU) and compares. `load_record` is
what a policy engine calls to read and authenticate a record.

Importing this package does not import torch or safetensors; running a smoke test does.

Example:
    >>> from weightguard.smoke import load_record, check_smoke          # doctest: +SKIP
    >>> from weightguard.signing.ec import EcKeyVerifier                 # doctest: +SKIP
    >>> rec = load_record("mlp.smoke.json", EcKeyVerifier.from_files(["release.pub.pem"]))
    >>> rec.matches(weightguard.digest("mlp.safetensors"))               # doctest: +SKIP
    True
"""

from __future__ import annotations

from weightguard.smoke.budget import Budget, parse_budget
from weightguard.smoke.device import DeviceChoice, resolve_device
from weightguard.smoke.factory import ModelBuildError
from weightguard.smoke.llm import LlmRequest
from weightguard.smoke.loader import ModelLoadError
from weightguard.smoke.outputs import OutputComparison, Tolerance, default_tolerance
from weightguard.smoke.record import (
    PREDICATE_TYPE,
    SmokeRecord,
    load_record,
    parse_record,
)
from weightguard.smoke.run import (
    RecordResult,
    SmokeResult,
    check_record,
    check_smoke,
    record_smoke,
)

__all__ = [
    "PREDICATE_TYPE",
    "Budget",
    "DeviceChoice",
    "LlmRequest",
    "ModelBuildError",
    "ModelLoadError",
    "OutputComparison",
    "RecordResult",
    "SmokeRecord",
    "SmokeResult",
    "Tolerance",
    "check_record",
    "check_smoke",
    "default_tolerance",
    "load_record",
    "parse_budget",
    "parse_record",
    "record_smoke",
    "resolve_device",
]

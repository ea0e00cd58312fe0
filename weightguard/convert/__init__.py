"""Convert pickle checkpoints to safetensors without running them, with a signed record.

Public API:
- `convert(input, output=None, *, force, profiles, allow, prefer, state_dict_key, signer,
  attestation, ...) -> ConversionResult`: scan, then stream every tensor of a torch zip,
  legacy torch, pickle or joblib checkpoint (or of every one in a directory) into a
  verified safetensors file; optionally sign an SLSA provenance record.
- `verify_record(record, verifier, *, output, input=None) -> ConversionRecord`: check a
  signed conversion record and bind it to the files (for policies).
- `default_output(path)`: the output name `convert` picks.
`convert` is also `weightguard.convert_checkpoint` at the top level.

Never unpickles and never imports torch; numpy and safetensors are imported lazily
(the ``safetensors`` extra). Rules for names, aliases and metadata: docs/convert.md.
"""

from __future__ import annotations

from weightguard.convert.jobs import default_output
from weightguard.convert.model import ConversionResult, Entry, FileConversion
from weightguard.convert.provenance import (
    BUILD_TYPE,
    SLSA_PROVENANCE_V1,
    ConversionRecord,
    verify_record,
)
from weightguard.convert.run import convert

__all__ = [
    "BUILD_TYPE",
    "SLSA_PROVENANCE_V1",
    "ConversionRecord",
    "ConversionResult",
    "Entry",
    "FileConversion",
    "convert",
    "default_output",
    "verify_record",
]

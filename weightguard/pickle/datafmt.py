"""Data formats of real model repos, checked by parsing (issue 12 point 4).

One entry point, `classify(fh, size, kind)`, refines what `formats.sniff` said for the
formats a Hugging Face repo ships beyond safetensors: GGUF (validated completely), ONNX
(and its external_data paths), TensorFlow SavedModel (code-bearing), SentencePiece
`tokenizer.model`, flax msgpack and HDF5 (Keras `.h5`). The detector (`formats.detect_fh`,
used by the policy gate) and the scanner (`weightguard.scan.containers.Scanner.dispatch`)
both call it, so a file is one of these data formats for the gate only if the scanner
would find it clean.

A problem is (rule, outcome, message): outcome "unsafe" for content that runs code or
escapes the model, "incomplete" for content that does not parse as what it claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_WHOLE_FILE = 64 << 20  # unknown-looking files read whole up to this size
# Keras model_config class names that carry code (keras/src/layers/core/lambda_layer.py,
# and `module`/`registered_name` entries that name a custom object).
_KERAS_CODE = (b'"Lambda"', b'"TFOpLambda"', b'"registered_name": "Custom>', b"__lambda__")


@dataclass(frozen=True)
class Classified:
    """A refined format, and why it is not clean (None when it fully validated)."""

    kind: str
    problem: tuple[str, str, str] | None = None


def classify(fh: BinaryIO, size: int, kind: str) -> Classified:
    """Refine a sniffed `kind`; never raises for bad content (OSError for I/O)."""
    if kind == "gguf":
        from weightguard.pickle.datafmt_gguf import GgufError, validate_gguf

        try:
            validate_gguf(fh, size)
        except GgufError as exc:
            return Classified("gguf", ("gguf.invalid", "incomplete", f"invalid GGUF: {exc}"))
        return Classified("gguf")
    if kind == "onnx":
        return _onnx(fh, size)
    if kind != "unknown":
        return Classified(kind)
    fh.seek(0)
    head = fh.read(8)
    if head == HDF5_MAGIC:
        return _hdf5(fh, size)
    if size > _WHOLE_FILE:
        return Classified(kind)
    fh.seek(0)
    data = fh.read(size)
    from weightguard.pickle.datafmt_msgpack import is_flax_msgpack
    from weightguard.pickle.datafmt_onnx import is_savedmodel
    from weightguard.pickle.datafmt_sentencepiece import is_sentencepiece

    if is_sentencepiece(data):
        return Classified("sentencepiece")
    if is_flax_msgpack(data):
        return Classified("flax-msgpack")
    if is_savedmodel(data):
        return _savedmodel()
    return Classified(kind)


def _savedmodel() -> Classified:
    return Classified(
        "tf-savedmodel",
        (
            "savedmodel.code",
            "unsafe",
            "TensorFlow SavedModel: a graph of ops that run when it is loaded and called",
        ),
    )


def _onnx(fh: BinaryIO, size: int) -> Classified:
    from weightguard.pickle.datafmt_onnx import (
        MAX_SIZE,
        OnnxError,
        escaping,
        external_locations,
        is_savedmodel,
    )

    if size > MAX_SIZE:
        return Classified("onnx", ("onnx.invalid", "incomplete", "over protobuf's 2 GiB limit"))
    fh.seek(0)
    data = fh.read(size)
    if is_savedmodel(data):
        return _savedmodel()
    try:
        locations = external_locations(data)
    except OnnxError as exc:
        return Classified("unknown", ("onnx.invalid", "incomplete", f"invalid ONNX: {exc}"))
    bad = [loc for loc in locations if escaping(loc)]
    if bad:
        message = f"external_data location {bad[0]!r} escapes the model folder"
        return Classified("onnx", ("onnx.external_data_escape", "unsafe", message))
    return Classified("onnx")


def _hdf5(fh: BinaryIO, size: int) -> Classified:
    # Attributes (where Keras keeps model_config) are never compressed in HDF5, so the
    # class names are visible in the raw bytes; but without a full HDF5 parser we cannot
    # show a file free of them, so it is never clean.
    fh.seek(0)
    tail = b""
    while chunk := fh.read(1 << 20):
        window = tail + chunk
        if any(marker in window for marker in _KERAS_CODE):
            message = "Keras HDF5 model_config names a Lambda layer or custom object (code)"
            return Classified("hdf5", ("keras.lambda", "unsafe", message))
        tail = window[-64:]
    message = "HDF5 is not parsed by weightguard; convert the weights to safetensors"
    return Classified("hdf5", ("hdf5.unparsed", "incomplete", message))

"""Element types: what torch and numpy pickles name, and what safetensors can hold.

Pure tables, no imports of torch or numpy. A `DType` says how wide one element is, the
safetensors header name, and how to byte-swap it (complex numbers swap each half). The
safetensors names are those of the safetensors 0.8 format (`safetensors/src/tensor.rs`,
`Dtype`); torch writes `float4_e2m1fn_x2` as two 4-bit values per byte, which safetensors
calls ``F4`` with the last dimension doubled.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DType:
    """One element type.

    Attributes:
        name: the torch spelling (``float32``, ``bfloat16``, ``float8_e4m3fn`` ...).
        safetensors: the safetensors header spelling (``F32``, ``BF16`` ...).
        itemsize: bytes per element as stored in the checkpoint.
        swap_unit: bytes per byte-swapped unit (itemsize, or half of it for complex).
        packed_x2: two values per element (``F4``): safetensors' last dimension is doubled.
    """

    name: str
    safetensors: str
    itemsize: int
    swap_unit: int
    packed_x2: bool = False

    def header_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape written in the safetensors header for a tensor of `shape`."""
        if self.packed_x2:
            return (*shape[:-1], shape[-1] * 2)
        return shape


def _d(name: str, st: str, size: int, unit: int | None = None, packed: bool = False) -> DType:
    return DType(name, st, size, unit or size, packed)


# torch dtype name -> DType, for every dtype safetensors can represent bit for bit.
TORCH_DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        _d("float64", "F64", 8),
        _d("float32", "F32", 4),
        _d("float16", "F16", 2),
        _d("bfloat16", "BF16", 2),
        _d("int64", "I64", 8),
        _d("int32", "I32", 4),
        _d("int16", "I16", 2),
        _d("int8", "I8", 1),
        _d("uint8", "U8", 1),
        _d("uint16", "U16", 2),
        _d("uint32", "U32", 4),
        _d("uint64", "U64", 8),
        _d("bool", "BOOL", 1),
        _d("complex64", "C64", 8, 4),
        _d("float8_e4m3fn", "F8_E4M3", 1),
        _d("float8_e5m2", "F8_E5M2", 1),
        _d("float8_e4m3fnuz", "F8_E4M3FNUZ", 1),
        _d("float8_e5m2fnuz", "F8_E5M2FNUZ", 1),
        _d("float8_e8m0fnu", "F8_E8M0", 1),
        _d("float4_e2m1fn_x2", "F4", 1, packed=True),
    )
}

# torch dtypes safetensors has no name for: refused with this reason.
_QUANTIZED = ("qint8", "quint8", "qint32", "quint4x2", "quint2x4")
_BITS = ("bits1x8", "bits2x4", "bits4x2", "bits8", "bits16")
_SUB_BYTE = tuple(f"{sign}int{n}" for sign in ("", "u") for n in range(1, 8))
UNREPRESENTABLE: dict[str, str] = {
    "complex128": "safetensors has no 128-bit complex type (C64 is the widest)",
    "complex32": "safetensors has no 32-bit (half) complex type",
    **dict.fromkeys(
        _QUANTIZED, "quantized dtypes carry a scale and zero point safetensors cannot hold"
    ),
    **dict.fromkeys(_BITS, "bit-pattern dtypes have no numeric meaning safetensors can record"),
    **dict.fromkeys(_SUB_BYTE, "sub-byte integer dtypes are not a safetensors type"),
}

# Spellings torch also accepts as attribute names of the same dtype (torch.float == float32).
TORCH_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
    "chalf": "complex32",
}

# Legacy typed storage classes (torch.<Name>Storage) -> the dtype of their elements
# (torch/storage.py `_LegacyStorage` subclasses and `_dtype_to_storage_type_map`).
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8",
    "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
}

# Element sizes of every dtype a storage may declare (for byte sizes of refused ones too).
STORAGE_ITEMSIZE: dict[str, int] = {
    **{name: d.itemsize for name, d in TORCH_DTYPES.items()},
    "complex128": 16,
    "complex32": 4,
    "qint8": 1,
    "quint8": 1,
    "qint32": 4,
    "quint4x2": 1,
    "quint2x4": 1,
}


def torch_dtype(name: str) -> DType | str:
    """The DType for a torch dtype name, or the reason it cannot be converted."""
    name = TORCH_ALIASES.get(name, name)
    found = TORCH_DTYPES.get(name)
    if found is not None:
        return found
    return UNREPRESENTABLE.get(name, f"unknown torch dtype {name!r}")


# numpy dtype kind+size (the ``descr`` without byte order) -> torch dtype name.
_NUMPY: dict[str, str] = {
    "b1": "bool",
    "i1": "int8",
    "i2": "int16",
    "i4": "int32",
    "i8": "int64",
    "u1": "uint8",
    "u2": "uint16",
    "u4": "uint32",
    "u8": "uint64",
    "f2": "float16",
    "f4": "float32",
    "f8": "float64",
    "c8": "complex64",
}


def numpy_dtype(descr: str) -> DType | str:
    """The DType for a numpy type string such as ``f4`` or ``c16``, or why it is refused."""
    name = _NUMPY.get(descr)
    if name is not None:
        return TORCH_DTYPES[name]
    if descr == "c16":
        return UNREPRESENTABLE["complex128"]
    return f"numpy dtype {descr!r} has no safetensors equivalent"

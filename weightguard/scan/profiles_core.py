"""The default profiles: ``torch`` and ``numpy``, plus the Python entries both include.

Each entry's `why` is its justification (quoted in docs/scanning.md). ``torch`` covers
what `torch.save` writes for tensors, parameters, state dicts, optimizer and scheduler
states; ``numpy`` covers data only (arrays, dtypes, scalars, protocol 5 buffers and
joblib's array wrappers), never RNG constructors (opt-in ``numpy-rng``). The numpy 1.x
and 2.x module spellings (``numpy.core`` / ``numpy._core``) are listed explicitly.
"""

from __future__ import annotations

from weightguard.scan import conditions as c
from weightguard.scan import conditions_numpy as cn
from weightguard.scan import conditions_torch as ct
from weightguard.scan.entries import BUILD, CALL, NEW, PERSID, VALUE, Entry, entries

_TORCH_DTYPES = [
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "complex32",
    "chalf",
    "complex64",
    "cfloat",
    "complex128",
    "cdouble",
    "uint8",
    "int8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "bool",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "uint16",
    "uint32",
    "uint64",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
]
_TORCH_STORAGES = [
    "Float",
    "Half",
    "BFloat16",
    "Double",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexFloat",
    "ComplexDouble",
    "QInt8",
    "QUInt8",
    "QInt32",
    "QUInt4x2",
    "QUInt2x4",
]
_QSCHEMES = [
    "per_tensor_affine",
    "per_channel_affine",
    "per_tensor_symmetric",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
]
_LAYOUTS = [
    "strided",
    "sparse_coo",
    "sparse_csr",
    "sparse_csc",
    "sparse_bsr",
    "sparse_bsc",
    "_mkldnn",
    "jagged",
]
_MEMORY_FORMATS = ["contiguous_format", "channels_last", "channels_last_3d", "preserve_format"]
_NP_SCALARS = [
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "longdouble",
    "complex64",
    "complex128",
    "clongdouble",
    "str_",
    "bytes_",
    "object_",
    "intc",
    "uintc",
    "intp",
    "uintp",
    "datetime64",
    "timedelta64",
    "void",
]
_NP_CORE = ("numpy.core", "numpy._core")  # numpy 1.x and 2.x spellings of one module

# Python building blocks shared by every profile: value constructors and containers.

_PYTHON = [
    *entries(
        "python",
        ["collections.OrderedDict"],
        [CALL, NEW, BUILD, VALUE],
        "plain ordered mapping; BUILD sets state_dict._metadata",
        call=c.no_args,
        state=c.strdict_state,
        setitems=True,
    ),
    *entries(
        "python",
        ["collections.defaultdict"],
        [CALL, VALUE],
        "mapping whose factory runs on a missing key; factory pinned to plain types",
        call=c.defaultdict_args,
        setitems=True,
    ),
    *entries(
        "python",
        ["collections.Counter"],
        [CALL, VALUE],
        "counting mapping of plain values",
        call=c.plain_args,
        setitems=True,
    ),
    *entries(
        "python",
        ["collections.deque"],
        [CALL, VALUE],
        "sequence of plain values",
        call=c.deque_args,
        appends=True,
    ),
    *entries(
        "python",
        ["builtins.set", "builtins.frozenset"],
        [CALL, VALUE],
        "protocol 0-3 spelling of set literals",
        call=c.set_args,
    ),
    *entries(
        "python",
        ["builtins.bytearray"],
        [CALL, VALUE],
        "protocol 0-4 spelling of bytearray literals",
        call=c.bytearray_args,
    ),
    *entries(
        "python",
        ["builtins.complex"],
        [CALL, VALUE],
        "complex number from two numbers",
        call=c.plain_args,
    ),
    *entries(
        "python",
        ["builtins.slice", "builtins.range"],
        [CALL, VALUE],
        "value types built from ints",
        call=c.plain_args,
    ),
    *entries(
        "python",
        ["_codecs.encode"],
        [CALL],
        "protocol 0-2 spelling of bytes literals",
        call=c.codecs_encode,
    ),
    *entries(
        "python",
        [
            f"builtins.{n}"
            for n in (
                "object",
                "list",
                "dict",
                "tuple",
                "int",
                "float",
                "str",
                "bool",
                "bytes",
                "NoneType",
            )
        ],
        [VALUE],
        "type objects used as factories and reconstructor bases; never called",
    ),
    *entries(
        "python",
        ["copyreg._reconstructor"],
        [CALL],
        "protocol 0/1 object reconstruction; its class must itself be allowlisted",
        call=c.copyreg_reconstructor,
    ),
    *entries(
        "python",
        ["copyreg.__newobj__"],
        [CALL],
        "cls.__new__(cls, *args); its class must itself be allowlisted",
        call=c.copyreg_newobj,
    ),
]

_TORCH = [
    *entries(
        "torch",
        ["torch._utils._rebuild_tensor"],
        [CALL],
        "tensor view on a persistent-id storage (pre-1.0 files)",
        call=ct.rebuild_tensor,
    ),
    *entries(
        "torch",
        ["torch._utils._rebuild_tensor_v2"],
        [CALL],
        "tensor view on a persistent-id storage; ints, bools and empty hooks only",
        call=ct.rebuild_tensor_v2,
    ),
    *entries(
        "torch",
        ["torch._utils._rebuild_tensor_v3"],
        [CALL],
        "tensor view with an explicit dtype (float8, uint16...)",
        call=ct.rebuild_tensor_v3,
    ),
    *entries(
        "torch",
        ["torch._utils._rebuild_parameter"],
        [CALL],
        "wraps a rebuilt tensor as nn.Parameter",
        call=ct.rebuild_parameter,
    ),
    *entries(
        "torch",
        ["torch._utils._rebuild_parameter_with_state"],
        [CALL],
        "nn.Parameter plus a str-keyed attribute dict",
        call=ct.rebuild_parameter,
    ),
    *entries(
        "torch",
        ["torch._utils._rebuild_qtensor"],
        [CALL],
        "quantized tensor from a storage and numeric quantizer parameters",
        call=ct.rebuild_qtensor,
    ),
    *entries(
        "torch",
        ["torch._utils._rebuild_sparse_tensor"],
        [CALL],
        "sparse tensor from index/value tensors",
        call=ct.rebuild_sparse,
    ),
    *entries(
        "torch",
        ["torch._utils._rebuild_meta_tensor_no_storage"],
        [CALL],
        "meta tensor: dtype and shape, no data",
        call=ct.rebuild_meta,
    ),
    *entries(
        "torch",
        ["torch._tensor._rebuild_from_type_v2"],
        [CALL],
        "calls its first argument: pinned to the tensor rebuild functions and Tensor/Parameter",
        call=ct.rebuild_from_type_v2,
    ),
    *entries(
        "torch",
        ["torch.serialization._get_layout"],
        [CALL],
        "maps a layout name string to a layout constant",
        call=ct.one_str,
    ),
    *entries("torch", ["torch.Size"], [CALL, VALUE], "tuple of ints", call=ct.torch_size),
    *entries(
        "torch", ["torch.device"], [CALL, VALUE], "device name and index", call=ct.torch_device
    ),
    *entries(
        "torch",
        ["torch.Tensor", "torch.nn.parameter.Parameter"],
        [VALUE],
        "type tags passed to _rebuild_from_type_v2; never called",
    ),
    *entries(
        "torch",
        [f"torch.{n}Storage" for n in _TORCH_STORAGES]
        + ["torch.UntypedStorage", "torch.storage.UntypedStorage", "torch.storage.TypedStorage"],
        [PERSID, VALUE],
        "storage type tags inside persistent ids; never called",
    ),
    *entries("torch", [f"torch.{n}" for n in _TORCH_DTYPES], [VALUE], "dtype constants"),
    *entries("torch", [f"torch.{n}" for n in _QSCHEMES], [VALUE], "quantization scheme constants"),
    *entries(
        "torch",
        [f"torch.{n}" for n in _LAYOUTS + _MEMORY_FORMATS],
        [VALUE],
        "layout and memory-format constants",
    ),
]

_NUMPY = [
    *entries(
        "numpy",
        [f"{m}.multiarray._reconstruct" for m in _NP_CORE],
        [CALL, BUILD],
        "allocates an empty numpy.ndarray (subtype pinned); BUILD fills shape/dtype/bytes",
        call=cn.np_reconstruct,
        state=cn.np_array_state,
    ),
    *entries(
        "numpy",
        [f"{m}.multiarray.scalar" for m in _NP_CORE],
        [CALL],
        "numpy scalar from a dtype and its bytes",
        call=cn.np_scalar,
    ),
    *entries(
        "numpy",
        [f"{m}.numeric._frombuffer" for m in _NP_CORE],
        [CALL],
        "protocol 5 array from a buffer, dtype, shape and order",
        call=cn.np_frombuffer,
    ),
    *entries(
        "numpy",
        ["numpy.dtype"],
        [CALL, BUILD, VALUE],
        "dtype from a type string; BUILD state is constants and nested dtypes",
        call=cn.np_dtype,
        state=cn.np_dtype_state,
    ),
    *entries(
        "numpy",
        ["numpy.ndarray", "numpy.memmap"],
        [VALUE],
        "array type tag for _reconstruct and joblib wrappers; never called",
    ),
    *entries("numpy", [f"numpy.{n}" for n in _NP_SCALARS], [VALUE], "scalar type objects"),
    *entries(
        "numpy",
        ["joblib.numpy_pickle.NumpyArrayWrapper"],
        [NEW, BUILD],
        "joblib array header; the raw array bytes after it are skipped, object arrays scanned",
        state=cn.joblib_wrapper_state,
    ),
]

PROFILES: dict[str, list[Entry]] = {
    "torch": _PYTHON + _TORCH,
    "numpy": _PYTHON + _NUMPY,
}

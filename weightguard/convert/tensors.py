"""Recognise tensors in a checkpoint's value graph, in the exact shapes torch and numpy
write them, and check each against its storage.

torch (torch/_utils.py, torch/_tensor.py): ``_rebuild_tensor`` (v1),
``_rebuild_tensor_v2`` (typed storage, its dtype is the tensor's) and ``_rebuild_tensor_v3``
(untyped storage plus an explicit dtype: float8, uint16/32/64 ...), wrapped by
``_rebuild_parameter(_with_state)`` or ``_rebuild_from_type_v2``; storages are persistent
ids ``('storage', type, key, location, numel[, view])``. numpy: ``_reconstruct`` +
BUILD state (protocols 0-4), ``_frombuffer`` (protocol 5), joblib's
``NumpyArrayWrapper``. Anything else is not a tensor; sparse, quantized, meta and nested
tensors, and dtypes safetensors lacks, are refused (`Refused`).
"""

from __future__ import annotations

from dataclasses import dataclass

from weightguard.convert.dtypes import STORAGE_DTYPES, STORAGE_ITEMSIZE, DType, numpy_dtype
from weightguard.convert.dtypes import torch_dtype as lookup_torch_dtype
from weightguard.convert.simple import dtype_descr, qualname
from weightguard.convert.source import Checkpoint, Span
from weightguard.pickle import (
    Buffer,
    ByteArray,
    BytesRef,
    Dict,
    Global,
    List,
    Obj,
    PersistentRef,
    Tuple,
    Value,
)

_V1, _V2, _V3 = (
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
)
_PARAMETER = ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state")
_FROM_TYPE = "torch._tensor._rebuild_from_type_v2"
_SPARSE = "sparse tensor: safetensors holds dense tensors only"
_REFUSED = {
    "torch._utils._rebuild_qtensor": "quantized tensor: its scale and zero point have no "
    "safetensors form (dequantize it first)",
    "torch._utils._rebuild_sparse_tensor": _SPARSE,
    "torch._utils._rebuild_sparse_csr_tensor": _SPARSE,
    "torch._utils._rebuild_meta_tensor_no_storage": "meta tensor: it has no data",
    "torch._utils._rebuild_wrapper_subclass": "tensor subclass without storage",
    "torch._utils._rebuild_nested_tensor": "nested tensor: not a dense tensor",
    "torch._utils._rebuild_device_tensor_from_numpy": "device tensor without a storage",
}
_RECONSTRUCT = ("numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct")
_FROMBUFFER = ("numpy._core.numeric._frombuffer", "numpy.core.numeric._frombuffer")
_JOBLIB = "joblib.numpy_pickle.NumpyArrayWrapper"
_LATIN1 = ("latin1", "latin-1")


@dataclass(frozen=True, slots=True)
class Found:
    """A tensor before it has a name."""

    dtype: DType
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int
    storage: str
    span: Span
    big_endian: bool
    framework: str


class Refused(Exception):
    """A tensor safetensors cannot hold faithfully (refuses the conversion)."""


class NotTensor(Exception):
    """A numpy array that is data but not numbers (dropped like any other object)."""


def _ints(value: Value) -> tuple[int, ...] | None:
    if qualname(value) == "torch.Size" and isinstance(value, Obj):
        value = value.args.items[0] if isinstance(value.args, Tuple) and value.args.items else None
    if not isinstance(value, Tuple):
        return None
    if not all(type(v) is int and v >= 0 for v in value.items):
        return None
    return tuple(v for v in value.items if isinstance(v, int))


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= max(dim, 1)
    return tuple(reversed(strides))


def _check_bounds(
    shape: tuple[int, ...], strides: tuple[int, ...], offset: int, itemsize: int, limit: int
) -> None:
    if any(d == 0 for d in shape):
        return
    last = offset + (sum((d - 1) * s for d, s in zip(shape, strides)) + 1) * itemsize
    if last > limit:
        raise Refused(f"the tensor view reaches byte {last} of a {limit}-byte storage")


class TensorReader:
    """Turns tensor nodes of one checkpoint into `Found` views (use `tensor`)."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        self.declared: dict[str, tuple[int, int]] = {}
        self.frameworks: set[str] = set()

    def tensor(self, value: Value) -> Found | None:
        """The tensor a node stands for, None if it is no tensor; raises Refused/NotTensor."""
        name = qualname(value)
        if name is None or not isinstance(value, Obj) or not isinstance(value.args, Tuple):
            return None
        args = value.args.items
        if name in _REFUSED:
            raise Refused(_REFUSED[name])
        if name in (_V1, _V2, _V3) and value.kind == "reduce":
            return self._torch_view(name, args)
        if name in _PARAMETER and value.kind == "reduce" and args:
            found = self.tensor(args[0])
            if found is None:
                raise Refused("a parameter that wraps no tensor")
            return found
        if name == _FROM_TYPE and value.kind == "reduce" and len(args) == 4:
            func, _new_type, inner, _state = args
            if isinstance(func, Global) and isinstance(inner, Tuple):
                return self.tensor(Obj("reduce", func, inner, value.offset, value.opcode))
            raise Refused("a tensor subclass rebuilt by something other than a tensor function")
        if name in _RECONSTRUCT and value.kind == "reduce":
            return self._numpy_reconstruct(value)
        if name in _FROMBUFFER and value.kind == "reduce" and len(args) == 4:
            buf, dtype, shape, order = args
            return self._numpy(dtype, _ints(shape), order == "F", self._data(buf), id(value))
        if name == _JOBLIB and value.kind == "newobj":
            return self._joblib(value)
        return None

    def _storage(self, ref: Value) -> tuple[str, str, Span, int, int]:
        """(storage id, storage dtype, bytes, view start, view end) of a storage pid."""
        if not isinstance(ref, PersistentRef) or not isinstance(ref.pid, Tuple):
            raise Refused("the tensor's storage is not a torch storage reference")
        items = ref.pid.items
        if len(items) not in (5, 6) or items[0] != "storage":
            raise Refused("the storage reference is not ('storage', type, key, location, numel)")
        tag, key, numel = items[1], items[2], items[4]
        if not isinstance(tag, Global) or tag.module not in (
            "torch",
            "torch.cuda",
            "torch.storage",
        ):
            raise Refused("the storage type is not a torch storage class")
        if tag.name == "UntypedStorage" and self.ckpt.format == "torch-legacy":
            # torch/serialization.py `_legacy_load` reads `storage_type.dtype`, which
            # UntypedStorage lacks: torch itself cannot load such a file.
            raise Refused("an untyped storage in a legacy file (torch cannot load it either)")
        sdtype = "uint8" if tag.name == "UntypedStorage" else STORAGE_DTYPES.get(tag.name)
        if sdtype is None or not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise Refused(f"unreadable storage reference ({tag.qualname})")
        elsize = STORAGE_ITEMSIZE[sdtype]
        if self.declared.setdefault(key, (elsize, numel)) != (elsize, numel):
            raise Refused(f"storage {key!r} is declared twice with different sizes")
        record = self.ckpt.records.get(key)
        nbytes = numel * elsize
        if record is None or record.size < nbytes:
            raise Refused(f"storage {key!r} has no record of {nbytes} bytes")
        start, end = 0, nbytes
        view = items[5] if len(items) == 6 else None
        if isinstance(view, Tuple) and len(view.items) == 3:  # legacy storage view
            _vkey, voff, vsize = view.items
            if type(voff) is not int or type(vsize) is not int or voff < 0 or vsize < 0:
                raise Refused("unreadable storage view")
            start, end = voff * elsize, (voff + vsize) * elsize
            if end > nbytes:
                raise Refused("a storage view lies outside its storage")
        elif view is not None:
            raise Refused("unreadable storage view")
        return "torch:" + key, sdtype, Span(record.offset, nbytes), start, end

    def _torch_view(self, name: str, args: tuple[Value, ...]) -> Found:
        counts = {_V1: (4,), _V2: (6, 7), _V3: (7, 8)}[name]
        if len(args) not in counts:
            raise Refused(f"{name} with {len(args)} arguments")
        storage, offset, shape, strides = args[0], args[1], _ints(args[2]), _ints(args[3])
        sid, sdtype, span, start, end = self._storage(storage)
        dname = sdtype
        if name == _V3:
            tag = args[6]
            if not isinstance(tag, Global) or tag.module != "torch":
                raise Refused("the tensor dtype is not a torch dtype")
            dname = tag.name
        dtype = lookup_torch_dtype(dname)
        if isinstance(dtype, str):
            raise Refused(f"dtype {dname}: {dtype}")
        if type(offset) is not int or offset < 0 or shape is None or strides is None:
            raise Refused("the tensor offset, size or stride is not made of non-negative ints")
        if len(shape) != len(strides):
            raise Refused("the tensor size and stride differ in rank")
        if self.ckpt.big_endian and sdtype == "uint8" and dtype.swap_unit > 1:
            # torch byte-swaps a big-endian storage by the storage's dtype (uint8 for
            # untyped ones), so torch.load would not swap these elements: ambiguous.
            raise Refused(f"a big-endian untyped storage holding {dname} elements")
        if dtype.packed_x2 and not shape:
            raise Refused("a zero-dimensional float4_e2m1fn_x2 tensor has no safetensors shape")
        byte_offset = start + offset * dtype.itemsize
        _check_bounds(shape, strides, byte_offset, dtype.itemsize, end)
        self.frameworks.add("pt")
        return Found(dtype, shape, strides, byte_offset, sid, span, self.ckpt.big_endian, "pt")

    # -- numpy -----------------------------------------------------------------------

    def _data(self, data: Value) -> Span:
        if isinstance(data, ByteArray):
            data = data.data
        if isinstance(data, bytes):
            return Span(0, len(data), data)
        if isinstance(data, BytesRef):
            return Span(self.ckpt.stream_start + data.offset, data.length)
        if qualname(data) == "_codecs.encode" and isinstance(data, Obj):
            args = data.args.items if isinstance(data.args, Tuple) else ()
            if len(args) == 2 and isinstance(args[0], str) and args[1] in _LATIN1:
                raw = args[0].encode("latin-1")
                return Span(0, len(raw), raw)
        if isinstance(data, Buffer):
            raise Refused("array data is an out-of-band pickle buffer, which is not in the file")
        if isinstance(data, List):
            raise NotTensor("a numpy object array")
        raise NotTensor("a numpy array whose data is not bytes")

    def _numpy(
        self,
        dtype_node: Value,
        shape: tuple[int, ...] | None,
        fortran: bool,
        span: Span,
        ident: int,
    ) -> Found:
        found = dtype_descr(dtype_node)
        if found is None or shape is None:
            raise NotTensor("a numpy array of a structured or unreadable dtype")
        descr, order = found
        if descr[:1] in "OUSVaMm":
            raise NotTensor(f"a numpy array of non-numeric dtype {descr!r}")
        dtype = numpy_dtype(descr)
        if isinstance(dtype, str):
            raise Refused(dtype)
        count = 1
        for dim in shape:
            count *= dim
        if span.size != count * dtype.itemsize:
            raise Refused(
                f"array data holds {span.size} bytes, its shape needs {count * dtype.itemsize}"
            )
        strides = _c_strides(shape)
        if fortran:
            strides = tuple(reversed(_c_strides(tuple(reversed(shape)))))
        self.frameworks.add("np")
        big = order == ">" and dtype.itemsize > 1
        return Found(dtype, shape, strides, 0, f"array:{ident}", span, big, "np")

    def _numpy_reconstruct(self, obj: Obj) -> Found:
        args = obj.args.items if isinstance(obj.args, Tuple) else ()
        if not args or qualname(args[0]) != "numpy.ndarray":
            raise NotTensor("an ndarray subclass")
        state = obj.state[-1] if obj.state else None
        items = state.items if isinstance(state, Tuple) else ()
        if len(items) == 5:
            items = items[1:]  # (version, shape, dtype, is_fortran, data)
        if len(items) != 4:
            raise NotTensor("a numpy array without readable state")
        shape, dtype, fortran, data = items
        return self._numpy(dtype, _ints(shape), fortran is True, self._data(data), id(obj))

    def _joblib(self, obj: Obj) -> Found:
        state = obj.state[-1] if obj.state else None
        fields = (
            {k: v for k, v in state.items if isinstance(k, str)} if isinstance(state, Dict) else {}
        )
        if qualname(fields.get("subclass")) != "numpy.ndarray":
            raise NotTensor("a joblib array of an ndarray subclass")
        span = self.ckpt.arrays.get(obj)
        if span is None:
            raise NotTensor("a joblib object array")
        order = fields.get("order")
        return self._numpy(
            fields.get("dtype"), _ints(fields.get("shape")), order == "F", span, id(obj)
        )

    # -- walking ---------------------------------------------------------------------

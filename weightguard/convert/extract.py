"""Find the state dict in a checkpoint's value graph and describe every tensor in it.

Naming rules (documented in docs/convert.md):

1. The state dict: starting at the root, while the current mapping has one of
   `COMMON_KEYS` (checked in that order) whose value is a mapping holding a tensor,
   descend into it (Lightning ``state_dict``, DeepSpeed ``module``, ``model`` ...).
   ``state_dict_key`` (``--state-dict a.b``) names the path instead.
2. Inside it, tensors are named by their dotted path; nested mappings and lists are
   flattened (``encoder.layers.0.weight``). A checkpoint that is one bare tensor names
   it ``tensor``.
3. Every other entry (inside or outside the state dict) is kept as header metadata when
   it is a simple value (`weightguard.convert.simple`), under its dotted path from the
   checkpoint root; otherwise it is dropped, with a reason. Tensors outside the state
   dict (optimizer state ...) are dropped.

Tensors are recognised only in the exact shapes torch and numpy write them
(torch/_utils.py ``_rebuild_tensor_v2`` etc., numpy ``ndarray.__reduce__``, joblib's
wrapper); the scanner has already accepted the file, and anything else is not a tensor.
Sparse, quantized and meta tensors and dtypes safetensors lacks refuse the conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

from weightguard.convert.dtypes import STORAGE_DTYPES, STORAGE_ITEMSIZE, DType, numpy_dtype
from weightguard.convert.dtypes import torch_dtype as lookup_torch_dtype
from weightguard.convert.model import Entry, Extraction, TensorRef
from weightguard.convert.simple import (
    NotSimple,
    dtype_descr,
    mapping_pairs,
    qualname,
    simple_json,
)
from weightguard.convert.source import Checkpoint, Span
from weightguard.errors import IncompleteError, UsageError
from weightguard.scan.values import (
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

COMMON_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "network",
    "weights",
    "params",
)
MAX_DEPTH = 64

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
class _Found:
    """A tensor before it has a name."""

    dtype: DType
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int
    storage: str
    span: Span
    big_endian: bool
    framework: str


class _Refused(Exception):
    """A tensor safetensors cannot hold faithfully (refuses the conversion)."""


class _NotTensor(Exception):
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
        raise _Refused(f"the tensor view reaches byte {last} of a {limit}-byte storage")


class Extractor:
    """Walks one checkpoint's value graph (use `extract`)."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        self.tensors: list[TensorRef] = []
        self.kept: list[Entry] = []
        self.dropped: list[Entry] = []
        self.refused: list[str] = []
        self.declared: dict[str, tuple[int, int]] = {}
        self.frameworks: set[str] = set()
        self.prefix = ""  # the state dict's path from the root

    # -- recognising tensors -------------------------------------------------------------

    def tensor(self, value: Value) -> _Found | None:
        """The tensor a node stands for, None if it is no tensor; raises _Refused/_NotTensor."""
        name = qualname(value)
        if name is None or not isinstance(value, Obj) or not isinstance(value.args, Tuple):
            return None
        args = value.args.items
        if name in _REFUSED:
            raise _Refused(_REFUSED[name])
        if name in (_V1, _V2, _V3) and value.kind == "reduce":
            return self._torch_view(name, args)
        if name in _PARAMETER and value.kind == "reduce" and args:
            found = self.tensor(args[0])
            if found is None:
                raise _Refused("a parameter that wraps no tensor")
            return found
        if name == _FROM_TYPE and value.kind == "reduce" and len(args) == 4:
            func, _new_type, inner, _state = args
            if isinstance(func, Global) and isinstance(inner, Tuple):
                return self.tensor(Obj("reduce", func, inner, value.offset, value.opcode))
            raise _Refused("a tensor subclass rebuilt by something other than a tensor function")
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
            raise _Refused("the tensor's storage is not a torch storage reference")
        items = ref.pid.items
        if len(items) not in (5, 6) or items[0] != "storage":
            raise _Refused("the storage reference is not ('storage', type, key, location, numel)")
        tag, key, numel = items[1], items[2], items[4]
        if not isinstance(tag, Global) or tag.module not in (
            "torch",
            "torch.cuda",
            "torch.storage",
        ):
            raise _Refused("the storage type is not a torch storage class")
        sdtype = "uint8" if tag.name == "UntypedStorage" else STORAGE_DTYPES.get(tag.name)
        if sdtype is None or not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise _Refused(f"unreadable storage reference ({tag.qualname})")
        elsize = STORAGE_ITEMSIZE[sdtype]
        if self.declared.setdefault(key, (elsize, numel)) != (elsize, numel):
            raise _Refused(f"storage {key!r} is declared twice with different sizes")
        record = self.ckpt.records.get(key)
        nbytes = numel * elsize
        if record is None or record.size < nbytes:
            raise _Refused(f"storage {key!r} has no record of {nbytes} bytes")
        start, end = 0, nbytes
        view = items[5] if len(items) == 6 else None
        if isinstance(view, Tuple) and len(view.items) == 3:  # legacy storage view
            _vkey, voff, vsize = view.items
            if type(voff) is not int or type(vsize) is not int or voff < 0 or vsize < 0:
                raise _Refused("unreadable storage view")
            start, end = voff * elsize, (voff + vsize) * elsize
            if end > nbytes:
                raise _Refused("a storage view lies outside its storage")
        elif view is not None:
            raise _Refused("unreadable storage view")
        return "torch:" + key, sdtype, Span(record.offset, nbytes), start, end

    def _torch_view(self, name: str, args: tuple[Value, ...]) -> _Found:
        counts = {_V1: (4,), _V2: (6, 7), _V3: (7, 8)}[name]
        if len(args) not in counts:
            raise _Refused(f"{name} with {len(args)} arguments")
        storage, offset, shape, strides = args[0], args[1], _ints(args[2]), _ints(args[3])
        sid, sdtype, span, start, end = self._storage(storage)
        dname = sdtype
        if name == _V3:
            tag = args[6]
            if not isinstance(tag, Global) or tag.module != "torch":
                raise _Refused("the tensor dtype is not a torch dtype")
            dname = tag.name
        dtype = lookup_torch_dtype(dname)
        if isinstance(dtype, str):
            raise _Refused(f"dtype {dname}: {dtype}")
        if type(offset) is not int or offset < 0 or shape is None or strides is None:
            raise _Refused("the tensor offset, size or stride is not made of non-negative ints")
        if len(shape) != len(strides):
            raise _Refused("the tensor size and stride differ in rank")
        if dtype.packed_x2 and not shape:
            raise _Refused("a zero-dimensional float4_e2m1fn_x2 tensor has no safetensors shape")
        byte_offset = start + offset * dtype.itemsize
        _check_bounds(shape, strides, byte_offset, dtype.itemsize, end)
        self.frameworks.add("pt")
        return _Found(dtype, shape, strides, byte_offset, sid, span, self.ckpt.big_endian, "pt")

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
            raise _Refused("array data is an out-of-band pickle buffer, which is not in the file")
        if isinstance(data, List):
            raise _NotTensor("a numpy object array")
        raise _NotTensor("a numpy array whose data is not bytes")

    def _numpy(
        self,
        dtype_node: Value,
        shape: tuple[int, ...] | None,
        fortran: bool,
        span: Span,
        ident: int,
    ) -> _Found:
        found = dtype_descr(dtype_node)
        if found is None or shape is None:
            raise _NotTensor("a numpy array of a structured or unreadable dtype")
        descr, order = found
        if descr[:1] in "OUSVaMm":
            raise _NotTensor(f"a numpy array of non-numeric dtype {descr!r}")
        dtype = numpy_dtype(descr)
        if isinstance(dtype, str):
            raise _Refused(dtype)
        count = 1
        for dim in shape:
            count *= dim
        if span.size != count * dtype.itemsize:
            raise _Refused(
                f"array data holds {span.size} bytes, its shape needs {count * dtype.itemsize}"
            )
        strides = _c_strides(shape)
        if fortran:
            strides = tuple(reversed(_c_strides(tuple(reversed(shape)))))
        self.frameworks.add("np")
        big = order == ">" and dtype.itemsize > 1
        return _Found(dtype, shape, strides, 0, f"array:{ident}", span, big, "np")

    def _numpy_reconstruct(self, obj: Obj) -> _Found:
        args = obj.args.items if isinstance(obj.args, Tuple) else ()
        if not args or qualname(args[0]) != "numpy.ndarray":
            raise _NotTensor("an ndarray subclass")
        state = obj.state[-1] if obj.state else None
        items = state.items if isinstance(state, Tuple) else ()
        if len(items) == 5:
            items = items[1:]  # (version, shape, dtype, is_fortran, data)
        if len(items) != 4:
            raise _NotTensor("a numpy array without readable state")
        shape, dtype, fortran, data = items
        return self._numpy(dtype, _ints(shape), fortran is True, self._data(data), id(obj))

    def _joblib(self, obj: Obj) -> _Found:
        state = obj.state[-1] if obj.state else None
        fields = (
            {k: v for k, v in state.items if isinstance(k, str)} if isinstance(state, Dict) else {}
        )
        if qualname(fields.get("subclass")) != "numpy.ndarray":
            raise _NotTensor("a joblib array of an ndarray subclass")
        span = self.ckpt.arrays.get(obj)
        if span is None:
            raise _NotTensor("a joblib object array")
        order = fields.get("order")
        return self._numpy(
            fields.get("dtype"), _ints(fields.get("shape")), order == "F", span, id(obj)
        )

    # -- walking ---------------------------------------------------------------------

    def add_tensor(self, name: str, found: _Found) -> None:
        """Record a named tensor."""
        self.tensors.append(
            TensorRef(
                name,
                found.dtype,
                found.shape,
                found.strides,
                found.offset,
                found.storage,
                found.span,
                found.big_endian,
                len(self.tensors),
            )
        )

    def entry(
        self,
        path: str,
        value: Value,
        *,
        inside: bool,
        depth: int = 0,
        ancestors: frozenset[int] = frozenset(),
    ) -> None:
        """Classify one entry: a tensor, a container to flatten, a kept or dropped value.

        `path` is relative to the state dict when `inside`, else from the root; kept
        and dropped entries are always reported from the root.
        """
        where = ".".join(p for p in (self.prefix, path) if p) if inside else path
        if id(value) in ancestors or depth > MAX_DEPTH:
            self.dropped.append(Entry(where, reason="nested too deeply or cyclic"))
            return
        try:
            found = self.tensor(value)
        except _Refused as exc:
            if inside:
                self.refused.append(f"{path or 'tensor'}: {exc}")
            else:
                self.dropped.append(Entry(where, reason=f"outside the state dict: {exc}"))
            return
        except _NotTensor as exc:
            self.dropped.append(Entry(where, reason=str(exc)))
            return
        if found is not None:
            if inside:
                self.add_tensor(path or "tensor", found)
            else:
                self.dropped.append(Entry(where, reason="a tensor outside the state dict"))
            return
        try:
            self.kept.append(Entry(where, json=simple_json(value)))
            return
        except NotSimple as exc:
            reason = str(exc)
        items: list[tuple[Value, Value]] | None = mapping_pairs(value)
        if items is None and isinstance(value, List | Tuple):
            items = list(enumerate(value.items))
        if not inside or items is None:
            self.dropped.append(Entry(where, reason=f"not a tensor or a simple value: {reason}"))
            return
        below = ancestors | {id(value)}
        for key, item in items:
            if isinstance(key, bool) or not isinstance(key, str | int):
                self.dropped.append(Entry(f"{where}[?]", reason="a key that is not a str or int"))
                continue
            child = f"{path}.{key}" if path else str(key)
            self.entry(child, item, inside=True, depth=depth + 1, ancestors=below)

    def holds_tensor(self, value: Value, depth: int = 0) -> bool:
        """True when a mapping or list holds a tensor within a few levels (finds state dicts)."""
        pairs = mapping_pairs(value)
        if pairs is None and isinstance(value, List | Tuple):
            pairs = list(enumerate(value.items))
        if pairs is None or depth > 4:
            return False
        for _key, item in pairs:
            try:
                if self.tensor(item) is not None:
                    return True
            except (_Refused, _NotTensor):
                return True
            if self.holds_tensor(item, depth + 1):
                return True
        return False


def _walk_to_state_dict(ex: Extractor, root: Value, key: str | None) -> tuple[Value, str]:
    node, path = root, ""
    wanted = key.split(".") if key else None
    while True:
        pairs = mapping_pairs(node)
        if pairs is None:
            if wanted:
                raise UsageError(f"--state-dict {key}: {path or 'the root'} is not a mapping")
            return node, path
        if wanted is not None:
            if not wanted:
                return node, path
            step = wanted.pop(0)
            chosen = next((v for k, v in pairs if k == step), None)
            if chosen is None:
                raise UsageError(f"--state-dict {key}: no entry {step!r} in {path or 'the root'}")
        else:
            step = next(
                (k for k in COMMON_KEYS for kk, v in pairs if kk == k and ex.holds_tensor(v)), ""
            )
            if not step:
                return node, path
            chosen = next(v for k, v in pairs if k == step)
        for k, v in pairs:
            if k != step:
                label = f"{path}.{k!s}" if path else str(k)
                ex.entry(label, v, inside=False)
        path = f"{path}.{step!s}" if path else str(step)
        node = chosen


def extract(ckpt: Checkpoint, *, state_dict_key: str | None = None) -> Extraction:
    """Describe the tensors and other entries of a parsed checkpoint.

    Raises:
        IncompleteError: a tensor safetensors cannot represent (``convert.unsupported_tensor``),
            or no tensor at all (``convert.no_tensors``).
        UsageError: `state_dict_key` names no mapping.
    """
    ex = Extractor(ckpt)
    node, path = _walk_to_state_dict(ex, ckpt.root, state_dict_key)
    ex.prefix = path
    pairs = mapping_pairs(node)
    if isinstance(node, Obj) and pairs is not None and node.state:
        ex.dropped.append(
            Entry(
                f"{path}._metadata" if path else "_metadata",
                reason="attribute of the state dict (module versions)",
            )
        )
    if pairs is None:
        ex.entry("", node, inside=True)
    else:
        for key, item in pairs:
            if isinstance(key, bool) or not isinstance(key, str | int):
                ex.dropped.append(Entry(path or "<root>", reason="a key that is not a str or int"))
                continue
            ex.entry(str(key), item, inside=True)
    if ex.refused:
        more = f" (and {len(ex.refused) - 1} more)" if len(ex.refused) > 1 else ""
        raise IncompleteError(
            f"cannot convert faithfully: {ex.refused[0]}{more}",
            code="convert.unsupported_tensor",
            path=ckpt.path,
        )
    if not ex.tensors:
        raise IncompleteError(
            "no tensors found in the checkpoint", code="convert.no_tensors", path=ckpt.path
        )
    names = [t.name for t in ex.tensors]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise IncompleteError(
            f"two entries flatten to the same tensor name {dup!r}",
            code="convert.name_collision",
            path=ckpt.path,
        )
    return Extraction(
        tensors=tuple(ex.tensors),
        kept=tuple(ex.kept),
        dropped=tuple(ex.dropped),
        state_dict_path=path,
        framework="pt" if "pt" in ex.frameworks else "np",
    )
